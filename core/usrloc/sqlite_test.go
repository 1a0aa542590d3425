package usrloc

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// kamailioFile returns a SQLite file with the rows of
// testdata/kamailio-5.6-location.sql, as Kamailio 5.6 wrote them.
func kamailioFile(t *testing.T) (path string, d *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "kamailio.db")
	d, err := db.NewSQLite(path, db.Location).DB(true)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := os.ReadFile("testdata/kamailio-5.6-location.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(string(rows)); err != nil {
		t.Fatal(err)
	}
	return path, d
}

// TestReadKamailioRows reads the rows Kamailio 5.6 wrote: every column
// decoded as Kamailio means it.
func TestReadKamailioRows(t *testing.T) {
	_, d := kamailioFile(t)
	rows, err := d.Query("SELECT " + selectColumns + " FROM location ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []kemi.Binding
	for rows.Next() {
		b, err := rowBinding(rows, true)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	if len(got) != 4 {
		t.Fatalf("%d rows", len(got))
	}
	alice, bob, carol, dave := got[0], got[1], got[2], got[3]
	lm := time.Date(2026, 12, 6, 4, 52, 38, 0, time.UTC) // as `kamcmd ul.dump` showed it
	if !alice.LastModified.Equal(lm) || !alice.Expires.Equal(lm.Add(time.Hour)) {
		t.Errorf("alice times %v %v, want %v and an hour later", alice.LastModified.UTC(), alice.Expires.UTC(), lm)
	}
	want := kemi.Binding{AOR: "alice@example.com", Contact: "sip:alice@127.0.0.1:35070;transport=udp", Q: 500,
		CallID: "1-7336@127.0.0.1", CSeq: 7, UserAgent: "sipp-test/1.0", Socket: "udp:127.0.0.1:35060", Methods: 527,
		RUID: "uloc-6b14ea0d-1c1c-1", Instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>", RegID: 1}
	alice.Expires, alice.LastModified = time.Time{}, time.Time{}
	if alice != want {
		t.Errorf("alice\n got %+v\nwant %+v", alice, want)
	}
	if bob.Q != -1 || bob.Methods != -1 || bob.Instance != "" || bob.ConnID != 0 || !bob.Expires.Equal(lm.Add(600*time.Second)) {
		t.Errorf("bob %+v", bob)
	}
	if !carol.Expires.IsZero() || !carol.LastModified.IsZero() || carol.Q != 1000 || carol.Methods != 0 {
		t.Errorf("carol (permanent) %+v", carol)
	}
	if dave.Q != 250 || dave.Expires.IsZero() {
		t.Errorf("dave %+v", dave)
	}
}

// TestKamailioFileLookup opens a file Kamailio wrote as kemi's location
// table: its AORs are found (expiry times moved to the future, the rows
// being from a past registration), the permanent one never expires, and
// a kemi update of one leaves the others alone.
func TestKamailioFileLookup(t *testing.T) {
	path, d := kamailioFile(t)
	if _, err := d.Exec("UPDATE location SET expires = julianday('now') + 1 WHERE username != 'carol'"); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, "sqlite://"+path, Options{UseDomain: true})
	ctx := context.Background()
	for _, aor := range []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"} {
		if bs := lookup(t, s, aor); len(bs) != 1 || bs[0].AOR != aor {
			t.Errorf("%s: %+v", aor, bs)
		}
	}
	if exp, err := s.Expire(ctx, time.Now()); err != nil || len(exp) != 0 {
		t.Errorf("expire %v %v", exp, err)
	}
	put(t, s, "alice@example.com", binding("alice@example.com", "kemi-1", time.Hour))
	if bs := lookup(t, s, "alice@example.com"); len(bs) != 2 {
		t.Errorf("alice %d bindings", len(bs))
	}
	if aors, _ := s.AORs(ctx, DefaultTable); len(aors) != 4 {
		t.Errorf("AORs %v", aors)
	}
}

// TestKemiRowsAsKamailio writes a binding and reads it with the sqlite3
// CLI: the columns hold what Kamailio's own rows hold.
func TestKemiRowsAsKamailio(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 CLI not installed")
	}
	path := filepath.Join(t.TempDir(), "kemi.db")
	s := mustOpen(t, "sqlite://"+path, Options{UseDomain: true})
	b := binding("alice@example.com", "r1", time.Hour)
	b.Expires = time.Unix(1796536358, 0)
	p := binding("bob@example.com", "r2", 0)
	p.Q, p.Methods, p.Received, p.Path, p.Socket, p.Instance, p.ConnID = -1, -1, "", "", "", "", 0
	put(t, s, b.AOR, b)
	put(t, s, p.AOR, p)
	out, err := exec.Command("sqlite3", path, "SELECT username, domain, printf('%.6f', expires), typeof(last_modified), quote(q), quote(methods), quote(received), quote(path), quote(socket), quote(instance), connection_id, reg_id FROM location ORDER BY username").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	want := "alice|example.com|2461380.744884|real|0.5|527|'sip:203.0.113.7:5062'|'<sip:edge.example.net;lr>'|'udp:127.0.0.1:5060'|'<urn:uuid:00000000-0000-1000-8000-000A95A0E128>'|12|1\n" +
		"bob|example.com|2440587.500000|real|-1.0|NULL|NULL|NULL|NULL|NULL|-1|1\n"
	if string(out) != want {
		t.Errorf("sqlite3 shows\n%s\nwant\n%s", out, want)
	}
	out, err = exec.Command("sqlite3", path, "SELECT table_version FROM version WHERE table_name='location'").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "9" {
		t.Errorf("version row: %s %v", out, err)
	}
}

// TestSQLiteRestart writes, closes and reopens the file: the bindings are
// there, and a second store on the same file sees the first one's changes
// (the data_version check).
func TestSQLiteRestart(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "kemi.db")
	ctx := context.Background()
	s1, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s1, "alice", binding("alice", "a1", time.Hour), binding("alice", "a2", 0))
	s1.Close()
	s2 := mustOpen(t, url, Options{})
	if got := ruids(lookup(t, s2, "alice")); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("after restart %v", got)
	}
	other := mustOpen(t, url, Options{})
	if n, err := other.DeleteAOR(ctx, DefaultTable, "alice"); n != 2 || err != nil {
		t.Fatalf("delete by the other: %d %v", n, err)
	}
	if got := lookup(t, s2, "alice"); len(got) != 0 {
		t.Errorf("cached bindings after another process removed them: %v", ruids(got))
	}
	put(t, other, "alice", binding("alice", "a3", time.Hour))
	if got := ruids(lookup(t, s2, "alice")); !slices.Equal(got, []string{"a3"}) {
		t.Errorf("after another process saved: %v", got)
	}
}

// TestSQLiteBadFile: a corrupt file, a newer schema and a locked file are
// errors at open, naming the file.
func TestSQLiteBadFile(t *testing.T) {
	cases := []struct {
		name, want string
		prepare    func(t *testing.T, path string)
	}{
		{"corrupt", "not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("garbage bytes, not SQLite\n", 200)), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"newer schema", "newer", func(t *testing.T, path string) {
			d, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			for _, stmt := range append(append([]string{"CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL)"}, db.Location.Create...),
				"INSERT INTO version (table_name, table_version) VALUES ('version', 1), ('location', 10)") {
				if _, err := d.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"locked", "locked", func(t *testing.T, path string) {
			d, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec("CREATE TABLE x (a)"); err != nil {
				t.Fatal(err)
			}
			d.SetMaxOpenConns(1)
			tx, err := d.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("INSERT INTO x VALUES (1)"); err != nil { // a write lock, held
				t.Fatal(err)
			}
			if _, err := tx.Exec("PRAGMA locking_mode = EXCLUSIVE"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tx.Rollback(); d.Close() })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kemi.db")
			c.prepare(t, path)
			_, err := Open(context.Background(), "sqlite://"+path, Options{})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v; want an error naming %s and saying %q", err, path, c.want)
			}
		})
	}
}

// TestSQLiteFileDeletedAndRestored: while the file is gone lookups and
// saves fail with ErrLocation (and no empty file is created); once it is
// back they work, with its bindings.
func TestSQLiteFileDeletedAndRestored(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kemi.db")
	s := mustOpen(t, "sqlite://"+path, Options{})
	put(t, s, "alice", binding("alice", "a1", time.Hour))
	backup := filepath.Join(dir, "backup.db")
	d, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec("VACUUM INTO ?", backup); err != nil {
		t.Fatal(err)
	}
	d.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	ctx := context.Background()
	if _, err := s.Lookup(ctx, DefaultTable, "alice"); !errors.Is(err, kemi.ErrLocation) || !strings.Contains(err.Error(), path) {
		t.Errorf("lookup without the file: %v", err)
	}
	err = s.Update(ctx, DefaultTable, "bob", func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{binding("bob", "b1", time.Hour)}}, nil
	})
	if !errors.Is(err, kemi.ErrLocation) {
		t.Errorf("update without the file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a new empty file was created")
	}
	if err := os.Rename(backup, path); err != nil {
		t.Fatal(err)
	}
	if got := ruids(lookup(t, s, "alice")); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("after restore %v", got)
	}
	put(t, s, "bob", binding("bob", "b1", time.Hour))
	if got := lookup(t, s, "bob"); len(got) != 1 {
		t.Errorf("bob after restore %v", got)
	}
}

// TestModuleStartBadFile: the module does not start on a corrupt file,
// and says which file; kemi check (a dry run) opens nothing.
func TestModuleStartBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := kemi.NewEnv("usrloc", nil, kemi.NewPVTable(), kemi.NewServices(), nil, kemi.NewParams("usrloc", map[string]any{"db_url": "sqlite://" + path}), nil)
	mod := &Module{}
	err := mod.ModInit(env)
	mod.Destroy()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("ModInit on a corrupt file: %v", err)
	}
	env = kemi.NewEnv("usrloc", nil, kemi.NewPVTable(), kemi.NewServices(), nil, kemi.NewParams("usrloc", map[string]any{"db_url": "sqlite://" + path}), nil)
	env.DryRun = true
	mod = &Module{}
	if err := mod.ModInit(env); err != nil {
		t.Errorf("dry run: %v", err)
	}
	mod.Destroy()
	if len(env.Processes()) != 0 {
		t.Error("dry run asked for the timer process")
	}
}
