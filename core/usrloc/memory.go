package usrloc

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// memoryStore keeps the bindings in maps: nothing survives the process.
// A per-AOR lock serialises updates of one AOR; the map itself is
// guarded by an RWMutex held only to read or swap an AOR's slice.
type memoryStore struct {
	useDomain bool
	locks     *aorLocks

	mu     sync.RWMutex
	tables map[string]map[string][]kemi.Binding // table -> AOR -> bindings
}

func newMemoryStore(o Options) *memoryStore {
	return &memoryStore{useDomain: o.UseDomain, locks: newAORLocks(), tables: map[string]map[string][]kemi.Binding{}}
}

func (s *memoryStore) UseDomain() bool { return s.useDomain }

func (s *memoryStore) get(table, aor string) []kemi.Binding {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tables[table][aor]
}

func (s *memoryStore) set(table, aor string, bs []kemi.Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		t = map[string][]kemi.Binding{}
		s.tables[table] = t
	}
	if len(bs) == 0 {
		delete(t, aor)
		return
	}
	t[aor] = bs
}

// Lookup returns a copy of the live bindings: the stored slice is never
// changed in place, so reading it under the read lock is enough.
func (s *memoryStore) Lookup(_ context.Context, table, aor string) ([]kemi.Binding, error) {
	return live(s.get(table, aor), time.Now()), nil
}

func (s *memoryStore) Update(_ context.Context, table, aor string, fn func([]kemi.Binding) (kemi.BindingChange, error)) error {
	defer s.locks.lock(table, aor)()
	cur := live(s.get(table, aor), time.Now())
	ch, err := fn(slices.Clone(cur))
	if err != nil {
		return err
	}
	if err := checkChange(aor, ch); err != nil {
		return err
	}
	s.set(table, aor, apply(cur, ch))
	return nil
}

func (s *memoryStore) DeleteRUID(_ context.Context, table, aor, ruid string) (bool, error) {
	defer s.locks.lock(table, aor)()
	cur := s.get(table, aor)
	i := indexRUID(cur, ruid)
	if i < 0 {
		return false, nil
	}
	s.set(table, aor, slices.Delete(slices.Clone(cur), i, i+1))
	return true, nil
}

func (s *memoryStore) DeleteAOR(_ context.Context, table, aor string) (int, error) {
	defer s.locks.lock(table, aor)()
	n := len(live(s.get(table, aor), time.Now()))
	s.set(table, aor, nil)
	return n, nil
}

func (s *memoryStore) AORs(_ context.Context, table string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.tables[table]))
	for aor := range s.tables[table] {
		out = append(out, aor)
	}
	slices.Sort(out)
	return out, nil
}

func (s *memoryStore) Tables(context.Context) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.tables))
	for name := range s.tables {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

func (s *memoryStore) Expire(_ context.Context, now time.Time) ([]Expired, error) {
	type key struct{ table, aor string }
	var due []key
	s.mu.RLock()
	for table, t := range s.tables {
		for aor, bs := range t {
			for i := range bs {
				if bs[i].Expired(now) {
					due = append(due, key{table, aor})
					break
				}
			}
		}
	}
	s.mu.RUnlock()
	var out []Expired
	for _, k := range due {
		unlock := s.locks.lock(k.table, k.aor)
		cur := s.get(k.table, k.aor)
		keep := make([]kemi.Binding, 0, len(cur))
		for _, b := range cur {
			if b.Expired(now) {
				out = append(out, Expired{Table: k.table, Binding: b})
			} else {
				keep = append(keep, b)
			}
		}
		s.set(k.table, k.aor, keep)
		unlock()
	}
	return out, nil
}

func (s *memoryStore) Count(context.Context) (users, contacts int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.tables {
		users += len(t)
		for _, bs := range t {
			contacts += len(bs)
		}
	}
	return users, contacts, nil
}

func (s *memoryStore) Close() error { return nil }
