package usrloc

import (
	"context"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// DefaultTable is the location table registrar's save("location") names.
const DefaultTable = "location"

// Store is one backend of the location table: the kemi.Location that
// registrar uses, plus what the expiry timer and `kemi ul` need. Every
// error it returns wraps kemi.ErrLocation.
type Store interface {
	kemi.Location
	// AORs returns the AORs of table that have at least one binding,
	// sorted.
	AORs(ctx context.Context, table string) ([]string, error)
	// Tables returns the names of the location tables in use, sorted.
	Tables(ctx context.Context) ([]string, error)
	// Expire removes, from every table, the bindings that expired at now
	// and returns those it removed (for the contact-expired event). With
	// several nodes on one database each binding is returned by one node
	// only.
	Expire(ctx context.Context, now time.Time) ([]Expired, error)
	// Count returns the number of AORs and of bindings in every table.
	Count(ctx context.Context) (users, contacts int, err error)
	// Close releases the database.
	Close() error
}

// Expired is a binding removed by Expire, with its table.
type Expired struct {
	Table string
	kemi.Binding
}

// Options are the settings a Store is opened with.
type Options struct {
	// UseDomain makes AORs user@domain (usrloc's use_domain).
	UseDomain bool
	// CheckInterval is how often the SQLite store asks the file whether
	// another process changed it before serving a lookup from its cache;
	// 0 asks before every lookup.
	CheckInterval time.Duration
}

// Open opens the location store rawURL names ("" is db.DefaultURL). A
// SQLite file is checked (a corrupt, locked or newer-schema file is an
// error naming it) but not created: that happens at the first write. A
// Redis server must answer.
func Open(ctx context.Context, rawURL string, o Options) (Store, error) {
	u, err := db.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("usrloc: %w", err)
	}
	switch u.Kind {
	case db.KindMemory:
		return newMemoryStore(o), nil
	case db.KindSQLite:
		s := newSQLiteStore(u.Path, o)
		if err := s.check(); err != nil {
			return nil, err
		}
		return s, nil
	case db.KindRedis:
		if u.RedisCluster() {
			// an update is one MULTI and Lua scripts over an AOR's keys
			// and the table's indexes, which a cluster spreads over slots
			return nil, fmt.Errorf("usrloc: %s: Redis Cluster is not supported (use one server or Sentinel)", u)
		}
		c, err := db.OpenRedis(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("usrloc: %w", err)
		}
		return newRedisStore(c, o), nil
	}
	return nil, fmt.Errorf("usrloc: %s: unsupported database", u)
}

// locErr wraps a storage error with kemi.ErrLocation and what failed.
func locErr(what string, err error) error {
	return fmt.Errorf("usrloc: %s: %w: %w", what, kemi.ErrLocation, err)
}

// splitAOR returns the username and domain columns of aor: with
// use_domain the part after the last '@' is the domain.
func splitAOR(aor string, useDomain bool) (user, domain string) {
	if !useDomain {
		return aor, ""
	}
	if i := strings.LastIndexByte(aor, '@'); i >= 0 {
		return aor[:i], aor[i+1:]
	}
	return aor, ""
}

// joinAOR is the inverse of splitAOR.
func joinAOR(user, domain string, useDomain bool) string {
	if !useDomain || domain == "" {
		return user
	}
	return user + "@" + domain
}

// aorLocks serialises Update, DeleteRUID and DeleteAOR per AOR: the AOR
// hashes to one of a fixed set of mutexes, so updates of different AORs
// rarely wait for each other and the set never grows.
type aorLocks struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

func newAORLocks() *aorLocks { return &aorLocks{seed: maphash.MakeSeed()} }

func (l *aorLocks) lock(table, aor string) func() {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(table)
	h.WriteByte(0)
	h.WriteString(aor)
	m := &l.mu[h.Sum64()%uint64(len(l.mu))]
	m.Lock()
	return m.Unlock
}

// live returns the bindings of bs that have not expired at now, in a new
// slice.
func live(bs []kemi.Binding, now time.Time) []kemi.Binding {
	out := make([]kemi.Binding, 0, len(bs))
	for _, b := range bs {
		if !b.Expired(now) {
			out = append(out, b)
		}
	}
	return out
}

// apply returns cur with change applied: Put replaces the binding of the
// same RUID or adds it, Delete removes by RUID.
func apply(cur []kemi.Binding, ch kemi.BindingChange) []kemi.Binding {
	out := make([]kemi.Binding, 0, len(cur)+len(ch.Put))
	for _, b := range cur {
		if !containsRUID(ch.Delete, b.RUID) && indexRUID(ch.Put, b.RUID) < 0 {
			out = append(out, b)
		}
	}
	for _, b := range ch.Put {
		if !containsRUID(ch.Delete, b.RUID) {
			out = append(out, b)
		}
	}
	return out
}

func containsRUID(ruids []string, ruid string) bool {
	for _, r := range ruids {
		if r == ruid {
			return true
		}
	}
	return false
}

func indexRUID(bs []kemi.Binding, ruid string) int {
	for i := range bs {
		if bs[i].RUID == ruid {
			return i
		}
	}
	return -1
}

// checkChange refuses a change that would store a binding without a RUID
// or for another AOR: the RUID is the key of every backend.
func checkChange(aor string, ch kemi.BindingChange) error {
	for i := range ch.Put {
		if ch.Put[i].RUID == "" {
			return fmt.Errorf("usrloc: binding %s of %s has no ruid", ch.Put[i].Contact, aor)
		}
		if ch.Put[i].AOR == "" {
			ch.Put[i].AOR = aor
		} else if ch.Put[i].AOR != aor {
			return fmt.Errorf("usrloc: binding for %s in an update of %s", ch.Put[i].AOR, aor)
		}
	}
	return nil
}
