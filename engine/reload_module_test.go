package engine_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// reloadData is a test module whose data, a number KSR.reldata.value()
// returns, is reloaded with the script: PrepareReload reads next, or fails
// while fail is set.
type reloadData struct {
	cur, next atomic.Int64
	fail      atomic.Bool
	prepared  atomic.Int64 // PrepareReload calls
}

// reloadDatas hands each engine's instance to its test.
var reloadDatas = make(chan *reloadData, 1)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-reldata", New: func() kemi.Module {
		m := &reloadData{}
		m.cur.Store(1)
		reloadDatas <- m
		return m
	}})
}

func (m *reloadData) Exports() []kemi.Export {
	return []kemi.Export{{Module: "reldata", Name: "value", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value {
		return kemi.Value{Kind: kemi.KindInt, Int: m.cur.Load()}
	}}}
}

func (m *reloadData) PrepareReload() (func(), error) {
	m.prepared.Add(1)
	if m.fail.Load() {
		return nil, errors.New("reldata: bad row")
	}
	v := m.next.Load()
	return func() { m.cur.Store(v) }, nil
}

var _ kemi.Reloader = (*reloadData)(nil)

const reldataScript = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "Script1 data" .. KSR.reldata.value())
end
`

// TestReloadWithModuleData: a reload switches the script and the data of
// the modules that reload with it together, or neither: a module that
// fails to prepare refuses the script, and a script that fails to load
// leaves the module data as it was.
func TestReloadWithModuleData(t *testing.T) {
	s := enginetest.Start(t, reldataScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "sl", "enginetest-reldata"}
	}))
	m := <-reloadDatas
	p := newPeer(t)
	ask := func(want string) {
		t.Helper()
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "reldata-"+want))
		if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 "+want+"\r\n") {
			t.Fatalf("reply = %q, want 200 %s", res, want)
		}
	}
	ask("Script1 data1")
	script2 := strings.ReplaceAll(reldataScript, "Script1", "Script2")

	// a module fails to prepare: nothing changes
	m.next.Store(2)
	m.fail.Store(true)
	gen, err := s.Reload("test.lua", []byte(script2))
	if err == nil || gen != 1 || !strings.Contains(err.Error(), "module enginetest-reldata: reldata: bad row") {
		t.Fatalf("Reload with a failing module = %d, %v; want 1 and the module's error", gen, err)
	}
	if s.Generation() != 1 || strings.Contains(string(s.Script().Source), "Script2") {
		t.Fatalf("the refused script was installed (generation %d)", s.Generation())
	}
	ask("Script1 data1")
	if v := s.Metric("kemi_engine_reload_failures_total"); v != 1 {
		t.Errorf("reload failures = %v, want 1", v)
	}

	// the script fails to load: the module data is not committed
	m.fail.Store(false)
	if gen, err := s.Reload("test.lua", []byte("function ksr_request_route(")); err == nil || gen != 1 {
		t.Fatalf("Reload of a broken script = %d, %v; want 1 and an error", gen, err)
	}
	broken := "function ksr_request_route() end\nerror('top level fails')"
	if gen, err := s.Reload("test.lua", []byte(broken)); err == nil || gen != 1 {
		t.Fatalf("Reload of a script whose top level fails = %d, %v; want 1 and an error", gen, err)
	}
	if m.prepared.Load() != 2 {
		t.Errorf("PrepareReload ran %d times, want 2 (not for a script that does not compile)", m.prepared.Load())
	}
	ask("Script1 data1")
	if v := s.Metric("kemi_engine_reload_failures_total"); v != 3 {
		t.Errorf("reload failures = %v, want 3", v)
	}

	// everything prepares: both switch
	if gen, err := s.Reload("test.lua", []byte(script2)); err != nil || gen != 2 {
		t.Fatalf("Reload = %d, %v; want 2, nil", gen, err)
	}
	ask("Script2 data2")
	if v := s.Metric("kemi_engine_reloads_total"); v != 1 {
		t.Errorf("reloads = %v, want 1", v)
	}
}
