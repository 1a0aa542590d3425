package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// loadTable is the call load of algorithm 10, shared by every worker: the
// calls each destination carries and, by Call-ID, the destination each
// call went to (Kamailio's _dsht_load and dload).
type loadTable struct {
	mu    sync.Mutex
	dload map[loadKey]int
	calls map[string]*loadCall
	// expire and initExpire are ds_hash_expire and ds_hash_initexpire:
	// how long a call counts after it started, and how long it counts
	// while no 2xx confirmed it.
	expire, initExpire time.Duration
	now                func() time.Time
}

// loadKey names a destination by its set and duid; Kamailio compares
// duids without case.
type loadKey struct {
	set  int
	duid string
}

func keyOf(set int, duid string) loadKey { return loadKey{set, strings.ToLower(duid)} }

// loadCall is one call counted on a destination.
type loadCall struct {
	key        loadKey
	duid       string // as written in the list
	confirmed  bool
	expire     time.Time
	initExpire time.Time
}

// Errors of the load table.
var (
	errNoDUID     = errors.New("destination has no duid attribute")
	errCallExists = errors.New("call already counted")
	errNoCall     = errors.New("no load counted for the call")
	errNoDest     = errors.New("destination not found")
)

// readLoad reads ds_hash_size (above 0 enables call load tracking, as in
// Kamailio), ds_hash_expire, ds_hash_initexpire and
// ds_hash_check_interval, and starts the expiry timer. Without
// ds_hash_size, algorithm 10 falls back to the classic selection.
func (mod *Module) readLoad(env *kemi.Env) error {
	p := env.Params
	size := p.Int("ds_hash_size", 0)
	expire := p.Int("ds_hash_expire", 7200)
	initExpire := p.Int("ds_hash_initexpire", 7200)
	interval := p.Int("ds_hash_check_interval", 30)
	if size <= 0 {
		return nil
	}
	if expire < 0 || initExpire < 0 || interval <= 0 {
		return fmt.Errorf("core/dispatcher: ds_hash_expire, ds_hash_initexpire must be 0 or more and ds_hash_check_interval above 0")
	}
	mod.load = &loadTable{
		dload:      map[loadKey]int{},
		calls:      map[string]*loadCall{},
		expire:     time.Duration(expire) * time.Second,
		initExpire: time.Duration(initExpire) * time.Second,
		now:        time.Now,
	}
	every := time.Duration(interval) * time.Second
	env.AddProcess(kemi.Process{Name: "dispatcher-load-timer", Run: func(ctx context.Context, _ *kemi.ProcContext) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				mod.load.sweep(mod.sets.Load())
			}
		}
	}})
	return nil
}

// get returns the calls counted on a destination.
func (t *loadTable) get(set int, duid string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dload[keyOf(set, duid)]
}

// leastLoaded returns the index in s of the usable destination carrying
// the fewest calls and below its maxload (the first of equals), or -1.
func (t *loadTable) leastLoaded(s *set, usable func(*dest) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, least := -1, int(^uint(0)>>1)
	for i, d := range s.dests {
		if !usable(d) {
			continue
		}
		n := t.dload[keyOf(s.id, d.duid)]
		if d.maxload != 0 && n >= d.maxload {
			continue
		}
		if n < least {
			k, least = i, n
		}
	}
	return k
}

// full reports whether d carries maxload calls or more.
func (t *loadTable) full(d *dest) bool {
	if d.maxload == 0 {
		return false
	}
	return t.get(d.setID, d.duid) >= d.maxload
}

// add counts the call callID on d.
func (t *loadTable) add(callID string, d *dest) error {
	if d.duid == "" {
		return errNoDUID
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addLocked(callID, d.setID, d.duid)
}

func (t *loadTable) addLocked(callID string, set int, duid string) error {
	if _, dup := t.calls[callID]; dup {
		return errCallExists
	}
	now := t.now()
	k := keyOf(set, duid)
	t.calls[callID] = &loadCall{key: k, duid: duid, expire: now.Add(t.expire), initExpire: now.Add(t.initExpire)}
	t.dload[k]++
	return nil
}

// dec takes one call off k; it never goes below 0.
func (t *loadTable) dec(k loadKey) {
	if t.dload[k] > 1 {
		t.dload[k]--
		return
	}
	delete(t.dload, k)
}

// inList reports whether set of l has a destination with duid.
func inList(l *list, set int, duid string) bool {
	s := l.sets[set]
	if s == nil {
		return false
	}
	for _, d := range s.dests {
		if d.duid != "" && strings.EqualFold(d.duid, duid) {
			return true
		}
	}
	return false
}

// replace moves the call callID to the destination duid of the same set
// (ds_next_dst with call load). It returns errNoDest when duid is not in
// the set any more: the caller skips that record, as Kamailio does.
func (t *loadTable) replace(l *list, callID, duid string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c == nil {
		return errNoCall
	}
	if !inList(l, c.key.set, duid) {
		return errNoDest
	}
	delete(t.calls, callID)
	if inList(l, c.key.set, c.duid) {
		t.dec(c.key)
	}
	return t.addLocked(callID, c.key.set, duid)
}

// remove takes the call callID off its destination. As in Kamailio, a
// call whose destination left the list stays counted until it expires.
func (t *loadTable) remove(l *list, callID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c == nil {
		return errNoCall
	}
	if !inList(l, c.key.set, c.duid) {
		return errNoDest
	}
	delete(t.calls, callID)
	t.dec(c.key)
	return nil
}

// confirm marks the call callID answered: it then counts until
// ds_hash_expire instead of ds_hash_initexpire.
func (t *loadTable) confirm(callID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[callID]
	if c != nil {
		c.confirmed = true
	}
	return c != nil
}

// sweep forgets expired calls and takes them off their destinations.
func (t *loadTable) sweep(l *list) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for id, c := range t.calls {
		if t.expire > 0 && c.expire.Before(now) || !c.confirmed && t.initExpire > 0 && c.initExpire.Before(now) {
			delete(t.calls, id)
			if inList(l, c.key.set, c.duid) {
				t.dec(c.key)
			}
		}
	}
}

// pickLeastLoaded is algorithm 10 for an INVITE: the least loaded usable
// destination of s, with the call counted on it. ok is false when every
// destination is down or full. alg is algCallLoad, or algCallID when the
// call could not be counted (no ds_hash_size, no duid, a Call-ID counted
// already): the destination is then used without load, as Kamailio's
// "classic dispatching".
func (mod *Module) pickLeastLoaded(m *kemi.Msg, s *set) (first, alg int, ok bool) {
	if mod.load == nil {
		m.Errorf(mod.log, "dispatcher: algorithm 10 needs ds_hash_size above 0 - classic dispatching")
		return mod.firstUsable(s), algCallID, true
	}
	first = mod.load.leastLoaded(s, mod.state.usable)
	if first < 0 {
		return 0, 0, false
	}
	if err := mod.load.add(callID(m), s.dests[first]); err != nil {
		m.Errorf(mod.log, "dispatcher: cannot count the call on %s: %v - classic dispatching", s.dests[first].uri, err)
		return first, algCallID, true
	}
	return first, algCallLoad, true
}

// firstUsable returns the index of the first usable destination of s, or
// 0.
func (mod *Module) firstUsable(s *set) int {
	for i, d := range s.dests {
		if mod.state.usable(d) {
			return i
		}
	}
	return 0
}

// loadUpdate is ds_load_update(): a BYE or CANCEL takes its call off its
// destination; a 2xx to an INVITE confirms the call. It returns 0, or -1
// without Call-ID or CSeq (the raw value of Kamailio's KEMI export).
func (mod *Module) loadUpdate(m *kemi.Msg, _ kemi.Args) kemi.Value {
	msg := m.SIP()
	if msg == nil || msg.CallID() == nil || msg.CSeq() == nil {
		m.Errorf(mod.log, "dispatcher: ds_load_update: no Call-ID or CSeq")
		return kemi.Int(-1)
	}
	if mod.load == nil {
		return kemi.Int(0)
	}
	id := msg.CallID().Value()
	if m.IsRequest() {
		if m.Request().Method == sip.BYE || m.Request().Method == sip.CANCEL {
			if err := mod.load.remove(mod.sets.Load(), id); err != nil {
				mod.log.Debug("dispatcher: ds_load_update", "callid", id, "err", err)
			}
		}
		return kemi.Int(0)
	}
	if res, ok := msg.(*sip.Response); ok && res.CSeq().MethodName == sip.INVITE && res.StatusCode/100 == 2 {
		mod.load.confirm(id)
	}
	return kemi.Int(0)
}

// loadUnset is ds_load_unset(): it takes the call off its destination (in
// the failure route, when no destination is left). For an INVITE it does
// nothing unless the destination in use was selected by call load. It
// returns 0, or -1 when the call was not counted.
func (mod *Module) loadUnset(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if mod.xavp.dst == "" {
		return kemi.Int(0)
	}
	if m.IsRequest() && m.Request().Method == sip.INVITE {
		r := mod.xavp.current(m)
		if r == nil {
			return kemi.Int(0)
		}
		if _, ok := strField(r, fieldDstID); !ok {
			return kemi.Int(0)
		}
	}
	if mod.load == nil {
		m.Errorf(mod.log, "dispatcher: ds_load_unset: call load is not enabled (ds_hash_size)")
		return kemi.Int(-1)
	}
	if err := mod.load.remove(mod.sets.Load(), callID(m)); err != nil {
		m.Errorf(mod.log, "dispatcher: ds_load_unset: %v", err)
		return kemi.Int(-1)
	}
	return kemi.Int(0)
}
