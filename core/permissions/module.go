// Package permissions is Kamailio's permissions module: the address
// table (groups of IP addresses, subnets and domain names, with ports and
// tags) behind allow_source_address and friends, and the trusted table
// behind allow_trusted. Both are read from the database into memory at
// start, and again when the script is reloaded.
package permissions

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "permissions", Order: 180, New: func() kemi.Module { return &Module{} }})
}

// loadTimeout bounds a load of the tables from Redis: a reload waits
// for it.
const loadTimeout = 5 * time.Second

// Module is the permissions module of one engine.
type Module struct {
	log         *slog.Logger
	url         db.URL
	src         source // nil in kemi check
	addrName    string
	trustedName string
	tagAVP      *kemi.PVName // peer_tag_avp, nil when unset
	tagAll      bool         // peer_tag_mode 1: every trusted match adds its tag

	cur         atomic.Pointer[tables]
	rpcReloadMu sync.Mutex // one permissions.addressReload at a time
}

// ModInit reads the parameters and, unless in kemi check, loads both
// tables: a file that does not open, a Redis server that does not
// answer, or a row that does not parse, stops the start with an error
// naming it.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	p := env.Params
	rawURL := p.Str("db_url", "")
	mod.addrName = p.Str("address_table", "address")
	mod.trustedName = p.Str("trusted_table", "trusted")
	tagAVP := p.Str("peer_tag_avp", "")
	tagMode := p.Int("peer_tag_mode", 0)
	dbMode := p.Int("db_mode", 0)
	if err := p.Check(); err != nil {
		return err
	}
	for _, n := range []string{mod.addrName, mod.trustedName} {
		if !db.ValidIdentifier(n) {
			return fmt.Errorf("permissions: table name %q: want letters, digits and _", n)
		}
	}
	if tagMode != 0 && tagMode != 1 {
		return fmt.Errorf("permissions: peer_tag_mode %d: want 0 (first match) or 1 (all matches)", tagMode)
	}
	mod.tagAll = tagMode == 1
	if dbMode != 0 && dbMode != 1 {
		return fmt.Errorf("permissions: db_mode %d: want 0 or 1 (kemi always keeps the tables in memory)", dbMode)
	}
	if tagAVP != "" {
		if env.PVs == nil {
			return fmt.Errorf("permissions: peer_tag_avp needs the core pseudo-variables")
		}
		pv, err := env.PVs.Parse(tagAVP)
		if err != nil || pv.Class.Name != "avp" {
			return fmt.Errorf("permissions: peer_tag_avp %q: want an AVP such as $avp(peer_tag)", tagAVP)
		}
		mod.tagAVP = pv
	}
	u, err := db.ModuleURL(rawURL, env.DBURL)
	if err != nil {
		return fmt.Errorf("permissions: %w", err)
	}
	mod.url = u
	env.Metrics.NewGauge("kemi_permissions_address_rows", "Rows of the address table in memory.", func() float64 {
		if t := mod.cur.Load(); t != nil && t.addr != nil {
			return float64(t.addr.rows)
		}
		return 0
	})
	env.Metrics.NewGauge("kemi_permissions_trusted_rows", "Rows of the trusted table in memory.", func() float64 {
		if t := mod.cur.Load(); t != nil && t.trusted != nil {
			return float64(t.trusted.rows)
		}
		return 0
	})
	mod.cur.Store(&tables{addr: &addrTable{}, trusted: &trustedTable{}})
	mod.initRPC(env)
	if env.DryRun {
		return nil
	}
	if u.Kind == db.KindMemory {
		return nil // a test database: nothing kept, two empty tables
	}
	src, err := openSource(u, mod.addrName, mod.trustedName)
	if err != nil {
		return fmt.Errorf("permissions: %w", err)
	}
	mod.src = src
	if err := mod.load(); err != nil {
		src.close() // whether or not Destroy follows a failed start
		mod.src = nil
		return err
	}
	return nil
}

// openSource opens the database of the tables: a SQLite file is checked
// (not created), a Redis server must answer.
func openSource(u db.URL, addrName, trustedName string) (source, error) {
	switch u.Kind {
	case db.KindSQLite:
		f := db.NewSQLite(u.Path, db.Address, db.Trusted)
		if err := f.Check(); err != nil {
			return nil, err
		}
		return &sqliteSource{file: f, addrName: addrName, trustedName: trustedName}, nil
	case db.KindRedis:
		if u.RedisCluster() {
			// a load reads both tables in one MULTI, which a cluster
			// refuses when their keys are in different slots
			return nil, fmt.Errorf("%s: Redis Cluster is not supported (use one server or Sentinel)", u)
		}
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		c, err := db.OpenRedis(ctx, u)
		if err != nil {
			return nil, err
		}
		return &redisSource{c: c, url: u.String(), addrKey: RedisAddressKey(addrName), trustedKey: RedisTrustedKey(trustedName)}, nil
	}
	return nil, fmt.Errorf("%s: unsupported database", u)
}

// PrepareReload reads both tables again, for a reload with the script
// (SIGHUP): the commit switches to them at once, so that messages see
// either the old or the new tables, never a mix. A row that does not
// parse, or a database that does not answer, is an error and the tables
// in use stay.
func (mod *Module) PrepareReload() (commit func(), err error) {
	if mod.src == nil {
		return nil, nil // kemi check, or memory: nothing to read
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	t, err := loadTables(ctx, mod.src)
	if err != nil {
		return nil, fmt.Errorf("permissions: %w", err)
	}
	return func() {
		mod.cur.Store(t)
		mod.log.Info("permissions tables loaded", "db", mod.url.String(), "address_rows", t.addr.rows, "trusted_rows", t.trusted.rows)
	}, nil
}

// load reads both tables and switches to them: at start.
func (mod *Module) load() error {
	commit, err := mod.PrepareReload()
	if err != nil {
		return err
	}
	if commit != nil {
		commit()
	}
	return nil
}

// Destroy closes the database.
func (mod *Module) Destroy() {
	if mod.src != nil {
		mod.src.close()
	}
}

var (
	_ kemi.ModIniter = (*Module)(nil)
	_ kemi.Destroyer = (*Module)(nil)
	_ kemi.Reloader  = (*Module)(nil)
)
