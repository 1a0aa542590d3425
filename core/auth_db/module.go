// Package auth_db is Kamailio's auth_db module: digest authentication
// against the subscriber table of a database (SQLite, Redis, or memory
// for tests), on top of the auth module's checks.
package auth_db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "auth_db", Order: 150, New: func() kemi.Module { return &Module{} }})
}

// queryTimeout bounds one Redis lookup: a route waits for it.
const queryTimeout = 2 * time.Second

// Module is the auth_db module of one engine.
type Module struct {
	log   *slog.Logger
	svc   *kemi.Services
	auth  kemi.DigestAuth
	url   db.URL
	store store

	userCol, domainCol, passCol, passCol2 string
	calcHA1, useDomain                    bool

	warnedNoFile atomic.Bool
	errs         *errReporter
}

// ModInit reads the parameters and, unless in kemi check, opens the
// database: a SQLite file that exists but does not open, or a Redis
// server that does not answer, stops the start with an error naming it.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.svc = env.Services
	p := env.Params
	rawURL := p.Str("db_url", "")
	mod.userCol = p.Str("user_column", "username")
	mod.domainCol = p.Str("domain_column", "domain")
	mod.passCol = p.Str("password_column", "ha1")
	mod.passCol2 = p.Str("password_column_2", "ha1b")
	mod.calcHA1 = p.Bool("calculate_ha1", false)
	mod.useDomain = p.Bool("use_domain", false)
	creds := p.Str("load_credentials", "")
	p.Bool("version_table", true) // the version is always checked (db)
	if err := p.Check(); err != nil {
		return err
	}
	if creds != "" {
		return fmt.Errorf("auth_db: load_credentials is not supported")
	}
	for _, c := range []string{mod.userCol, mod.domainCol, mod.passCol, mod.passCol2} {
		if !db.ValidIdentifier(c) {
			return fmt.Errorf("auth_db: column name %q: want letters, digits and _", c)
		}
	}
	u, err := db.ModuleURL(rawURL, env.DBURL)
	if err != nil {
		return fmt.Errorf("auth_db: %w", err)
	}
	mod.url = u
	mod.errs = &errReporter{log: env.Logger, db: u.String(), counter: env.Metrics.NewCounter("kemi_auth_db_errors_total",
		"auth_db lookups that failed on a database error (the function returned -1).")}
	if env.DryRun {
		return nil
	}
	switch u.Kind {
	case db.KindSQLite:
		f := db.NewSQLite(u.Path, db.Subscriber)
		if err := f.Check(); err != nil {
			return fmt.Errorf("auth_db: %w", err)
		}
		mod.store = &sqliteStore{file: f, user: mod.userCol, dom: mod.domainCol}
	case db.KindRedis:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := db.OpenRedis(ctx, u)
		if err != nil {
			return fmt.Errorf("auth_db: %w", err)
		}
		mod.store = &redisStore{c: c}
	default:
		mod.store = &memoryStore{}
	}
	return nil
}

// ChildInit finds the auth module's API.
func (mod *Module) ChildInit(rank int) error {
	if rank != kemi.RankInit {
		return nil
	}
	mod.auth, _ = mod.svc.Lookup(kemi.ServiceAuth).(kemi.DigestAuth)
	if mod.auth == nil {
		return fmt.Errorf("auth_db: needs the auth module (load auth before auth_db)")
	}
	return nil
}

// Destroy closes the database.
func (mod *Module) Destroy() {
	if mod.store != nil {
		mod.store.close()
	}
}

// lookup reads one column of a subscriber; a database error is counted
// and logged, rate-limited.
func (mod *Module) lookup(m *kemi.Msg, table, col, user, domain string) (string, int) {
	if mod.store == nil {
		return "", kemi.AuthError
	}
	v, found, err := mod.store.get(context.Background(), table, col, user, domain)
	switch {
	case errors.Is(err, ErrNoDatabase):
		// as Kamailio with an empty table: the user is unknown
		if !mod.warnedNoFile.Swap(true) {
			mod.log.Warn("no subscriber database yet: every user is unknown (kemi user add creates it)", "db", mod.url.String())
		}
		return "", kemi.AuthUserUnknown
	case err != nil:
		mod.errs.fail(table, err, m.Where())
		return "", kemi.AuthError
	}
	mod.errs.ok()
	if !found {
		return "", kemi.AuthUserUnknown
	}
	return v, kemi.AuthOK
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
	_ kemi.Destroyer   = (*Module)(nil)
)
