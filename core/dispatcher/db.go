package dispatcher

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// dbSource is the dispatcher table of a SQLite database, Kamailio's
// schema version 4 (id, setid, destination, flags, priority, attrs,
// description), with the table and column names of the module's
// parameters.
type dbSource struct {
	url  db.URL
	file *db.SQLite
	// table and the columns setid, destination, flags, priority, attrs.
	table string
	cols  [5]string
}

// newDBSource reads db_url and the table and column name parameters. A
// database other than SQLite is refused: kemi reads Kamailio's SQL table,
// which a Redis server does not hold.
func newDBSource(p *kemi.Params, coreURL string) (*dbSource, error) {
	u, err := db.ModuleURL(p.Str("db_url", ""), coreURL)
	if err != nil {
		return nil, fmt.Errorf("core/dispatcher: db_url: %w", err)
	}
	s := &dbSource{url: u, table: p.Str("table_name", "dispatcher")}
	for i, c := range []struct{ param, def string }{
		{"setid_col", "setid"}, {"destination_col", "destination"}, {"flags_col", "flags"},
		{"priority_col", "priority"}, {"attrs_col", "attrs"},
	} {
		s.cols[i] = p.Str(c.param, c.def)
	}
	for _, n := range append([]string{s.table}, s.cols[:]...) {
		if !db.ValidIdentifier(n) {
			return nil, fmt.Errorf("core/dispatcher: table or column name %q: want letters, digits and _", n)
		}
	}
	if u.Kind != db.KindSQLite {
		return nil, fmt.Errorf("core/dispatcher: db_url %s: the dispatcher table is read from a SQLite database only (sqlite:///path/kemi.db); use list_file, or a sqlite:// db_url", u)
	}
	s.file = db.NewSQLite(u.Path, s.schema())
	return s, nil
}

// schema is Kamailio's dispatcher table (version 4) with our names.
func (s *dbSource) schema() db.Table {
	return db.Table{Name: s.table, Version: 4, Create: []string{fmt.Sprintf(`CREATE TABLE %s (
    id INTEGER PRIMARY KEY NOT NULL,
    %s INTEGER DEFAULT 0 NOT NULL,
    %s VARCHAR(192) DEFAULT '' NOT NULL,
    %s INTEGER DEFAULT 0 NOT NULL,
    %s INTEGER DEFAULT 0 NOT NULL,
    %s VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
)`, s.table, s.cols[0], s.cols[1], s.cols[2], s.cols[3], s.cols[4])}}
}

// load reads every row, in id order. A file not there yet is created with
// an empty table (no destination, as Kamailio with an empty table); a row
// that does not make a destination is an error naming its id.
func (s *dbSource) load(ctx context.Context) (*list, error) {
	d, err := s.file.DB(true)
	if err != nil {
		return nil, fmt.Errorf("core/dispatcher: %w", err)
	}
	q := fmt.Sprintf(`SELECT id, %s, %s, %s, %s, %s FROM %s ORDER BY id`,
		s.cols[0], s.cols[1], s.cols[2], s.cols[3], s.cols[4], s.table)
	rows, err := d.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("core/dispatcher: %s: read %s: %w", s.url, s.table, err)
	}
	defer rows.Close()
	l := newList()
	for rows.Next() {
		var id int64
		var setID, flags, prio sql.NullInt64
		var uri, attrs sql.NullString
		if err := rows.Scan(&id, &setID, &uri, &flags, &prio, &attrs); err != nil {
			return nil, fmt.Errorf("core/dispatcher: %s: read %s: %w", s.url, s.table, err)
		}
		dst, err := rowDest(setID, uri, flags, prio, attrs)
		if err != nil {
			return nil, fmt.Errorf("core/dispatcher: %s: table %s row id=%d: %w", s.url, s.table, id, err)
		}
		l.add(dst)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("core/dispatcher: %s: read %s: %w", s.url, s.table, err)
	}
	l.finish()
	return l, nil
}

// rowDest makes the destination of one row; NULL flags, priority and
// attrs are 0 and empty, as Kamailio reads them.
func rowDest(setID sql.NullInt64, uri sql.NullString, flags, prio sql.NullInt64, attrs sql.NullString) (*dest, error) {
	if !setID.Valid || setID.Int64 < 0 {
		return nil, fmt.Errorf("set id: want a number, 0 or more")
	}
	if !uri.Valid {
		return nil, fmt.Errorf("destination is NULL")
	}
	d, err := newDest(int(setID.Int64), uri.String)
	if err != nil {
		return nil, err
	}
	if flags.Int64 < 0 {
		return nil, fmt.Errorf("flags %d: want 0 or more", flags.Int64)
	}
	d.flags, d.priority, d.attrs = int(flags.Int64), int(prio.Int64), attrs.String
	if err := d.parseAttrs(); err != nil {
		return nil, err
	}
	return d, nil
}

// close closes the database.
func (s *dbSource) close() {
	if s != nil && s.file != nil {
		s.file.Close()
	}
}
