package ksr_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestPVXLikeKamailio replays KSR.pvx.xavp_* calls whose results were
// taken from Kamailio 5.6 running the same calls with app_lua.
func TestPVXLikeKamailio(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	steps := []struct {
		fn   string
		args []any
		want kemi.Value
	}{
		{"pvx.xavp_is_null", []any{"a"}, i(1)},
		{"pvx.xavp_get", []any{"a"}, null},
		{"pvx.xavp_gete", []any{"a"}, s("")},
		{"pvx.xavp_getw", []any{"a"}, s("<null>")},
		{"pvx.xavp_sets", []any{"a", "x"}, i(1)},
		{"pvx.xavp_seti", []any{"a", 5}, i(1)},
		{"pvx.xavp_get", []any{"a"}, i(5)},
		{"pv.get", []any{"$xavp(a[1])"}, s("x")},
		// The first a holds no fields: it gives way to one holding f.
		{"pvx.xavp_child_sets", []any{"a", "f", "v1"}, i(1)},
		{"pv.get", []any{"$xavp(a[1])"}, s("x")},
		{"pv.get", []any{"$xavp(a=>f)"}, s("v1")},
		{"pv.get", []any{"$xavp(a[2])"}, null},
		{"pvx.xavp_child_seti", []any{"a", "f", 7}, i(1)},
		{"pv.get", []any{"$xavp(a=>f[*])"}, i(7)},
		{"pvx.xavp_child_sets", []any{"a", "g", "w"}, i(1)},
		{"pvx.xavp_child_get", []any{"a", "g"}, s("w")},
		{"pvx.xavp_child_is_null", []any{"a", "h"}, i(1)},
		{"pvx.xavp_child_is_null", []any{"a", "g"}, i(-1)},
		{"pvx.xavp_child_getw", []any{"a", "h"}, s("<null>")},
		{"pvx.xavp_child_gete", []any{"a", "h"}, s("")},
		{"pvx.xavp_child_rm", []any{"a", "g"}, i(1)},
		{"pvx.xavp_child_rm", []any{"a", "g"}, i(1)},
		{"pv.get", []any{"$xavp(a=>g)"}, null},
		{"pvx.xavp_rm", []any{"a"}, i(1)},
		{"pvx.xavp_get", []any{"a"}, s("x")},
		{"pvx.xavp_rm", []any{"z"}, i(1)},
		{"pvx.xavp_child_sets", []any{"n", "f", "q"}, i(1)},
		{"pv.get", []any{"$xavp(n=>f)"}, s("q")},
		{"pvx.xavp_is_null", []any{"n"}, i(-1)},
		{"pvx.pv_xavp_print", nil, i(1)},
		// Not in Kamailio 5.6 (later versions): every a goes.
		{"pvx.xavp_sets", []any{"a", "y"}, i(1)},
		{"pvx.xavp_rm_all", []any{"a"}, i(1)},
		{"pvx.xavp_is_null", []any{"a"}, i(1)},
	}
	env := load(t)
	m := parse(t, env, invite)
	for n, st := range steps {
		got := env.Call(t, "KSR."+st.fn, m, st.args...)
		wantValue(t, fmt.Sprintf("step %d: %s%v", n+1, st.fn, st.args), got, st.want)
	}
	if v := env.Call(t, "KSR.pvx.xavp_get", m, "n"); !strings.HasPrefix(v.Str, "<<xavp:0x") {
		t.Errorf("xavp_get of an XAVP holding fields = %s", show(v))
	}
	if logs := env.Logs(); !strings.Contains(logs, `n={f=\"q\"}`) {
		t.Errorf("pv_xavp_print did not log the list:\n%s", logs)
	}
}
