package dispatcher

import (
	"errors"
	"hash/fnv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Selection algorithms, as numbered by Kamailio.
const (
	algCallID    = 0
	algFrom      = 1
	algTo        = 2
	algRURI      = 3
	algRoundRob  = 4
	algAuthUser  = 5
	algRandom    = 6
	algPV        = 7
	algPriority  = 8
	algWeight    = 9
	algCallLoad  = 10
	algRelWeight = 11
	algParallel  = 12
)

// Modes of applying the selected destination (Kamailio's DS_SETOP_*).
const (
	modeDstURI = 0 // set $du
	modeRURI   = 1 // rewrite the R-URI host and port
	modeXAVP   = 2 // only store the candidates
)

// selectDst picks a destination of set id with algorithm alg, applies it
// as mode says and stores up to limit candidates (0: all) for failover.
// It returns 1, or -1 when the set is unknown, empty or all down.
func (mod *Module) selectDst(m *kemi.Msg, id, alg, limit, mode int) int {
	return mod.selectRules(m, []rule{{id, alg}}, limit, mode)
}

// rule is one set and its algorithm, as ds_select_routes takes them.
type rule struct{ set, alg int }

// selectRules runs each rule in turn and joins their candidates: the
// first candidate of the first rule that has one is applied, the others
// follow it for failover (at most limit in all; 0: no limit). The
// candidates are stored as $xavp(_dsdst_) records, before any stored by
// an earlier selection, and their number as $xavp(_dsctx_=>cnt), as
// Kamailio 5.6 stores them.
func (mod *Module) selectRules(m *kemi.Msg, rules []rule, limit, mode int) int {
	var recs []*kemi.XAVP
	// applied is the destination put in $du or the R-URI; a parallel rule
	// (algorithm 12) applies its first and adds the others as branches,
	// and keeps none for failover, as in Kamailio.
	var applied *dest
	l := mod.sets.Load()
	for _, r := range rules {
		s := l.sets[r.set]
		if s == nil || len(s.dests) == 0 {
			m.Errorf(mod.log, "dispatcher: destination set [%d] not found", r.set)
			continue
		}
		cs, alg, ok := mod.candidates(m, s, r.alg)
		if !ok || len(cs) == 0 {
			continue
		}
		if applied == nil && mode != modeXAVP {
			if err := apply(m, cs[0].uri, mode); err != nil {
				m.Errorf(mod.log, "dispatcher: cannot use %s: %v", cs[0].uri, err)
				return -1
			}
		}
		if applied == nil {
			applied = cs[0]
		}
		if alg == algParallel {
			if mode != modeXAVP && applied == cs[0] {
				for _, d := range cs[1:] {
					if err := addBranch(m, d, mode); err != nil {
						m.Errorf(mod.log, "dispatcher: cannot add a branch for %s: %v", d.uri, err)
						return -1
					}
				}
			}
			continue
		}
		// Without failover (flags bit 2) or xavp_dst Kamailio keeps
		// nothing, not even the selected destination.
		if !mod.failover || mod.xavp.dst == "" {
			continue
		}
		for i, d := range cs {
			if limit > 0 && len(recs) >= limit {
				break
			}
			// Call load keeps only the destinations below their maxload
			// after the selected one.
			if i > 0 && alg == algCallLoad && mod.load.full(d) {
				continue
			}
			if alg == algCallLoad && d.duid == "" {
				m.Errorf(mod.log, "dispatcher: no duid for destination %d %s", d.setID, d.uri)
				return -1
			}
			recs = append(recs, mod.xavp.record(l, d, alg))
		}
	}
	if applied == nil {
		mod.log.Debug("dispatcher: no active destination", "rules", rules, "where", m.Where())
		return -1
	}
	m.AVPs.X.AddFirst(recs...)
	mod.xavp.addCount(m, len(recs))
	return 1
}

// candidates returns the usable destinations of s, the selected one first
// and then the others in set order after it, and the algorithm that
// picked them (call load falls back to another); ok is false (and
// logged) when the algorithm cannot run.
func (mod *Module) candidates(m *kemi.Msg, s *set, alg int) ([]*dest, int, bool) {
	n := len(s.dests)
	var first int
	switch alg {
	case algCallID:
		first = mod.hash(callID(m), n)
	case algFrom, algTo:
		u := fromToURI(m, alg == algFrom)
		if u == nil {
			hdr := "To"
			if alg == algFrom {
				hdr = "From"
			}
			m.Errorf(mod.log, "dispatcher: algorithm %d: no %s URI", alg, hdr)
			return nil, alg, false
		}
		first = mod.hash(mod.uriKey(*u), n)
	case algRURI:
		if !m.IsRequest() {
			return nil, alg, false
		}
		// Kamailio hashes only the user of the R-URI.
		first = mod.hash(m.Request().Recipient.User, n)
	case algRoundRob:
		first = int((s.rr.Add(1) - 1) % uint64(n))
	case algAuthUser:
		if user := authUser(m); user != "" {
			first = mod.hash(user, n)
		} else {
			// Without credentials Kamailio uses round robin.
			first = int((s.rr.Add(1) - 1) % uint64(n))
		}
	case algRandom:
		first = mod.rnd(n)
	case algPV:
		if mod.hashPV == nil {
			m.Errorf(mod.log, "dispatcher: algorithm 7 needs the hash_pvar parameter")
			return nil, alg, false
		}
		first = mod.hash(mod.hashPV.Eval(m), n)
	case algPriority, algParallel:
		first = 0
	case algWeight:
		if s.wslots == nil {
			first = 0
		} else {
			first = s.wslots[(s.wrr.Add(1)-1)%100]
		}
	case algRelWeight:
		first = mod.relWeight(s)
		if first < 0 {
			return nil, alg, true
		}
	case algCallLoad:
		// Only an INVITE starts a call: other requests, or no record to
		// keep the dstid in, take the first destination, as in Kamailio.
		if !m.IsRequest() || m.Request().Method != sip.INVITE || mod.xavp.dst == "" {
			first, alg = 0, algCallID
			break
		}
		var ok bool
		if first, alg, ok = mod.pickLeastLoaded(m, s); !ok {
			return nil, alg, false
		}
	default:
		// Kamailio answers an algorithm it does not know with the first
		// destination.
		mod.log.Warn("dispatcher: algorithm not implemented - using first entry", "alg", alg, "where", m.Where())
		first = 0
	}
	out := make([]*dest, 0, n)
	for i := 0; i < n; i++ {
		d := s.dests[(first+i)%n]
		if mod.state.usable(d) {
			out = append(out, d)
		}
	}
	return out, alg, true
}

// relWeight picks a usable destination with probability proportional to
// its rweight among the usable ones (algorithm 11); -1 when none is usable.
func (mod *Module) relWeight(s *set) int {
	total := 0
	usable := 0
	for _, d := range s.dests {
		if mod.state.usable(d) {
			total += d.rweight
			usable++
		}
	}
	if usable == 0 {
		return -1
	}
	if total == 0 {
		// No rweight given: every usable destination counts the same.
		k := mod.rnd(usable)
		for i, d := range s.dests {
			if mod.state.usable(d) {
				if k == 0 {
					return i
				}
				k--
			}
		}
		return -1 // unreachable: usable counted these destinations
	}
	r := mod.rnd(total)
	for i, d := range s.dests {
		if !mod.state.usable(d) {
			continue
		}
		if r < d.rweight {
			return i
		}
		r -= d.rweight
	}
	return 0
}

// hash maps key to 0..n-1.
func (mod *Module) hash(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// uriKey is the part of a URI that URI-hashing algorithms hash: user,
// host and a port other than the default (only the user with flags bit 1).
func (mod *Module) uriKey(u sip.Uri) string {
	if mod.uriUserOnly {
		return u.User
	}
	k := u.User + "@" + strings.ToLower(u.Host)
	if u.Port != 0 && u.Port != 5060 && u.Port != 5061 {
		k += ":" + itoa(u.Port)
	}
	return k
}

func callID(m *kemi.Msg) string {
	if msg := m.SIP(); msg != nil {
		if h := msg.CallID(); h != nil {
			return h.Value()
		}
	}
	return ""
}

func fromToURI(m *kemi.Msg, from bool) *sip.Uri {
	msg := m.SIP()
	if msg == nil {
		return nil
	}
	if from {
		if h := msg.From(); h != nil {
			return &h.Address
		}
		return nil
	}
	if h := msg.To(); h != nil {
		return &h.Address
	}
	return nil
}

// authUser returns the username of the first Authorization or
// Proxy-Authorization header, or "".
func authUser(m *kemi.Msg) string {
	if !m.IsRequest() {
		return ""
	}
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		h := m.Request().GetHeader(name)
		if h == nil {
			continue
		}
		v := h.Value()
		i := strings.Index(strings.ToLower(v), "username=")
		if i < 0 {
			continue
		}
		v = v[i+len("username="):]
		if j := strings.IndexAny(v, ","); j >= 0 {
			v = v[:j]
		}
		return strings.Trim(strings.TrimSpace(v), `"`)
	}
	return ""
}

// apply sends the request to uri: in $du (modeDstURI) or by rewriting the
// host and port of the R-URI (modeRURI).
func apply(m *kemi.Msg, uri string, mode int) error {
	if mode == modeDstURI {
		m.DstURI = uri
		m.MarkRURINew()
		return nil
	}
	if !m.IsRequest() {
		return errNotRequest
	}
	d, err := kemi.ParseURI(uri)
	if err != nil {
		return err
	}
	u := m.Request().Recipient.Clone()
	u.Host, u.Port = d.Host, d.Port
	m.ReplaceRURI(*u)
	return nil
}

// addBranch adds a branch to d (algorithm 12).
func addBranch(m *kemi.Msg, d *dest, mode int) error {
	if !m.IsRequest() {
		return errNotRequest
	}
	b := kemi.Branch{URI: m.Request().Recipient.String(), Q: -1}
	if mode == modeDstURI {
		b.DstURI = d.uri
	} else {
		du, err := kemi.ParseURI(d.uri)
		if err != nil {
			return err
		}
		u := m.Request().Recipient.Clone()
		u.Host, u.Port = du.Host, du.Port
		b.URI = u.String()
	}
	return m.AppendBranch(b)
}

// useNext drops the record in use and applies the next one (next), or
// applies the one in use again (!next), as Kamailio's ds_update_dst. With
// call load the call moves to the next destination; a record whose
// destination left the list is skipped. It returns 1, or -1 when there is
// none left.
func (mod *Module) useNext(m *kemi.Msg, mode int, next bool) int {
	if next && (!mod.failover || mod.xavp.dst == "") {
		mod.log.Warn("dispatcher: failover support disabled (flags bit 2 unset)", "where", m.Where())
		return -1
	}
	for {
		r := mod.xavp.current(m)
		if r == nil {
			return -1
		}
		if next {
			m.AVPs.X.RemoveItem(r)
			if r = mod.xavp.current(m); r == nil {
				return -1
			}
		}
		uri, ok := strField(r, fieldURI)
		if !ok {
			mod.log.Warn("dispatcher: no uri field in the next destination record", "where", m.Where())
			return -1
		}
		if err := apply(m, uri, mode); err != nil {
			m.Errorf(mod.log, "dispatcher: cannot use %s: %v", uri, err)
			return -1
		}
		dstid, ok := strField(r, fieldDstID)
		if !ok || !next {
			return 1
		}
		if mod.load == nil {
			m.Errorf(mod.log, "dispatcher: cannot update load distribution: ds_hash_size is 0")
			return -1
		}
		switch err := mod.load.replace(mod.sets.Load(), callID(m), dstid); {
		case err == nil:
			return 1
		case errors.Is(err, errNoDest):
			m.Errorf(mod.log, "dispatcher: cannot update load with %s, skipping destination", dstid)
		default:
			m.Errorf(mod.log, "dispatcher: cannot update load distribution: %v", err)
			return -1
		}
	}
}
