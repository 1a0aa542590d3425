// Package usrloc is Kamailio's usrloc module: the location table where
// registrar keeps the contacts registered for each address of record. It
// publishes a kemi.Location under kemi.ServiceUsrloc, kept in memory, in
// a SQLite file (write-through, Kamailio's db_mode 1, Kamailio's schema)
// or in Redis (shared by several kemi nodes), as db_url says; and runs a
// timer process that removes expired bindings and runs the script's
// usrloc:contact-expired event callback for each.
package usrloc

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "usrloc", Order: 120, New: func() kemi.Module { return &Module{} }})
}

// openTimeout bounds the connection to the database at start.
const openTimeout = 10 * time.Second

// Module is the usrloc module of one engine.
type Module struct {
	log       *slog.Logger
	url       db.URL
	loc       *location
	interval  time.Duration
	callback  string
	useDomain bool // use_domain: AORs are user@domain

	expired         *metrics.Counter
	lost            *lostConns
	users, contacts atomic.Int64
}

// ModInit reads the parameters, opens the location store (not in a dry
// run), creates the metrics, publishes the Location and asks for the
// expiry process.
func (mod *Module) ModInit(env *kemi.Env) error {
	p := env.Params
	mod.log = env.Logger
	rawURL := p.Str("db_url", "")
	opts := Options{
		UseDomain:     p.Bool("use_domain", false),
		CheckInterval: p.Duration("db_check_interval", defaultCheckInterval, time.Millisecond),
	}
	mod.interval = p.Duration("timer_interval", 60*time.Second, time.Second)
	mod.callback = p.Str("event_callback", "")
	mod.useDomain = opts.UseDomain
	serverID := p.Int("server_id", 0)
	natBflag := p.Int("nat_bflag", -1)
	lostTCP := p.Bool("handle_lost_tcp", false)
	if err := p.Check(); err != nil {
		return err
	}
	if mod.interval <= 0 {
		return fmt.Errorf("parameter timer_interval must be positive")
	}
	if natBflag < -1 || natBflag > 31 {
		return fmt.Errorf("parameter nat_bflag %d: want a branch flag 0..31, or -1 for none", natBflag)
	}
	if opts.CheckInterval < 0 {
		return fmt.Errorf("parameter db_check_interval must not be negative")
	}
	u, err := db.ModuleURL(rawURL, env.DBURL)
	if err != nil {
		return fmt.Errorf("parameter db_url: %w", err)
	}
	mod.url = u
	set := env.Metrics
	errs := &errReporter{log: env.Logger, counter: set.NewCounter(`kemi_usrloc_db_errors_total`, "Errors of the location database (lookups, saves, deletions, expiry) returned to callers.")}
	mod.expired = set.NewCounter(`kemi_usrloc_expired_total`, "Bindings removed by the expiry timer because they expired.")
	set.NewGauge(`kemi_usrloc_users`, "Addresses of record with at least one binding, at the last expiry pass (Kamailio's registered_users).", func() float64 { return float64(mod.users.Load()) })
	set.NewGauge(`kemi_usrloc_bindings`, "Bindings (contacts) in the location tables, at the last expiry pass.", func() float64 { return float64(mod.contacts.Load()) })

	mod.loc = &location{serverID: serverID, errs: errs, conns: newConnIndex()}
	mod.lost = &lostConns{loc: mod.loc, log: env.Logger, tcp: lostTCP,
		removed: set.NewCounter(`kemi_usrloc_conn_closed_removed_total`, "Bindings removed because the WebSocket (or, with handle_lost_tcp, TCP or TLS) connection they were saved over closed.")}

	var store Store
	if env.DryRun {
		store = newMemoryStore(opts) // kemi check opens no database
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		if store, err = Open(ctx, u.Raw, opts); err != nil {
			return err
		}
		env.AddProcess(kemi.Process{Name: "usrloc-timer", Run: mod.timerProcess})
		env.AddProcess(kemi.Process{Name: "usrloc-lost-conn", Run: mod.lost.run})
	}
	mod.loc.Store = store
	mod.initRPC(env)
	if natBflag >= 0 {
		mod.loc.natFlag = 1 << natBflag
	}
	return env.Services.Provide(kemi.ServiceUsrloc, kemi.Location(mod.loc))
}

// Location returns the location table the module published (nil before
// ModInit).
func (mod *Module) Location() kemi.Location {
	if mod.loc == nil {
		return nil
	}
	return mod.loc
}

// Exports is empty: usrloc has no script functions in Kamailio's KEMI
// either; registrar uses it.
func (mod *Module) Exports() []kemi.Export { return nil }

// OnConnClosed queues the removal of the bindings saved over connection
// c (kemi.ConnCloseHook): always for ws and wss, for tcp and tls with
// handle_lost_tcp. The usrloc-lost-conn process writes the store; until
// it has, lookups skip those bindings.
func (mod *Module) OnConnClosed(c kemi.ClosedConn) {
	if mod.loc == nil || c.ID == 0 || c.ID > math.MaxInt64 {
		return
	}
	mod.loc.conns.closed(int64(c.ID), mod.lost.wanted(c.Proto))
}

// Destroy closes the database.
func (mod *Module) Destroy() {
	if mod.loc != nil && mod.loc.Store != nil {
		mod.loc.Store.Close()
	}
}

var (
	_ kemi.ModIniter     = (*Module)(nil)
	_ kemi.Destroyer     = (*Module)(nil)
	_ kemi.ConnCloseHook = (*Module)(nil)
)
