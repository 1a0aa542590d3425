package usrloc

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// TestAllContacts checks the listing nathelper's keepalive reads, on
// every backend: every table, live bindings only, filtered by branch
// flags; and the nat_bflag and server_id it is given.
func TestAllContacts(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t, Options{})
			nat := binding("alice", "r-nat", time.Hour)
			nat.CFlags = 1<<6 | 1<<7
			plain := binding("alice", "r-plain", time.Hour)
			plain.CFlags = 0
			other := binding("bob", "r-other", time.Hour)
			other.CFlags = 1 << 6
			gone := binding("carol", "r-gone", time.Hour)
			gone.CFlags = 1 << 6
			gone.Expires = time.Now().Add(-time.Second)
			put(t, s, "alice", nat, plain)
			put(t, s, "carol", gone)
			if err := s.Update(context.Background(), "location2", "bob", func([]kemi.Binding) (kemi.BindingChange, error) {
				return kemi.BindingChange{Put: []kemi.Binding{other}}, nil
			}); err != nil {
				t.Fatal(err)
			}
			l := &location{Store: s, natFlag: 1 << 6, serverID: 3, errs: &errReporter{}}
			tables, err := s.Tables(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tables, "location") || !slices.Contains(tables, "location2") {
				t.Errorf("tables %v, want location and location2", tables)
			}
			for _, tc := range []struct {
				flags uint32
				want  []string
			}{{0, []string{"location/r-nat", "location/r-plain", "location2/r-other"}}, {1 << 6, []string{"location/r-nat", "location2/r-other"}}, {1<<6 | 1<<7, []string{"location/r-nat"}}} {
				got, err := l.AllContacts(context.Background(), tc.flags)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tb := range got {
					names = append(names, tb.Table+"/"+tb.RUID)
				}
				slices.Sort(names)
				if !slices.Equal(names, tc.want) {
					t.Errorf("flags %#x: %v, want %v", tc.flags, names, tc.want)
				}
			}
			if l.NATFlag() != 1<<6 || l.ServerID() != 3 {
				t.Errorf("NATFlag %#x ServerID %d", l.NATFlag(), l.ServerID())
			}
		})
	}
}

// TestNATBflagParam checks that nat_bflag names a branch flag.
func TestNATBflagParam(t *testing.T) {
	for v, want := range map[int]uint32{-1: 0, 0: 1, 6: 1 << 6, 31: 1 << 31, 32: 0, -2: 0} {
		env := kemi.NewEnv("usrloc", nil, nil, kemi.NewServices(), nil, kemi.NewParams("usrloc", map[string]any{"db_url": "memory", "nat_bflag": v}), nil)
		env.DryRun = true
		mod := &Module{}
		err := mod.ModInit(env)
		if bad := v < -1 || v > 31; bad != (err != nil) {
			t.Errorf("nat_bflag %d: error %v", v, err)
			continue
		}
		if err == nil && mod.loc.NATFlag() != want {
			t.Errorf("nat_bflag %d: NATFlag %#x, want %#x", v, mod.loc.NATFlag(), want)
		}
	}
}
