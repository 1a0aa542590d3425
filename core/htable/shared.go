package htable

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
	"github.com/redis/go-redis/v9"
)

// Redis key layout of a table defined with redis=1 (README.md):
//
//	kemi:ht:<table>:<key>       string, the item: "s"+text or "i"+decimal,
//	                            with a TTL when it expires
//	kemi:htlock:<table>:<key>   string, sht_lock's lock: the holder's token
const (
	sharedPrefix = "kemi:ht:"
	lockPrefix   = "kemi:htlock:"
)

// lockLease is how long a lock taken with sht_lock lasts at most, and so
// the longest another worker waits for it: a node that stops while it
// holds a lock does not keep it for ever.
const lockLease = 10 * time.Second

// scanCount is the COUNT hint of the SCANs that walk a table.
const scanCount = 500

// shared keeps the items of one table in Redis, where every kemi node
// that defines the table with redis=1 on the same server reads and
// changes them. Every operation on an item is one command or one
// script, so atomic across nodes; expiry is Redis's own (a TTL per
// item), so there is nothing for the timer to remove.
type shared struct {
	c      redis.UniversalClient
	spec   *spec
	prefix string // kemi:ht:<table>:
	locks  string // kemi:htlock:<table>:
	node   string // this engine's part of lock tokens
	errs   *redisErrors

	mu   sync.Mutex
	held map[*kemi.Proc]map[string]int // sht_lock depth of each worker's locks
}

func newShared(c redis.UniversalClient, s *spec, node string, errs *redisErrors) *shared {
	return &shared{
		c: c, spec: s, node: node, errs: errs,
		prefix: sharedPrefix + s.name + ":",
		locks:  lockPrefix + s.name + ":",
		held:   map[*kemi.Proc]map[string]int{},
	}
}

// newNodeID returns a random identifier for this engine's lock tokens.
func newNodeID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// encode returns an item as stored: a type letter and the value.
func encode(v kemi.Value) string {
	if v.Kind == kemi.KindStr {
		return "s" + v.Str
	}
	return "i" + strconv.FormatInt(wrap(v.AsInt()), 10)
}

// decode reads a stored item; ok is false for a value kemi did not write.
func decode(s string) (c cell, ok bool) {
	if s == "" {
		return c, false
	}
	switch s[0] {
	case 's':
		return cell{isStr: true, str: s[1:]}, true
	case 'i':
		n, err := strconv.ParseInt(s[1:], 10, 64)
		return cell{num: n}, err == nil
	}
	return c, false
}

// ttl returns the table's autoexpire in milliseconds, as scripts take it.
func (r *shared) ttl(sec int64) string { return strconv.FormatInt(sec*1000, 10) }

// setScript stores an item. KEYS: item. ARGV: the encoded value, its
// TTL in ms ("0": none), the mode: "set" gives the TTL, "keep" keeps
// the TTL of an item already there (a new one gets ARGV[2]), "xx"
// changes only an item already there, giving it ARGV[2] when not "0",
// else keeping its TTL. Returns 1 when stored.
var setScript = redis.NewScript(`
local exists = redis.call('EXISTS', KEYS[1]) == 1
local mode = ARGV[3]
if mode == 'xx' and not exists then return 0 end
if (mode == 'keep' and exists) or (mode == 'xx' and ARGV[2] == '0') then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
elseif ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// addScript is ht_cell_value_add on one item. KEYS: item. ARGV: delta,
// initval ("": none), TTL in ms of a new item ("0": none), "1" to give
// an existing item that TTL again. Returns the new value, wrapped as a
// C int, or nil when there is no integer to change.
var addScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local n
local fresh = false
if not v then
  if ARGV[2] == '' then return false end
  n = tonumber(ARGV[2])
  fresh = true
elseif string.sub(v, 1, 1) ~= 'i' then
  return false
else
  n = tonumber(string.sub(v, 2))
end
n = (n + tonumber(ARGV[1])) % 4294967296
if n >= 2147483648 then n = n - 4294967296 end
local s = 'i' .. string.format('%d', n)
if (fresh or ARGV[4] == '1') and ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], s, 'PX', ARGV[3])
elseif fresh then
  redis.call('SET', KEYS[1], s)
else
  redis.call('SET', KEYS[1], s, 'KEEPTTL')
end
return n
`)

// delIfScript removes a key only while it holds ARGV[1]: an item a walk
// matched and nobody changed since, a lock still held by its token.
var delIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func (r *shared) get(key string) *cell {
	s, err := r.c.Get(context.Background(), r.prefix+key).Result()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.errs.report(r.spec.name, "get", err)
		}
		return nil
	}
	c, ok := decode(s)
	if !ok {
		return nil
	}
	return &c
}

// set is table.set: exp > 0 sets the item to expire in exp seconds, else
// a new item gets autoexpire and an updated one keeps its time unless
// updateexpire. In a table without autoexpire items never expire.
func (r *shared) set(key string, v kemi.Value, exp int64) bool {
	ttl, mode := int64(0), "set"
	switch {
	case r.spec.autoexpire <= 0:
	case exp > 0:
		ttl = exp
	case r.spec.updateExpire:
		ttl = r.spec.autoexpire
	default:
		ttl, mode = r.spec.autoexpire, "keep"
	}
	return r.store("set", key, encode(v), ttl, mode)
}

// replace is the iterator's sets and seti: an item still there gets v,
// and autoexpire again with updateexpire.
func (r *shared) replace(key string, v kemi.Value) {
	ttl := int64(0)
	if r.spec.updateExpire && r.spec.autoexpire > 0 {
		ttl = r.spec.autoexpire
	}
	r.store("replace", key, encode(v), ttl, "xx")
}

func (r *shared) store(op, key, val string, ttl int64, mode string) bool {
	err := setScript.Run(context.Background(), r.c, []string{r.prefix + key}, val, r.ttl(ttl), mode).Err()
	if err != nil {
		r.errs.report(r.spec.name, op, err)
		return false
	}
	return true
}

func (r *shared) del(key string) bool {
	n, err := r.c.Del(context.Background(), r.prefix+key).Result()
	if err != nil {
		r.errs.report(r.spec.name, "rm", err)
	}
	return n > 0
}

// add is table.add in one script, so increments from every worker of
// every node add up.
func (r *shared) add(key string, d int64) (int64, bool) {
	init := ""
	if r.spec.hasInit {
		init = strconv.FormatInt(r.spec.initval, 10)
	}
	renew := "0"
	if r.spec.updateExpire {
		renew = "1"
	}
	n, err := addScript.Run(context.Background(), r.c, []string{r.prefix + key},
		d, init, r.ttl(max(r.spec.autoexpire, 0)), renew).Int64()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			r.errs.report(r.spec.name, "inc", err)
		}
		return 0, false
	}
	return n, true
}

// expire makes the item expire in sec seconds; never for sec <= 0
// unless now is set, when it goes at once (the iterator's setex).
func (r *shared) expire(key string, sec int64, now bool) {
	ctx := context.Background()
	var err error
	if sec > 0 || now {
		err = r.c.Expire(ctx, r.prefix+key, time.Duration(sec)*time.Second).Err()
	} else {
		err = r.c.Persist(ctx, r.prefix+key).Err()
	}
	if err != nil {
		r.errs.report(r.spec.name, "setex", err)
	}
}

// expiresIn is the seconds the item has left; 0 when it never expires
// or is missing.
func (r *shared) expiresIn(key string) int64 {
	d, err := r.c.TTL(context.Background(), r.prefix+key).Result()
	if err != nil {
		r.errs.report(r.spec.name, "ttl", err)
		return 0
	}
	return max(int64(d/time.Second), 0)
}

// each runs fn on every item of the table, walked with SCAN (each key
// once); an item fn removes goes only if nobody changed it meanwhile.
func (r *shared) each(fn func(key string, c *cell) (remove, stop bool)) {
	ctx := context.Background()
	seen := map[string]bool{}
	match := r.prefix + "*"
	var cursor uint64
	for {
		keys, next, err := r.c.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			r.errs.report(r.spec.name, "scan", err)
			return
		}
		if r.walk(ctx, keys, seen, fn) || next == 0 {
			return
		}
		cursor = next
	}
}

// walk is one SCAN batch of each; it reports whether fn stopped.
func (r *shared) walk(ctx context.Context, keys []string, seen map[string]bool, fn func(string, *cell) (bool, bool)) bool {
	if len(keys) == 0 {
		return false
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		r.errs.report(r.spec.name, "scan", err)
		return true
	}
	for i, k := range keys {
		raw, ok := vals[i].(string)
		if !ok || seen[k] {
			continue // expired since the SCAN, or given twice by it
		}
		seen[k] = true
		c, ok := decode(raw)
		if !ok {
			continue
		}
		rm, stop := fn(k[len(r.prefix):], &c)
		if rm {
			if err := delIfScript.Run(ctx, r.c, []string{k}, raw).Err(); err != nil {
				r.errs.report(r.spec.name, "rm", err)
			}
		}
		if stop {
			return true
		}
	}
	return false
}

func (r *shared) count() int {
	n := 0
	r.each(func(string, *cell) (bool, bool) { n++; return false, false })
	return n
}

// token is the value of a lock held by proc.
func (r *shared) token(proc *kemi.Proc) string {
	return fmt.Sprintf("%s:%p", r.node, proc)
}

// lock is sht_lock: it takes the Redis lock of key for proc (again, if
// proc holds it), waiting while another worker of any node holds it, at
// most lockLease. It reports false when the lock could not be taken.
func (r *shared) lock(proc *kemi.Proc, key string) bool {
	r.mu.Lock()
	if n := r.held[proc][key]; n > 0 {
		r.held[proc][key] = n + 1
		r.mu.Unlock()
		return true
	}
	r.mu.Unlock()
	ctx := context.Background()
	wait, deadline := time.Millisecond, time.Now().Add(lockLease)
	for {
		ok, err := r.c.SetNX(ctx, r.locks+key, r.token(proc), lockLease).Result()
		if err != nil {
			r.errs.report(r.spec.name, "lock", err)
			return false
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			// not a Redis failure: logged, not counted
			r.errs.log.Warn("htable: sht_lock gave up: the lock is held by another worker", "table", r.spec.name, "key", key, "waited", lockLease)
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[proc] == nil {
		r.held[proc] = map[string]int{}
	}
	r.held[proc][key] = 1
	return true
}

// unlock is sht_unlock; it reports false when proc does not hold the
// lock of key.
func (r *shared) unlock(proc *kemi.Proc, key string) bool {
	r.mu.Lock()
	n := r.held[proc][key]
	switch {
	case n == 0:
		r.mu.Unlock()
		return false
	case n > 1:
		r.held[proc][key] = n - 1
		r.mu.Unlock()
		return true
	}
	delete(r.held[proc], key)
	r.mu.Unlock()
	// a lease that ran out may be someone else's lock now: leave it
	if err := delIfScript.Run(context.Background(), r.c, []string{r.locks + key}, r.token(proc)).Err(); err != nil {
		r.errs.report(r.spec.name, "unlock", err)
	}
	return true
}

// errLogEvery is how often Redis errors are logged: the first at once,
// then one line per period with the number left out, so that a server
// that went away does not write a line per message.
const errLogEvery = 10 * time.Second

// redisErrors counts the Redis errors of the shared tables and logs them,
// rate-limited.
type redisErrors struct {
	log   *slog.Logger
	total *metrics.Counter

	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (e *redisErrors) report(table, op string, err error) {
	e.total.Inc()
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.last) < errLogEvery {
		e.skipped++
		return
	}
	e.log.Error("htable: redis", "table", table, "op", op, "err", strings.TrimSpace(err.Error()), "not_logged", e.skipped)
	e.last, e.skipped = time.Now(), 0
}

// openShared connects the tables defined with redis=1 to the Redis
// server of the module's db_url (else the core one), which must be one.
// kemi check (DryRun) checks the URL and does not connect.
func (mod *Module) openShared(rawURL string, env *kemi.Env) error {
	var names []string
	for name, t := range mod.tables {
		if t.redis {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	u, err := db.ModuleURL(rawURL, env.DBURL)
	if err != nil {
		return fmt.Errorf("htable: %w", err)
	}
	switch {
	case u.Kind != db.KindRedis:
		return fmt.Errorf("htable: table %s has redis=1 but the db_url %s is not a Redis server", names[0], u)
	case u.RedisCluster():
		// a walk with SCAN sees the keys of one node only
		return fmt.Errorf("htable: table %s has redis=1: Redis Cluster (%s) is not supported, use one server or Sentinel", names[0], u)
	case env.DryRun:
		return nil
	}
	c, err := dialRedis(u)
	if err != nil {
		return fmt.Errorf("htable: tables with redis=1: %w", err)
	}
	mod.redis = c
	errs := &redisErrors{log: mod.log, total: mod.redisErrors}
	node := newNodeID()
	for _, name := range names {
		t := mod.tables[name]
		t.shared = newShared(c, &t.spec, node, errs)
	}
	mod.log.Info("htable: tables kept in Redis", "tables", strings.Join(names, ","), "db", u.String())
	return nil
}

// closeShared closes the Redis connection of the shared tables.
func (mod *Module) closeShared() {
	if mod.redis != nil {
		mod.redis.Close()
		mod.redis = nil
	}
}
