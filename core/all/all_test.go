package all_test

import (
	"slices"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	_ "github.com/kemisip/kemi/core/all"
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

// standardOrder is the standard set in its order: "core" (the KSR table
// itself, KSR.pv and KSR.hdr) first. The order is data: it is given by
// each module's registration and checked here.
var standardOrder = []string{
	"core",
	"rr",
	"tm",
	"tmx",
	"sl",
	"maxfwd",
	"sanity",
	"siputils",
	"textops",
	"corex",
	"kx",
	"xlog",
	"usrloc",
	"registrar",
	"path",
	"auth",
	"auth_db",
	"htable",
	"pike",
	"permissions",
	"nathelper",
	"rtpengine",
	"dispatcher",
	"tls",
	"xhttp",
	"xhttp_prom",
	"websocket",
}

// TestStandardOrder keeps the registered standard set and its order as
// written in standardOrder, and checks that an engine with no module list
// loads exactly that.
func TestStandardOrder(t *testing.T) {
	if got := kemi.StandardModules(); !slices.Equal(got, standardOrder) {
		t.Errorf("standard modules %v, want %v", got, standardOrder)
	}
	if got := kemi.EnabledModules(nil); !slices.Equal(got, standardOrder) {
		t.Errorf("modules of a config that names none %v, want %v", got, standardOrder)
	}
	for _, name := range kemi.RegisteredModules() {
		if !slices.Contains(standardOrder, name) && name != "lifecycletest" {
			t.Errorf("module %s is registered outside the standard set: give it an Order", name)
		}
	}
}

// TestImportSetsNoProcessWideState checks that linking the standard
// modules leaves sipgo's package-level timers alone: the engine sets the
// ones tm relies on at Start (no engine starts in this test binary).
func TestImportSetsNoProcessWideState(t *testing.T) {
	if sip.Timer_1xx >= 24*time.Hour || sip.Timer_L <= 10*time.Millisecond || sip.Timer_M <= 10*time.Millisecond {
		t.Errorf("a module's init() changed sipgo's timers: Timer_1xx %v, Timer_L %v, Timer_M %v", sip.Timer_1xx, sip.Timer_L, sip.Timer_M)
	}
}
