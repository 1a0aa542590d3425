package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/core/usrloc"
	"github.com/kemisip/kemi/kemi"
	"github.com/urfave/cli/v2"
)

// ulCommand is `kemi ul show [AOR]` and `kemi ul rm AOR`: the location
// table read and changed from the command line, as kamctl ul does, on the
// database `kemi run` uses.
func ulCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml) whose [usrloc] db_url, [core] db_url and [usrloc] use_domain are used", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringFlag{Name: "db-url", Usage: "database `URL` when the config file's [usrloc] has no db_url: sqlite:///path/kemi.db, redis://host:6379/0", EnvVars: []string{"KEMI_DB_URL"}},
		&cli.StringFlag{Name: "table", Value: usrloc.DefaultTable, Usage: "location `TABLE`, as given to registrar's save()"},
	}
	return &cli.Command{
		Name:  "ul",
		Usage: "show and remove registrations (the location table), like kamctl ul",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "list the bindings of every AOR, or of one",
				ArgsUsage: "[AOR]",
				Flags:     flags,
				Action:    ulShow,
			},
			{
				Name:      "rm",
				Usage:     "remove every binding of an AOR (exit status 1 when it had none)",
				ArgsUsage: "AOR",
				Flags:     flags,
				Action:    ulRm,
			},
		},
	}
}

// openLocation opens the location store as `kemi run` would: [usrloc]
// db_url of the config file, else --db-url / KEMI_DB_URL, else [core]
// db_url, else db.DefaultURL.
func openLocation(c *cli.Context) (usrloc.Store, error) {
	params, u, err := moduleDB(c, "usrloc")
	if err != nil {
		// a db_url that does not parse is a bad value: 2, as kemi run
		// and kemi user say
		return nil, exitError(err, exitUsage)
	}
	opts := usrloc.Options{UseDomain: params.Bool("use_domain", false)}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	s, err := usrloc.Open(ctx, u.Raw, opts)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitFailure)
	}
	return s, nil
}

func ulShow(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("kemi ul show takes at most one AOR", exitUsage)
	}
	s, err := openLocation(c)
	if err != nil {
		return err
	}
	defer s.Close()
	table := c.String("table")
	aors := c.Args().Slice()
	if len(aors) == 0 {
		if aors, err = s.AORs(c.Context, table); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
	}
	now := time.Now()
	shown := 0
	for _, aor := range aors {
		bs, err := s.Lookup(c.Context, table, aor)
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		if len(bs) == 0 {
			continue
		}
		writeBindings(c.App.Writer, aor, bs, now)
		shown++
	}
	if shown == 0 && c.NArg() == 1 {
		return cli.Exit(fmt.Sprintf("%s: no bindings in table %s", aors[0], table), exitFailure)
	}
	return nil
}

// writeBindings prints one AOR and its bindings, a field a line.
func writeBindings(w io.Writer, aor string, bs []kemi.Binding, now time.Time) {
	fmt.Fprintf(w, "AOR: %s\n", aor)
	for _, b := range bs {
		expires := "permanent"
		if !b.Expires.IsZero() {
			expires = strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second) / time.Second))
		}
		q := "none"
		if b.Q >= 0 {
			q = strconv.FormatFloat(float64(b.Q)/1000, 'f', -1, 64)
		}
		fields := []struct{ name, value string }{
			{"Expires", expires},
			{"Q", q},
			{"Call-ID", b.CallID},
			{"CSeq", strconv.Itoa(b.CSeq)},
			{"User-Agent", b.UserAgent},
			{"Received", b.Received},
			{"Path", b.Path},
			{"Socket", b.Socket},
			{"Instance", b.Instance},
			{"Reg-Id", strconv.Itoa(b.RegID)},
			{"Ruid", b.RUID},
		}
		fmt.Fprintf(w, "  Contact: %s\n", b.Contact)
		for _, f := range fields {
			v := f.value
			if v == "" {
				v = "[not set]"
			}
			fmt.Fprintf(w, "    %s: %s\n", f.name, strings.ReplaceAll(v, "\n", " "))
		}
	}
}

func ulRm(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("kemi ul rm takes one AOR", exitUsage)
	}
	s, err := openLocation(c)
	if err != nil {
		return err
	}
	defer s.Close()
	aor, table := c.Args().First(), c.String("table")
	n, err := s.DeleteAOR(c.Context, table, aor)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if n == 0 {
		return cli.Exit(fmt.Sprintf("%s: no bindings in table %s", aor, table), exitFailure)
	}
	fmt.Fprintf(c.App.Writer, "removed %d binding(s) of %s\n", n, aor)
	return nil
}
