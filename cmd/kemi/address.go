package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/db"
	"github.com/urfave/cli/v2"
)

// errNoAddress and errAddressExists are the "not found" and "exists"
// outcomes of kemi address: exit status 1.
var (
	errNoAddress     = errors.New("no such address row")
	errAddressExists = errors.New("address row exists")
)

// addressCommand is `kemi address add|rm|list`: the address table of
// permissions, as kamctl address add/rm/show manage it.
func addressCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml): its [permissions] db_url, else its [core] db_url", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringFlag{Name: "db-url", Usage: "database `URL`: sqlite:///path/kemi.db ([permissions] db_url of the config wins)", DefaultText: db.DefaultURL, EnvVars: []string{"KEMI_DB_URL"}},
	}
	return &cli.Command{
		Name:  "address",
		Usage: "manage the address table of permissions (like kamctl address)",
		Description: "IP is an IPv4 or IPv6 address with an optional /MASK (default: the whole address), or a\n" +
			"domain name; PORT 0 (the default) is any port. A running kemi reads the table again at SIGHUP.\n" +
			"Exit status: 0 done, 1 no such row (rm) or it exists (add), 2 usage error.",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "add an address to a group", ArgsUsage: "GROUP IP[/MASK] [PORT] [TAG]", Flags: flags, Action: addressAction(2, 4)},
			{Name: "rm", Usage: "remove an address from a group (every port, unless PORT is given)", ArgsUsage: "GROUP IP[/MASK] [PORT]", Flags: flags, Action: addressAction(2, 3)},
			{Name: "list", Usage: "list the address table (of one group)", ArgsUsage: "[GROUP]", Flags: flags, Action: listAddresses},
		},
	}
}

// addressRow reads GROUP IP[/MASK] [PORT] [TAG] into a row that
// permissions would load, and whether the mask and port were given.
func addressRow(args []string) (r permissions.AddressRow, maskSet, portSet bool, err error) {
	if r.Grp, err = strconv.ParseInt(args[0], 10, 32); err != nil {
		return r, false, false, fmt.Errorf("group %q: want a number above 0", args[0])
	}
	ip, mask, maskSet := strings.Cut(args[1], "/")
	r.IP = ip
	if a, perr := netip.ParseAddr(strings.Trim(ip, "[]")); perr == nil {
		r.Mask = int64(a.Unmap().BitLen())
	} else {
		r.Mask = 32 // the column default; unused for a domain name
	}
	if maskSet {
		if r.Mask, err = strconv.ParseInt(mask, 10, 32); err != nil {
			return r, false, false, fmt.Errorf("mask %q: want a number", mask)
		}
	}
	if len(args) > 2 {
		portSet = true
		if r.Port, err = strconv.ParseInt(args[2], 10, 32); err != nil {
			return r, false, false, fmt.Errorf("port %q: want a number, 0 for any", args[2])
		}
	}
	if len(args) > 3 {
		r.Tag = &args[3]
	}
	if _, err := permissions.ParseAddressRow(r); err != nil {
		return r, false, false, err
	}
	return r, maskSet, portSet, nil
}

// addressAction wraps add and rm: arguments, the database, and the exit
// status of the outcome.
func addressAction(minArgs, maxArgs int) cli.ActionFunc {
	return func(c *cli.Context) error {
		name := "kemi address " + c.Command.Name
		if c.NArg() < minArgs || c.NArg() > maxArgs {
			return cli.Exit(fmt.Sprintf("usage: %s %s", name, c.Command.ArgsUsage), exitUsage)
		}
		r, maskSet, portSet, err := addressRow(c.Args().Slice())
		if err != nil {
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitUsage)
		}
		f, err := openAddresses(c)
		if err != nil {
			return err
		}
		defer f.Close()
		d, err := f.DB(c.Command.Name == "add")
		if errors.Is(err, db.ErrNoFile) {
			err = errNoAddress
		}
		if err == nil {
			if c.Command.Name == "rm" {
				err = rmRows(c.Context, d, r, maskSet, portSet)
			} else {
				err = addAddress(c.Context, d, r)
			}
		}
		switch {
		case errors.Is(err, errNoAddress), errors.Is(err, errAddressExists):
			return cli.Exit(fmt.Sprintf("%s: %s %s: %v", name, c.Args().Get(0), c.Args().Get(1), err), exitFailure)
		case err != nil:
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailure)
		}
		return nil
	}
}

// openAddresses is permissions' SQLite file as kemi run opens it.
func openAddresses(c *cli.Context) (*db.SQLite, error) {
	params, u, err := moduleDB(c, "permissions")
	if err != nil {
		return nil, exitError(err, exitUsage)
	}
	if u.Kind != db.KindSQLite {
		return nil, cli.Exit(fmt.Sprintf("database %s: the address table lives in a sqlite:// database", u), exitUsage)
	}
	if t := params.Str("address_table", "address"); t != "address" {
		return nil, cli.Exit(fmt.Sprintf("[permissions] address_table %q: kemi address manages the table named address", t), exitUsage)
	}
	return db.NewSQLite(u.Path, db.Address, db.Trusted), nil
}

// addAddress inserts the row unless one with the same group, address,
// mask and port is there.
func addAddress(ctx context.Context, d *sql.DB, r permissions.AddressRow) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM address WHERE grp=? AND ip_addr=? AND mask=? AND port=?`, r.Grp, r.IP, r.Mask, r.Port).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errAddressExists
	}
	var tag any
	if r.Tag != nil {
		tag = *r.Tag
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (?, ?, ?, ?, ?)`, r.Grp, r.IP, r.Mask, r.Port, tag); err != nil {
		return err
	}
	return tx.Commit()
}

// rmRows deletes the rows of the group and address, narrowed to the mask
// and port when they were given.
func rmRows(ctx context.Context, d *sql.DB, r permissions.AddressRow, maskSet, portSet bool) error {
	q, args := `DELETE FROM address WHERE grp=? AND ip_addr=?`, []any{r.Grp, r.IP}
	if maskSet {
		q, args = q+` AND mask=?`, append(args, r.Mask)
	}
	if portSet {
		q, args = q+` AND port=?`, append(args, r.Port)
	}
	res, err := d.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoAddress
	}
	return nil
}

// listAddresses prints the rows, one a line: GROUP IP/MASK PORT TAG,
// tab-separated, by group then table order; a NULL tag is empty.
func listAddresses(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("usage: kemi address list [GROUP]", exitUsage)
	}
	var grp int64
	if c.NArg() == 1 {
		var err error
		if grp, err = strconv.ParseInt(c.Args().First(), 10, 32); err != nil || grp <= 0 {
			return cli.Exit(fmt.Sprintf("kemi address list: group %q: want a number above 0", c.Args().First()), exitUsage)
		}
	}
	f, err := openAddresses(c)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := f.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return nil
	}
	if err != nil {
		return cli.Exit("kemi address list: "+err.Error(), exitFailure)
	}
	rows, err := permissions.ReadAddressRows(c.Context, d, "address")
	if err != nil {
		return cli.Exit("kemi address list: "+err.Error(), exitFailure)
	}
	for _, want := range groupsOf(rows) {
		for _, r := range rows {
			if r.Grp != want || grp != 0 && r.Grp != grp {
				continue
			}
			tag := ""
			if r.Tag != nil {
				tag = *r.Tag
			}
			fmt.Fprintf(c.App.Writer, "%d\t%s/%d\t%d\t%s\n", r.Grp, r.IP, r.Mask, r.Port, tag)
		}
	}
	return nil
}

// groupsOf returns the groups of the rows, in increasing order.
func groupsOf(rows []permissions.AddressRow) []int64 {
	seen := map[int64]bool{}
	var out []int64
	for _, r := range rows {
		if !seen[r.Grp] {
			seen[r.Grp] = true
			out = append(out, r.Grp)
		}
	}
	slices.Sort(out)
	return out
}
