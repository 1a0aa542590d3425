package htable

import (
	"strings"
	"sync"
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

// waitsFor calls fn (an export of e with args, as worker m) in the
// background and checks that it does not return before the holder lets
// go: the first release (the holder still holds the lock after it) must
// not free it, the second must. It returns what fn returned.
func waitsFor(t *testing.T, e *kemitest.Env, m *kemi.Msg, fn string, args []string, release func()) kemi.Value {
	t.Helper()
	x := e.Export(t, fn)
	done := make(chan kemi.Value, 1)
	go func() { done <- x.Func(m, kemi.MakeArgs(args...)) }()
	release()
	select {
	case v := <-done:
		t.Fatalf("%s%v went through a held lock: %v", fn, args, v)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	select {
	case v := <-done:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s%v still waits after the unlock", fn, args)
	}
	return kemi.Null
}

// item is what sht_get(table, key) should give.
type item struct {
	table, key string
	want       kemi.Value
}

// checkItems calls sht_get for each item.
func checkItems(t *testing.T, e *kemitest.Env, m *kemi.Msg, items []item) {
	t.Helper()
	for _, c := range items {
		if got := e.Call(t, "KSR.htable.sht_get", m, c.table, c.key); got != c.want {
			t.Errorf("sht_get(%s, %s) = %#v, want %#v", c.table, c.key, got, c.want)
		}
	}
}

// incAll runs workers goroutines, each a worker of e, each calling
// sht_inc(table, key) each times for every key, and adds them to wg.
func incAll(t *testing.T, wg *sync.WaitGroup, e *kemitest.Env, workers, each int, table string, keys ...string) {
	t.Helper()
	inc := e.Export(t, "KSR.htable.sht_inc")
	for w := 0; w < workers; w++ {
		m := msg(t, e)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				for _, k := range keys {
					inc.Func(m, kemi.MakeArgs(table, k))
				}
			}
		}()
	}
}

// kamailioItems are what the rows of Kamailio's format that the dbtable
// tests load give.
var kamailioItems = []item{
	{"k", "greeting", kemi.Str("hello")},
	{"k", "count", kemi.Int(42)},
	{"k", "gw[0]", kemi.Str("192.0.2.1")},
	{"k", "gw[1]", kemi.Str("192.0.2.2")},
	{"k", "gw::size", kemi.Int(2)},
}
