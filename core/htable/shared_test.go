package htable

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// twoNodes loads htable twice on one redis-server, as two kemi nodes
// sharing the tables defs (redis=1 added).
func twoNodes(t *testing.T, defs ...string) (srv *redistest.Server, a, b *kemitest.Env) {
	t.Helper()
	srv = redistest.New(t)
	a, _, _ = loadParams(t, sharedParams(srv.URL, defs...))
	b, _, _ = loadParams(t, sharedParams(srv.URL, defs...))
	return srv, a, b
}

// TestSharedIncLosesNothing increments one key from many workers of two
// nodes at once: every increment counts, and both nodes see the sum.
func TestSharedIncLosesNothing(t *testing.T) {
	_, a, b := twoNodes(t, "ipban=>size=2;initval=0;autoexpire=300")
	const workers, each = 8, 250
	var wg sync.WaitGroup
	incAll(t, &wg, a, workers, each, "ipban", "192.0.2.1")
	incAll(t, &wg, b, workers, each, "ipban", "192.0.2.1")
	wg.Wait()
	want := kemi.Int(2 * workers * each)
	for i, e := range []*kemitest.Env{a, b} {
		if got := e.Call(t, "KSR.htable.sht_get", msg(t, e), "ipban", "192.0.2.1"); got != want {
			t.Errorf("node %d: after %v increments the item is %v", i, want, got)
		}
	}
	if got := a.Call(t, "KSR.htable.sht_cn", msg(t, a), "ipban", "**", ""); got != kemi.Int(1) {
		t.Errorf("sht_cn ** = %v, want 1", got)
	}
}

// TestSharedValues checks what is kept: strings and integers told apart,
// integers wrapped as C ints, and a value set on one node read on the
// other.
func TestSharedValues(t *testing.T) {
	_, a, b := twoNodes(t, "t=>")
	ma, mb := msg(t, a), msg(t, b)
	runCalls(t, ma, a, []call{
		{"sht_sets", []any{"t", "s", "12"}, kemi.OK},
		{"sht_seti", []any{"t", "max", 2147483647}, kemi.OK},
		{"sht_sets", []any{"t", "empty", ""}, kemi.OK},
	})
	runCalls(t, mb, b, []call{
		{"sht_get", []any{"t", "s"}, kemi.Str("12")},
		{"sht_inc", []any{"t", "s"}, kemi.Int(-255)}, // a string, however it reads
		{"sht_inc", []any{"t", "max"}, kemi.Int(-2147483648)},
		{"sht_get", []any{"t", "empty"}, kemi.Str("")},
		{"sht_is_null", []any{"t", "empty"}, kemi.Int(-1)},
		{"sht_rm_value_re", []any{"t", "^1"}, kemi.OK},
	})
	runCalls(t, ma, a, []call{
		{"sht_get", []any{"t", "s"}, kemi.Null},
		{"sht_get", []any{"t", "max"}, kemi.Int(-2147483648)},
	})
}

// TestSharedExpiry checks autoexpire on Redis's clock: a new item gets
// autoexpire, updateexpire renews it on set and increment, updateexpire=0
// keeps its time, sht_setex changes it (0: never), a table without
// autoexpire keeps items for ever, and an item past its time is gone for
// every node.
func TestSharedExpiry(t *testing.T) {
	_, a, b := twoNodes(t, "up=>autoexpire=100;initval=0", "keep=>autoexpire=100;updateexpire=0", "plain=>", "short=>autoexpire=1;initval=0")
	m := msg(t, a)
	do := func(fn string, args ...any) kemi.Value { t.Helper(); return a.Call(t, "KSR.htable."+fn, m, args...) }
	ex := func(name string) int64 {
		t.Helper()
		v, err := a.PVs.Get(m, "$shtex("+name+")")
		if err != nil {
			t.Fatal(err)
		}
		return v.Int
	}
	do("sht_inc", "up", "k")
	do("sht_setex", "up", "k", 10)
	if got := ex("up=>k"); got != 10 {
		t.Errorf("after sht_setex 10: $shtex = %d", got)
	}
	do("sht_inc", "up", "k") // updateexpire: 100 s again
	if got := ex("up=>k"); got < 99 {
		t.Errorf("after sht_inc with updateexpire: $shtex = %d, want 100", got)
	}
	do("sht_sets", "keep", "k", "v")
	do("sht_setex", "keep", "k", 10)
	do("sht_sets", "keep", "k", "w") // updateexpire=0: keeps 10
	if got := ex("keep=>k"); got > 10 || got < 9 {
		t.Errorf("after sht_sets with updateexpire=0: $shtex = %d, want 10", got)
	}
	do("sht_setxs", "keep", "k", "x", 50) // its own time wins
	if got := ex("keep=>k"); got > 50 || got < 49 {
		t.Errorf("after sht_setxs 50: $shtex = %d", got)
	}
	do("sht_setex", "keep", "k", 0) // never
	if got := ex("keep=>k"); got != 0 {
		t.Errorf("after sht_setex 0: $shtex = %d, want 0 (never)", got)
	}
	do("sht_sets", "plain", "k", "v")
	do("sht_setex", "plain", "k", 1) // no autoexpire: nothing happens
	do("sht_inc", "short", "k")
	do("sht_inc", "short", "k")
	time.Sleep(1200 * time.Millisecond)
	mb := msg(t, b)
	runCalls(t, mb, b, []call{
		{"sht_get", []any{"keep", "k"}, kemi.Str("x")},
		{"sht_get", []any{"plain", "k"}, kemi.Str("v")},
		{"sht_get", []any{"short", "k"}, kemi.Int(0)}, // gone: initval
		{"sht_inc", []any{"short", "k"}, kemi.Int(1)},
	})
}

// TestSharedLockAcrossNodes checks sht_lock on a table in Redis: a lock
// held by a worker of one node makes sht_lock of the same key wait on
// the other node until it is released; the holder takes it again
// (recursively); a worker that does not hold it cannot release it.
func TestSharedLockAcrossNodes(t *testing.T) {
	srv, a, b := twoNodes(t, "t=>initval=0")
	ma, mb := msg(t, a), msg(t, b)
	runCalls(t, ma, a, []call{
		{"sht_lock", []any{"t", "k"}, kemi.OK},
		{"sht_lock", []any{"t", "k"}, kemi.OK},
		{"sht_unlock", []any{"t", "other"}, kemi.OK}, // not held: logged
	})
	if !strings.Contains(a.Logs(), "is not locked by this worker") {
		t.Errorf("unlock of a lock not held logged %q", a.Logs())
	}
	unlock := func() { a.Call(t, "KSR.htable.sht_unlock", ma, "t", "k") }
	if v := waitsFor(t, b, mb, "KSR.htable.sht_lock", []string{"t", "k"}, unlock); v != kemi.OK {
		t.Errorf("the other node's sht_lock = %v", v)
	}
	runCalls(t, mb, b, []call{{"sht_unlock", []any{"t", "k"}, kemi.OK}})
	if n, _ := redisClient(t, srv.URL).Exists(context.Background(), lockPrefix+"t:k").Result(); n != 0 {
		t.Errorf("the lock is still in Redis after the last unlock")
	}
}

// TestSharedRedisDown checks that a table whose Redis server went away
// gives the failure values, logs and counts the errors, and works again
// when the server is back.
func TestSharedRedisDown(t *testing.T) {
	srv := redistest.New(t)
	e, _, _ := loadParams(t, sharedParams(srv.URL, "t=>initval=0"))
	m := msg(t, e)
	srv.Stop()
	runCalls(t, m, e, []call{
		{"sht_sets", []any{"t", "k", "v"}, kemi.Fail},
		{"sht_get", []any{"t", "k"}, kemi.Int(0)}, // missing: initval
		{"sht_inc", []any{"t", "k"}, kemi.Int(-255)},
		{"sht_lock", []any{"t", "k"}, kemi.Fail},
	})
	if !strings.Contains(e.Logs(), "htable: redis") {
		t.Errorf("no Redis error logged: %q", e.Logs())
	}
	var page strings.Builder
	e.Metrics.Set().WritePrometheus(&page)
	if !strings.Contains(page.String(), "kemi_htable_redis_errors_total 4") {
		t.Errorf("errors not counted:\n%s", page.String())
	}
	srv.Restart()
	runCalls(t, m, e, []call{
		{"sht_inc", []any{"t", "k"}, kemi.Int(1)},
	})
}
