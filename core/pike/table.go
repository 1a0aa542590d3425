package pike

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Results of table.hit, the values the script sees.
const (
	resOK         = 1  // under the limit
	resBlocked    = -1 // over the limit, already reported
	resNewBlocked = -2 // went over the limit with this request
)

// shardCount is the number of independently locked parts of the table, so
// that workers checking different sources rarely wait for each other (as
// Kamailio's per-first-byte tree branches).
const shardCount = 64

// sweepPerHit bounds how many expired sources one hit removes, so that a
// check costs O(1) however many sources expired at once.
const sweepPerHit = 4

// source is the state of one address: hits in the previous and the
// current sampling unit, and whether it is blocked. It is a node of its
// shard's recency list (most recent first).
type source struct {
	addr       netip.Addr
	unit       int64 // the sampling unit cur counts in
	prev, cur  uint32
	blocked    bool
	last       int64 // nanoseconds since the table's start of the last hit
	newer, old *source
}

// shard is one locked part of the table.
type shard struct {
	mu     sync.Mutex
	byAddr map[netip.Addr]*source
	// head is the most recently hit source, tail the least recently hit:
	// expiry and eviction take from the tail.
	head, tail *source
}

// table counts requests per source address for all workers. It holds at
// most max sources: a new source beyond that evicts the one hit least
// recently, so a flood from spoofed addresses cannot grow memory without
// limit.
type table struct {
	unit     time.Duration // sampling_time_unit
	limit    uint32        // reqs_density_per_unit
	latency  time.Duration // remove_latency
	perShard int
	start    time.Time
	seed     maphash.Seed
	shards   [shardCount]shard
	// sweepNext is the shard the next hit sweeps.
	sweepNext atomic.Uint32

	// onUnblock is called (under the shard lock) when a blocked source
	// drops back under the limit.
	onUnblock func(netip.Addr)
	// onEvict is called (under the shard lock) when a source is dropped
	// to make room for a new one.
	onEvict func()
}

// newTable returns an empty table; start is the origin of the sampling
// units.
func newTable(unit time.Duration, limit int, latency time.Duration, max int, start time.Time) *table {
	t := &table{
		unit:     unit,
		limit:    uint32(limit),
		latency:  latency,
		perShard: max / shardCount,
		start:    start,
		seed:     maphash.MakeSeed(),
	}
	if t.perShard < 1 {
		t.perShard = 1
	}
	for i := range t.shards {
		t.shards[i].byAddr = make(map[netip.Addr]*source)
	}
	return t
}

// capacity is the most sources the table holds.
func (t *table) capacity() int { return t.perShard * shardCount }

// hit counts one request from addr at now and returns resOK, resBlocked or
// resNewBlocked, with Kamailio's rule: a source is blocked while its hits
// in the current or in the previous sampling unit reach the limit; it is
// reported once (resNewBlocked) when it becomes blocked.
func (t *table) hit(addr netip.Addr, now time.Time) int {
	addr = addr.Unmap()
	elapsed := int64(now.Sub(t.start))
	unit := elapsed / int64(t.unit)
	// the sources of shards no longer hit expire too: each hit also
	// sweeps the next shard in turn
	other := &t.shards[t.sweepNext.Add(1)%shardCount]
	other.mu.Lock()
	t.expire(other, elapsed)
	other.mu.Unlock()

	sh := &t.shards[maphash.Comparable(t.seed, addr)%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.expire(sh, elapsed)
	s := sh.byAddr[addr]
	if s != nil && elapsed-s.last > int64(t.latency) {
		// forgotten, as Kamailio's timer would have removed it by now
		t.remove(sh, s)
		s = nil
	}
	if s == nil {
		if len(sh.byAddr) >= t.perShard {
			t.remove(sh, sh.tail)
			if t.onEvict != nil {
				t.onEvict()
			}
		}
		s = &source{addr: addr, unit: unit}
		sh.byAddr[addr] = s
	} else {
		sh.unlink(s)
		t.roll(s, unit)
	}
	sh.pushFront(s)
	s.last = elapsed
	if s.cur < ^uint32(0) {
		s.cur++
	}
	switch {
	case s.blocked:
		return resBlocked
	case t.hot(s):
		s.blocked = true
		return resNewBlocked
	}
	return resOK
}

// roll moves s to sampling unit u: the current count becomes the previous
// one, or both are cleared when whole units passed without a hit (as
// Kamailio's swap timer does every unit). A blocked source that is no
// longer over the limit is unblocked.
func (t *table) roll(s *source, u int64) {
	switch d := u - s.unit; {
	case d == 0:
		return
	case d == 1:
		s.prev, s.cur = s.cur, 0
	default:
		s.prev, s.cur = 0, 0
	}
	s.unit = u
	if s.blocked && !t.hot(s) {
		s.blocked = false
		if t.onUnblock != nil {
			t.onUnblock(s.addr)
		}
	}
}

// hot reports whether s is over the limit: Kamailio's test on the previous
// unit, the current one and their mean (which cannot reach the limit
// unless one of them does).
func (t *table) hot(s *source) bool {
	return s.prev >= t.limit || s.cur >= t.limit
}

// expire removes up to sweepPerHit sources of sh not hit for
// remove_latency, least recent first.
func (t *table) expire(sh *shard, elapsed int64) {
	for i := 0; i < sweepPerHit && sh.tail != nil && elapsed-sh.tail.last > int64(t.latency); i++ {
		t.remove(sh, sh.tail)
	}
}

// remove drops s from sh.
func (t *table) remove(sh *shard, s *source) {
	sh.unlink(s)
	delete(sh.byAddr, s.addr)
}

// len returns the number of sources held.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.byAddr)
		sh.mu.Unlock()
	}
	return n
}

func (sh *shard) pushFront(s *source) {
	s.old, s.newer = sh.head, nil
	if sh.head != nil {
		sh.head.newer = s
	}
	sh.head = s
	if sh.tail == nil {
		sh.tail = s
	}
}

func (sh *shard) unlink(s *source) {
	if s.newer != nil {
		s.newer.old = s.old
	} else {
		sh.head = s.old
	}
	if s.old != nil {
		s.old.newer = s.newer
	} else {
		sh.tail = s.newer
	}
	s.newer, s.old = nil, nil
}
