package usrloc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// location is the kemi.Location usrloc publishes: the store, with its
// errors counted and logged, the node's server_id stamped on what it
// saves, and the binding being reported to the contact-expired callback.
type location struct {
	Store
	serverID int
	natFlag  uint32 // nat_bflag as a mask, 0 when unset
	errs     *errReporter
	conns    *connIndex // bindings saved over stream connections

	expMu  sync.Mutex
	expFor *kemi.Proc // the process running the callback
	exp    kemi.Binding
}

func (l *location) Lookup(ctx context.Context, table, aor string) ([]kemi.Binding, error) {
	bs, err := l.Store.Lookup(ctx, table, aor)
	l.errs.report(err)
	if err != nil || l.conns == nil || l.conns.nClosing.Load() == 0 {
		return bs, err
	}
	// a binding whose connection closed is unreachable already, though
	// the removal process may not have deleted it yet
	out := bs[:0]
	for i := range bs {
		if !l.conns.isClosing(table, aor, &bs[i]) {
			out = append(out, bs[i])
		}
	}
	return out, nil
}

func (l *location) Update(ctx context.Context, table, aor string, fn func([]kemi.Binding) (kemi.BindingChange, error)) error {
	var saved kemi.BindingChange
	err := l.Store.Update(ctx, table, aor, func(cur []kemi.Binding) (kemi.BindingChange, error) {
		ch, err := fn(cur)
		for i := range ch.Put {
			if ch.Put[i].ServerID == 0 {
				ch.Put[i].ServerID = l.serverID
			}
		}
		saved = ch // the last run is the one stored (Redis retries)
		return ch, err
	})
	l.errs.report(err)
	if err == nil && l.conns != nil {
		l.conns.saved(table, aor, saved)
	}
	return err
}

func (l *location) DeleteRUID(ctx context.Context, table, aor, ruid string) (bool, error) {
	ok, err := l.Store.DeleteRUID(ctx, table, aor, ruid)
	l.errs.report(err)
	return ok, err
}

func (l *location) DeleteAOR(ctx context.Context, table, aor string) (int, error) {
	n, err := l.Store.DeleteAOR(ctx, table, aor)
	l.errs.report(err)
	return n, err
}

// AllContacts returns the live bindings of every table whose branch flags
// hold all of flags (Kamailio's get_all_ucontacts), for nathelper's
// keepalive. It reads each AOR as registrar's lookup does, so what it
// costs is one lookup per registered AOR.
func (l *location) AllContacts(ctx context.Context, flags uint32) ([]kemi.TableBinding, error) {
	tables, err := l.Store.Tables(ctx)
	if err != nil {
		l.errs.report(err)
		return nil, err
	}
	var out []kemi.TableBinding
	for _, table := range tables {
		aors, err := l.Store.AORs(ctx, table)
		if err != nil {
			l.errs.report(err)
			return out, err
		}
		for _, aor := range aors {
			bs, err := l.Store.Lookup(ctx, table, aor)
			if err != nil {
				l.errs.report(err)
				return out, err
			}
			for _, b := range bs {
				if b.CFlags&flags == flags {
					out = append(out, kemi.TableBinding{Table: table, Binding: b})
				}
			}
		}
	}
	return out, nil
}

// NATFlag returns the mask of usrloc's nat_bflag, 0 when unset.
func (l *location) NATFlag() uint32 { return l.natFlag }

// ServerID returns usrloc's server_id.
func (l *location) ServerID() int { return l.serverID }

// ExpiredContact returns the binding the contact-expired callback running
// with m is about.
func (l *location) ExpiredContact(m *kemi.Msg) (kemi.Binding, bool) {
	l.expMu.Lock()
	defer l.expMu.Unlock()
	if m == nil || l.expFor == nil || m.Proc != l.expFor {
		return kemi.Binding{}, false
	}
	return l.exp, true
}

func (l *location) setExpired(p *kemi.Proc, b *kemi.Binding) {
	l.expMu.Lock()
	defer l.expMu.Unlock()
	l.expFor = p
	if b != nil {
		l.exp = *b
	} else {
		l.exp = kemi.Binding{}
	}
}

// errLogEvery is how often a failing database is logged: the first error
// at once, then one line with the count of the others per period, so a
// database that went away does not flood the log at the message rate.
const errLogEvery = 10 * time.Second

// errReporter counts the storage errors (those wrapping kemi.ErrLocation)
// and logs them, rate-limited; it logs once when calls work again.
type errReporter struct {
	log     *slog.Logger
	counter *metrics.Counter
	failing atomic.Bool

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

func (r *errReporter) report(err error) {
	if err == nil {
		if r.failing.Load() && r.failing.Swap(false) {
			r.log.Info("usrloc: location database works again")
		}
		return
	}
	if !errors.Is(err, kemi.ErrLocation) {
		return // the caller's own error (registrar's update function)
	}
	r.counter.Inc()
	r.failing.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastLog) >= errLogEvery {
		r.log.Error("usrloc: location database error", "err", err, "suppressed", r.suppressed)
		r.lastLog, r.suppressed = now, 0
		return
	}
	r.suppressed++
}

var (
	_ kemi.Location             = (*location)(nil)
	_ kemi.ExpiredContactSource = (*location)(nil)
	_ kemi.ContactLister        = (*location)(nil)
)
