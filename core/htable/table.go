package htable

import (
	"hash/maphash"
	"sort"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// cell is one item. An int value wraps as Kamailio's C int does.
type cell struct {
	str    string
	num    int64
	isStr  bool
	expire int64 // unix seconds; 0: never
}

// value returns the item as a script value.
func (c *cell) value() kemi.Value {
	if c.isStr {
		return kemi.Str(c.str)
	}
	return kemi.Int64(c.num)
}

// slot is one lock of the table and the items whose keys hash to it.
// Its lock is owned by a worker while the script holds it with sht_lock
// (recursively, as Kamailio's slot locks): the owner's own operations go
// through, other workers' wait until it lets go.
type slot struct {
	mu    sync.Mutex
	free  sync.Cond // signalled when owner becomes nil
	owner *kemi.Proc
	depth int
	items map[string]*cell
}

// table is one hash table, shared by every worker of the engine. A table
// defined with redis=1 keeps its items in Redis instead (shared, set
// after newTable): every method below hands over to it first, and the
// slots stay empty.
type table struct {
	spec
	seed   maphash.Seed
	slots  []slot
	now    func() time.Time
	shared *shared
}

func newTable(s spec, now func() time.Time) *table {
	t := &table{spec: s, seed: maphash.MakeSeed(), slots: make([]slot, s.slots), now: now}
	for i := range t.slots {
		t.slots[i].items = map[string]*cell{}
		t.slots[i].free.L = &t.slots[i].mu
	}
	return t
}

// slotOf returns the slot of key.
func (t *table) slotOf(key string) *slot {
	return &t.slots[maphash.String(t.seed, key)%uint64(len(t.slots))]
}

// enter locks s for an operation of proc, waiting while another worker
// holds it with sht_lock.
func (s *slot) enter(proc *kemi.Proc) {
	s.mu.Lock()
	for s.owner != nil && s.owner != proc {
		s.free.Wait()
	}
}

// with runs fn on the slot of key, locked for proc.
func (t *table) with(proc *kemi.Proc, key string, fn func(s *slot)) {
	s := t.slotOf(key)
	s.enter(proc)
	defer s.mu.Unlock()
	fn(s)
}

// clock returns the time in seconds when the table expires items, 0
// otherwise (Kamailio only looks at the clock for such tables).
func (t *table) clock() int64 {
	if t.autoexpire <= 0 {
		return 0
	}
	return t.now().Unix()
}

// expired reports whether c is past its time at now (0: not looked at).
func (t *table) expired(c *cell, now int64) bool {
	return now > 0 && c.expire != 0 && c.expire < now
}

// get returns a copy of the live item, or nil.
func (t *table) get(proc *kemi.Proc, key string) *cell {
	if t.shared != nil {
		return t.shared.get(key)
	}
	var out *cell
	t.with(proc, key, func(s *slot) {
		if c := s.items[key]; c != nil && !t.expired(c, t.clock()) {
			cp := *c
			out = &cp
		}
	})
	return out
}

// read returns the item's value as $sht and sht_get see it: the initval
// of a table that has one for a missing item, else Null.
func (t *table) read(proc *kemi.Proc, key string) kemi.Value {
	if c := t.get(proc, key); c != nil {
		return c.value()
	}
	if t.hasInit {
		return kemi.Int64(t.initval)
	}
	return kemi.Null
}

// set stores v under key (ht_set_cell_ex): exp > 0 sets the item to
// expire in exp seconds, else a new item gets the table's autoexpire and
// an updated one keeps its time unless updateexpire. It reports false
// when the item could not be stored (Redis failed).
func (t *table) set(proc *kemi.Proc, key string, v kemi.Value, exp int64) bool {
	if t.shared != nil {
		return t.shared.set(key, v, exp)
	}
	now := t.clock()
	t.with(proc, key, func(s *slot) {
		c := s.items[key]
		if c == nil {
			c = &cell{}
			s.items[key] = c
			c.expire = now + t.autoexpire
		} else if t.updateExpire {
			c.expire = now + t.autoexpire
		}
		if exp > 0 {
			c.expire = now + exp
		}
		if now == 0 {
			c.expire = 0
		}
		c.assign(v)
	})
	return true
}

// assign gives c the value v.
func (c *cell) assign(v kemi.Value) {
	if v.Kind == kemi.KindStr {
		c.isStr, c.str, c.num = true, v.Str, 0
	} else {
		c.isStr, c.str, c.num = false, "", wrap(v.AsInt())
	}
}

// wrap makes n a C int, as Kamailio keeps integer values.
func wrap(n int64) int64 { return int64(int32(n)) }

// del removes key; it reports whether it was there.
func (t *table) del(proc *kemi.Proc, key string) bool {
	if t.shared != nil {
		return t.shared.del(key)
	}
	found := false
	t.with(proc, key, func(s *slot) {
		_, found = s.items[key]
		delete(s.items, key)
	})
	return found
}

// add is ht_cell_value_add: it adds d to the integer item and returns the
// new value. A missing (or expired) item starts from the table's initval;
// without one, or for a string item, ok is false.
func (t *table) add(proc *kemi.Proc, key string, d int64) (n int64, ok bool) {
	if t.shared != nil {
		return t.shared.add(key, d)
	}
	now := t.clock()
	t.with(proc, key, func(s *slot) {
		c := s.items[key]
		if c != nil && t.expired(c, now) {
			if !t.hasInit {
				return
			}
			c.isStr, c.str, c.num = false, "", t.initval
		}
		if c == nil {
			if !t.hasInit {
				return
			}
			c = &cell{num: t.initval, expire: now + t.autoexpire}
			if now == 0 {
				c.expire = 0
			}
			s.items[key] = c
		} else if c.isStr {
			return
		} else if t.updateExpire && now > 0 {
			c.expire = now + t.autoexpire
		}
		c.num = wrap(c.num + d)
		n, ok = c.num, true
	})
	return n, ok
}

// setExpire is ht_set_cell_expire: the item expires in sec seconds (0 or
// less: never). Nothing happens in a table without autoexpire.
func (t *table) setExpire(proc *kemi.Proc, key string, sec int64) {
	if t.autoexpire <= 0 {
		return
	}
	if t.shared != nil {
		t.shared.expire(key, sec, false)
		return
	}
	var at int64
	if sec > 0 {
		at = t.now().Unix() + sec
	}
	t.with(proc, key, func(s *slot) {
		if c := s.items[key]; c != nil {
			c.expire = at
		}
	})
}

// expiresIn is ht_get_cell_expire: seconds left before the item expires;
// 0 for a table without autoexpire, a missing item, or one that never
// expires or already has (Kamailio shows those as wrapped unsigned
// numbers).
func (t *table) expiresIn(proc *kemi.Proc, key string) int64 {
	if t.autoexpire <= 0 {
		return 0
	}
	if t.shared != nil {
		return t.shared.expiresIn(key)
	}
	now := t.now().Unix()
	var left int64
	t.with(proc, key, func(s *slot) {
		if c := s.items[key]; c != nil && c.expire > now {
			left = c.expire - now
		}
	})
	return left
}

// each runs fn on every item, slot by slot, each slot locked for proc;
// fn returns true to remove the item and false in stop to end the walk.
func (t *table) each(proc *kemi.Proc, fn func(key string, c *cell) (remove, stop bool)) {
	if t.shared != nil {
		t.shared.each(fn)
		return
	}
	for i := range t.slots {
		s := &t.slots[i]
		s.enter(proc)
		stop := false
		for k, c := range s.items {
			var rm bool
			rm, stop = fn(k, c)
			if rm {
				delete(s.items, k)
			}
			if stop {
				break
			}
		}
		s.mu.Unlock()
		if stop {
			return
		}
	}
}

// count returns the number of items, expired ones the timer has not yet
// removed included (as Kamailio's slot sizes).
func (t *table) count(proc *kemi.Proc) int {
	if t.shared != nil {
		return t.shared.count()
	}
	n := 0
	for i := range t.slots {
		s := &t.slots[i]
		s.enter(proc)
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

// removeExpired removes the items past their time at now and returns
// them, keys sorted, for the expired event. Redis removes the items of
// a shared table itself.
func (t *table) removeExpired(now int64) []expiredItem {
	if t.autoexpire <= 0 || t.shared != nil {
		return nil
	}
	var out []expiredItem
	t.each(nil, func(key string, c *cell) (bool, bool) {
		if t.expired(c, now) {
			out = append(out, expiredItem{key: key, cell: *c})
			return true, false
		}
		return false, false
	})
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// expiredItem is an item the timer removed.
type expiredItem struct {
	key  string
	cell cell
}

// lock is sht_lock: proc holds the slot of key until unlock. In a
// shared table it holds the Redis lock of key, which other workers' (and
// nodes') sht_lock wait for but their other operations do not; it
// reports false when that lock could not be taken.
func (t *table) lock(proc *kemi.Proc, key string) bool {
	if t.shared != nil {
		return t.shared.lock(proc, key)
	}
	s := t.slotOf(key)
	s.enter(proc)
	s.owner = proc
	s.depth++
	s.mu.Unlock()
	return true
}

// unlock is sht_unlock; it reports false when proc does not hold the
// slot.
func (t *table) unlock(proc *kemi.Proc, key string) bool {
	if t.shared != nil {
		return t.shared.unlock(proc, key)
	}
	s := t.slotOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner != proc || proc == nil {
		return false
	}
	s.depth--
	if s.depth == 0 {
		s.owner = nil
		s.free.Broadcast()
	}
	return true
}

// put stores c under key as loaded from the database: in a table with
// autoexpire it expires at exp (unix seconds) when exp > 0, else after
// autoexpire from now; in another it never expires.
func (t *table) put(key string, c cell, exp, now int64) {
	c.expire = 0
	if t.autoexpire > 0 {
		c.expire = now + t.autoexpire
		if exp > 0 {
			c.expire = exp
		}
	}
	s := t.slotOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[key] = &c
}

// snapshot returns a copy of every item, keys sorted. It takes each
// slot's lock but not its sht_lock owner: it runs at shutdown, when the
// workers are gone and a lock a script never released must not stop the
// write back.
func (t *table) snapshot() []expiredItem {
	var out []expiredItem
	for i := range t.slots {
		s := &t.slots[i]
		s.mu.Lock()
		for k, c := range s.items {
			out = append(out, expiredItem{key: k, cell: *c})
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// replace is the iterator's sets and seti: an item still there gets v,
// and autoexpire again with updateexpire.
func (t *table) replace(proc *kemi.Proc, key string, v kemi.Value) {
	if t.shared != nil {
		t.shared.replace(key, v)
		return
	}
	t.with(proc, key, func(s *slot) {
		if c := s.items[key]; c != nil {
			c.assign(v)
			if t.updateExpire && t.autoexpire > 0 {
				c.expire = t.now().Unix() + t.autoexpire
			}
		}
	})
}

// expireIn is the iterator's setex: an item still there expires sec
// seconds from now (at once for sec <= 0).
func (t *table) expireIn(proc *kemi.Proc, key string, sec int64) {
	if t.shared != nil {
		if t.autoexpire > 0 {
			t.shared.expire(key, sec, true)
		}
		return
	}
	at := t.now().Unix() + sec
	t.with(proc, key, func(s *slot) {
		if c := s.items[key]; c != nil {
			c.expire = at
		}
	})
}
