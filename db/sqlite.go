package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"syscall"

	_ "modernc.org/sqlite" // pure Go: the static CGO_ENABLED=0 build stays
)

// ErrNoFile is returned by SQLite.DB(false) while the database file does
// not exist: nothing was ever written, so there is nothing to read.
var ErrNoFile = errors.New("database file does not exist")

// ErrFileLost is returned by SQLite.DB and Check while a file that was
// open has gone (deleted or moved away): unlike ErrNoFile it means data
// is missing, so a lookup must fail rather than find nothing.
var ErrFileLost = errors.New("the database file was deleted or moved away")

// busyTimeoutMS is how long a statement waits for another writer (kemi
// user, a second kemi, Kamailio) before failing as locked.
const busyTimeoutMS = 2000

// SQLite is one SQLite database file holding some of Kamailio's tables.
// The file is created, with those tables, at the first write, so that a
// kemi that never stores anything leaves no file behind. It is safe for
// concurrent use.
//
// A file that disappears or is replaced while open is noticed at the next
// DB call: the handle is closed, calls fail with an error naming the file
// until a file is there again, and then it is opened afresh (its schema
// checked again). kemi never creates a file again that it had opened:
// that would hide a lost database behind an empty one.
type SQLite struct {
	path   string
	tables []Table

	mu     sync.Mutex
	db     *sql.DB
	ino    uint64 // inode of the open file, to notice a replaced file
	opened bool   // a file was opened once: never create it again
}

// NewSQLite returns the database at path with the given tables; nothing
// is opened yet (see Check and DB).
func NewSQLite(path string, tables ...Table) *SQLite {
	return &SQLite{path: path, tables: tables}
}

// Path returns the file.
func (s *SQLite) Path() string { return s.path }

// Check opens the file if it exists and checks its tables: a corrupt or
// locked file, or a table newer than kemi knows, is an error naming the
// file. A file not made yet is not an error; one that was open and has
// gone is (ErrFileLost). kemi calls it at start.
func (s *SQLite) Check() error {
	_, err := s.DB(false)
	if errors.Is(err, ErrNoFile) {
		return nil
	}
	return err
}

// DB returns the open database. With create set a missing file is created
// with every table (the first write); without, a missing file is
// ErrNoFile. A file that was open and has gone is ErrFileLost, create or
// not.
func (s *SQLite) DB(create bool) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(s.path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if s.opened {
			s.closeLocked()
			return nil, fmt.Errorf("db: %s: %w", s.path, ErrFileLost)
		}
		if !create {
			return nil, fmt.Errorf("db: %s: %w", s.path, ErrNoFile)
		}
	default:
		return nil, fmt.Errorf("db: %s: %w", s.path, err)
	}
	if s.db != nil {
		if st != nil && inode(st) == s.ino {
			return s.db, nil
		}
		s.closeLocked() // replaced: open the new file
	}
	if err := s.openLocked(); err != nil {
		return nil, err
	}
	return s.db, nil
}

func (s *SQLite) openLocked() error {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	// WAL (set below, once the file is known good) with synchronous
	// NORMAL: a committed write survives a crash of kemi (the binding is
	// in the file before the 200 leaves); only a power loss can take the
	// last ones.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	d, err := sql.Open("sqlite", "file:"+s.path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("db: %s: %w", s.path, err)
	}
	ctx := context.Background()
	if err := ensureTables(ctx, d, append([]Table{versionTable}, s.tables...)); err != nil {
		d.Close()
		return fmt.Errorf("db: %s: %w", s.path, err)
	}
	// Only now: a file kemi refuses is left as it was. The mode is kept
	// in the file, so every connection of the pool uses it.
	if _, err := d.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		d.Close()
		return fmt.Errorf("db: %s: %w", s.path, err)
	}
	st, err := os.Stat(s.path)
	if err != nil {
		d.Close()
		return fmt.Errorf("db: %s: %w", s.path, err)
	}
	s.db, s.ino, s.opened = d, inode(st), true
	return nil
}

func (s *SQLite) closeLocked() {
	if s.db == nil {
		return
	}
	// SQLite keeps the WAL of a file that was moved or deleted when it
	// closes it, under the old name: the next file at the path would read
	// the old file's pages from it. Emptying it into the old file first
	// leaves nothing to misread (and completes the file moved away). The
	// checkpoint must run on a connection already open on the old file
	// (an idle one of the pool): one the pool opens now would create an
	// empty file at a path whose file is gone. Without one, the
	// connection a module still holds is the last to close, and SQLite's
	// own checkpoint at that close does the same.
	if s.db.Stats().Idle > 0 {
		ctx := context.Background()
		if conn, err := s.db.Conn(ctx); err == nil {
			conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
			conn.Close()
		}
	}
	s.db.Close()
	s.db = nil
}

// Close closes the file.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	return nil
}

// ensureTables creates the tables that are missing, with their version
// rows, and refuses a table whose recorded version is not the one kemi
// knows: an older one needs Kamailio's migration scripts, a newer one is
// a schema kemi would misread.
func ensureTables(ctx context.Context, d *sql.DB, tables []Table) error {
	// The first read tells a file that is not a database, or is locked,
	// from a fresh one.
	var n int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil {
		return err
	}
	// Every table there is checked before any is created, so that a
	// refused file is left as it was.
	var missing []Table
	for _, t := range tables {
		var exists int
		if err := d.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, t.Name).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			missing = append(missing, t)
			continue
		}
		var v int
		err := d.QueryRowContext(ctx, `SELECT table_version FROM version WHERE table_name=?`, t.Name).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("table %s has no row in the version table", t.Name)
		case err != nil:
			return err
		case v > t.Version:
			return fmt.Errorf("table %s has schema version %d, newer than the %d kemi knows", t.Name, v, t.Version)
		case v < t.Version:
			return fmt.Errorf("table %s has schema version %d, older than %d: upgrade it with Kamailio's migration scripts", t.Name, v, t.Version)
		}
	}
	for _, t := range missing {
		if err := createTable(ctx, d, t); err != nil {
			return fmt.Errorf("create table %s: %w", t.Name, err)
		}
	}
	return nil
}

func createTable(ctx context.Context, d *sql.DB, t Table) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, stmt := range t.Create {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO version (table_name, table_version) VALUES (?, ?)`, t.Name, t.Version); err != nil {
		return err
	}
	return tx.Commit()
}

func inode(st fs.FileInfo) uint64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Ino
	}
	return 0
}
