package usrloc

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
)

// sqliteConn is the one connection of a sqliteTable with the statements
// of its hot paths prepared on it once: parsing the SQL text at every
// call was most of the CPU of a REGISTER. The transaction statements are
// prepared too, and a transaction is BEGIN and COMMIT run on the
// connection rather than a *sql.Tx, which would prepare each statement
// again for the transaction.
type sqliteConn struct {
	d *sql.DB // the handle c belongs to: another one means the file was reopened
	c *sql.Conn

	begin, commit, rollback       *sql.Stmt
	selectAOR, upsert, deleteRUID *sql.Stmt
	// dataVersion is run at every update and lookup, below database/sql:
	// its rows and scanning cost more than the pragma itself.
	dataVersion driver.Stmt

	table   string
	updates map[uint32]*sql.Stmt // UPDATE of the columns in the bit set, by RUID
}

// maxUpdateStmts bounds the UPDATE statements kept per connection: a
// change of columns not seen among the first ones is written whole.
const maxUpdateStmts = 64

// updateStmt returns the statement that sets the insertColumns in the
// bit set cols of the row of a RUID, or nil when too many are prepared.
func (sc *sqliteConn) updateStmt(ctx context.Context, cols uint32) (*sql.Stmt, error) {
	if st, ok := sc.updates[cols]; ok {
		return st, nil
	}
	if len(sc.updates) >= maxUpdateStmts {
		return nil, nil
	}
	var set []string
	for i, c := range columnNames {
		if cols&(1<<i) != 0 {
			set = append(set, c+"=?")
		}
	}
	st, err := sc.c.PrepareContext(ctx, "UPDATE "+sc.table+" SET "+strings.Join(set, ", ")+" WHERE ruid=?")
	if err != nil {
		return nil, err
	}
	sc.updates[cols] = st
	return st, nil
}

// openSQLiteConn takes a connection of d and prepares t's statements on it.
func openSQLiteConn(ctx context.Context, d *sql.DB, t *sqliteTable) (*sqliteConn, error) {
	c, err := d.Conn(ctx)
	if err != nil {
		return nil, err
	}
	sc := &sqliteConn{d: d, c: c, table: t.name, updates: map[uint32]*sql.Stmt{}}
	for _, p := range []struct {
		stmt **sql.Stmt
		text string
	}{
		// IMMEDIATE: the write lock at once, no other writer in between
		{&sc.begin, "BEGIN IMMEDIATE"},
		{&sc.commit, "COMMIT"},
		{&sc.rollback, "ROLLBACK"},
		{&sc.selectAOR, t.qAOR},
		{&sc.upsert, t.qUpsert},
		{&sc.deleteRUID, "DELETE FROM " + t.name + " WHERE ruid=?"},
	} {
		if *p.stmt, err = c.PrepareContext(ctx, p.text); err != nil {
			sc.close()
			return nil, err
		}
	}
	err = c.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("usrloc: the SQLite driver cannot prepare")
		}
		sc.dataVersion, err = p.PrepareContext(ctx, "PRAGMA data_version")
		return err
	})
	if err != nil {
		sc.close()
		return nil, err
	}
	return sc, nil
}

// close closes the statements and gives the connection back.
func (sc *sqliteConn) close() {
	if sc.dataVersion != nil {
		// on the connection it was prepared on
		sc.c.Raw(func(any) error { return sc.dataVersion.Close() })
	}
	for _, st := range []*sql.Stmt{sc.begin, sc.commit, sc.rollback, sc.selectAOR, sc.upsert, sc.deleteRUID} {
		if st != nil {
			st.Close()
		}
	}
	for _, st := range sc.updates {
		st.Close()
	}
	sc.c.Close()
}

// version returns PRAGMA data_version: it changes when another
// connection commits to the file.
func (sc *sqliteConn) version(ctx context.Context) (int64, error) {
	var v int64
	err := sc.c.Raw(func(any) error {
		q, ok := sc.dataVersion.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("usrloc: the SQLite driver cannot query")
		}
		rows, err := q.QueryContext(ctx, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		var dest [1]driver.Value
		if err := rows.Next(dest[:]); err != nil {
			return err
		}
		var ok2 bool
		if v, ok2 = dest[0].(int64); !ok2 {
			return fmt.Errorf("usrloc: PRAGMA data_version returned %T", dest[0])
		}
		return nil
	})
	return v, err
}
