package kemitest

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// dupModule exports the same function twice.
type dupModule struct{}

func (dupModule) Exports() []kemi.Export {
	x := kemi.Export{Module: "kemitestdup", Name: "f", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }}
	return []kemi.Export{x, x}
}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kemitestdup", New: func() kemi.Module { return dupModule{} }})
}

// TestLoadRejectsDuplicateExports checks that Load refuses a function
// exported twice, as the engine does.
func TestLoadRejectsDuplicateExports(t *testing.T) {
	_, err := LoadErr(nil, "kemitestdup")
	if err == nil || !strings.Contains(err.Error(), "KSR.kemitestdup.f exported twice") {
		t.Fatalf("LoadErr = %v, want a duplicate export error", err)
	}
}

// TestCallFillsTheDeclaredKind checks that Call, like the Lua binding,
// fills only the field of each parameter's declared kind.
func TestCallFillsTheDeclaredKind(t *testing.T) {
	var got kemi.Args
	e := &Env{exports: map[string]kemi.Export{"KSR.x.f": {Module: "x", Name: "f", Params: kemi.SI, Return: kemi.ReturnInt,
		Func: func(_ *kemi.Msg, a kemi.Args) kemi.Value { got = a; return kemi.OK }}}}
	e.Call(t, "KSR.x.f", nil, 12, "34")
	if got.V[0] != (kemi.Arg{S: "12"}) || got.V[1] != (kemi.Arg{I: 34}) {
		t.Errorf("args %+v", got.V[:2])
	}
}
