package usrloc

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// TestSQLiteChangedColumnsOnly: a refresh writes only the columns that
// changed, and the file then holds exactly the binding, as a store
// reading it afresh sees; a refresh that changes nothing writes nothing.
func TestSQLiteChangedColumnsOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	s := mustOpen(t, "sqlite://"+path, Options{UseDomain: true})
	first := binding("alice@example.com", "a1", time.Hour)
	put(t, s, first.AOR, first)

	tests := []struct {
		name   string
		change func(b *kemi.Binding)
	}{
		{"refresh", func(b *kemi.Binding) {
			b.Expires = b.Expires.Add(time.Minute)
			b.LastModified = b.LastModified.Add(time.Minute)
			b.CSeq++
		}},
		{"new call", func(b *kemi.Binding) { b.CallID, b.UserAgent = "cid-2", "phone/2.0" }},
		{"indexed columns", func(b *kemi.Binding) { b.Contact, b.ConnID, b.ServerID = "sip:a1@192.0.2.2", 0, 4 }},
		{"to NULL and back", func(b *kemi.Binding) { b.Received, b.Path, b.Methods, b.Q = "", "", -1, -1 }},
		{"from NULL", func(b *kemi.Binding) { b.Received, b.Methods, b.Q = "sip:203.0.113.9:5062", 15, 1000 }},
		{"nothing", func(*kemi.Binding) {}},
	}
	cur := first
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.change(&cur)
			d, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.SetMaxOpenConns(1) // data_version counts per connection
			before := dataVersion(t, d)
			put(t, s, cur.AOR, cur)
			if wrote := dataVersion(t, d) != before; wrote != (tt.name != "nothing") {
				t.Errorf("the file changed: %v", wrote)
			}
			fresh := mustOpen(t, "sqlite://"+path, Options{UseDomain: true})
			got := lookup(t, fresh, cur.AOR)
			if len(got) != 1 {
				t.Fatalf("%d bindings in the file", len(got))
			}
			sameBinding(t, got[0], cur)
			if got := lookup(t, s, cur.AOR); len(got) != 1 {
				t.Errorf("cache: %d bindings", len(got))
			} else {
				sameBinding(t, got[0], cur)
			}
		})
	}
}

// dataVersion returns PRAGMA data_version of d's connection: it changes
// when another connection commits a change to the file.
func dataVersion(t *testing.T, d *sql.DB) int64 {
	t.Helper()
	var v int64
	if err := d.QueryRow("PRAGMA data_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSQLiteRowGoneBehindCache: when the row an update expects is not in
// the file (changed behind the cache without data_version telling), the
// binding is written whole all the same.
func TestSQLiteRowGoneBehindCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	st := mustOpen(t, "sqlite://"+path, Options{})
	b := binding("bob", "b1", time.Hour)
	put(t, st, "bob", b)
	tbl, err := st.(*sqliteStore).table(DefaultTable)
	if err != nil {
		t.Fatal(err)
	}
	// delete on kemi's own connection: data_version does not change
	tbl.mu.Lock()
	_, err = tbl.conn.deleteRUID.ExecContext(context.Background(), "b1")
	tbl.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	b.CSeq++
	put(t, st, "bob", b)
	got := lookup(t, mustOpen(t, "sqlite://"+path, Options{}), "bob")
	if len(got) != 1 {
		t.Fatalf("%d bindings in the file, want 1", len(got))
	}
	sameBinding(t, got[0], b)
}
