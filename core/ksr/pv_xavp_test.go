package ksr_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// xavpStep is one KSR.pv call on the same message; want is what it
// returns. The steps and results were taken from Kamailio 5.6 running the
// same calls with app_lua.
type xavpStep struct {
	fn   string // get, sets, seti, unset
	pv   string
	arg  any
	want kemi.Value
}

func TestXAVPLikeKamailio(t *testing.T) {
	s, i, null, ok, fail := kemi.Str, kemi.Int, kemi.Null, kemi.True, kemi.False
	steps := []xavpStep{
		{"sets", "$xavp(a=>x)", "1", ok},
		{"sets", "$xavp(a=>x)", "2", ok},
		{"sets", "$xavp(a[0]=>y)", "3", ok},
		{"seti", "$xavp(a[0]=>x)", 4, ok},
		{"get", "$xavp(a=>x)", nil, i(4)},
		{"get", "$xavp(a=>x[1])", nil, s("2")},
		{"get", "$xavp(a=>x[*])", nil, s("4, 2")},
		{"get", "$xavp(a[1]=>x)", nil, s("1")},
		{"get", "$xavp(a[-1]=>x)", nil, s("1")},
		{"get", "$xavp(a=>x[-1])", nil, s("2")},
		{"get", "$xavp(a[2]=>x)", nil, null},
		{"get", "$xavp(a=>z)", nil, null},
		{"get", "$xavp(b)", nil, null},
		{"sets", "$xavp(a[0]=>x[1])", "5", ok},
		{"get", "$xavp(a=>x[*])", nil, s("4, 5")},
		// [-1] in an assignment is one past the last (Kamailio's count+idx+1).
		{"sets", "$xavp(a[-1]=>x[0])", "6", ok},
		{"get", "$xavp(a[1]=>x)", nil, s("1")},
		{"get", "$xavp(a[0]=>x)", nil, i(4)},
		{"unset", "$xavp(a=>x)", nil, ok},
		{"get", "$xavp(a=>x)", nil, s("5")},
		{"unset", "$xavp(a[*]=>x)", nil, ok},
		{"get", "$xavp(a[1]=>x)", nil, null},
		{"get", "$xavp(a=>y)", nil, s("3")},
		{"sets", "$xavp(p)", "v1", ok},
		{"sets", "$xavp(p)", "v2", ok},
		{"get", "$xavp(p)", nil, s("v2")},
		{"get", "$xavp(p[1])", nil, s("v1")},
		{"get", "$xavp(p=>f)", nil, null},
		{"sets", "$xavp(p[1])", "v3", ok},
		{"get", "$xavp(p[1])", nil, s("v3")},
		{"sets", "$xavp(p[5])", "x", fail},
		{"sets", "$xavp(p[*])", "x", fail},
		{"unset", "$xavp(p[-1])", nil, ok},
		{"get", "$xavp(p[1])", nil, s("v3")},
		{"unset", "$xavp(p)", nil, ok},
		{"get", "$xavp(p)", nil, s("v3")},
		{"unset", "$xavp(p[*])", nil, ok},
		{"get", "$xavp(p)", nil, null},
		{"seti", "$xavp(n)", 7, ok},
		{"get", "$xavp(n)", nil, i(7)},
		{"sets", "$xavp(p2)", "s", ok},
		{"sets", "$xavp(p2[0]=>f)", "x", fail},
		{"get", "$xavp(p2=>f)", nil, null},
		{"sets", "$xavp(q=>f)", "1", ok},
		{"sets", "$xavp(q[1]=>f)", "2", ok},
		{"sets", "$xavp(q[0]=>f[5])", "9", ok},
		{"sets", "$xavp(q[*]=>f)", "9", ok},
		{"sets", "$xavp(q[0]=>f[*])", "9", ok},
		{"get", "$xavp(q=>f[*])", nil, s("1")},
		{"sets", "$xavp(r=>f)", "1", ok},
		{"sets", "$xavp(r=>f)", "2", ok},
		{"sets", "$xavp(r=>f)", "3", ok},
		{"unset", "$xavp(r[-1]=>f)", nil, ok},
		{"get", "$xavp(r[2]=>f)", nil, s("1")},
		{"unset", "$xavp(r[-2]=>f)", nil, ok},
		{"get", "$xavp(r[2]=>f)", nil, null},
		{"unset", "$xavp(r[1])", nil, ok},
		{"get", "$xavp(r[1]=>f)", nil, null},
		{"get", "$xavp(r[-1]=>f)", nil, null},
		{"sets", "$xavp( s [ 0 ] => f )", "1", fail},
		{"sets", "$xavp( s => f )", "1", ok},
		{"get", "$xavp(s=>f)", nil, s("1")},
		// Not valid in Kamailio either.
		{"get", "$xavp()", nil, null},
		{"get", "$xavp(a[x])", nil, null},
		{"get", "$xavp(a=>)", nil, null},
		{"get", "$xavp(a=x)", nil, null},
		{"sets", "$(xavp(a)[1])", "x", fail},
	}
	env := load(t)
	m := parse(t, env, invite)
	for n, st := range steps {
		var got kemi.Value
		switch st.fn {
		case "get":
			got = env.Call(t, "KSR.pv.get", m, st.pv)
		case "unset":
			got = env.Call(t, "KSR.pv.unset", m, st.pv)
		default:
			got = env.Call(t, "KSR.pv."+st.fn, m, st.pv, st.arg)
		}
		wantValue(t, fmt.Sprintf("step %d: %s %s", n+1, st.fn, st.pv), got, st.want)
	}
	// An XAVP holding fields reads as Kamailio prints it.
	if v := env.Call(t, "KSR.pv.get", m, "$xavp(a)"); !strings.HasPrefix(v.Str, "<<xavp:0x") || !strings.HasSuffix(v.Str, ">>") {
		t.Errorf("$xavp(a) = %s, want <<xavp:0x...>>", show(v))
	}
}

// TestXAVPIndexFromVariable: the index may come from a pseudo-variable.
func TestXAVPIndexFromVariable(t *testing.T) {
	env := load(t)
	m := parse(t, env, invite)
	for _, v := range []string{"first", "second"} {
		env.Call(t, "KSR.pv.sets", m, "$xavp(d=>uri)", v)
	}
	env.Call(t, "KSR.pv.seti", m, "$var(i)", 1)
	wantValue(t, "$xavp(d[$var(i)]=>uri)", env.Call(t, "KSR.pv.get", m, "$xavp(d[$var(i)]=>uri)"), kemi.Str("first"))
}

// TestXAVPTravelsWithCopies: a copy of the message (a transaction's) is
// not changed by changes to the original, and the other way round.
func TestXAVPTravelsWithCopies(t *testing.T) {
	env := load(t)
	m := parse(t, env, invite)
	env.Call(t, "KSR.pv.sets", m, "$xavp(d=>uri)", "sip:a")
	env.Call(t, "KSR.pv.sets", m, "$xavp(d=>uri)", "sip:b")
	c := m.Copy()
	env.Call(t, "KSR.pv.unset", c, "$xavp(d)")
	env.Call(t, "KSR.pv.sets", c, "$xavp(d[0]=>grp)", "1")
	env.Call(t, "KSR.pv.sets", m, "$xavp(d[1]=>uri[0])", "sip:z")
	for _, tc := range []struct {
		m    *kemi.Msg
		pv   string
		want kemi.Value
	}{
		{m, "$xavp(d=>uri)", kemi.Str("sip:b")},
		{m, "$xavp(d=>grp)", kemi.Null},
		{m, "$xavp(d[1]=>uri)", kemi.Str("sip:z")},
		{c, "$xavp(d=>uri)", kemi.Str("sip:a")},
		{c, "$xavp(d=>grp)", kemi.Str("1")},
		{c, "$xavp(d[1]=>uri)", kemi.Null},
	} {
		wantValue(t, tc.pv, env.Call(t, "KSR.pv.get", tc.m, tc.pv), tc.want)
	}
}
