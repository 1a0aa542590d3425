package usrloc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// TestRedisNodesShare: two stores on one Redis, as two kemi nodes, see
// each other's saves at once and update one AOR concurrently without
// losing a binding.
func TestRedisNodesShare(t *testing.T) {
	url, _ := redistest.Start(t)
	a, b := mustOpen(t, url, Options{}), mustOpen(t, url, Options{})
	put(t, a, "alice", binding("alice", "from-a", time.Hour))
	if got := ruids(lookup(t, b, "alice")); !slices.Equal(got, []string{"from-a"}) {
		t.Errorf("node B sees %v", got)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []Store{a, b}[i%2]
			put(t, s, "bob", binding("bob", fmt.Sprint("b", i), time.Hour))
		}()
	}
	wg.Wait()
	if got := lookup(t, a, "bob"); len(got) != 10 {
		t.Errorf("%d bindings after concurrent saves from two nodes, want 10", len(got))
	}
	if n, err := b.DeleteAOR(context.Background(), DefaultTable, "alice"); n != 1 || err != nil {
		t.Errorf("delete on B: %d %v", n, err)
	}
	if got := lookup(t, a, "alice"); len(got) != 0 {
		t.Errorf("node A still sees %v", ruids(got))
	}
}

// TestRedisTTLExpires: Redis itself removes an expired binding: its key
// is gone and no lookup returns it, with no Expire pass; the pass then
// reports it once across two nodes.
func TestRedisTTLExpires(t *testing.T) {
	url, _ := redistest.Start(t)
	s, other := mustOpen(t, url, Options{}), mustOpen(t, url, Options{})
	b := binding("alice", "short", time.Hour)
	b.Expires = time.Now().Add(300 * time.Millisecond)
	put(t, s, "alice", b, binding("alice", "long", time.Hour))
	ctx := context.Background()
	u, _ := db.ParseURL(url)
	c, err := db.OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := keysOf(DefaultTable, "alice").binding + "short"
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > 300*time.Millisecond {
		t.Errorf("TTL of %s is %v", key, ttl)
	}
	time.Sleep(500 * time.Millisecond)
	if n := c.Exists(ctx, key).Val(); n != 0 {
		t.Errorf("Redis kept the expired key")
	}
	if got := ruids(lookup(t, other, "alice")); !slices.Equal(got, []string{"long"}) {
		t.Errorf("lookup %v", got)
	}
	e1, err1 := s.Expire(ctx, time.Now())
	e2, err2 := other.Expire(ctx, time.Now())
	if err1 != nil || err2 != nil || len(e1)+len(e2) != 1 {
		t.Fatalf("expired %v %v, %v %v; want one binding once", e1, err1, e2, err2)
	}
	if e := append(e1, e2...)[0]; e.RUID != "short" || e.Contact != b.Contact || e.CallID != b.CallID {
		t.Errorf("expired %+v", e)
	}
	if n := c.ZCard(ctx, keysOf(DefaultTable, "alice").index).Val(); n != 1 {
		t.Errorf("index of alice has %d entries, want 1", n)
	}
}

// newTestModule runs usrloc's ModInit on db_url url and returns it with
// its metrics and the log it writes.
func newTestModule(t *testing.T, params map[string]any) (*Module, kemi.Location, *kemi.Metrics, *syncBuffer) {
	t.Helper()
	set := kemi.NewMetrics()
	logs := &syncBuffer{}
	env := kemi.NewEnv("usrloc", nil, kemi.NewPVTable(), kemi.NewServices(), set, kemi.NewParams("usrloc", params), slog.New(slog.NewTextHandler(logs, nil)))
	mod := &Module{}
	if err := mod.ModInit(env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mod.Destroy)
	loc, _ := env.Services.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	if loc == nil {
		t.Fatal("no Location published")
	}
	return mod, loc, set, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func metricValue(set *kemi.Metrics, name string) string {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestRedisGoesAwayAndComesBack: with Redis stopped, lookups and saves
// fail with ErrLocation, counted and logged once; after a restart (an
// empty Redis) the next calls work with no restart of kemi.
func TestRedisGoesAwayAndComesBack(t *testing.T) {
	srv := redistest.New(t)
	_, loc, set, logs := newTestModule(t, map[string]any{"db_url": srv.URL})
	ctx := context.Background()
	put(t, loc.(Store), "alice", binding("alice", "a1", time.Hour))
	srv.Stop()
	for range 3 {
		if _, err := loc.Lookup(ctx, DefaultTable, "alice"); !errors.Is(err, kemi.ErrLocation) {
			t.Errorf("lookup with Redis stopped: %v", err)
		}
	}
	err := loc.Update(ctx, DefaultTable, "alice", func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{binding("alice", "a2", time.Hour)}}, nil
	})
	if !errors.Is(err, kemi.ErrLocation) {
		t.Errorf("update with Redis stopped: %v", err)
	}
	if v := metricValue(set, "kemi_usrloc_db_errors_total"); v != "4" {
		t.Errorf("kemi_usrloc_db_errors_total %q, want 4", v)
	}
	if n := strings.Count(logs.String(), `msg="usrloc: location database error"`); n != 1 {
		t.Errorf("%d error lines logged for 4 errors, want 1:\n%s", n, logs)
	}
	srv.Restart()
	var got []kemi.Binding
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(50 * time.Millisecond) {
		if got, err = loc.Lookup(ctx, DefaultTable, "alice"); err == nil {
			break
		}
	}
	if err != nil || len(got) != 0 {
		t.Fatalf("lookup after restart: %v %v", got, err)
	}
	err = loc.Update(ctx, DefaultTable, "alice", func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{binding("alice", "a3", time.Hour)}}, nil
	})
	if err != nil {
		t.Errorf("update after restart: %v", err)
	}
	if !strings.Contains(logs.String(), "works again") {
		t.Errorf("recovery not logged:\n%s", logs)
	}
}

// TestModuleParams: the database, use_domain and timer_interval (seconds
// or a duration) are read, bad values refused.
func TestModuleParams(t *testing.T) {
	mod, loc, _, _ := newTestModule(t, map[string]any{"db_url": "memory", "use_domain": 1, "timer_interval": int64(5), "server_id": 7})
	if !loc.UseDomain() || mod.interval != 5*time.Second {
		t.Errorf("use_domain %v interval %v", loc.UseDomain(), mod.interval)
	}
	if err := loc.Update(context.Background(), DefaultTable, "a@b", func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{{RUID: "r", Contact: "sip:a@b"}}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if bs, _ := loc.Lookup(context.Background(), DefaultTable, "a@b"); len(bs) != 1 || bs[0].ServerID != 7 {
		t.Errorf("server_id not stamped: %+v", bs)
	}
	mod, _, _, _ = newTestModule(t, map[string]any{"db_url": "memory", "timer_interval": "1500ms"})
	if mod.interval != 1500*time.Millisecond {
		t.Errorf("interval %v", mod.interval)
	}
	for _, bad := range []map[string]any{
		{"db_url": "mysql://x"},
		{"db_url": "memory", "timer_interval": 0},
		{"db_url": "memory", "nonsense": 1},
	} {
		env := kemi.NewEnv("usrloc", nil, kemi.NewPVTable(), kemi.NewServices(), nil, kemi.NewParams("usrloc", bad), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := (&Module{}).ModInit(env); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestRedisExpireTakesEveryDueBinding: one Expire pass takes every
// binding that expired, not only the first batch: with more than
// expireBatch expiring between two passes the rest piled up in the exp
// zset, the last hash and the AOR indexes, pass after pass.
func TestRedisExpireTakesEveryDueBinding(t *testing.T) {
	url, _ := redistest.Start(t)
	s := mustOpen(t, url, Options{})
	ctx := context.Background()
	const n = expireBatch + expireBatch/2
	soon := time.Now().Add(200 * time.Millisecond)
	for i := range n {
		b := binding(fmt.Sprint("u", i), "r", time.Hour)
		b.Expires = soon
		put(t, s, b.AOR, b)
	}
	time.Sleep(300 * time.Millisecond)
	exp, err := s.Expire(ctx, time.Now())
	if err != nil || len(exp) != n {
		t.Fatalf("one pass expired %d bindings (%v), want %d", len(exp), err, n)
	}
	u, _ := db.ParseURL(url)
	c, err := db.OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := c.Keys(ctx, redisPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	// only the list of tables is left
	if !slices.Equal(keys, []string{redisTables}) {
		t.Errorf("keys left after the pass: %d, %.5q", len(keys), keys)
	}
}

// TestRedisClusterRefused: a cluster URL stops usrloc at start with an
// error that says so; it used to start, and every save then failed
// (CROSSSLOT) on a real cluster.
func TestRedisClusterRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, "redis://u:pw@127.0.0.1:1?addr=127.0.0.1:2", Options{})
	if err == nil {
		s.Close()
		t.Fatal("a cluster URL opened")
	}
	if !strings.Contains(err.Error(), "Cluster is not supported") || strings.Contains(err.Error(), "pw@") {
		t.Errorf("error %q: want one that names the cluster, without the password", err)
	}
}
