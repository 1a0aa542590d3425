package all_test

import (
	"slices"
	"testing"

	"github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
)

// TestExportsMatchKamailio checks every export of the standard modules
// against Kamailio's catalogue: same name, parameter kinds and return kind.
func TestExportsMatchKamailio(t *testing.T) {
	exports, err := engine.Exports(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(exports) < 300 {
		t.Errorf("only %d exports", len(exports))
	}
	for _, x := range exports {
		k, ok := kemi.LookupKamailio(x.Module, x.Name)
		if !ok {
			t.Errorf("%s: Kamailio has no such function", x.LuaName())
			continue
		}
		if k.Params != x.Signature() || k.Return != x.Return.String() {
			t.Errorf("%s(%s) -> %s, Kamailio has (%s) -> %s", x.LuaName(), x.Signature(), x.Return, k.Params, k.Return)
		}
	}
}

// TestEveryModuleIsListed keeps core/all's order list and the registered
// modules in step.
func TestEveryModuleIsListed(t *testing.T) {
	for _, name := range kemi.RegisteredModules() {
		if name == "lifecycletest" {
			continue // test builds only
		}
		if !slices.Contains(all.Modules, name) {
			t.Errorf("module %s is registered but not in all.Modules", name)
		}
	}
	for _, name := range all.Modules {
		if _, ok := kemi.LookupModule(name); !ok {
			t.Errorf("all.Modules lists %s, which is not registered", name)
		}
	}
	if all.Modules[0] != "core" {
		t.Errorf("core must come first")
	}
}
