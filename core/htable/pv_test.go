package htable

import (
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/ksr" // $si in keys
	"github.com/kemisip/kemi/kemi"
)

// TestPseudoVariables checks $sht, $shtex, $shtcn, $shtcv, $shtinc and
// $shtdec as Kamailio's, on tables in memory and in Redis.
func TestPseudoVariables(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testPseudoVariables(t, b) })
	}
}

func testPseudoVariables(t *testing.T, b backend) {
	e, _, c := loadOnWith(t, b, []string{"core", "htable"}, "h=>autoexpire=100", "n=>initval=0")
	m := msg(t, e)
	set := func(name string, v kemi.Value) {
		t.Helper()
		if err := e.PVs.Set(m, name, v); err != nil {
			t.Fatalf("%s = %v: %v", name, v, err)
		}
	}
	get := func(name string, want kemi.Value) {
		t.Helper()
		got, err := e.PVs.Get(m, name)
		if err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", name, got, err, want)
		}
	}
	get("$sht(h=>a)", kemi.Null)
	get("$sht(n=>a)", kemi.Int(0))
	set("$sht(h=>a)", kemi.Str("alice"))
	set("$sht(h=>b)", kemi.Int(3))
	set("$sht(h=>192.0.2.10)", kemi.Str("x"))
	get("$sht(h=>a)", kemi.Str("alice"))
	get("$sht(h=>$si)", kemi.Str("x")) // the key holds a variable
	get("$shtinc(h=>b)", kemi.Int(4))
	get("$shtdec(h=>b)", kemi.Int(3))
	get("$shtinc(h=>a)", kemi.Null) // a string
	get("$shtinc(n=>k)", kemi.Int(1))
	get("$shtcn(h=>**)", kemi.Int(3))
	get("$shtcn(h=>~~^[ab])", kemi.Int(2))
	get("$shtcn(h=>%~192.)", kemi.Int(1))
	get("$shtcn(h=>~%.10)", kemi.Int(1))
	get("$shtcn(h=>==a)", kemi.Int(1))
	get("$shtcv(h=>==alice)", kemi.Int(1))
	get("$shtcv(h=>eq3)", kemi.Int(1))
	get("$shtcn(h=>eq3)", kemi.Int(0)) // by name: never
	get("$shtex(h=>a)", kemi.Int(100))
	set("$shtex(h=>a)", kemi.Int(10))
	get("$shtex(h=>a)", kemi.Int(10))
	get("$shtex(n=>k)", kemi.Int(0)) // no autoexpire
	if b.shared {
		// Redis expires items on its own clock
		set("$shtex(h=>a)", kemi.Int(1))
		time.Sleep(1100 * time.Millisecond)
	} else {
		c.t = c.t.Add(11 * time.Second)
	}
	get("$sht(h=>a)", kemi.Null)
	set("$sht(h=>b)", kemi.Null) // removes
	get("$sht(h=>b)", kemi.Null)
	get("$sht(nope=>b)", kemi.Null)
	get("$shtinc(nope=>b)", kemi.Null)
	if err := e.PVs.Set(m, "$sht(nope=>b)", kemi.Int(1)); err == nil {
		t.Error("assigning to a table that is not defined did not fail")
	}
	if _, err := e.PVs.Get(m, "$sht(nokey)"); err == nil {
		t.Error("$sht(nokey) without => did not fail")
	}
}

// TestExpiredEvent checks that the timer runs the event callback for
// each expired item with $shtrecord set.
func TestExpiredEvent(t *testing.T) {
	e, mod, c := load(t, "h=>autoexpire=5")
	mod.callback = "ksr_htable_event"
	m := msg(t, e)
	e.Call(t, "KSR.htable.sht_seti", m, "h", "k", 7)
	c.t = c.t.Add(6 * time.Second)
	proc := kemi.NewProc(-2)
	var got []string
	pc := &kemi.ProcContext{Proc: proc, Event: func(cb, ev string) error {
		em := msg(t, e)
		em.Proc = proc
		k, _ := e.PVs.Get(em, "$shtrecord(key)")
		v, _ := e.PVs.Get(em, "$shtrecord(value)")
		got = append(got, cb+" "+ev+" "+k.String()+"="+v.String())
		return nil
	}}
	mod.expire(pc)
	if len(got) != 1 || got[0] != "ksr_htable_event htable:expired:h k=7" {
		t.Errorf("events %q", got)
	}
	if it := mod.expiredOf(proc); it != nil {
		t.Errorf("expired item kept after the event: %+v", it)
	}
}
