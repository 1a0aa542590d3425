package db

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kamailioSQLDir holds the SQL Kamailio creates its SQLite tables with
// (Debian's kamailio-sqlite-modules). It is read at test time, never
// copied into the repository.
const kamailioSQLDir = "/usr/share/kamailio/db_sqlite"

// kemiTables are the tables kemi's modules keep in SQLite.
var kemiTables = []Table{Location, Subscriber}

// sqlite3CLI runs the sqlite3 shell on file with input on its stdin, or
// skips the test when it is not installed.
func sqlite3CLI(t *testing.T, file, input string) string {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skipf("sqlite3 is not installed (apt-get install sqlite3): %v", err)
	}
	cmd := exec.Command(bin, "-batch", "-bail", file)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s", file, err, out)
	}
	return string(out)
}

// kamailioFile makes a database file the way kamctl/kamdbctl does, from
// Kamailio's own SQL files (standard, then the named modules'), or skips
// the test when they are not installed.
func kamailioFile(t *testing.T, path string, modules ...string) {
	t.Helper()
	var sqlText strings.Builder
	for _, m := range append([]string{"standard"}, modules...) {
		b, err := os.ReadFile(filepath.Join(kamailioSQLDir, m+"-create.sql"))
		if err != nil {
			t.Skipf("Kamailio's SQLite schema is not installed (apt-get install kamailio-sqlite-modules): %v", err)
		}
		sqlText.Write(b)
	}
	sqlite3CLI(t, path, sqlText.String())
}

// kemiFile makes a database file through kemi's first write.
func kemiFile(t *testing.T, path string) {
	t.Helper()
	s := NewSQLite(path, kemiTables...)
	defer s.Close()
	if _, err := s.DB(true); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteCreatedOnlyByWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	s := NewSQLite(path, kemiTables...)
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("Check on a missing file: %v", err)
	}
	_, err := s.DB(false)
	if !errors.Is(err, ErrNoFile) || !strings.Contains(err.Error(), path) {
		t.Fatalf("DB(false) on a missing file: %v, want ErrNoFile naming %s", err, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check or DB(false) created the file: %v", err)
	}
	d, err := s.DB(true)
	if err != nil {
		t.Fatalf("DB(true): %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("DB(true) made no file: %v", err)
	}
	if again, err := s.DB(false); err != nil || again != d {
		t.Fatalf("DB(false) after the file was made: %p, %v; want the same handle %p", again, err, d)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check on the file kemi made: %v", err)
	}
	// WAL, kept in the file: readers go on while a binding is written
	var mode string
	if err := d.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q, %v; want wal", mode, err)
	}
}

// TestSQLiteSchemaIsKamailios compares what the sqlite3 shell shows of a
// file kemi made with one made by Kamailio's SQL: the same tables, columns,
// defaults, constraints and indexes, and the same version rows.
func TestSQLiteSchemaIsKamailios(t *testing.T) {
	dir := t.TempDir()
	kam, kemi := filepath.Join(dir, "kamailio.db"), filepath.Join(dir, "kemi.db")
	kamailioFile(t, kam, "usrloc", "auth_db")
	kemiFile(t, kemi)
	for _, table := range []string{"version", "location", "subscriber"} {
		want := sqlite3CLI(t, kam, ".schema "+table+"\n")
		got := sqlite3CLI(t, kemi, ".schema "+table+"\n")
		if want == "" || got != want {
			t.Errorf("schema of %s:\nkemi:\n%s\nKamailio:\n%s", table, got, want)
		}
	}
	const versions = "SELECT table_name, table_version, typeof(table_version) FROM version WHERE table_name IN ('version', 'location', 'subscriber') ORDER BY table_name;\n"
	want, got := sqlite3CLI(t, kam, versions), sqlite3CLI(t, kemi, versions)
	if got != want || strings.Count(want, "\n") != 3 {
		t.Errorf("version rows:\nkemi:\n%s\nKamailio:\n%s", got, want)
	}
}

// TestSQLiteOpensKamailiosFile opens files Kamailio's SQL made: with every
// table kemi needs, and without subscriber (kemi adds it, with its version
// row). A binding written through kemi reads back in the sqlite3 shell.
func TestSQLiteOpensKamailiosFile(t *testing.T) {
	for _, c := range []struct {
		name    string
		modules []string
	}{
		{"usrloc and auth_db", []string{"usrloc", "auth_db"}},
		{"usrloc only", []string{"usrloc"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kamailio.db")
			kamailioFile(t, path, c.modules...)
			s := NewSQLite(path, kemiTables...)
			defer s.Close()
			if err := s.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			d, err := s.DB(false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(`INSERT INTO location (ruid, username, domain, contact, expires, callid, cseq, last_modified)
				VALUES ('uloc-1', 'alice', 'example.com', 'sip:alice@192.0.2.1:5060', '2030-01-01 00:00:00', 'c1', 7, '2025-01-01 00:00:00')`); err != nil {
				t.Fatalf("insert a binding: %v", err)
			}
			if _, err := d.Exec(`INSERT INTO subscriber (username, domain, password) VALUES ('alice', 'example.com', 'secret')`); err != nil {
				t.Fatalf("insert a subscriber: %v", err)
			}
			s.Close() // sqlite3 reads what was committed
			got := sqlite3CLI(t, path, "SELECT username, contact, cseq, q, flags FROM location;\nSELECT table_version FROM version WHERE table_name='subscriber';\n")
			if want := "alice|sip:alice@192.0.2.1:5060|7|1.0|0\n7\n"; got != want {
				t.Errorf("sqlite3 read %q, want %q", got, want)
			}
		})
	}
}

// TestSQLiteRefusesBadFile: a file kemi cannot use is an error naming it
// at Check, and is left as it was (no table is made in it).
func TestSQLiteRefusesBadFile(t *testing.T) {
	for _, c := range []struct {
		name   string
		spoil  string // SQL run on a Kamailio file
		bytes  string // or the file's whole content
		errHas string
	}{
		{name: "newer location", spoil: "UPDATE version SET table_version=10 WHERE table_name='location';", errHas: "table location has schema version 10, newer than the 9 kemi knows"},
		{name: "newer subscriber", spoil: "UPDATE version SET table_version=8 WHERE table_name='subscriber';", errHas: "table subscriber has schema version 8, newer than the 7 kemi knows"},
		{name: "older location", spoil: "UPDATE version SET table_version=8 WHERE table_name='location';", errHas: "table location has schema version 8, older than 9"},
		{name: "no version row", spoil: "DELETE FROM version WHERE table_name='subscriber';", errHas: "table subscriber has no row in the version table"},
		// location is missing, and must not be made in a refused file
		{name: "newer subscriber, no location", spoil: "DROP TABLE location; DELETE FROM version WHERE table_name='location'; UPDATE version SET table_version=8 WHERE table_name='subscriber';", errHas: "table subscriber has schema version 8"},
		{name: "garbage", bytes: strings.Repeat("this is not a database\n", 200), errHas: "not a database"},
		{name: "truncated", bytes: "SQLite format 3\x00" + strings.Repeat("\x00", 50), errHas: "not a database"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kemi.db")
			if c.bytes != "" {
				if err := os.WriteFile(path, []byte(c.bytes), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				kamailioFile(t, path, "usrloc", "auth_db")
				sqlite3CLI(t, path, c.spoil)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s := NewSQLite(path, kemiTables...)
			defer s.Close()
			err = s.Check()
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("Check: %v; want an error naming %s with %q", err, path, c.errHas)
			}
			if _, err := s.DB(true); err == nil {
				t.Fatal("DB(true) used the file")
			}
			s.Close()
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Error("the refused file was changed")
			}
		})
	}
}

// holdLock opens path through another connection and takes the lock the
// SQL statements take, until the test ends or release is called.
func holdLock(t *testing.T, path string, stmts ...string) (release func()) {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		other.Close()
	}
	t.Cleanup(release)
	return release
}

// TestSQLiteLocked: a file another process holds locked for longer than
// the busy timeout is an error naming the file; once the lock is gone the
// same SQLite opens it.
func TestSQLiteLocked(t *testing.T) {
	for _, c := range []struct {
		name  string
		make  func(t *testing.T, path string)
		stmts []string
	}{
		// Kamailio's file, in SQLite's default rollback-journal mode
		{"exclusive transaction", func(t *testing.T, path string) { kamailioFile(t, path, "usrloc", "auth_db") },
			[]string{"BEGIN EXCLUSIVE"}},
		// kemi's file is in WAL mode, where only exclusive locking mode
		// keeps readers out
		{"exclusive locking mode", kemiFile,
			[]string{"PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "UPDATE version SET table_version=table_version"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kemi.db")
			c.make(t, path)
			release := holdLock(t, path, c.stmts...)
			s := NewSQLite(path, kemiTables...)
			defer s.Close()
			err := s.Check()
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked") {
				t.Fatalf("Check on a locked file: %v; want an error naming %s and saying it is locked", err, path)
			}
			release()
			if err := s.Check(); err != nil {
				t.Fatalf("Check after the lock was released: %v", err)
			}
		})
	}
}

// countRows counts the location rows through s, or returns the error.
func countRows(s *SQLite) (int, error) {
	d, err := s.DB(false)
	if err != nil {
		return 0, err
	}
	var n int
	err = d.QueryRow(`SELECT count(*) FROM location`).Scan(&n)
	return n, err
}

func addBinding(t *testing.T, s *SQLite, ruid string) {
	t.Helper()
	d, err := s.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO location (ruid, username, contact) VALUES (?, 'alice', 'sip:alice@192.0.2.1')`, ruid); err != nil {
		t.Fatal(err)
	}
}

// TestSQLiteDeletedThenRestored: a file that goes away while open is an
// error naming it (ErrFileLost, not ErrNoFile: a lookup must not find
// nothing), at every call and even for a write, so kemi makes no empty
// file in its place; the file put back is used again, and nothing of the
// lost file's WAL is read into a restored copy.
func TestSQLiteDeletedThenRestored(t *testing.T) {
	for _, c := range []struct {
		name          string
		remove, bring func(path string) error
		rows          int // rows once it is back
	}{
		// renamed away and back: the same file (inode), every row
		{"moved", func(path string) error { return os.Rename(path, path+".moved") },
			func(path string) error { return os.Rename(path+".moved", path) }, 2},
		// deleted, then a backup restored (another inode), taken before
		// the second row
		{"deleted", func(path string) error { return os.Remove(path) },
			func(path string) error { return os.Rename(path+".backup", path) }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kemi.db")
			s := NewSQLite(path, kemiTables...)
			defer s.Close()
			addBinding(t, s, "r1")
			d, _ := s.DB(false)
			if _, err := d.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".backup", b, 0o644); err != nil {
				t.Fatal(err)
			}
			addBinding(t, s, "r2") // in the WAL only
			if err := c.remove(path); err != nil {
				t.Fatal(err)
			}
			for _, create := range []bool{false, true} {
				_, err := s.DB(create)
				if !errors.Is(err, ErrFileLost) || !strings.Contains(err.Error(), path) {
					t.Fatalf("DB(%v) after the file went away: %v, want ErrFileLost naming %s", create, err, path)
				}
			}
			if err := s.Check(); !errors.Is(err, ErrFileLost) {
				t.Fatalf("Check after the file went away: %v, want ErrFileLost", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a file was made in place of the lost one: %v", err)
			}
			if err := c.bring(path); err != nil {
				t.Fatal(err)
			}
			if n, err := countRows(s); err != nil || n != c.rows {
				t.Fatalf("after the file came back: %d rows, %v; want %d", n, err, c.rows)
			}
			checkIntegrity(t, s)
		})
	}
}

// checkIntegrity runs SQLite's integrity check on the file s has open.
func checkIntegrity(t *testing.T, s *SQLite) {
	t.Helper()
	d, err := s.DB(false)
	if err != nil {
		t.Fatal(err)
	}
	var res string
	if err := d.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity check: %q, %v", res, err)
	}
}

// TestSQLiteReplacedFileReopened: a file replaced under kemi (another
// inode at the path) is opened afresh and its schema checked again.
func TestSQLiteReplacedFileReopened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kemi.db")
	s := NewSQLite(path, kemiTables...)
	defer s.Close()
	addBinding(t, s, "r1")

	other := filepath.Join(dir, "other.db")
	o := NewSQLite(other, kemiTables...)
	addBinding(t, o, "o1")
	addBinding(t, o, "o2")
	o.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if n, err := countRows(s); err != nil || n != 2 {
		t.Fatalf("after the file was replaced: %d rows, %v; want the new file's 2", n, err)
	}
	checkIntegrity(t, s)

	// a replacement kemi cannot use is refused, naming the file
	newer := filepath.Join(dir, "newer.db")
	kemiFile(t, newer)
	sqlite3CLI(t, newer, "UPDATE version SET table_version=10 WHERE table_name='location';")
	if err := os.Rename(newer, path); err != nil {
		t.Fatal(err)
	}
	if _, err := countRows(s); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("after a newer-schema file replaced it: %v, want an error naming %s", err, path)
	}
}
