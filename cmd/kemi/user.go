package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/kemisip/kemi/core/auth_db"
	"github.com/kemisip/kemi/db"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// errNoSubscriber and errSubscriberExists are the "not found" and
// "exists" outcomes of kemi user: exit status 1.
var (
	errNoSubscriber     = errors.New("no such subscriber")
	errSubscriberExists = errors.New("subscriber exists")
)

// userCommand is `kemi user add|rm|passwd|list`: the subscriber table of
// auth_db, as kamctl add/rm/passwd manage it.
func userCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml): its [auth_db] db_url, else its [core] db_url", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringFlag{Name: "db-url", Usage: "database `URL`: sqlite:///path/kemi.db, redis://host:6379/0 ([auth_db] db_url of the config wins)", DefaultText: db.DefaultURL, EnvVars: []string{"KEMI_DB_URL"}},
		&cli.StringFlag{Name: "table", Value: "subscriber", Usage: "subscriber `TABLE`"},
	}
	pwFlags := append([]cli.Flag{
		&cli.BoolFlag{Name: "ha1-only", Usage: "store only ha1 and ha1b, not the password (kamctl's STORE_PLAINTEXT_PW=0)"},
	}, flags...)
	return &cli.Command{
		Name:  "user",
		Usage: "manage the subscribers of auth_db (like kamctl add/rm/passwd)",
		Description: "The password is read from the first line of standard input when it is not given.\n" +
			"Exit status: 0 done, 1 no such subscriber (rm, passwd) or it exists (add), 2 usage error.",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "add a subscriber", ArgsUsage: "USER@DOMAIN [PASSWORD]", Flags: pwFlags, Action: userAction(func(s subscribers, c *cli.Context, user, domain string) error {
				pw, err := password(c)
				if err != nil {
					return err
				}
				return s.add(c.Context, c.String("table"), user, domain, pw, c.Bool("ha1-only"))
			})},
			{Name: "passwd", Usage: "change a subscriber's password", ArgsUsage: "USER@DOMAIN [PASSWORD]", Flags: pwFlags, Action: userAction(func(s subscribers, c *cli.Context, user, domain string) error {
				pw, err := password(c)
				if err != nil {
					return err
				}
				return s.passwd(c.Context, c.String("table"), user, domain, pw, c.Bool("ha1-only"))
			})},
			{Name: "rm", Usage: "remove a subscriber", ArgsUsage: "USER@DOMAIN", Flags: flags, Action: userAction(func(s subscribers, c *cli.Context, user, domain string) error {
				return s.rm(c.Context, c.String("table"), user, domain)
			})},
			{Name: "list", Usage: "list the subscribers (of one domain)", ArgsUsage: "[DOMAIN]", Flags: flags, Action: func(c *cli.Context) error {
				if c.NArg() > 1 {
					return cli.Exit("usage: kemi user list [DOMAIN]", exitUsage)
				}
				s, err := openSubscribers(c)
				if err != nil {
					return err
				}
				defer s.close()
				list, err := s.list(c.Context, c.String("table"), c.Args().First())
				if err != nil {
					return cli.Exit("kemi user list: "+err.Error(), exitFailure)
				}
				for _, u := range list {
					fmt.Fprintln(c.App.Writer, u)
				}
				return nil
			}},
		},
	}
}

// userAction wraps a subcommand on USER@DOMAIN: argument checks, the
// database, and the exit status of its outcome.
func userAction(fn func(s subscribers, c *cli.Context, user, domain string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		name := "kemi user " + c.Command.Name
		max := 2
		if c.Command.Name == "rm" {
			max = 1
		}
		if c.NArg() < 1 || c.NArg() > max {
			return cli.Exit(fmt.Sprintf("usage: %s %s", name, c.Command.ArgsUsage), exitUsage)
		}
		user, domain, ok := strings.Cut(c.Args().First(), "@")
		if !ok || user == "" || domain == "" || strings.ContainsAny(user+domain, " \t:@") {
			return cli.Exit(fmt.Sprintf("%s: %q: want USER@DOMAIN", name, c.Args().First()), exitUsage)
		}
		s, err := openSubscribers(c)
		if err != nil {
			return err
		}
		defer s.close()
		switch err := fn(s, c, user, domain); {
		case errors.Is(err, errNoSubscriber), errors.Is(err, errSubscriberExists):
			return cli.Exit(fmt.Sprintf("%s: %s@%s: %v", name, user, domain, err), exitFailure)
		case err != nil:
			if ec, ok := err.(cli.ExitCoder); ok {
				return ec
			}
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitFailure)
		}
		return nil
	}
}

// password is the second argument, else the first line of stdin.
func password(c *cli.Context) (string, error) {
	if c.NArg() == 2 {
		return c.Args().Get(1), nil
	}
	line, err := bufio.NewReader(c.App.Reader).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", cli.Exit("reading the password: "+err.Error(), exitFailure)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", cli.Exit("no password: give it as an argument or on standard input", exitUsage)
	}
	return line, nil
}

// subscribers is the subscriber table in one kind of database.
type subscribers interface {
	add(ctx context.Context, table, user, domain, pw string, ha1Only bool) error
	passwd(ctx context.Context, table, user, domain, pw string, ha1Only bool) error
	rm(ctx context.Context, table, user, domain string) error
	list(ctx context.Context, table, domain string) ([]string, error)
	close()
}

func openSubscribers(c *cli.Context) (subscribers, error) {
	// auth_db's database as kemi run opens it
	_, u, err := moduleDB(c, "auth_db")
	if err != nil {
		return nil, exitError(err, exitUsage)
	}
	table := c.String("table")
	if !db.ValidIdentifier(table) {
		return nil, cli.Exit(fmt.Sprintf("--table %q: want letters, digits and _", table), exitUsage)
	}
	switch u.Kind {
	case db.KindSQLite:
		return &sqliteSubscribers{file: db.NewSQLite(u.Path, db.Subscriber)}, nil
	case db.KindRedis:
		ctx, cancel := context.WithTimeout(c.Context, 5*time.Second)
		defer cancel()
		rc, err := db.OpenRedis(ctx, u)
		if err != nil {
			return nil, cli.Exit(err.Error(), exitFailure)
		}
		return &redisSubscribers{c: rc}, nil
	}
	return nil, cli.Exit(fmt.Sprintf("database %s keeps nothing: use a sqlite or redis URL", u), exitUsage)
}

// hashes returns the columns kamctl writes: ha1 = MD5(user:domain:pw),
// ha1b = MD5(user@domain:domain:pw), and the password unless ha1Only.
func hashes(user, domain, pw string, ha1Only bool) (password, ha1, ha1b string) {
	if !ha1Only {
		password = pw
	}
	ha1, ha1b = db.HA1(user, domain, pw)
	return password, ha1, ha1b
}

type sqliteSubscribers struct{ file *db.SQLite }

func (s *sqliteSubscribers) close() { s.file.Close() }

func (s *sqliteSubscribers) open(create bool) (*sql.DB, error) {
	d, err := s.file.DB(create)
	if errors.Is(err, db.ErrNoFile) {
		return nil, errNoSubscriber
	}
	return d, err
}

func (s *sqliteSubscribers) add(ctx context.Context, table, user, domain, pw string, ha1Only bool) error {
	d, err := s.open(true)
	if err != nil {
		return err
	}
	p, h1, h1b := hashes(user, domain, pw, ha1Only)
	res, err := d.ExecContext(ctx, `INSERT INTO `+table+` (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		user, domain, p, h1, h1b)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errSubscriberExists
	}
	return nil
}

func (s *sqliteSubscribers) passwd(ctx context.Context, table, user, domain, pw string, ha1Only bool) error {
	d, err := s.open(false)
	if err != nil {
		return err
	}
	p, h1, h1b := hashes(user, domain, pw, ha1Only)
	res, err := d.ExecContext(ctx, `UPDATE `+table+` SET password=?, ha1=?, ha1b=? WHERE username=? AND domain=?`, p, h1, h1b, user, domain)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoSubscriber
	}
	return nil
}

func (s *sqliteSubscribers) rm(ctx context.Context, table, user, domain string) error {
	d, err := s.open(false)
	if err != nil {
		return err
	}
	res, err := d.ExecContext(ctx, `DELETE FROM `+table+` WHERE username=? AND domain=?`, user, domain)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoSubscriber
	}
	return nil
}

func (s *sqliteSubscribers) list(ctx context.Context, table, domain string) ([]string, error) {
	d, err := s.open(false)
	if errors.Is(err, errNoSubscriber) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	q, args := `SELECT username, domain FROM `+table+` ORDER BY domain, username`, []any(nil)
	if domain != "" {
		q, args = `SELECT username, domain FROM `+table+` WHERE domain=? ORDER BY username`, []any{domain}
	}
	rows, err := d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u, dom string
		if err := rows.Scan(&u, &dom); err != nil {
			return nil, err
		}
		out = append(out, u+"@"+dom)
	}
	return out, rows.Err()
}

// redisSubscribers keeps subscribers as auth_db reads them from Redis:
// hashes at auth_db.RedisKey.
type redisSubscribers struct{ c redis.UniversalClient }

func (s *redisSubscribers) close() { s.c.Close() }

func (s *redisSubscribers) set(ctx context.Context, key, user, domain, pw string, ha1Only bool) error {
	p, h1, h1b := hashes(user, domain, pw, ha1Only)
	return s.c.HSet(ctx, key, "username", user, "domain", domain, "password", p, "ha1", h1, "ha1b", h1b).Err()
}

// addSubscriber creates the hash only when the key does not exist, in one
// step: a Redis failure between a check and a write would leave a
// subscriber without a password that every later add calls existing.
var addSubscriber = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`)

func (s *redisSubscribers) add(ctx context.Context, table, user, domain, pw string, ha1Only bool) error {
	p, h1, h1b := hashes(user, domain, pw, ha1Only)
	created, err := addSubscriber.Run(ctx, s.c, []string{auth_db.RedisKey(table, user, domain)},
		"username", user, "domain", domain, "password", p, "ha1", h1, "ha1b", h1b).Int()
	if err != nil {
		return err
	}
	if created == 0 {
		return errSubscriberExists
	}
	return nil
}

func (s *redisSubscribers) passwd(ctx context.Context, table, user, domain, pw string, ha1Only bool) error {
	key := auth_db.RedisKey(table, user, domain)
	n, err := s.c.Exists(ctx, key).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoSubscriber
	}
	return s.set(ctx, key, user, domain, pw, ha1Only)
}

func (s *redisSubscribers) rm(ctx context.Context, table, user, domain string) error {
	n, err := s.c.Del(ctx, auth_db.RedisKey(table, user, domain)).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoSubscriber
	}
	return nil
}

func (s *redisSubscribers) list(ctx context.Context, table, domain string) ([]string, error) {
	prefix := auth_db.RedisKey(table, "", "")
	prefix = strings.TrimSuffix(prefix, "@")
	match := prefix + "*"
	if domain != "" {
		match = prefix + "*@" + domain
	}
	var out []string
	iter := s.c.Scan(ctx, 0, match, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, strings.TrimPrefix(iter.Val(), prefix))
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
