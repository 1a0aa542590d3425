package htable

import (
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: c1\nCSeq: 1 INVITE\nMax-Forwards: 70\n\n"

// clock is a settable time for expiry tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// load loads htable with the given table definitions and a
// clock the test moves.
func load(t *testing.T, defs ...string) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	return loadWith(t, []string{"htable"}, defs...)
}

// loadWith is load with the modules named.
func loadWith(t *testing.T, mods []string, defs ...string) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	params := map[string]map[string]any{}
	if len(defs) > 0 {
		list := make([]any, len(defs))
		for i, d := range defs {
			list[i] = d
		}
		params["htable"] = map[string]any{"htable": list}
	}
	e := kemitest.Load(t, params, mods...)
	t.Cleanup(e.Destroy)
	mod := e.Mods["htable"].(*Module)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	mod.now = c.now
	for _, tb := range mod.tables {
		tb.now = c.now
	}
	return e, mod, c
}

// msg returns a request of its own worker.
func msg(t *testing.T, e *kemitest.Env) *kemi.Msg {
	t.Helper()
	return e.Prepare(kemitest.ParseMsg(t, invite))
}
