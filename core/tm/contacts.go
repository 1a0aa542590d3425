package tm

import (
	"slices"

	"github.com/kemisip/kemi/kemi"
)

// contactGroups are the destinations t_load_contacts stored, by falling
// q-value: t_next_contacts takes one group at a time.
type contactGroups [][]target

// loadContacts is t_load_contacts, as Kamailio's: the Request-URI (while
// it is new, see RURIUsed) and the branches become groups of equal
// q-value for serial forking, the highest q first, a destination without
// q last (Kamailio's Q_UNSPECIFIED is -1); the q of the Request-URI is the
// one registrar's lookup gave it (RURIQ). Each destination keeps its $du,
// flags, socket and Path set. Within a group the last added comes first,
// but one with a Path set comes after those of its q loaded before it
// (Kamailio's insertion order). The destination set is cleared (the
// R-URI too: t_relay without t_next_contacts has no branch). With one
// destination there is nothing to do (1, the set is kept). Mode 1 puts
// each destination in a group of its own, in the same order (Kamailio
// draws a weighted random order).
func (mod *Module) loadContacts(m *kemi.Msg, mode int) kemi.Value {
	if !m.IsRequest() {
		return kemi.Fail
	}
	if len(m.Branches) == 0 || len(m.Branches) == 1 && m.RURIUsed {
		return kemi.OK
	}
	var all []qTarget
	if !m.RURIUsed {
		all = append(all, qTarget{q: max(m.RURIQ(), -1), t: ruriTarget(m)})
	}
	for _, b := range m.Branches {
		all = insertByQ(all, qTarget{q: max(b.Q, -1), t: branchTarget(b)})
	}
	// ascending: read backwards
	var groups contactGroups
	for i := len(all) - 1; i >= 0; i-- {
		if i == len(all)-1 || all[i].q != all[i+1].q || mode == 1 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], all[i].t)
	}
	r := refOf(m)
	unlock := lockTx(r)
	defer unlock()
	if r.t != nil {
		r.t.contacts = groups
	} else {
		r.contacts = groups
	}
	m.Branches = nil
	m.RURIUsed = true
	return kemi.OK
}

// qTarget is a destination with its q-value (times 1000, -1 unset).
type qTarget struct {
	q int
	t target
}

// insertByQ puts c into all, kept in ascending q, as Kamailio's
// t_load_contacts builds its list: after every destination of lower q,
// and after those of equal q unless c has a Path set, which goes before
// them.
func insertByQ(all []qTarget, c qTarget) []qTarget {
	i := 0
	for i < len(all) && (all[i].q < c.q || all[i].q == c.q && c.t.path == "") {
		i++
	}
	return slices.Insert(all, i, c)
}

// noContactsLeft is what t_next_contacts returns when there is no group
// left, as Kamailio (-1 is an error).
const noContactsLeft = -2

// nextContacts is t_next_contacts: the next group of loaded contacts
// becomes the Request-URI and the branches; -2 when none is left.
func (mod *Module) nextContacts(m *kemi.Msg, a kemi.Args) kemi.Value {
	r := refOf(m)
	unlock := lockTx(r)
	defer unlock()
	groups := &r.contacts
	if r.t != nil {
		if r.t.contacts == nil && r.contacts != nil {
			r.t.contacts, r.contacts = r.contacts, nil
		}
		groups = &r.t.contacts
	}
	if len(*groups) == 0 {
		return kemi.Int(noContactsLeft)
	}
	g := (*groups)[0]
	*groups = (*groups)[1:]
	if err := m.SetRURI(g[0].uri); err != nil {
		m.Errorf(mod.log, "t_next_contacts: %v", err)
		return kemi.Fail
	}
	m.DstURI, m.BFlags, m.SendSock, m.PathVec = g[0].du, g[0].flags, g[0].sock, g[0].path
	m.Branches = m.Branches[:0]
	for _, t := range g[1:] {
		m.Branches = append(m.Branches, kemi.Branch{URI: t.uri, DstURI: t.du, Flags: t.flags, Sock: t.sock, Path: t.path, Q: -1})
	}
	return kemi.OK
}
