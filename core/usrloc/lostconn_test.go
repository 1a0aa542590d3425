package usrloc

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// streamBinding is a binding of aor saved over stream connection conn
// (0: UDP).
func streamBinding(aor, ruid string, conn int64) kemi.Binding {
	b := binding(aor, ruid, time.Hour)
	b.ServerID, b.ConnID = 0, conn
	return b
}

// save writes bs through the Location usrloc publishes, as registrar
// does.
func save(t *testing.T, loc kemi.Location, aor string, bs ...kemi.Binding) {
	t.Helper()
	err := loc.Update(context.Background(), DefaultTable, aor, func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: bs}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func closeConn(mod *Module, id uint64, proto string) {
	mod.OnConnClosed(kemi.ClosedConn{ID: id, Proto: proto, Remote: netip.MustParseAddrPort("127.0.0.1:40000")})
}

// TestConnClosedRemovesBindings checks, on every backend, which bindings
// a closed connection takes away: those this node saved over it, for ws
// and wss always, for tcp and tls with handle_lost_tcp; hidden from
// lookups at once, deleted from the store by the usrloc-lost-conn
// process.
func TestConnClosedRemovesBindings(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "memory" },
		"sqlite": func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "kemi.db") },
		"redis":  func(t *testing.T) string { u, _ := redistest.Start(t); return u },
	}
	cases := []struct {
		name    string
		lostTCP bool
		proto   string
		// the bindings of alice left, of ws1 (conn 5), tcp1 (conn 5),
		// udp (no connection), moved (conn 5 then 7), other (conn 5,
		// another node's)
		want []string
	}{
		{"ws", false, "ws", []string{"moved", "other", "udp"}},
		{"wss", false, "wss", []string{"moved", "other", "udp"}},
		{"tcp kept", false, "tcp", []string{"moved", "other", "udp", "ws1"}},
		{"tcp handle_lost_tcp", true, "tcp", []string{"moved", "other", "udp"}},
		{"tls handle_lost_tcp", true, "tls", []string{"moved", "other", "udp"}},
		{"udp", true, "udp", []string{"moved", "other", "udp", "ws1"}},
	}
	for _, be := range []string{"memory", "sqlite", "redis"} {
		for _, tc := range cases {
			t.Run(be+"/"+tc.name, func(t *testing.T) {
				mod, loc, set, _ := newTestModule(t, map[string]any{"db_url": urls[be](t), "handle_lost_tcp": tc.lostTCP})
				ctx := context.Background()
				save(t, loc, "alice", streamBinding("alice", "ws1", 5), streamBinding("alice", "udp", 0), streamBinding("alice", "moved", 5))
				save(t, loc, "alice", streamBinding("alice", "moved", 7)) // refreshed over another connection
				other := streamBinding("alice", "other", 5)
				other.ServerID = 9
				put(t, mod.loc.Store, "alice", other) // saved by another node
				save(t, loc, "bob", streamBinding("bob", "b6", 6))

				closeConn(mod, 5, tc.proto)
				bs, err := loc.Lookup(ctx, DefaultTable, "alice")
				if err != nil {
					t.Fatal(err)
				}
				if got := ruids(sorted(bs)); !slices.Equal(got, tc.want) {
					t.Errorf("lookup right after the close: %v, want %v", got, tc.want)
				}

				pctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = mod.lost.run(pctx, nil) }()
				defer func() { cancel(); <-done }()
				removed := 4 - len(tc.want)
				waitStore(t, mod.loc.Store, "alice", tc.want)
				waitMetric(t, set, "kemi_usrloc_conn_closed_removed_total", strconv.Itoa(removed))
				if got := ruids(lookup(t, mod.loc.Store, "bob")); !slices.Equal(got, []string{"b6"}) {
					t.Errorf("bob's binding over another connection: %v", got)
				}
				// a REGISTER read before its connection closed, saved after
				closeConn(mod, 8, "ws")
				save(t, loc, "bob", streamBinding("bob", "late", 8))
				waitStore(t, mod.loc.Store, "bob", []string{"b6"})
				waitMetric(t, set, "kemi_usrloc_conn_closed_removed_total", strconv.Itoa(removed+1))
			})
		}
	}
}

// waitStore waits up to 3 s for the store to hold exactly the bindings
// want of aor.
func waitStore(t *testing.T, s Store, aor string, want []string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = ruids(lookup(t, s, aor)); slices.Equal(got, want) {
			return
		}
	}
	t.Errorf("bindings of %s in the store: %v, want %v", aor, got, want)
}

// waitMetric waits up to 3 s for the metric name to read want: the
// counter is added once the store was written.
func waitMetric(t *testing.T, set *kemi.Metrics, name, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got = metricValue(set, name); got == want {
			return
		}
	}
	t.Errorf("%s = %s, want %s", name, got, want)
}

func sorted(bs []kemi.Binding) []kemi.Binding {
	slices.SortFunc(bs, func(a, b kemi.Binding) int { return strings.Compare(a.RUID, b.RUID) })
	return bs
}

// A binding saved just after its connection closed is tracked only when
// it is to be removed: one whose connection's bindings stay (tcp without
// handle_lost_tcp) is not kept in the open index, where no close would
// ever delete it.
func TestConnIndexLateSave(t *testing.T) {
	for _, remove := range []bool{false, true} {
		x := newConnIndex()
		x.closed(7, remove)
		x.saved("location", "alice", kemi.BindingChange{Put: []kemi.Binding{{RUID: "r1", ConnID: 7}}})
		if _, ok := x.open[7]; ok {
			t.Errorf("remove=%v: the late binding is in the open index", remove)
		}
		if _, ok := x.closing[7]; ok != remove {
			t.Errorf("remove=%v: queued for removal %v", remove, ok)
		}
	}
}
