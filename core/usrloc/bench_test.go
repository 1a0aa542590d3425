package usrloc

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// benchStores are the backends of the benchmarks: SQLite asking the file
// for changes at every lookup (the default) and every 100 ms, Redis,
// memory.
func benchStores(b *testing.B) []struct {
	name string
	s    Store
} {
	dir := b.TempDir()
	url, _ := redistest.Start(b)
	out := []struct {
		name string
		s    Store
	}{
		{"memory", mustOpen(b, "memory", Options{})},
		{"sqlite", mustOpen(b, "sqlite://"+filepath.Join(dir, "a.db"), Options{})},
		{"sqlite-check100ms", mustOpen(b, "sqlite://"+filepath.Join(dir, "b.db"), Options{CheckInterval: 100 * time.Millisecond})},
		{"redis", mustOpen(b, url, Options{})},
	}
	return out
}

// BenchmarkLookup looks up an AOR with two bindings among 1000 AORs.
func BenchmarkLookup(b *testing.B) {
	for _, st := range benchStores(b) {
		for i := range 1000 {
			aor := fmt.Sprint("user", i)
			put(b, st.s, aor, binding(aor, aor+"-1", time.Hour), binding(aor, aor+"-2", time.Hour))
		}
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				bs, err := st.s.Lookup(ctx, DefaultTable, "user42")
				if err != nil || len(bs) != 2 {
					b.Fatal(bs, err)
				}
			}
		})
	}
}

// BenchmarkUpdate refreshes one binding of an AOR (registrar's save of a
// re-REGISTER): read, decide, write before returning.
func BenchmarkUpdate(b *testing.B) {
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				aor := fmt.Sprint("user", i%100)
				nb := binding(aor, aor+"-1", time.Hour)
				err := st.s.Update(ctx, DefaultTable, aor, func([]kemi.Binding) (kemi.BindingChange, error) {
					return kemi.BindingChange{Put: []kemi.Binding{nb}}, nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
