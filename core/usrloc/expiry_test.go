package usrloc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/core/usrloc"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// ultest is a module for this test only: at ChildInit(RankInit) it saves
// bindings through usrloc's Location (registrar's role), and its
// KSR.ultest.expired() returns the contact of the expired binding the
// usrloc callback runs for ("" outside it), as registrar's $ulc(exp=>addr)
// will.
type ultest struct {
	svc *kemi.Services
	loc kemi.Location
}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "ultest", New: func() kemi.Module { return &ultest{} }})
}

func (m *ultest) ModInit(env *kemi.Env) error { m.svc = env.Services; return nil }

func (m *ultest) ChildInit(rank int) error {
	if rank != kemi.RankInit {
		return nil
	}
	m.loc = m.svc.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	now := time.Now()
	return m.loc.Update(context.Background(), usrloc.DefaultTable, "alice", func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{
			{RUID: "r1", Contact: "sip:alice@192.0.2.1:5062", Expires: now.Add(1 * time.Second), CallID: "c1", Q: -1, Methods: -1},
			{RUID: "r2", Contact: "sip:alice@192.0.2.2:5062", Expires: now.Add(2 * time.Second), CallID: "c2", Q: -1, Methods: -1},
			{RUID: "r3", Contact: "sip:alice@192.0.2.3:5062", Expires: now.Add(time.Hour), CallID: "c3", Q: -1, Methods: -1},
		}}, nil
	})
}

func (m *ultest) Exports() []kemi.Export {
	return []kemi.Export{{Module: "ultest", Name: "expired", Return: kemi.ReturnXval,
		Func: func(msg *kemi.Msg, _ kemi.Args) kemi.Value {
			src, ok := m.loc.(kemi.ExpiredContactSource)
			if !ok {
				return kemi.Str("no ExpiredContactSource")
			}
			b, ok := src.ExpiredContact(msg)
			if !ok {
				return kemi.Str("")
			}
			return kemi.Str(b.AOR + " " + b.Contact + " " + b.CallID)
		}}}
}

// TestExpiryRunsEventCallback: the usrloc timer process removes the
// bindings as they expire (memory backend, expires of 1 and 2 s) and runs
// the script's event_callback for each with "usrloc:contact-expired",
// the expired binding readable while it runs; the one still valid stays.
func TestExpiryRunsEventCallback(t *testing.T) {
	script := `
function ksr_request_route() end
function ksr_usrloc_event(evname)
	KSR.info("EVENT " .. evname .. " " .. KSR.ultest.expired() .. "\n")
end
`
	s := enginetest.Start(t, script,
		enginetest.WithConfig(func(c *engine.Config) { c.Modules = []string{"core", "usrloc", "ultest"} }),
		enginetest.WithParams("usrloc", map[string]any{"db_url": "memory", "timer_interval": "200ms", "event_callback": "ksr_usrloc_event"}),
	)
	s.WaitMetric("kemi_usrloc_expired_total", 2, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the callback of the second one has run its course
	logs := s.Logs()
	for _, want := range []string{"alice sip:alice@192.0.2.1:5062 c1", "alice sip:alice@192.0.2.2:5062 c2"} {
		if n := strings.Count(logs, "EVENT usrloc:contact-expired "+want); n != 1 {
			t.Errorf("event for %q logged %d times, want once", want, n)
		}
	}
	if strings.Contains(logs, "192.0.2.3") {
		t.Error("event for the binding that has not expired")
	}
	if got := s.WaitMetric("kemi_usrloc_bindings", 1, 5*time.Second); got != 1 {
		t.Errorf("kemi_usrloc_bindings %v, want 1", got)
	}
}
