package dispatcher

import (
	"os"
	"strings"
	"testing"
)

// TestReloadKeepsStateAndRefusesBadFile reloads a changed list: the
// destination that stayed keeps its state, a new one appears, one taken
// out goes; a malformed list is refused with file:line and the sets in
// use stay.
func TestReloadKeepsStateAndRefusesBadFile(t *testing.T) {
	env := load(t, "1 sip:127.0.0.1:5071\n1 sip:127.0.0.1:5072\n", map[string]any{"reload_delta": 0})
	mod := env.Mods["dispatcher"].(*Module)
	path := mod.file
	mod.state.reinit(mod.sets.Load().find(1, "sip:127.0.0.1:5072"), stInactive|stProbing)

	if err := os.WriteFile(path, []byte("1 sip:127.0.0.1:5072\n2 sip:127.0.0.1:5073\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_reload", invite(t, "r1")).AsInt(); got != 1 {
		t.Fatalf("ds_reload = %d, want 1", got)
	}
	l := mod.sets.Load()
	if d := l.find(1, "sip:127.0.0.1:5072"); d == nil || stateString(d.rt.st.Load()) != "IP" {
		t.Errorf("the destination still listed lost its state: %v", d)
	}
	if l.find(2, "sip:127.0.0.1:5073") == nil || l.find(1, "sip:127.0.0.1:5071") != nil {
		t.Errorf("the reloaded list is not the file's: sets %v", l.ids)
	}

	if err := os.WriteFile(path, []byte("1 sip:127.0.0.1:5072\n# ok\n1 sip:127.0.0.1:5074 x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commit, err := mod.PrepareReload()
	if err == nil || commit != nil || !strings.Contains(err.Error(), path+":3: flags") {
		t.Fatalf("PrepareReload of a bad list: %v, want an error naming %s:3", err, path)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_reload", invite(t, "r2")).AsInt(); got != -1 {
		t.Errorf("ds_reload of a bad list = %d, want -1", got)
	}
	if mod.sets.Load() != l {
		t.Error("a refused reload changed the sets in use")
	}
	if ok, failed := mod.met.reloadOK.Get(), mod.met.reloadFailed.Get(); ok != 1 || failed != 2 {
		t.Errorf("reload counters ok=%d failed=%d, want 1 and 2", ok, failed)
	}

	// the SIGHUP way: prepare, then commit
	if err := os.WriteFile(path, []byte("1 sip:127.0.0.1:5072\n1 sip:127.0.0.1:5075\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	commit, err = mod.PrepareReload()
	if err != nil {
		t.Fatal(err)
	}
	if mod.sets.Load() != l {
		t.Error("PrepareReload changed the sets before the commit")
	}
	commit()
	if mod.sets.Load().find(1, "sip:127.0.0.1:5075") == nil {
		t.Error("the commit did not switch to the new list")
	}
}

// TestReloadDelta refuses a second ds_reload within reload_delta, as
// Kamailio ("ongoing reload").
func TestReloadDelta(t *testing.T) {
	env := load(t, "1 sip:127.0.0.1:5071\n", nil)
	if got := env.Call(t, "KSR.dispatcher.ds_reload", invite(t, "d1")).AsInt(); got != 1 {
		t.Fatalf("first ds_reload = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_reload", invite(t, "d2")).AsInt(); got != -1 {
		t.Errorf("second ds_reload within 5 s = %d, want -1", got)
	}
	if _, err := rpc(t, env, "dispatcher.reload"); err == nil || !strings.Contains(err.Error(), "Ongoing reload") {
		t.Errorf("dispatcher.reload within 5 s: %v, want Ongoing reload", err)
	}
}

// TestReloadKeepsRoundRobin checks that a reload does not restart the
// round robin of a set it keeps.
func TestReloadKeepsRoundRobin(t *testing.T) {
	env := load(t, "1 sip:127.0.0.1:5071\n1 sip:127.0.0.1:5072\n", map[string]any{"reload_delta": 0})
	pick := func(id string) string {
		m := invite(t, id)
		if env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 4).AsInt() != 1 {
			t.Fatal("ds_select_dst failed")
		}
		return m.DstURI
	}
	first := pick("a")
	if got := rpcJSON(t, env, "dispatcher.reload"); got != `"Ok. Dispatcher successfully reloaded."` {
		t.Fatalf("dispatcher.reload = %s", got)
	}
	if second := pick("b"); second == first {
		t.Errorf("after a reload round robin picked %s again", second)
	}
}
