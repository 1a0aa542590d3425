package main

import (
	"context"
	"errors"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/db"
)

// sqlAddresses is the address table in permissions' SQLite file.
type sqlAddresses struct{ file *db.SQLite }

func (t *sqlAddresses) close() { t.file.Close() }

func (t *sqlAddresses) rows(ctx context.Context) ([]permissions.AddressRow, error) {
	d, err := t.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return permissions.ReadAddressRows(ctx, d, "address")
}

func (t *sqlAddresses) change(ctx context.Context, decide decideFunc) error {
	d, err := t.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		// no table to read: make the file only for a row to add
		if add, _, err := decide(nil); err != nil || add == nil {
			return err
		}
		d, err = t.file.DB(true)
	}
	if err != nil {
		return err
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := permissions.ReadAddressRows(ctx, tx, "address")
	if err != nil {
		return err
	}
	add, del, err := decide(rows)
	if err != nil {
		return err
	}
	for _, id := range del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM address WHERE id=?`, id); err != nil {
			return err
		}
	}
	if add != nil {
		var tag any
		if add.Tag != nil {
			tag = *add.Tag
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (?, ?, ?, ?, ?)`,
			add.Grp, add.IP, add.Mask, add.Port, tag); err != nil {
			return err
		}
	}
	return tx.Commit()
}
