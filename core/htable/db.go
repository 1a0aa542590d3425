package htable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/db"
)

// defaultSizeSuffix is Kamailio's array_size_suffix: the key that holds
// the number of items of an array loaded from the database.
const defaultSizeSuffix = "::size"

// store is the database tables with dbtable load from and, with dbmode,
// write back to: Kamailio's htable table format, in a SQLite file or in
// Redis as Kamailio's db_redis keeps it.
type store struct {
	rows       rowStore
	dbExpires  bool // db_expires: the expires column is read and written
	sizeSuffix string
	log        *slog.Logger
}

// rowStore is a database holding Kamailio's htable tables.
type rowStore interface {
	// read returns the rows of dbtable sorted by key_name, then in the
	// order they were written; none when the database is not made yet.
	read(dbtable string) ([]row, error)
	// write replaces the rows of each dbtable named in rows, all or
	// nothing.
	write(names []string, rows map[string][]row) error
	// where names the database in errors.
	where() string
	close()
}

// sqliteRows is a SQLite file holding htable tables.
type sqliteRows struct{ file *db.SQLite }

// dbTableOf returns Kamailio's htable table under the name a definition
// gives it.
func dbTableOf(name string) db.Table {
	t := db.HTable
	t.Name = name
	t.Create = []string{strings.Replace(t.Create[0], "CREATE TABLE htable (", "CREATE TABLE "+name+" (", 1)}
	return t
}

// openStore opens the database of the tables that name a dbtable: a
// SQLite file (created at the first write back), a Redis server, or
// nothing for memory.
func openStore(u db.URL, tables map[string]*table, dbExpires bool, sizeSuffix string, log *slog.Logger, dryRun bool) (*store, error) {
	var names []string
	seen := map[string]bool{}
	for _, t := range tables {
		if t.dbtable != "" && !seen[t.dbtable] {
			seen[t.dbtable] = true
			names = append(names, t.dbtable)
		}
	}
	if len(names) == 0 || u.Kind == db.KindMemory {
		// memory: nothing to load, nothing kept
		return nil, nil
	}
	sort.Strings(names)
	if u.Kind == db.KindRedis && u.RedisCluster() {
		return nil, fmt.Errorf("htable: dbtable %s: Redis Cluster (%s) is not supported, use one server or Sentinel", names[0], u)
	}
	if dryRun {
		return nil, nil
	}
	s := &store{dbExpires: dbExpires, sizeSuffix: sizeSuffix, log: log}
	if u.Kind == db.KindRedis {
		rs, err := openRedisRows(u)
		if err != nil {
			return nil, err
		}
		s.rows = rs
		return s, nil
	}
	dbt := make([]db.Table, len(names))
	for i, n := range names {
		dbt[i] = dbTableOf(n)
	}
	file := db.NewSQLite(u.Path, dbt...)
	if err := file.Check(); err != nil {
		return nil, fmt.Errorf("htable: %w", err)
	}
	s.rows = &sqliteRows{file: file}
	return s, nil
}

// row is one row of Kamailio's htable table.
type row struct {
	name    string
	keyType int64
	valType int64
	value   sql.NullString
	expires int64
}

// load fills t from its dbtable as Kamailio's ht_db_load_table does. A
// database not made yet is an empty table.
func (s *store) load(t *table, now int64) error {
	rows, err := s.rows.read(t.dbtable)
	if err == nil {
		err = s.fill(t, rows, now)
	}
	if err != nil {
		return fmt.Errorf("htable: table %s: load from %s in %s: %w", t.name, t.dbtable, s.rows.where(), err)
	}
	return nil
}

func (f *sqliteRows) where() string { return f.file.Path() }

func (f *sqliteRows) close() { f.file.Close() }

func (f *sqliteRows) read(dbtable string) ([]row, error) {
	d, err := f.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := d.QueryContext(context.Background(),
		`SELECT key_name, key_type, value_type, key_value, expires FROM `+dbtable+` ORDER BY key_name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.keyType, &r.valType, &r.value, &r.expires); err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	return all, rows.Err()
}

// fill stores rows, sorted by key_name, in t. Rows of key_type 1 are an
// array: key_name[0], key_name[1]... and key_name::size holding their
// count. expires is only looked at (db_expires) in a table with
// autoexpire; a row already past it is skipped.
func (s *store) fill(t *table, rows []row, now int64) error {
	var prev string
	lastArray := false
	n := 0
	for _, r := range rows {
		exp := int64(0)
		if t.autoexpire > 0 && s.dbExpires {
			exp = r.expires
			if exp > 0 && exp < now {
				continue
			}
		}
		if lastArray && prev != r.name {
			t.put(prev+s.sizeSuffix, cell{num: int64(n)}, 0, now)
			n = 0
		}
		lastArray, prev = r.keyType == 1, r.name
		key := r.name
		if r.keyType == 1 {
			key = fmt.Sprintf("%s[%d]", r.name, n)
			n++
		}
		if !r.value.Valid {
			return fmt.Errorf("key %q: key_value is NULL", r.name)
		}
		var c cell
		switch r.valType {
		case 0:
			c = cell{isStr: true, str: r.value.String}
		case 1:
			v, err := strconv.ParseInt(strings.TrimSpace(r.value.String), 10, 64)
			if err != nil {
				return fmt.Errorf("key %q: value_type 1 but key_value %q is not an integer", r.name, r.value.String)
			}
			c = cell{num: wrap(v)}
		default:
			return fmt.Errorf("key %q: value_type %d: want 0 (string) or 1 (integer)", r.name, r.valType)
		}
		t.put(key, c, exp, now)
	}
	if lastArray {
		t.put(prev+s.sizeSuffix, cell{num: int64(n)}, 0, now)
	}
	return nil
}

// save writes the tables with dbmode back, each dbtable emptied first,
// all at once: a failure leaves the database as it was.
func (s *store) save(tables map[string]*table, now int64) error {
	var names []string
	byDB := map[string][]row{}
	for _, t := range tables {
		if t.dbtable == "" || !t.dbmode {
			continue
		}
		if _, ok := byDB[t.dbtable]; !ok {
			names = append(names, t.dbtable)
			byDB[t.dbtable] = []row{}
		}
		byDB[t.dbtable] = append(byDB[t.dbtable], s.rowsOf(t, now)...)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	if err := s.rows.write(names, byDB); err != nil {
		return fmt.Errorf("htable: write back to %s: %w", s.rows.where(), err)
	}
	return nil
}

// rowsOf returns the rows t is written back as, expired items left out.
func (s *store) rowsOf(t *table, now int64) []row {
	var out []row
	for _, it := range t.snapshot() {
		if t.autoexpire > 0 && it.cell.expire != 0 && it.cell.expire <= now {
			continue // expired: the timer had not removed it yet
		}
		r := row{name: it.key, value: sql.NullString{String: it.cell.str, Valid: true}}
		if !it.cell.isStr {
			r.valType, r.value.String = 1, strconv.FormatInt(it.cell.num, 10)
		}
		if s.dbExpires && t.autoexpire > 0 {
			r.expires = it.cell.expire
		}
		out = append(out, r)
	}
	return out
}

func (f *sqliteRows) write(names []string, rows map[string][]row) error {
	d, err := f.file.DB(true)
	if err != nil {
		return err
	}
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, name := range names {
		if err := insertRows(ctx, tx, name, rows[name]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertRows replaces the rows of the table name.
func insertRows(ctx context.Context, tx *sql.Tx, name string, rows []row) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+name); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO `+name+` (key_name, key_type, value_type, key_value, expires) VALUES (?, 0, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer ins.Close()
	for _, r := range rows {
		if _, err := ins.ExecContext(ctx, r.name, r.valType, r.value.String, r.expires); err != nil {
			return fmt.Errorf("%s: key %q: %w", name, r.name, err)
		}
	}
	return nil
}

// close closes the database.
func (s *store) close() {
	if s != nil {
		s.rows.close()
	}
}
