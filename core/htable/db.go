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
// write back to: Kamailio's htable table format, in a SQLite file.
type store struct {
	file       *db.SQLite
	dbExpires  bool // db_expires: the expires column is read and written
	sizeSuffix string
	log        *slog.Logger
}

// dbTableOf returns Kamailio's htable table under the name a definition
// gives it.
func dbTableOf(name string) db.Table {
	t := db.HTable
	t.Name = name
	t.Create = []string{strings.Replace(t.Create[0], "CREATE TABLE htable (", "CREATE TABLE "+name+" (", 1)}
	return t
}

// openStore opens the database of the tables that name a dbtable: a
// SQLite file (created at the first write back), or nothing for memory.
// Redis is refused: kemi does not keep Kamailio's table there yet.
func openStore(u db.URL, tables map[string]*table, dbExpires bool, sizeSuffix string, log *slog.Logger, dryRun bool) (*store, error) {
	var names []string
	seen := map[string]bool{}
	for _, t := range tables {
		if t.dbtable != "" && !seen[t.dbtable] {
			seen[t.dbtable] = true
			names = append(names, t.dbtable)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	sort.Strings(names)
	switch u.Kind {
	case db.KindSQLite:
	case db.KindRedis:
		return nil, fmt.Errorf("htable: dbtable %s on the Redis database %s is not yet supported by kemi (use a SQLite db_url)", names[0], u)
	default:
		// memory: nothing to load, nothing kept
		return nil, nil
	}
	if dryRun {
		return nil, nil
	}
	dbt := make([]db.Table, len(names))
	for i, n := range names {
		dbt[i] = dbTableOf(n)
	}
	s := &store{file: db.NewSQLite(u.Path, dbt...), dbExpires: dbExpires, sizeSuffix: sizeSuffix, log: log}
	if err := s.file.Check(); err != nil {
		return nil, fmt.Errorf("htable: %w", err)
	}
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
// file not made yet is an empty table.
func (s *store) load(t *table, now int64) error {
	d, err := s.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("htable: table %s: %w", t.name, err)
	}
	rows, err := d.QueryContext(context.Background(),
		`SELECT key_name, key_type, value_type, key_value, expires FROM `+t.dbtable+` ORDER BY key_name, id`)
	if err != nil {
		return fmt.Errorf("htable: table %s: load from %s in %s: %w", t.name, t.dbtable, s.file.Path(), err)
	}
	defer rows.Close()
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.name, &r.keyType, &r.valType, &r.value, &r.expires); err != nil {
			return fmt.Errorf("htable: table %s: load from %s in %s: %w", t.name, t.dbtable, s.file.Path(), err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("htable: table %s: load from %s in %s: %w", t.name, t.dbtable, s.file.Path(), err)
	}
	if err := s.fill(t, all, now); err != nil {
		return fmt.Errorf("htable: table %s: load from %s in %s: %w", t.name, t.dbtable, s.file.Path(), err)
	}
	return nil
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
// in one transaction: a failure leaves the database as it was.
func (s *store) save(tables map[string]*table, now int64) error {
	var names []string
	byDB := map[string][]*table{}
	for _, t := range tables {
		if t.dbtable == "" || !t.dbmode {
			continue
		}
		if byDB[t.dbtable] == nil {
			names = append(names, t.dbtable)
		}
		byDB[t.dbtable] = append(byDB[t.dbtable], t)
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	d, err := s.file.DB(true)
	if err != nil {
		return fmt.Errorf("htable: write back: %w", err)
	}
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("htable: write back to %s: %w", s.file.Path(), err)
	}
	defer tx.Rollback()
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+name); err != nil {
			return fmt.Errorf("htable: write back to %s in %s: %w", name, s.file.Path(), err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO `+name+` (key_name, key_type, value_type, key_value, expires) VALUES (?, 0, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("htable: write back to %s in %s: %w", name, s.file.Path(), err)
		}
		for _, t := range byDB[name] {
			for _, it := range t.snapshot() {
				if t.autoexpire > 0 && it.cell.expire != 0 && it.cell.expire <= now {
					continue // expired: the timer had not removed it yet
				}
				vt, val, exp := 0, it.cell.str, int64(0)
				if !it.cell.isStr {
					vt, val = 1, strconv.FormatInt(it.cell.num, 10)
				}
				if s.dbExpires && t.autoexpire > 0 {
					exp = it.cell.expire
				}
				if _, err := ins.ExecContext(ctx, it.key, vt, val, exp); err != nil {
					ins.Close()
					return fmt.Errorf("htable: write back table %s to %s in %s: %w", t.name, name, s.file.Path(), err)
				}
			}
		}
		ins.Close()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("htable: write back to %s: %w", s.file.Path(), err)
	}
	return nil
}

// close closes the database file.
func (s *store) close() {
	if s != nil {
		s.file.Close()
	}
}
