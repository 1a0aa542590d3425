package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

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
		&cli.StringFlag{Name: "db-url", Usage: "database `URL`: sqlite:///path/kemi.db, redis://host:6379/0 ([permissions] db_url of the config wins)", DefaultText: db.DefaultURL, EnvVars: []string{"KEMI_DB_URL"}},
	}
	return &cli.Command{
		Name:  "address",
		Usage: "manage the address table of permissions (like kamctl address)",
		Description: "IP is an IPv4 or IPv6 address with an optional /MASK (default: the whole address), or a\n" +
			"domain name; PORT 0 (the default) is any port. The table is in permissions' database, a SQLite\n" +
			"file or Redis (hash kemi:address:address); a running kemi reads it again at SIGHUP.\n" +
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
		t, err := openAddresses(c)
		if err != nil {
			return err
		}
		defer t.close()
		decide := addRow(r)
		if c.Command.Name == "rm" {
			decide = rmRows(r, maskSet, portSet)
		}
		switch err := t.change(c.Context, decide); {
		case errors.Is(err, errNoAddress), errors.Is(err, errAddressExists):
			return cli.Exit(fmt.Sprintf("%s: %s %s: %v", name, c.Args().Get(0), c.Args().Get(1), err), exitFailure)
		case err != nil:
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailure)
		}
		return nil
	}
}

// addressTable is the address table in a SQLite file or in Redis: the
// add, rm and list logic works on its rows, whatever keeps them.
type addressTable interface {
	// rows returns the rows in id order; none when the database was not
	// made yet.
	rows(ctx context.Context) ([]permissions.AddressRow, error)
	// change reads the rows, calls decide with them and, in one
	// transaction with that read, deletes the rows whose ids it returns
	// and inserts the row it returns (with a new id), unless it fails.
	change(ctx context.Context, decide decideFunc) error
	close()
}

// decideFunc is the change kemi address makes to the rows of the table:
// the row to insert (nil: none) and the ids of the rows to delete.
type decideFunc func(rows []permissions.AddressRow) (add *permissions.AddressRow, del []int64, err error)

// openAddresses is permissions' address table as kemi run reads it.
func openAddresses(c *cli.Context) (addressTable, error) {
	params, u, err := moduleDB(c, "permissions")
	if err != nil {
		return nil, exitError(err, exitUsage)
	}
	if t := params.Str("address_table", "address"); t != "address" {
		return nil, cli.Exit(fmt.Sprintf("[permissions] address_table %q: kemi address manages the table named address", t), exitUsage)
	}
	switch {
	case u.Kind == db.KindSQLite:
		return &sqlAddresses{file: db.NewSQLite(u.Path, db.Address, db.Trusted)}, nil
	case u.Kind == db.KindRedis && !u.RedisCluster():
		ctx, cancel := context.WithTimeout(c.Context, 5*time.Second)
		defer cancel()
		rc, err := db.OpenRedis(ctx, u)
		if err != nil {
			return nil, cli.Exit(err.Error(), exitFailure)
		}
		return &redisAddresses{c: rc}, nil
	case u.Kind == db.KindRedis:
		return nil, cli.Exit(fmt.Sprintf("database %s: Redis Cluster is not supported (use one server or Sentinel)", u), exitUsage)
	}
	return nil, cli.Exit(fmt.Sprintf("database %s keeps nothing: use a sqlite or redis URL", u), exitUsage)
}

// addRow adds r unless a row with the same group, address, mask and port
// is there.
func addRow(r permissions.AddressRow) decideFunc {
	return func(rows []permissions.AddressRow) (*permissions.AddressRow, []int64, error) {
		for _, o := range rows {
			if o.Grp == r.Grp && o.IP == r.IP && o.Mask == r.Mask && o.Port == r.Port {
				return nil, nil, errAddressExists
			}
		}
		return &r, nil, nil
	}
}

// rmRows deletes the rows of the group and address of r, narrowed to its
// mask and port when they were given.
func rmRows(r permissions.AddressRow, maskSet, portSet bool) decideFunc {
	return func(rows []permissions.AddressRow) (*permissions.AddressRow, []int64, error) {
		var del []int64
		for _, o := range rows {
			if o.Grp == r.Grp && o.IP == r.IP && (!maskSet || o.Mask == r.Mask) && (!portSet || o.Port == r.Port) {
				del = append(del, o.ID)
			}
		}
		if len(del) == 0 {
			return nil, nil, errNoAddress
		}
		return nil, del, nil
	}
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
	t, err := openAddresses(c)
	if err != nil {
		return err
	}
	defer t.close()
	rows, err := t.rows(c.Context)
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
