package dispatcher

import (
	"context"
	"errors"
	"time"
)

// errReloadTooSoon refuses a reload within reload_delta of the last one.
var errReloadTooSoon = errors.New("ongoing reload")

// readSource reads the destination sets from list_file or the dispatcher
// table; with neither the list is empty.
func (mod *Module) readSource() (*list, error) {
	switch {
	case mod.db != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return mod.db.load(ctx)
	case mod.file != "":
		return loadListFile(mod.file)
	}
	l := newList()
	l.finish()
	return l, nil
}

// PrepareReload reads the sets again, for a reload with the script
// (SIGHUP): a line or row that does not parse refuses the reload, naming
// it, and the sets in use stay. The commit switches to the new sets in
// one step, with the state of the destinations still listed.
func (mod *Module) PrepareReload() (commit func(), err error) {
	if mod.db == nil && mod.file == "" {
		return nil, nil // no source: nothing to read
	}
	l, err := mod.readSource()
	if err != nil {
		mod.met.reloadFailed.Inc()
		return nil, err
	}
	return func() { mod.install(l) }, nil
}

// reload is ds_reload() and dispatcher.reload: at most one in
// reload_delta, as Kamailio (the time counts from the start of the last
// one, successful or not).
func (mod *Module) reload() error {
	mod.reloadMu.Lock()
	now := time.Now()
	if !mod.lastReload.IsZero() && now.Sub(mod.lastReload) < mod.reloadDelta {
		mod.reloadMu.Unlock()
		return errReloadTooSoon
	}
	mod.lastReload = now
	mod.reloadMu.Unlock()
	l, err := mod.readSource()
	if err != nil {
		mod.met.reloadFailed.Inc()
		mod.log.Error("dispatcher: reload refused; the sets in use stay", "err", err)
		return err
	}
	mod.install(l)
	return nil
}

// install makes l the sets in use after a reload.
func (mod *Module) install(l *list) {
	mod.store(l)
	mod.met.reloadOK.Inc()
}

// store makes l the sets in use, handing on the state of the
// destinations it still has.
func (mod *Module) store(l *list) {
	mod.reloadMu.Lock()
	defer mod.reloadMu.Unlock()
	carryState(mod.sets.Load(), l)
	mod.sets.Store(l)
	n := 0
	l.each(func(*dest) { n++ })
	mod.log.Info("dispatcher: destination sets loaded", "sets", len(l.ids), "destinations", n)
}

// carryState gives the destinations of next that old has too (same set,
// URI and list flags) the runtime state they have in old, and each set
// its rotation counters: a reload does not bring a destination that is
// down back into rotation, nor restart round robin. A destination whose
// flags changed in the list starts from its new flags. next must not be
// in use yet.
func carryState(old, next *list) {
	if old == nil {
		return
	}
	for id, s := range next.sets {
		if os := old.sets[id]; os != nil {
			s.rr, s.wrr = os.rr, os.wrr
		}
		for _, d := range s.dests {
			if od := old.find(id, d.uri); od != nil && od.flags == d.flags {
				d.rt = od.rt
			}
		}
	}
}
