package usrloc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// backends opens one store of each kind for t: the contract tests run
// against each of them, the backend a column of their table.
var backends = []struct {
	name string
	open func(t *testing.T, o Options) Store
}{
	{"memory", func(t *testing.T, o Options) Store { return mustOpen(t, "memory", o) }},
	{"sqlite", func(t *testing.T, o Options) Store {
		return mustOpen(t, "sqlite://"+filepath.Join(t.TempDir(), "kemi.db"), o)
	}},
	{"redis", func(t *testing.T, o Options) Store {
		url, _ := redistest.Start(t)
		return mustOpen(t, url, o)
	}},
}

func mustOpen(t testing.TB, url string, o Options) Store {
	t.Helper()
	s, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// binding returns a full binding of aor with every field set, expiring
// in d (0: permanent). Times are whole seconds, as Kamailio's table
// keeps them.
func binding(aor, ruid string, d time.Duration) kemi.Binding {
	now := time.Now().Truncate(time.Second)
	b := kemi.Binding{
		AOR: aor, Contact: "sip:" + ruid + "@192.0.2.1:5062;transport=udp", Received: "sip:203.0.113.7:5062",
		Path: "<sip:edge.example.net;lr>", Q: 500, CallID: "cid-" + ruid, CSeq: 7, Flags: 2, CFlags: 64,
		UserAgent: "phone/1.0", Socket: "udp:127.0.0.1:5060", Methods: 527, RUID: ruid,
		Instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>", RegID: 1, ServerID: 3, ConnID: 12,
		KeepAlive: 1, LastModified: now,
	}
	if d != 0 {
		b.Expires = now.Add(d)
	}
	return b
}

func put(t testing.TB, s Store, aor string, bs ...kemi.Binding) {
	t.Helper()
	err := s.Update(context.Background(), DefaultTable, aor, func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: bs}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lookup(t testing.TB, s Store, aor string) []kemi.Binding {
	t.Helper()
	bs, err := s.Lookup(context.Background(), DefaultTable, aor)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(bs, func(a, b kemi.Binding) int {
		if a.RUID < b.RUID {
			return -1
		}
		return 1
	})
	return bs
}

func ruids(bs []kemi.Binding) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, b.RUID)
	}
	return out
}

func sameBinding(t *testing.T, got, want kemi.Binding) {
	t.Helper()
	if !got.Expires.Equal(want.Expires) || !got.LastModified.Equal(want.LastModified) {
		t.Errorf("times: expires %v last_modified %v, want %v %v", got.Expires, got.LastModified, want.Expires, want.LastModified)
	}
	got.Expires, got.LastModified, want.Expires, want.LastModified = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("binding\n got %+v\nwant %+v", got, want)
	}
}

// TestLocationContract runs the kemi.Location contract, and what the
// expiry timer and kemi ul need, against every backend.
func TestLocationContract(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"round trip of every field", func(t *testing.T, s Store) {
			b := binding("alice@example.com", "r1", time.Hour)
			p := binding("alice@example.com", "r2", 0)
			p.Q, p.Methods, p.Received, p.Path, p.Socket, p.Instance, p.ConnID = -1, -1, "", "", "", "", 0
			put(t, s, "alice@example.com", b, p)
			got := lookup(t, s, "alice@example.com")
			if len(got) != 2 {
				t.Fatalf("%d bindings, want 2", len(got))
			}
			sameBinding(t, got[0], b)
			sameBinding(t, got[1], p)
		}},
		{"update sees current bindings and replaces by ruid", func(t *testing.T, s Store) {
			put(t, s, "bob", binding("bob", "a", time.Hour), binding("bob", "b", time.Hour))
			err := s.Update(ctx, DefaultTable, "bob", func(cur []kemi.Binding) (kemi.BindingChange, error) {
				if got := ruids(cur); len(got) != 2 {
					t.Errorf("update saw %v", got)
				}
				nb := binding("bob", "a", 2*time.Hour)
				nb.CSeq = 8
				return kemi.BindingChange{Put: []kemi.Binding{nb}, Delete: []string{"b"}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := lookup(t, s, "bob")
			if len(got) != 1 || got[0].RUID != "a" || got[0].CSeq != 8 {
				t.Errorf("after update %+v", got)
			}
		}},
		{"update function error changes nothing", func(t *testing.T, s Store) {
			put(t, s, "carol", binding("carol", "c1", time.Hour))
			boom := errors.New("boom")
			err := s.Update(ctx, DefaultTable, "carol", func([]kemi.Binding) (kemi.BindingChange, error) {
				return kemi.BindingChange{Delete: []string{"c1"}}, boom
			})
			if !errors.Is(err, boom) || errors.Is(err, kemi.ErrLocation) {
				t.Errorf("err %v, want boom and not ErrLocation", err)
			}
			if got := ruids(lookup(t, s, "carol")); !slices.Equal(got, []string{"c1"}) {
				t.Errorf("bindings %v", got)
			}
		}},
		{"binding without ruid refused", func(t *testing.T, s Store) {
			b := binding("dan", "", time.Hour)
			err := s.Update(ctx, DefaultTable, "dan", func([]kemi.Binding) (kemi.BindingChange, error) {
				return kemi.BindingChange{Put: []kemi.Binding{b}}, nil
			})
			if err == nil {
				t.Error("no error")
			}
		}},
		{"expired binding is not looked up, permanent one is", func(t *testing.T, s Store) {
			old := binding("eve", "old", time.Hour)
			old.Expires = time.Now().Add(-time.Second)
			put(t, s, "eve", old, binding("eve", "perm", 0))
			if got := ruids(lookup(t, s, "eve")); !slices.Equal(got, []string{"perm"}) {
				t.Errorf("bindings %v", got)
			}
		}},
		{"delete ruid and aor", func(t *testing.T, s Store) {
			put(t, s, "fred", binding("fred", "f1", time.Hour), binding("fred", "f2", time.Hour), binding("fred", "f3", 0))
			if ok, err := s.DeleteRUID(ctx, DefaultTable, "fred", "f1"); !ok || err != nil {
				t.Errorf("DeleteRUID f1: %v %v", ok, err)
			}
			if ok, err := s.DeleteRUID(ctx, DefaultTable, "fred", "f1"); ok || err != nil {
				t.Errorf("DeleteRUID f1 again: %v %v", ok, err)
			}
			if n, err := s.DeleteAOR(ctx, DefaultTable, "fred"); n != 2 || err != nil {
				t.Errorf("DeleteAOR: %d %v", n, err)
			}
			if got := lookup(t, s, "fred"); len(got) != 0 {
				t.Errorf("left %v", ruids(got))
			}
			if n, err := s.DeleteAOR(ctx, DefaultTable, "fred"); n != 0 || err != nil {
				t.Errorf("DeleteAOR again: %d %v", n, err)
			}
		}},
		{"aors, count and tables", func(t *testing.T, s Store) {
			put(t, s, "u2", binding("u2", "x1", time.Hour))
			put(t, s, "u1", binding("u1", "x2", time.Hour), binding("u1", "x3", 0))
			err := s.Update(ctx, "other", "u3", func([]kemi.Binding) (kemi.BindingChange, error) {
				return kemi.BindingChange{Put: []kemi.Binding{binding("u3", "x4", time.Hour)}}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.AORs(ctx, DefaultTable); err != nil || !slices.Equal(got, []string{"u1", "u2"}) {
				t.Errorf("AORs %v %v", got, err)
			}
			if got, _ := s.Lookup(ctx, DefaultTable, "u3"); len(got) != 0 {
				t.Errorf("u3 seen in location: %v", got)
			}
			if users, contacts, err := s.Count(ctx); users != 3 || contacts != 4 || err != nil {
				t.Errorf("Count %d users %d contacts %v", users, contacts, err)
			}
		}},
		{"expire removes and returns what expired", func(t *testing.T, s Store) {
			put(t, s, "gus", binding("gus", "short", 150*time.Millisecond), binding("gus", "long", time.Hour), binding("gus", "perm", 0))
			time.Sleep(300 * time.Millisecond)
			exp, err := s.Expire(ctx, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(exp) != 1 || exp[0].RUID != "short" || exp[0].Table != DefaultTable || exp[0].Contact == "" {
				t.Errorf("expired %+v", exp)
			}
			if exp, _ := s.Expire(ctx, time.Now()); len(exp) != 0 {
				t.Errorf("expired twice: %+v", exp)
			}
			if got := ruids(lookup(t, s, "gus")); !slices.Equal(got, []string{"long", "perm"}) {
				t.Errorf("left %v", got)
			}
			if _, contacts, _ := s.Count(ctx); contacts != 2 {
				t.Errorf("%d contacts counted after expiry, want 2", contacts)
			}
		}},
		{"concurrent updates of one aor lose nothing", func(t *testing.T, s Store) {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.Update(ctx, DefaultTable, "hal", func(cur []kemi.Binding) (kemi.BindingChange, error) {
						return kemi.BindingChange{Put: []kemi.Binding{binding("hal", fmt.Sprint("h", i), time.Hour)}}, nil
					})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got := lookup(t, s, "hal"); len(got) != 8 {
				t.Errorf("%d bindings, want 8", len(got))
			}
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.run(t, be.open(t, Options{}))
				})
			}
		})
	}
}

// TestUseDomain checks that with use_domain the domain is part of the
// AOR on every backend.
func TestUseDomain(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t, Options{UseDomain: true})
			if !s.UseDomain() {
				t.Error("UseDomain false")
			}
			put(t, s, "ann@a.example", binding("ann@a.example", "1", time.Hour))
			put(t, s, "ann@b.example", binding("ann@b.example", "2", time.Hour))
			got := lookup(t, s, "ann@a.example")
			if len(got) != 1 || got[0].AOR != "ann@a.example" {
				t.Errorf("lookup %+v", got)
			}
			if aors, _ := s.AORs(context.Background(), DefaultTable); !slices.Equal(aors, []string{"ann@a.example", "ann@b.example"}) {
				t.Errorf("AORs %v", aors)
			}
		})
	}
}
