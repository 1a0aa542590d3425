package registrar_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// fakeLocation is an in-memory kemi.Location for the tests: what usrloc's
// memory backend does, reduced to the contract. fail makes every call
// fail with kemi.ErrLocation, as a database that went away.
type fakeLocation struct {
	mu        sync.Mutex
	rows      map[string][]kemi.Binding // table + "\x00" + aor
	useDomain bool
	fail      bool
}

func newFakeLocation() *fakeLocation {
	return &fakeLocation{rows: map[string][]kemi.Binding{}}
}

func key(table, aor string) string { return table + "\x00" + aor }

func (f *fakeLocation) live(table, aor string) []kemi.Binding {
	now := time.Now()
	var out []kemi.Binding
	for _, b := range f.rows[key(table, aor)] {
		if !b.Expired(now) {
			out = append(out, b)
		}
	}
	return out
}

func (f *fakeLocation) Lookup(_ context.Context, table, aor string) ([]kemi.Binding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, fmt.Errorf("fake: %w", kemi.ErrLocation)
	}
	return f.live(table, aor), nil
}

func (f *fakeLocation) Update(_ context.Context, table, aor string, fn func(cur []kemi.Binding) (kemi.BindingChange, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return fmt.Errorf("fake: %w", kemi.ErrLocation)
	}
	cur := f.live(table, aor)
	ch, err := fn(slices.Clone(cur))
	if err != nil {
		return err
	}
	rows := cur
	for _, ruid := range ch.Delete {
		rows = slices.DeleteFunc(rows, func(b kemi.Binding) bool { return b.RUID == ruid })
	}
	for _, b := range ch.Put {
		if i := slices.IndexFunc(rows, func(c kemi.Binding) bool { return c.RUID == b.RUID }); i >= 0 {
			rows[i] = b
		} else {
			rows = append(rows, b)
		}
	}
	f.rows[key(table, aor)] = rows
	return nil
}

func (f *fakeLocation) DeleteRUID(_ context.Context, table, aor, ruid string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return false, fmt.Errorf("fake: %w", kemi.ErrLocation)
	}
	rows := f.rows[key(table, aor)]
	n := len(rows)
	f.rows[key(table, aor)] = slices.DeleteFunc(rows, func(b kemi.Binding) bool { return b.RUID == ruid })
	return len(f.rows[key(table, aor)]) < n, nil
}

func (f *fakeLocation) DeleteAOR(_ context.Context, table, aor string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, fmt.Errorf("fake: %w", kemi.ErrLocation)
	}
	n := len(f.rows[key(table, aor)])
	delete(f.rows, key(table, aor))
	return n, nil
}

func (f *fakeLocation) UseDomain() bool { return f.useDomain }

// all returns the stored bindings of aor, expired ones too.
func (f *fakeLocation) all(table, aor string) []kemi.Binding {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rows[key(table, aor)])
}

// setFail makes the storage fail or work again.
func (f *fakeLocation) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

var _ kemi.Location = (*fakeLocation)(nil)
