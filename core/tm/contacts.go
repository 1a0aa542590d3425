package tm

import (
	"sort"

	"github.com/kemisip/kemi/kemi"
)

// contactGroups are the destinations t_load_contacts stored, by falling
// q-value: t_next_contacts takes one group at a time.
type contactGroups [][]target

// loadContacts is t_load_contacts: the Request-URI and the branches become
// groups of equal q-value, highest first, for serial forking; the
// destination set is cleared. With one destination or one q-value there is
// nothing to do (1, the set is kept).
func (mod *Module) loadContacts(m *kemi.Msg, mode int) kemi.Value {
	if m.Req == nil {
		return kemi.Fail
	}
	if len(m.Branches) == 0 {
		return kemi.OK
	}
	type qt struct {
		q int
		t target
	}
	all := []qt{{q: 1000, t: target{uri: m.RURI(), du: m.DstURI, flags: m.BFlags, sock: m.SendSock}}}
	for _, b := range m.Branches {
		q := b.Q
		if q < 0 {
			q = 1000
		}
		all = append(all, qt{q: q, t: target{uri: b.URI, du: b.DstURI, flags: b.Flags, sock: b.Sock}})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].q > all[j].q })
	if all[0].q == all[len(all)-1].q {
		return kemi.OK // equal q-values: parallel forking, as it is
	}
	var groups contactGroups
	for i, x := range all {
		if i == 0 || x.q != all[i-1].q || mode == 1 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], x.t)
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
	return kemi.OK
}

// nextContacts is t_next_contacts: the next group of loaded contacts
// becomes the Request-URI and the branches; -1 when none is left.
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
		return kemi.Fail
	}
	g := (*groups)[0]
	*groups = (*groups)[1:]
	if err := m.SetRURI(g[0].uri); err != nil {
		m.Errorf(mod.log, "t_next_contacts: %v", err)
		return kemi.Fail
	}
	m.DstURI, m.BFlags, m.SendSock = g[0].du, g[0].flags, g[0].sock
	m.Branches = m.Branches[:0]
	for _, t := range g[1:] {
		m.Branches = append(m.Branches, kemi.Branch{URI: t.uri, DstURI: t.du, Flags: t.flags, Sock: t.sock, Q: -1})
	}
	return kemi.OK
}
