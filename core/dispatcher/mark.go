package dispatcher

import (
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// markDst marks the destination in use (the first stored candidate)
// inactive, and probing too with ds_probing_mode 1.
func (mod *Module) markDst(m *kemi.Msg, _ kemi.Args) kemi.Value {
	st := int32(stInactive)
	if mod.probingAll {
		st |= stProbing
	}
	return kemi.Int(mod.markCurrent(m, st))
}

// markDstState marks the destination in use with a state given as
// Kamailio's letters: a(ctive), i(nactive), d(isabled), t(rying), with p
// (probing) added to any of them ("ip").
func (mod *Module) markDstState(m *kemi.Msg, a kemi.Args) kemi.Value {
	st, ok := parseState(a.Str(0))
	if !ok {
		m.Errorf(mod.log, "dispatcher: ds_mark_dst_state: unknown state %q", a.Str(0))
		return kemi.Int(-1)
	}
	return kemi.Int(mod.markCurrent(m, st))
}

// parseState reads a state such as "a", "ip", "TP".
func parseState(s string) (int32, bool) {
	var st int32
	if s == "" {
		return 0, false
	}
	for _, c := range strings.ToLower(s) {
		switch c {
		case 'a':
		case 'i':
			st |= stInactive
		case 'd':
			st |= stDisabled
		case 't':
			st |= stTrying
		case 'p':
			st |= stProbing
		default:
			return 0, false
		}
	}
	return st, true
}

// markCurrent sets the state of the destination in use: the first
// $xavp(_dsdst_) record, whose grp must be a number and uri a string, as
// Kamailio reads them.
func (mod *Module) markCurrent(m *kemi.Msg, st int32) int {
	if !mod.failover {
		mod.log.Warn("dispatcher: failover support disabled (flags bit 2 unset)", "where", m.Where())
		return -1
	}
	if mod.xavp.dst == "" {
		mod.log.Warn("dispatcher: no xavp name to store dst records", "where", m.Where())
		return -1
	}
	r := mod.xavp.current(m)
	if r == nil {
		m.Errorf(mod.log, "dispatcher: no destination selected to mark")
		return -1
	}
	grp, ok1 := intField(r, fieldGrp)
	uri, ok2 := strField(r, fieldURI)
	if !ok1 || !ok2 {
		return -1
	}
	return mod.markDest(m, grp, uri, st)
}

// markDest sets the state of the destination uri of set id from the
// script; it returns 1, or -1 when the set has no such destination.
func (mod *Module) markDest(m *kemi.Msg, id int, uri string, st int32) int {
	d := mod.sets.Load().find(id, uri)
	if d == nil {
		return -1
	}
	mod.state.mark(m, d, st)
	mod.log.Info("dispatcher: destination state changed", "set", id, "uri", d.uri, "state", stateString(st))
	return 1
}

// stateString writes a state as kamcmd dispatcher.list does ("AP", "IX"):
// inactive before disabled before trying, as Kamailio prints them.
func stateString(st int32) string {
	var b strings.Builder
	switch {
	case st&stInactive != 0:
		b.WriteByte('I')
	case st&stDisabled != 0:
		b.WriteByte('D')
	case st&stTrying != 0:
		b.WriteByte('T')
	default:
		b.WriteByte('A')
	}
	if st&stProbing != 0 {
		b.WriteByte('P')
	} else {
		b.WriteByte('X')
	}
	return b.String()
}

// isActive reports 1 when set id has a usable destination (uri "") or
// when its destination uri is usable; -1 otherwise.
func (mod *Module) isActive(id int, uri string) int {
	s := mod.sets.Load().sets[id]
	if s == nil {
		return -1
	}
	for _, d := range s.dests {
		if (uri == "" || d.uri == uri) && mod.state.usable(d) {
			return 1
		}
	}
	return -1
}
