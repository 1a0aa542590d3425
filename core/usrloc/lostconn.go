package usrloc

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// bindingRef names one binding: its table, AOR and RUID.
type bindingRef struct{ table, aor, ruid string }

// connIndex remembers which bindings this process saved over which
// stream connection, so that when a connection closes its bindings are
// found without scanning the tables, and only those this process saved:
// connection ids are per process, so a binding saved by another node on
// a shared database, or by this node before a restart, never matches.
type connIndex struct {
	mu      sync.Mutex
	open    map[int64]map[bindingRef]struct{} // connection still open
	closing map[int64]map[bindingRef]struct{} // closed, removal pending
	// gone holds the connections closed lately: a REGISTER read just
	// before its connection closed may be saved just after, and must
	// neither leave a binding behind (removal wanted) nor an entry in
	// open that no close will ever delete.
	gone      map[int64]goneConn
	lastPrune time.Time
	// nClosing is len(closing), read without the lock by lookups.
	nClosing atomic.Int32
	// wake tells the removal process there is work; never blocks.
	wake chan struct{}
}

func newConnIndex() *connIndex {
	return &connIndex{
		open:    map[int64]map[bindingRef]struct{}{},
		closing: map[int64]map[bindingRef]struct{}{},
		gone:    map[int64]goneConn{},
		wake:    make(chan struct{}, 1),
	}
}

// goneConn is a connection closed lately: when, and whether its
// bindings are removed.
type goneConn struct {
	at     time.Time
	remove bool
}

// goneFor is how long a closed connection is remembered in gone: far
// longer than a save takes.
const goneFor = time.Minute

// saved records the bindings of ch that came over a stream connection.
// A binding saved over a connection that closed meanwhile is queued for
// removal at once.
func (x *connIndex) saved(table, aor string, ch kemi.BindingChange) {
	late := false
	x.mu.Lock()
	for i := range ch.Put {
		id := ch.Put[i].ConnID
		if id <= 0 {
			continue
		}
		m := x.open
		if g, ok := x.gone[id]; ok {
			if !g.remove {
				continue // closed, its bindings stay: nothing to track
			}
			m, late = x.closing, true
		}
		refs := m[id]
		if refs == nil {
			refs = map[bindingRef]struct{}{}
			m[id] = refs
		}
		refs[bindingRef{table, aor, ch.Put[i].RUID}] = struct{}{}
	}
	x.nClosing.Store(int32(len(x.closing)))
	x.mu.Unlock()
	if late {
		x.signal()
	}
}

// signal wakes the removal process without waiting.
func (x *connIndex) signal() {
	select {
	case x.wake <- struct{}{}:
	default: // already woken
	}
}

// closed forgets connection id; with remove its bindings are queued for
// removal and the removal process is woken. It never blocks on the
// store: the engine calls it from its connection goroutines.
func (x *connIndex) closed(id int64, remove bool) {
	now := time.Now()
	x.mu.Lock()
	refs, ok := x.open[id]
	delete(x.open, id)
	x.gone[id] = goneConn{at: now, remove: remove}
	if now.Sub(x.lastPrune) >= goneFor/4 {
		x.lastPrune = now
		for g, c := range x.gone {
			if now.Sub(c.at) >= goneFor {
				delete(x.gone, g)
			}
		}
	}
	if remove {
		if ok {
			x.closing[id] = refs
			x.nClosing.Store(int32(len(x.closing)))
		}
	}
	x.mu.Unlock()
	if ok && remove {
		x.signal()
	}
}

// isClosing reports whether b of aor in table waits for removal because
// its connection closed: lookups skip it meanwhile.
func (x *connIndex) isClosing(table, aor string, b *kemi.Binding) bool {
	if b.ConnID <= 0 || x.nClosing.Load() == 0 {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.closing[b.ConnID][bindingRef{table, aor, b.RUID}]
	return ok
}

// take returns one closed connection waiting for removal and a copy of
// its bindings, or false.
func (x *connIndex) take() (int64, map[bindingRef]struct{}, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, refs := range x.closing {
		return id, maps.Clone(refs), true
	}
	return 0, nil, false
}

// done drops refs of connection id from those waiting: a binding saved
// late over it meanwhile stays for the next take.
func (x *connIndex) done(id int64, refs map[bindingRef]struct{}) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for r := range refs {
		delete(x.closing[id], r)
	}
	if len(x.closing[id]) == 0 {
		delete(x.closing, id)
	}
	x.nClosing.Store(int32(len(x.closing)))
}

// lostConns removes the bindings of closed connections: usrloc's side of
// Kamailio's handle_lost_tcp, done when the engine reports the close
// (kemi.ConnCloseHook) rather than at the next timer pass.
type lostConns struct {
	loc     *location
	log     *slog.Logger
	tcp     bool // handle_lost_tcp: also for tcp and tls
	removed *metrics.Counter
}

// wanted reports whether the bindings of a closed connection over proto
// are removed: always for ws and wss, whose clients (browsers) take no
// inbound connection and cannot be reached again, and for tcp and tls
// with handle_lost_tcp, since kemi can open a new connection to those.
func (lc *lostConns) wanted(proto string) bool {
	switch proto {
	case "ws", "wss":
		return true
	case "tcp", "tls":
		return lc.tcp
	}
	return false
}

// run is the usrloc-lost-conn process: it removes the bindings of each
// closed connection until ctx is done.
func (lc *lostConns) run(ctx context.Context, _ *kemi.ProcContext) error {
	x := lc.loc.conns
	for {
		for {
			id, refs, ok := x.take()
			if !ok {
				break
			}
			lc.remove(ctx, id, refs)
			x.done(id, refs)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-x.wake:
		}
	}
}

// remove deletes, AOR by AOR, the bindings of refs that still belong to
// connection id: one refreshed since over another connection, or saved
// by another node, stays.
func (lc *lostConns) remove(ctx context.Context, id int64, refs map[bindingRef]struct{}) {
	type tableAOR struct{ table, aor string }
	byAOR := map[tableAOR]map[string]bool{}
	for r := range refs {
		k := tableAOR{r.table, r.aor}
		if byAOR[k] == nil {
			byAOR[k] = map[string]bool{}
		}
		byAOR[k][r.ruid] = true
	}
	total := 0
	for k, ruids := range byAOR {
		var gone []kemi.Binding
		err := lc.loc.Store.Update(ctx, k.table, k.aor, func(cur []kemi.Binding) (kemi.BindingChange, error) {
			var ch kemi.BindingChange
			gone = gone[:0]
			for _, b := range cur {
				if ruids[b.RUID] && b.ConnID == id && b.ServerID == lc.loc.serverID {
					ch.Delete = append(ch.Delete, b.RUID)
					gone = append(gone, b)
				}
			}
			return ch, nil
		})
		lc.loc.errs.report(err)
		if err != nil {
			lc.log.Warn("usrloc: bindings of a closed connection not removed", "conn", id, "table", k.table, "aor", k.aor, "err", err)
			continue
		}
		for _, b := range gone {
			lc.log.Debug("usrloc: binding removed, its connection closed", "conn", id, "table", k.table, "aor", k.aor, "contact", b.Contact)
		}
		total += len(gone)
	}
	lc.removed.Add(total)
}
