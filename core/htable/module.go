// Package htable is Kamailio's htable module: named hash tables in memory,
// shared by every worker of the engine, declared with Kamailio's
// definition syntax ("ipban=>size=8;autoexpire=300;initval=0"), with items
// that expire, atomic increments, per-key locks and iterators, the
// KSR.htable functions and the $sht family of pseudo-variables. A table
// with dbtable is loaded from Kamailio's htable table (in SQLite, or in
// Redis as db_redis keeps it) at start and, with dbmode, written back at
// shutdown. A table with kemi's redis=1 lives in Redis, shared by every
// node. The event callback runs with "htable:mod-init" before traffic.
package htable

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
	"github.com/redis/go-redis/v9"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "htable", Order: 160, New: func() kemi.Module { return &Module{} }})
}

// defaultTimerInterval is Kamailio's timer_interval: how often expired
// items are removed.
const defaultTimerInterval = 20 * time.Second

// Module is the htable module of one engine.
type Module struct {
	log      *slog.Logger
	tables   map[string]*table
	interval time.Duration
	callback string
	now      func() time.Time
	store    *store                // tables with dbtable; nil: none, or a memory database
	redis    redis.UniversalClient // tables with redis=1; nil: none

	expiredTotal *metrics.Counter
	redisErrors  *metrics.Counter

	iterMu sync.Mutex
	iters  map[*kemi.Proc]*iterators

	// expiredMu guards expiredNow, the item the expired event runs for
	// ($shtrec), by the process that runs it.
	expiredMu  sync.Mutex
	expiredNow map[*kemi.Proc]*expiredItem
}

// ModInit reads the table definitions, registers the pseudo-variables and
// asks for the expiry process when a table expires items.
func (mod *Module) ModInit(env *kemi.Env) error {
	p := env.Params
	mod.log = env.Logger
	if mod.now == nil {
		mod.now = time.Now
	}
	defs := p.List("htable")
	mod.interval = p.Duration("timer_interval", defaultTimerInterval, time.Second)
	mod.callback = p.Str("event_callback", "")
	rawURL := p.Str("db_url", "")
	dbExpires := p.Bool("db_expires", false)
	sizeSuffix := p.Str("array_size_suffix", defaultSizeSuffix)
	p.Int("fetch_rows", 100) // kemi reads a table's rows in one query
	for _, name := range []string{"enable_dmq", "key_name_column", "key_type_column", "value_type_column", "key_value_column", "expires_column"} {
		if p.Has(name) {
			p.Str(name, "") // read: refused below with a clearer word than "unknown"
			return fmt.Errorf("htable: parameter %s is not yet supported by kemi", name)
		}
	}
	if err := p.Check(); err != nil {
		return err
	}
	if mod.interval <= 0 {
		return fmt.Errorf("htable: parameter timer_interval must be positive")
	}
	mod.tables = make(map[string]*table, len(defs))
	expires := false
	for _, def := range defs {
		s, err := parseSpec(def)
		if err != nil {
			return fmt.Errorf("htable: parameter htable: %w", err)
		}
		if _, dup := mod.tables[s.name]; dup {
			return fmt.Errorf("htable: parameter htable: table %q defined twice", s.name)
		}
		mod.tables[s.name] = newTable(s, mod.now)
		expires = expires || (s.autoexpire > 0 && !s.redis) // Redis expires its own
	}
	if sizeSuffix == "" {
		sizeSuffix = defaultSizeSuffix // as Kamailio
	}
	mod.redisErrors = env.Metrics.NewCounter("kemi_htable_redis_errors_total",
		"Operations on tables kept in Redis (redis=1) that failed because Redis did.")
	if err := mod.openShared(rawURL, env); err != nil {
		return err
	}
	if err := mod.openDB(rawURL, env, dbExpires, sizeSuffix); err != nil {
		mod.closeShared()
		return err
	}
	mod.iters = map[*kemi.Proc]*iterators{}
	mod.expiredNow = map[*kemi.Proc]*expiredItem{}
	mod.expiredTotal = env.Metrics.NewCounter("kemi_htable_expired_total",
		"Items the expiry timer removed from tables with autoexpire.")
	mod.initRPC(env)
	if err := registerPVs(env.PVs, mod); err != nil {
		return err
	}
	if mod.callback != "" {
		// Kamailio runs it from child_init(PROC_INIT): once, before traffic
		env.AddInitEvent(kemi.InitEvent{Callback: mod.callback, Name: "htable:mod-init"})
	}
	if expires && !env.DryRun {
		env.AddProcess(kemi.Process{Name: "htable-timer", Run: mod.timerProcess})
	}
	return nil
}

// openDB opens the database of the tables with dbtable and loads them.
func (mod *Module) openDB(rawURL string, env *kemi.Env, dbExpires bool, sizeSuffix string) error {
	u, err := db.ModuleURL(rawURL, env.DBURL)
	if err != nil {
		return fmt.Errorf("htable: %w", err)
	}
	mod.store, err = openStore(u, mod.tables, dbExpires, sizeSuffix, mod.log, env.DryRun)
	if err != nil || mod.store == nil {
		return err
	}
	now := mod.now().Unix()
	for _, t := range mod.tables {
		if t.dbtable == "" {
			continue
		}
		if err := mod.store.load(t, now); err != nil {
			// no write back of a table half loaded: it would replace
			// the rows kemi could not read
			mod.store.close()
			mod.store = nil
			return err
		}
		mod.log.Info("htable: table loaded from the database", "table", t.name, "dbtable", t.dbtable, "items", t.count(nil))
	}
	return nil
}

// Destroy writes the tables with dbmode back to their dbtable, as
// Kamailio does at shutdown, and closes the database.
func (mod *Module) Destroy() {
	defer mod.closeShared()
	if mod.store == nil {
		return
	}
	if err := mod.store.save(mod.tables, mod.now().Unix()); err != nil {
		mod.log.Error("htable: tables not written back to the database", "err", err)
	}
	mod.store.close()
	mod.store = nil
}

// table returns the named table, or logs at the script's position and
// returns nil.
func (mod *Module) table(m *kemi.Msg, fn, name string) *table {
	if t := mod.tables[name]; t != nil {
		return t
	}
	m.Errorf(mod.log, "htable: %s: no hash table %q", fn, name)
	return nil
}

// timerProcess removes expired items every timer_interval, running the
// event callback with "htable:expired:<table>" for each when one is set.
func (mod *Module) timerProcess(ctx context.Context, pc *kemi.ProcContext) error {
	tick := time.NewTicker(mod.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			mod.expire(pc)
		}
	}
}

// expire runs one expiry pass over every table.
func (mod *Module) expire(pc *kemi.ProcContext) {
	now := mod.now().Unix()
	for name, t := range mod.tables {
		gone := t.removeExpired(now)
		mod.expiredTotal.Add(len(gone))
		if mod.callback == "" || pc == nil {
			continue
		}
		for i := range gone {
			mod.setExpired(pc.Proc, &gone[i])
			if err := pc.Event(mod.callback, "htable:expired:"+name); err != nil {
				pc.Logger.Warn("htable: event callback failed", "callback", mod.callback, "table", name, "key", gone[i].key, "err", err)
			}
		}
		mod.setExpired(pc.Proc, nil)
	}
}

// setExpired records (it non-nil) or forgets the item proc's expired
// event runs for.
func (mod *Module) setExpired(proc *kemi.Proc, it *expiredItem) {
	mod.expiredMu.Lock()
	defer mod.expiredMu.Unlock()
	if it == nil {
		delete(mod.expiredNow, proc)
		return
	}
	mod.expiredNow[proc] = it
}

func (mod *Module) expiredOf(proc *kemi.Proc) *expiredItem {
	mod.expiredMu.Lock()
	defer mod.expiredMu.Unlock()
	return mod.expiredNow[proc]
}

var (
	_ kemi.ModIniter = (*Module)(nil)
	_ kemi.Destroyer = (*Module)(nil)
)
