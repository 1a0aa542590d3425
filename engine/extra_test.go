package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// prober is a test module with an extra process that panics on its first
// run and runs a script event on the second.
type prober struct {
	runs   atomic.Int32
	ranks  chan int
	events chan error
}

var theProber = &prober{ranks: make(chan int, 10), events: make(chan error, 10)}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-prober", New: func() kemi.Module { return theProber }})
}

func (p *prober) Exports() []kemi.Export { return nil }

func (p *prober) ModInit(env *kemi.Env) error {
	if env.DryRun {
		return nil
	}
	env.AddProcess(kemi.Process{Name: "prober", Run: func(ctx context.Context, pc *kemi.ProcContext) error {
		p.ranks <- pc.Rank
		if p.runs.Add(1) == 1 {
			panic("prober bug")
		}
		p.events <- pc.Event("ksr_prober_event", "prober:up")
		<-ctx.Done()
		return nil
	}})
	return nil
}

func TestExtraProcessIsSupervised(t *testing.T) {
	theProber.runs.Store(0) // -count=N reuses the registered module
	s := enginetest.Start(t, `
function ksr_request_route() end
function ksr_prober_event(ev)
	KSR.info("prober event " .. ev)
end`, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = append(kemi.StandardModules(), "enginetest-prober")
	}))
	// Modules before the prober (tm's timer) take the first extra ranks;
	// what matters is an extra rank that survives the restart unchanged.
	first := 0
	for i := 0; i < 2; i++ {
		select {
		case r := <-theProber.ranks:
			if r > kemi.RankExtraBase {
				t.Errorf("extra process rank %d, want <= %d", r, kemi.RankExtraBase)
			}
			if i == 0 {
				first = r
			} else if r != first {
				t.Errorf("restarted extra process has rank %d, first run had %d", r, first)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("extra process run %d did not start", i+1)
		}
	}
	select {
	case err := <-theProber.events:
		if err != nil {
			t.Fatalf("event callback: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no event")
	}
	logs := s.Logs()
	if !strings.Contains(logs, "prober bug") || !strings.Contains(logs, "restarting") {
		t.Errorf("the panic was not logged with a restart:\n%s", logs)
	}
	if !strings.Contains(logs, "prober event prober:up") {
		t.Errorf("the script event did not run:\n%s", logs)
	}
}

// eventModule is a test module whose extra process runs one script event,
// callback(event), and sends what it returned on events.
type eventModule struct {
	proc, callback, event string
	events                chan error
}

func (m *eventModule) Exports() []kemi.Export { return nil }

func (m *eventModule) ModInit(env *kemi.Env) error {
	if env.DryRun {
		return nil
	}
	env.AddProcess(kemi.Process{Name: m.proc, Run: func(ctx context.Context, pc *kemi.ProcContext) error {
		m.events <- pc.Event(m.callback, m.event)
		<-ctx.Done()
		return nil
	}})
	return nil
}

// theLooper runs a script event that never ends by itself.
var theLooper = &eventModule{proc: "looper", callback: "ksr_loop_event", event: "looper:spin", events: make(chan error, 1)}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-looper", New: func() kemi.Module { return theLooper }})
}

func TestRouteTimeoutInExtraProcess(t *testing.T) {
	enginetest.Start(t, `
function ksr_request_route() end
function ksr_loop_event(ev)
	while true do end
end`, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "enginetest-looper"}
		c.RouteTimeout = 50 * time.Millisecond
	}))
	select {
	case err := <-theLooper.events:
		var rerr *luaext.RuntimeError
		if !errors.As(err, &rerr) || !rerr.Timeout {
			t.Fatalf("event error = %v, want a route timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event route of the extra process was never stopped")
	}
}
