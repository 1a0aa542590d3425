package htable

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
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
	return e, e.Mods["htable"].(*Module), setClock(e.Mods["htable"].(*Module))
}

// setClock gives mod and its tables a clock the test moves.
func setClock(mod *Module) *clock {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	mod.now = c.now
	for _, tb := range mod.tables {
		tb.now = c.now
	}
	return c
}

// backend is where a test's tables keep their items.
type backend struct {
	name   string
	shared bool // redis=1 on a redis-server of the test's own
}

// backends are the two kinds of table the export tests run on.
var backends = []backend{{name: "memory"}, {name: "redis", shared: true}}

// loadOn is load on backend b: with shared, every table is defined with
// redis=1 on a fresh redis-server (the test is skipped without one).
func loadOn(t *testing.T, b backend, defs ...string) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	return loadOnWith(t, b, []string{"htable"}, defs...)
}

// loadOnWith is loadOn with the modules named.
func loadOnWith(t *testing.T, b backend, mods []string, defs ...string) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	if !b.shared {
		return loadWith(t, mods, defs...)
	}
	url, _ := redistest.Start(t)
	return loadParams(t, sharedParams(url, defs...), mods...)
}

// sharedParams are htable's parameters for defs kept in Redis at url.
func sharedParams(url string, defs ...string) map[string]any {
	list := make([]any, len(defs))
	for i, d := range defs {
		list[i] = strings.TrimSuffix(d, ";") + ";redis=1"
	}
	return map[string]any{"htable": list, "db_url": url}
}

// loadParams loads htable (or the modules named) with the parameters
// given.
func loadParams(t *testing.T, params map[string]any, mods ...string) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	if len(mods) == 0 {
		mods = []string{"htable"}
	}
	e := kemitest.Load(t, map[string]map[string]any{"htable": params}, mods...)
	t.Cleanup(e.Destroy)
	return e, e.Mods["htable"].(*Module), setClock(e.Mods["htable"].(*Module))
}

// msg returns a request of its own worker.
func msg(t *testing.T, e *kemitest.Env) *kemi.Msg {
	t.Helper()
	return e.Prepare(kemitest.ParseMsg(t, invite))
}
