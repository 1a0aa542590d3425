package usrloc

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// TestSQLiteCacheKeepsNoMisses: lookups of names nobody registered, and
// AORs whose last binding went, leave nothing in the cache, so requests
// for random users cannot grow memory.
func TestSQLiteCacheKeepsNoMisses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	s := mustOpen(t, "sqlite://"+path, Options{})
	put(t, s, "alice", binding("alice", "a1", time.Hour))
	ctx := context.Background()
	for i := range 500 {
		if bs, err := s.Lookup(ctx, DefaultTable, fmt.Sprintf("nobody%d", i)); err != nil || len(bs) != 0 {
			t.Fatalf("lookup nobody%d: %v, %v", i, bs, err)
		}
	}
	if err := s.Update(ctx, DefaultTable, "alice", func(cur []kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Delete: []string{"a1"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	tbl, err := s.(*sqliteStore).table(DefaultTable)
	if err != nil {
		t.Fatal(err)
	}
	tbl.mu.Lock()
	n := len(tbl.cache)
	tbl.mu.Unlock()
	if n != 0 {
		t.Errorf("%d AORs cached after 500 misses and one emptied AOR, want 0", n)
	}
}
