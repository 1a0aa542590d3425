package kemi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
)

type nopModule struct{}

func (nopModule) Exports() []kemi.Export { return nil }

func TestRegisterPanicsOnMistakes(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	newNop := func() kemi.Module { return nopModule{} }
	mustPanic("empty name", func() { kemi.Register(kemi.ModuleInfo{New: newNop}) })
	mustPanic("no constructor", func() { kemi.Register(kemi.ModuleInfo{Name: "kemi-test-nonew"}) })
	kemi.Register(kemi.ModuleInfo{Name: "kemi-test-dup", New: newNop})
	mustPanic("duplicate", func() { kemi.Register(kemi.ModuleInfo{Name: "kemi-test-dup", New: newNop}) })
	if _, ok := kemi.LookupModule("kemi-test-dup"); !ok {
		t.Fatal("registered module not found")
	}
}

func TestExportValidate(t *testing.T) {
	ok := func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }
	bad := []kemi.Export{
		{Module: "m", Return: kemi.ReturnInt, Func: ok},
		{Module: "m", Name: "f", Return: kemi.ReturnInt},
		{Module: "m", Name: "f", Func: ok},
		{Module: "m", Name: "f", Return: kemi.ReturnInt, Func: ok, Params: make([]kemi.ParamKind, 7)},
	}
	for i, x := range bad {
		if x.Validate() == nil {
			t.Errorf("export %d validated", i)
		}
	}
	good := kemi.Export{Module: "sl", Name: "sl_send_reply", Params: kemi.IS, Return: kemi.ReturnInt, Func: ok}
	if err := good.Validate(); err != nil || good.LuaName() != "KSR.sl.sl_send_reply" || good.Signature() != "int,str" {
		t.Fatalf("good export: %v %s %s", err, good.LuaName(), good.Signature())
	}
}

func TestParams(t *testing.T) {
	p := kemi.NewParams("tm", map[string]any{"fr_timer": int64(2000), "flag": "yes", "d": "1500ms", "unused": 1, "bad": "x"})
	if p.Int("fr_timer", 0) != 2000 || !p.Bool("flag", false) || p.Duration("d", 0, 0).Milliseconds() != 1500 {
		t.Fatal("params not read")
	}
	p.Int("bad", 7)
	err := p.Check()
	if err == nil || !strings.Contains(err.Error(), "unknown parameter unused") || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("Check = %v", err)
	}
}

// TestParamsDurationOverflow checks that a number of units too large for a
// time.Duration is refused, not wrapped round: fr_timer = 18446744073710
// (ms) would otherwise be a timer of 0.45 ms.
func TestParamsDurationOverflow(t *testing.T) {
	const def = 30 * time.Second
	cases := []struct {
		val  any
		want time.Duration
		bad  bool
	}{
		{int64(2000), 2 * time.Second, false},
		{"2000", 2 * time.Second, false},
		{int64(-5), -5 * time.Millisecond, false}, // the module judges the sign
		{int64(9223372036854), 9223372036854 * time.Millisecond, false},
		{int64(9223372036855), def, true},
		{int64(18446744073710), def, true},
		{"18446744073710", def, true},
		{int64(-9223372036855), def, true},
	}
	for _, c := range cases {
		p := kemi.NewParams("tm", map[string]any{"fr_timer": c.val})
		if got := p.Duration("fr_timer", def, time.Millisecond); got != c.want {
			t.Errorf("fr_timer = %v: %v, want %v", c.val, got, c.want)
		}
		if err := p.Check(); (err != nil) != c.bad {
			t.Errorf("fr_timer = %v: Check = %v, want an error: %v", c.val, err, c.bad)
		}
	}
}
