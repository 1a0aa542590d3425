package htable

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// where is a Runner that says where the script is.
type where struct{ kemi.Runner }

func (where) Where() string { return "routing.lua:42" }

type call struct {
	fn   string
	args []any
	want kemi.Value
}

func runCalls(t *testing.T, m *kemi.Msg, e interface {
	Call(testing.TB, string, *kemi.Msg, ...any) kemi.Value
}, calls []call) {
	t.Helper()
	for i, c := range calls {
		if got := e.Call(t, "KSR.htable."+c.fn, m, c.args...); got != c.want {
			t.Errorf("#%d %s%v = %#v, want %#v", i, c.fn, c.args, got, c.want)
		}
	}
}

// TestExportsReturnKamailiosValues runs the functions in a sequence and
// checks each return value against Kamailio's.
// Tables kept in Redis give the same values.
func TestExportsReturnKamailiosValues(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testExportValues(t, b) })
	}
}

func testExportValues(t *testing.T, b backend) {
	e, _, _ := loadOn(t, b, "h=>", "n=>initval=10", "x=>autoexpire=60")
	m := msg(t, e)
	runCalls(t, m, e, []call{
		{"sht_get", []any{"h", "a"}, kemi.Null},
		{"sht_gete", []any{"h", "a"}, kemi.Str("")},
		{"sht_getw", []any{"h", "a"}, kemi.Str("<null>")},
		{"sht_is_null", []any{"h", "a"}, kemi.Int(1)},
		{"sht_inc", []any{"h", "a"}, kemi.Int(-255)}, // no initval: nothing to increment
		{"sht_sets", []any{"h", "a", "alice"}, kemi.OK},
		{"sht_get", []any{"h", "a"}, kemi.Str("alice")},
		{"sht_is_null", []any{"h", "a"}, kemi.Int(-1)},
		{"sht_inc", []any{"h", "a"}, kemi.Int(-255)}, // a string
		{"sht_seti", []any{"h", "a", 5}, kemi.OK},
		{"sht_inc", []any{"h", "a"}, kemi.Int(6)},
		{"sht_dec", []any{"h", "a"}, kemi.Int(5)},
		{"sht_setxi", []any{"h", "b", 7, 30}, kemi.Int(0)},
		{"sht_setxs", []any{"h", "c", "carol", 30}, kemi.OK},
		{"sht_setex", []any{"h", "c", 10}, kemi.OK},
		{"sht_get", []any{"n", "missing"}, kemi.Int(10)},
		{"sht_is_null", []any{"n", "missing"}, kemi.Int(-2)},
		{"sht_dec", []any{"n", "k"}, kemi.Int(9)},
		{"sht_match_name", []any{"h", "eq", "a"}, kemi.OK},
		{"sht_match_name", []any{"h", "eq", "z"}, kemi.Fail},
		{"sht_match_name", []any{"h", "ne", "a"}, kemi.OK},
		{"sht_match_name", []any{"h", "sw", "c"}, kemi.OK},
		{"sht_match_name", []any{"h", "re", "^[AB]$"}, kemi.OK},
		{"sht_match_name", []any{"h", "xx", "a"}, kemi.Fail},
		{"sht_match_str_value", []any{"h", "eq", "carol"}, kemi.OK},
		{"sht_match_str_value", []any{"h", "eq", "5"}, kemi.Fail}, // integer items are not matched by value
		{"sht_cn", []any{"h", "", "."}, kemi.Int(3)},
		{"sht_cn", []any{"h", "**", ""}, kemi.Int(3)},
		{"sht_cn", []any{"h", "==", "b"}, kemi.Int(1)},
		{"sht_cn", []any{"h", "%~", "c"}, kemi.Int(1)},
		{"sht_cn", []any{"h", "x", "c"}, kemi.Fail},
		{"sht_rm_value", []any{"h", "sw", "car"}, kemi.OK},
		{"sht_get", []any{"h", "c"}, kemi.Null},
		{"sht_rm_name", []any{"h", "xx", "a"}, kemi.Fail},
		{"sht_rm_name_re", []any{"h", "("}, kemi.Fail},
		{"sht_rm_name_re", []any{"h", "^B$"}, kemi.OK},
		{"sht_get", []any{"h", "b"}, kemi.Null},
		{"sht_rm", []any{"h", "a"}, kemi.OK},
		{"sht_rm", []any{"h", "a"}, kemi.OK},
		{"sht_sets", []any{"h", "d", "v"}, kemi.OK},
		{"sht_reset", []any{"h"}, kemi.Int(0)},
		{"sht_cn", []any{"h", "**", ""}, kemi.Int(0)},
		{"sht_lock", []any{"h", "k"}, kemi.OK},
		{"sht_unlock", []any{"h", "k"}, kemi.OK},
	})
}

// TestUnknownTable checks that every function naming a table that is
// not defined logs the script position and returns Kamailio's failure
// value.
func TestUnknownTable(t *testing.T) {
	e, _, _ := load(t, "h=>")
	m := msg(t, e)
	m.Run = where{}
	calls := []call{
		{"sht_get", []any{"nope", "k"}, kemi.Null},
		{"sht_gete", []any{"nope", "k"}, kemi.Str("")},
		{"sht_getw", []any{"nope", "k"}, kemi.Str("<null>")},
		{"sht_sets", []any{"nope", "k", "v"}, kemi.Fail},
		{"sht_seti", []any{"nope", "k", 1}, kemi.Fail},
		{"sht_setxs", []any{"nope", "k", "v", 1}, kemi.Fail},
		{"sht_setxi", []any{"nope", "k", 1, 1}, kemi.Fail},
		{"sht_setex", []any{"nope", "k", 1}, kemi.Fail},
		{"sht_inc", []any{"nope", "k"}, kemi.Int(-255)},
		{"sht_dec", []any{"nope", "k"}, kemi.Int(-255)},
		{"sht_is_null", []any{"nope", "k"}, kemi.Int(2)},
		{"sht_rm", []any{"nope", "k"}, kemi.Fail},
		{"sht_rm_name_re", []any{"nope", "."}, kemi.OK},
		{"sht_rm_value_re", []any{"nope", "."}, kemi.OK},
		{"sht_rm_name", []any{"nope", "re", "."}, kemi.Fail},
		{"sht_rm_value", []any{"nope", "re", "."}, kemi.Fail},
		{"sht_match_name", []any{"nope", "eq", "k"}, kemi.Fail},
		{"sht_match_str_value", []any{"nope", "eq", "k"}, kemi.Fail},
		{"sht_cn", []any{"nope", "", "."}, kemi.Fail},
		{"sht_reset", []any{"nope"}, kemi.Fail},
		{"sht_lock", []any{"nope", "k"}, kemi.Fail},
		{"sht_unlock", []any{"nope", "k"}, kemi.Fail},
		{"sht_iterator_start", []any{"i", "nope"}, kemi.Fail},
	}
	for _, c := range calls {
		e.ResetLogs()
		if got := e.Call(t, "KSR.htable."+c.fn, m, c.args...); got != c.want {
			t.Errorf("%s%v = %#v, want %#v", c.fn, c.args, got, c.want)
		}
		logs := e.Logs()
		if !strings.Contains(logs, "routing.lua:42") || !strings.Contains(logs, `no hash table \"nope\"`) || !strings.Contains(logs, "level=ERROR") {
			t.Errorf("%s on an unknown table logged %q; want an error naming it at routing.lua:42", c.fn, logs)
		}
	}
}

// TestIterator walks a table, changes and removes items through the
// iterator, and reads them with $shtitkey/$shtitval, in memory and in
// Redis.
func TestIterator(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testIterator(t, b) })
	}
}

func testIterator(t *testing.T, b backend) {
	e, mod, _ := loadOn(t, b, "h=>")
	m := msg(t, e)
	for _, k := range []string{"a", "b", "c"} {
		e.Call(t, "KSR.htable.sht_sets", m, "h", k, "v"+k)
	}
	runCalls(t, m, e, []call{
		{"sht_iterator_next", []any{"i"}, kemi.Fail}, // not started
		{"sht_iterator_start", []any{"i", "h"}, kemi.OK},
		{"sht_iterator_sets", []any{"i", "x"}, kemi.Fail}, // no current item
	})
	var seen []string
	for e.Call(t, "KSR.htable.sht_iterator_next", m, "i") == kemi.OK {
		k, _ := e.PVs.Get(m, "$shtitkey(i)")
		v, _ := e.PVs.Get(m, "$shtitval(i)")
		seen = append(seen, k.String()+"="+v.String())
		if k.String() == "b" {
			runCalls(t, m, e, []call{{"sht_iterator_seti", []any{"i", 42}, kemi.OK}})
		}
	}
	if strings.Join(seen, ",") != "a=va,b=vb,c=vc" {
		t.Errorf("walked %v", seen)
	}
	runCalls(t, m, e, []call{
		{"sht_get", []any{"h", "b"}, kemi.Int(42)},
		{"sht_iterator_start", []any{"i", "h"}, kemi.OK},
		{"sht_iterator_next", []any{"i"}, kemi.OK},
		{"sht_iterator_rm", []any{"i"}, kemi.OK}, // a goes, on b
		{"sht_iterator_next", []any{"i"}, kemi.OK},
		{"sht_iterator_rm", []any{"i"}, kemi.Int(-2)}, // c goes, the last
		{"sht_iterator_end", []any{"i"}, kemi.OK},
		{"sht_iterator_end", []any{"i"}, kemi.Fail},
		{"sht_get", []any{"h", "b"}, kemi.Int(42)},
		{"sht_cn", []any{"h", "**", ""}, kemi.Int(1)},
		{"sht_iterator_start", []any{"1", "h"}, kemi.OK},
		{"sht_iterator_start", []any{"2", "h"}, kemi.OK},
		{"sht_iterator_start", []any{"3", "h"}, kemi.OK},
		{"sht_iterator_start", []any{"4", "h"}, kemi.OK},
		{"sht_iterator_start", []any{"5", "h"}, kemi.Fail}, // at most 4
		{"sht_iterator_start", []any{strings.Repeat("n", 32), "h"}, kemi.Fail},
	})
	if len(mod.iters) != 1 {
		t.Errorf("iterators of %d workers", len(mod.iters))
	}
}
