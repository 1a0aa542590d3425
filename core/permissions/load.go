package permissions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kemisip/kemi/db"
)

// tables is one load of the address and trusted tables.
type tables struct {
	addr    *addrTable
	trusted *trustedTable
}

// Querier runs a query: a *sql.DB, or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ReadAddressRows reads every row of the address table named table, in
// id order.
func ReadAddressRows(ctx context.Context, d Querier, table string) ([]AddressRow, error) {
	rows, err := d.QueryContext(ctx, `SELECT id, grp, ip_addr, mask, port, tag FROM `+table+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var out []AddressRow
	for rows.Next() {
		var r AddressRow
		var ip sql.NullString
		var grp, mask, port sql.NullInt64
		var tag sql.NullString
		if err := rows.Scan(&r.ID, &grp, &ip, &mask, &port, &tag); err != nil {
			return nil, fmt.Errorf("read %s: row after id %d: %w", table, lastID(out), err)
		}
		if !grp.Valid || !ip.Valid || !mask.Valid || !port.Valid {
			return nil, fmt.Errorf("address row id=%d: grp, ip_addr, mask and port must not be NULL", r.ID)
		}
		r.Grp, r.IP, r.Mask, r.Port = grp.Int64, ip.String, mask.Int64, port.Int64
		if tag.Valid {
			r.Tag = &tag.String
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func lastID(rows []AddressRow) int64 {
	if len(rows) == 0 {
		return 0
	}
	return rows[len(rows)-1].ID
}

// readTrustedRows reads every row of the trusted table, in id order.
func readTrustedRows(ctx context.Context, d Querier, table string) ([]TrustedRow, error) {
	rows, err := d.QueryContext(ctx, `SELECT id, src_ip, proto, from_pattern, ruri_pattern, tag, priority FROM `+table+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var out []TrustedRow
	for rows.Next() {
		var r TrustedRow
		var src, proto, from, ruri, tag sql.NullString
		var prio sql.NullInt64
		if err := rows.Scan(&r.ID, &src, &proto, &from, &ruri, &tag, &prio); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		if !src.Valid || !proto.Valid {
			return nil, fmt.Errorf("trusted row id=%d: src_ip and proto must not be NULL", r.ID)
		}
		r.SrcIP, r.Proto, r.Priority = src.String, proto.String, prio.Int64
		for _, p := range []struct {
			v   sql.NullString
			dst **string
		}{{from, &r.FromPattern}, {ruri, &r.RURIPattern}, {tag, &r.Tag}} {
			if p.v.Valid {
				s := p.v.String
				*p.dst = &s
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// source is where the tables are read from: a SQLite file or Redis.
type source interface {
	// rows reads both tables, each in id order.
	rows(ctx context.Context) ([]AddressRow, []TrustedRow, error)
	// where names a table of the source in errors: the file, or the key.
	where(trusted bool) string
	close()
}

// sqliteSource reads both tables from a SQLite file; a file not made yet
// is two empty tables.
type sqliteSource struct {
	file                  *db.SQLite
	addrName, trustedName string
}

func (s *sqliteSource) rows(ctx context.Context) ([]AddressRow, []TrustedRow, error) {
	d, err := s.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	arows, err := ReadAddressRows(ctx, d, s.addrName)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	trows, err := readTrustedRows(ctx, d, s.trustedName)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	return arows, trows, nil
}

func (s *sqliteSource) where(bool) string { return s.file.Path() }

func (s *sqliteSource) close() { s.file.Close() }

// loadTables reads and parses both tables; the first row that does not
// parse is an error naming the table and the row.
func loadTables(ctx context.Context, s source) (*tables, error) {
	arows, trows, err := s.rows(ctx)
	if err != nil {
		return nil, err
	}
	at, err := newAddrTable(arows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(false), err)
	}
	tt, err := newTrustedTable(trows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.where(true), err)
	}
	return &tables{addr: at, trusted: tt}, nil
}
