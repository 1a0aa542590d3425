package usrloc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// sqliteStore is Kamailio's db_mode 1 (write-through) on a SQLite file:
// every change is written in one transaction before it returns, lookups
// are served from a cache filled from the file on first use of each AOR.
// The cache is dropped whenever the file says another connection (kemi
// ul, a second kemi, Kamailio) changed it (PRAGMA data_version).
type sqliteStore struct {
	path string
	opts Options

	mu     sync.Mutex
	tables map[string]*sqliteTable
}

func newSQLiteStore(path string, o Options) *sqliteStore {
	return &sqliteStore{path: path, opts: o, tables: map[string]*sqliteTable{}}
}

// check opens the file, if there is one, and checks the location table.
func (s *sqliteStore) check() error {
	t, err := s.table(DefaultTable)
	if err != nil {
		return err
	}
	if err := t.file.Check(); err != nil {
		return fmt.Errorf("usrloc: %w", err)
	}
	return nil
}

// table returns the table name, opening it on first use. A table other
// than "location" has the location schema under its own name, as a
// Kamailio location table given to save("name") has.
func (s *sqliteStore) table(name string) (*sqliteTable, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables[name]; t != nil {
		return t, nil
	}
	if !db.ValidIdentifier(name) {
		return nil, fmt.Errorf("usrloc: %q is not a table name", name)
	}
	def := db.Location
	if name != def.Name {
		def.Name = name
		def.Create = make([]string, len(db.Location.Create))
		for i, stmt := range db.Location.Create {
			def.Create[i] = strings.ReplaceAll(stmt, "location", name)
		}
	}
	t := newSQLiteTable(db.NewSQLite(s.path, def), name, s.opts)
	s.tables[name] = t
	return t, nil
}

func (s *sqliteStore) UseDomain() bool { return s.opts.UseDomain }

func (s *sqliteStore) Lookup(ctx context.Context, table, aor string) ([]kemi.Binding, error) {
	t, err := s.table(table)
	if err != nil {
		return nil, err
	}
	return t.lookup(ctx, aor)
}

func (s *sqliteStore) Update(ctx context.Context, table, aor string, fn func([]kemi.Binding) (kemi.BindingChange, error)) error {
	t, err := s.table(table)
	if err != nil {
		return err
	}
	return t.update(ctx, aor, fn)
}

func (s *sqliteStore) DeleteRUID(ctx context.Context, table, aor, ruid string) (bool, error) {
	t, err := s.table(table)
	if err != nil {
		return false, err
	}
	n, err := t.delete(ctx, aor, "ruid=?", ruid)
	return n > 0, err
}

func (s *sqliteStore) DeleteAOR(ctx context.Context, table, aor string) (int, error) {
	t, err := s.table(table)
	if err != nil {
		return 0, err
	}
	return t.delete(ctx, aor, "")
}

func (s *sqliteStore) AORs(ctx context.Context, table string) ([]string, error) {
	t, err := s.table(table)
	if err != nil {
		return nil, err
	}
	return t.aors(ctx)
}

func (s *sqliteStore) opened() []*sqliteTable {
	if _, err := s.table(DefaultTable); err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*sqliteTable, 0, len(s.tables))
	for _, t := range s.tables {
		out = append(out, t)
	}
	return out
}

func (s *sqliteStore) Tables(context.Context) ([]string, error) {
	ts := s.opened()
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.name)
	}
	slices.Sort(out)
	return out, nil
}

func (s *sqliteStore) Expire(ctx context.Context, now time.Time) ([]Expired, error) {
	var out []Expired
	var errs []error
	for _, t := range s.opened() {
		exp, err := t.expire(ctx, now)
		out = append(out, exp...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (s *sqliteStore) Count(ctx context.Context) (users, contacts int, err error) {
	for _, t := range s.opened() {
		u, c, e := t.count(ctx)
		users, contacts, err = users+u, contacts+c, errors.Join(err, e)
	}
	return users, contacts, err
}

func (s *sqliteStore) Close() error {
	for _, t := range s.opened() {
		t.close()
	}
	return nil
}

// sqliteTable is one location table of the file. All its statements run
// on one connection, under mu: SQLite has one writer anyway, and PRAGMA
// data_version, which tells changes made by other connections, counts per
// connection.
// An Update holds mu while registrar's update function runs: the
// function must not call back into the Location.
type sqliteTable struct {
	file       *db.SQLite
	name       string
	useDomain  bool
	checkEvery time.Duration

	// statements, with the table name in them
	qAOR, qAll, qUpsert, qDelete string

	mu      sync.Mutex
	conn    *sqliteConn
	had     bool  // a file was open once: its absence is now an error
	version int64 // data_version when the cache was last known good
	checked time.Time
	// cache holds the rows of the AORs read or written since the file
	// last changed under another connection: exactly what the file has
	// for them while data_version stays the same.
	cache map[string][]kemi.Binding // AOR -> its rows, expired ones too
}

func newSQLiteTable(file *db.SQLite, name string, o Options) *sqliteTable {
	where := "username=?"
	if o.UseDomain {
		where += " AND IFNULL(domain,'')=?"
	}
	placeholders := strings.TrimSuffix(strings.Repeat("?,", strings.Count(insertColumns, ",")+1), ",")
	var set []string
	for _, c := range strings.Split(insertColumns, ", ")[1:] {
		set = append(set, c+"=excluded."+c)
	}
	return &sqliteTable{
		file: file, name: name, useDomain: o.UseDomain, checkEvery: o.CheckInterval,
		qAOR:    "SELECT " + selectColumns + " FROM " + name + " WHERE " + where,
		qAll:    "SELECT " + selectColumns + " FROM " + name,
		qUpsert: "INSERT INTO " + name + " (" + insertColumns + ") VALUES (" + placeholders + ") ON CONFLICT(ruid) DO UPDATE SET " + strings.Join(set, ", "),
		qDelete: "DELETE FROM " + name + " WHERE " + where,
		cache:   map[string][]kemi.Binding{},
	}
}

// connLocked returns the connection to the file, opening it (and creating
// the file when create is set). It returns nil, nil while no file was
// ever there: an empty table. A file that was reopened (restored,
// replaced) gets a fresh connection and an empty cache.
func (t *sqliteTable) connLocked(ctx context.Context, create bool) (*sqliteConn, error) {
	d, err := t.file.DB(create)
	if errors.Is(err, db.ErrNoFile) && !t.had {
		return nil, nil
	}
	if err != nil {
		t.dropConnLocked()
		return nil, err
	}
	if t.conn != nil && d == t.conn.d {
		return t.conn, nil
	}
	t.dropConnLocked()
	sc, err := openSQLiteConn(ctx, d, t)
	if err != nil {
		return nil, err
	}
	v, err := sc.version(ctx)
	if err != nil {
		sc.close()
		return nil, err
	}
	t.conn, t.had, t.version = sc, true, v
	return sc, nil
}

func (t *sqliteTable) dropConnLocked() {
	if t.conn != nil {
		t.conn.close()
	}
	t.conn = nil
	clear(t.cache)
}

// syncLocked drops the cache when another connection changed the file
// since it was last checked.
func (t *sqliteTable) syncLocked(ctx context.Context, sc *sqliteConn) error {
	v, err := sc.version(ctx)
	if err != nil {
		return err
	}
	if v != t.version {
		clear(t.cache)
		t.version = v
	}
	t.checked = time.Now()
	return nil
}

func (t *sqliteTable) aorArgs(aor string) []any {
	user, domain := splitAOR(aor, t.useDomain)
	if t.useDomain {
		return []any{user, domain}
	}
	return []any{user}
}

func (t *sqliteTable) lookup(ctx context.Context, aor string) ([]kemi.Binding, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// within checkEvery of the last check the cache is trusted
	if t.conn == nil || t.checkEvery == 0 || time.Since(t.checked) >= t.checkEvery {
		sc, err := t.connLocked(ctx, false)
		if err != nil {
			return nil, locErr("lookup "+aor, err)
		}
		if sc == nil {
			return nil, nil
		}
		if err := t.syncLocked(ctx, sc); err != nil {
			return nil, locErr("lookup "+aor, fmt.Errorf("%s: %w", t.file.Path(), err))
		}
	}
	bs, ok := t.cache[aor]
	if !ok {
		var err error
		if bs, err = t.readLocked(ctx, t.conn, aor); err != nil {
			return nil, locErr("lookup "+aor, fmt.Errorf("%s: %w", t.file.Path(), err))
		}
		// a miss is not kept: requests for names nobody registered
		// must not grow memory
		if len(bs) > 0 {
			t.cache[aor] = bs
		}
	}
	return live(bs, time.Now()), nil
}

// readLocked reads the rows of aor.
func (t *sqliteTable) readLocked(ctx context.Context, sc *sqliteConn, aor string) ([]kemi.Binding, error) {
	rows, err := sc.selectAOR.QueryContext(ctx, t.aorArgs(aor)...)
	if err != nil {
		return nil, err
	}
	return t.scan(rows)
}

// query runs a statement that is not prepared: the rare ones.
func (t *sqliteTable) query(ctx context.Context, sc *sqliteConn, stmt string, args ...any) ([]kemi.Binding, error) {
	rows, err := sc.c.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	return t.scan(rows)
}

// scan reads and closes rows of selectColumns.
func (t *sqliteTable) scan(rows *sql.Rows) ([]kemi.Binding, error) {
	defer rows.Close()
	var out []kemi.Binding
	for rows.Next() {
		b, err := rowBinding(rows, t.useDomain)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// errNoTable is returned by txLocked without create while there is no
// file: nothing to change.
var errNoTable = errors.New("no location table yet")

// txLocked runs fn in a write transaction (BEGIN IMMEDIATE: no other
// writer in between), after syncing the cache with the file; with create
// set the file is created if need be.
func (t *sqliteTable) txLocked(ctx context.Context, create bool, fn func(sc *sqliteConn) error) error {
	sc, err := t.connLocked(ctx, create)
	if err != nil {
		return err
	}
	if sc == nil {
		return errNoTable
	}
	if _, err := sc.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", t.file.Path(), err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// not under ctx: a cancelled context must not leave the
		// transaction open
		if _, err := sc.rollback.ExecContext(context.Background()); err != nil {
			t.dropConnLocked() // in an unknown state: start afresh
		}
	}()
	if err := t.syncLocked(ctx, sc); err != nil {
		return fmt.Errorf("%s: %w", t.file.Path(), err)
	}
	if err := fn(sc); err != nil {
		return err
	}
	if _, err := sc.commit.ExecContext(ctx); err != nil {
		clear(t.cache) // what was written is unknown
		return fmt.Errorf("%s: %w", t.file.Path(), err)
	}
	committed = true
	return nil
}

// errCallback marks an error of the update function, returned as it is.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }

// update reads the rows of aor from the cache, or from the file when the
// cache does not have them (the file changed under another connection,
// or the AOR was not used yet), and writes only the bindings that
// changed.
func (t *sqliteTable) update(ctx context.Context, aor string, fn func([]kemi.Binding) (kemi.BindingChange, error)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var after []kemi.Binding
	err := t.txLocked(ctx, true, func(sc *sqliteConn) error {
		rows, ok := t.cache[aor]
		if !ok {
			var err error
			if rows, err = t.readLocked(ctx, sc, aor); err != nil {
				return fmt.Errorf("%s: %w", t.file.Path(), err)
			}
		}
		ch, err := fn(live(rows, time.Now()))
		if err == nil {
			err = checkChange(aor, ch)
		}
		if err != nil {
			return errCallback{err}
		}
		for _, ruid := range ch.Delete {
			if _, err := sc.deleteRUID.ExecContext(ctx, ruid); err != nil {
				return fmt.Errorf("%s: %w", t.file.Path(), err)
			}
		}
		for i := range ch.Put {
			b := &ch.Put[i]
			if containsRUID(ch.Delete, b.RUID) {
				continue
			}
			if err := t.putLocked(ctx, sc, rows, b); err != nil {
				return fmt.Errorf("%s: %w", t.file.Path(), err)
			}
		}
		after = apply(rows, ch)
		return nil
	})
	var cb errCallback
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return locErr("update "+aor, err)
	}
	if len(after) == 0 {
		delete(t.cache, aor)
	} else {
		t.cache[aor] = after
	}
	return nil
}

// putLocked writes b. A binding the rows (exactly what the file holds)
// have already is updated in the columns that changed only, nothing when
// none did: an UPDATE that sets an indexed column rewrites that index's
// entry even to the same value, and each page it touches is written to
// the WAL at commit.
func (t *sqliteTable) putLocked(ctx context.Context, sc *sqliteConn, rows []kemi.Binding, b *kemi.Binding) error {
	args := bindingArgs(b, t.useDomain)
	if j := indexRUID(rows, b.RUID); j >= 0 {
		cols := changedColumns(bindingArgs(&rows[j], t.useDomain), args)
		if cols == 0 {
			return nil
		}
		st, err := sc.updateStmt(ctx, cols)
		if err != nil {
			return err
		}
		if st != nil {
			set := make([]any, 0, len(args)+1)
			for i, v := range args {
				if cols&(1<<i) != 0 {
					set = append(set, v)
				}
			}
			res, err := st.ExecContext(ctx, append(set, b.RUID)...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err == nil && n == 1 {
				return nil
			}
			// not there after all: written whole below
		}
	}
	_, err := sc.upsert.ExecContext(ctx, args...)
	return err
}

// delete removes the rows of aor matching cond (all with cond "").
func (t *sqliteTable) delete(ctx context.Context, aor, cond string, args ...any) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stmt, all := t.qDelete, append(t.aorArgs(aor), args...)
	if cond != "" {
		stmt += " AND " + cond
	}
	var n int64
	err := t.txLocked(ctx, false, func(sc *sqliteConn) error {
		res, err := sc.c.ExecContext(ctx, stmt, all...)
		if err != nil {
			return fmt.Errorf("%s: %w", t.file.Path(), err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if errors.Is(err, errNoTable) {
		return 0, nil
	}
	if err != nil {
		return 0, locErr("delete "+aor, err)
	}
	delete(t.cache, aor)
	return int(n), nil
}

func (t *sqliteTable) aors(ctx context.Context) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sc, err := t.connLocked(ctx, false)
	if err != nil {
		return nil, locErr("list", err)
	}
	if sc == nil {
		return nil, nil
	}
	rows, err := sc.c.QueryContext(ctx, "SELECT DISTINCT username, IFNULL(domain,'') FROM "+t.name)
	if err != nil {
		return nil, locErr("list", fmt.Errorf("%s: %w", t.file.Path(), err))
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var user, domain string
		if err := rows.Scan(&user, &domain); err != nil {
			return nil, locErr("list", err)
		}
		if aor := joinAOR(user, domain, t.useDomain); !seen[aor] {
			seen[aor] = true
			out = append(out, aor)
		}
	}
	slices.Sort(out)
	return out, rows.Err()
}

// expire deletes the rows that expired at now and returns them. Text and
// integer timestamps are compared in Go; REAL ones (Kamailio's and kemi's)
// are preselected by SQL, permanent bindings (the epoch) left out.
func (t *sqliteTable) expire(ctx context.Context, now time.Time) ([]Expired, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Expired
	err := t.txLocked(ctx, false, func(sc *sqliteConn) error {
		rows, err := t.query(ctx, sc, t.qAll+" WHERE typeof(expires)!='real' OR (expires<=? AND expires>?)", toJulian(now), julianEpoch+0.5/86400)
		if err != nil {
			return fmt.Errorf("%s: %w", t.file.Path(), err)
		}
		for _, b := range rows {
			if !b.Expired(now) {
				continue
			}
			if _, err := sc.deleteRUID.ExecContext(ctx, b.RUID); err != nil {
				return fmt.Errorf("%s: %w", t.file.Path(), err)
			}
			out = append(out, Expired{Table: t.name, Binding: b})
		}
		return nil
	})
	if errors.Is(err, errNoTable) {
		return nil, nil
	}
	if err != nil {
		return nil, locErr("expire", err)
	}
	for _, e := range out {
		delete(t.cache, e.AOR)
	}
	return out, nil
}

func (t *sqliteTable) count(ctx context.Context) (users, contacts int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sc, err := t.connLocked(ctx, false)
	if err != nil || sc == nil {
		if err != nil {
			err = locErr("count", err)
		}
		return 0, 0, err
	}
	user := "username"
	if t.useDomain {
		user = "username||'@'||IFNULL(domain,'')"
	}
	err = sc.c.QueryRowContext(ctx, "SELECT count(DISTINCT "+user+"), count(*) FROM "+t.name).Scan(&users, &contacts)
	if err != nil {
		return 0, 0, locErr("count", fmt.Errorf("%s: %w", t.file.Path(), err))
	}
	return users, contacts, nil
}

func (t *sqliteTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropConnLocked()
	t.file.Close()
}
