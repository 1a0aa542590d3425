package dispatcher

import (
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

// AVP names that carry the candidates from the request route into the
// failure route: Kamailio's $xavp(_dsdst_=>uri), =>grp and =>attrs. kemi
// has no xavps; AVPs travel with the transaction the same way.
const (
	avpURI   = "_dsdst_uri"
	avpGrp   = "_dsdst_grp"
	avpAttrs = "_dsdst_attrs"
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
// follow it for failover (at most limit in all; 0: no limit).
func (mod *Module) selectRules(m *kemi.Msg, rules []rule, limit, mode int) int {
	var cands []*dest
	// parallel is the destination a parallel rule (algorithm 12) put in
	// $du or the R-URI: its destinations are not kept for failover, as in
	// Kamailio.
	var parallel *dest
	for _, r := range rules {
		s := mod.sets.Load().sets[r.set]
		if s == nil || len(s.dests) == 0 {
			m.Errorf(mod.log, "dispatcher: destination set [%d] not found", r.set)
			continue
		}
		cs, ok := mod.candidates(m, s, r.alg)
		if !ok {
			continue
		}
		if r.alg == algParallel {
			if mode != modeXAVP && len(cs) > 0 && parallel == nil && len(cands) == 0 {
				for _, d := range cs[1:] {
					if err := addBranch(m, d, mode); err != nil {
						m.Errorf(mod.log, "dispatcher: cannot add a branch for %s: %v", d.uri, err)
						return -1
					}
				}
				parallel = cs[0]
			}
			continue
		}
		cands = append(cands, cs...)
	}
	if parallel != nil {
		if err := apply(m, parallel.uri, mode); err != nil {
			m.Errorf(mod.log, "dispatcher: cannot use %s: %v", parallel.uri, err)
			return -1
		}
		clearCandidates(m)
		return 1
	}
	if len(cands) == 0 {
		mod.log.Debug("dispatcher: no active destination", "rules", rules, "where", m.Where())
		return -1
	}
	if limit > 0 && len(cands) > limit {
		cands = cands[:limit]
	}
	if mode != modeXAVP {
		if err := apply(m, cands[0].uri, mode); err != nil {
			m.Errorf(mod.log, "dispatcher: cannot use %s: %v", cands[0].uri, err)
			return -1
		}
	}
	// Without failover (flags bit 2) Kamailio keeps nothing, not even
	// the selected destination.
	if mod.failover {
		storeCandidates(m, cands)
	}
	return 1
}

// candidates returns the usable destinations of s, the selected one first
// and then the others in set order after it; ok is false (and logged) when
// the algorithm cannot run.
func (mod *Module) candidates(m *kemi.Msg, s *set, alg int) ([]*dest, bool) {
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
			return nil, false
		}
		first = mod.hash(mod.uriKey(*u), n)
	case algRURI:
		if m.Req == nil {
			return nil, false
		}
		// Kamailio hashes only the user of the R-URI.
		first = mod.hash(m.Req.Recipient.User, n)
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
			return nil, false
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
			return nil, true
		}
	default:
		// Kamailio answers an algorithm it does not know with the first
		// destination; kemi does the same for call load (10), which it
		// does not track yet.
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
	return out, true
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
	if m.Req == nil {
		return ""
	}
	for _, name := range []string{"Authorization", "Proxy-Authorization"} {
		h := m.Req.GetHeader(name)
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
	if m.Req == nil {
		return errNotRequest
	}
	d, err := kemi.ParseURI(uri)
	if err != nil {
		return err
	}
	u := m.Req.Recipient.Clone()
	u.Host, u.Port = d.Host, d.Port
	m.ReplaceRURI(*u)
	return nil
}

// addBranch adds a branch to d (algorithm 12).
func addBranch(m *kemi.Msg, d *dest, mode int) error {
	if m.Req == nil {
		return errNotRequest
	}
	b := kemi.Branch{URI: m.Req.Recipient.String(), Q: -1}
	if mode == modeDstURI {
		b.DstURI = d.uri
	} else {
		du, err := kemi.ParseURI(d.uri)
		if err != nil {
			return err
		}
		u := m.Req.Recipient.Clone()
		u.Host, u.Port = du.Host, du.Port
		b.URI = u.String()
	}
	return m.AppendBranch(b)
}

// storeCandidates replaces the failover candidates of m with cands, the
// first being the one in use.
func storeCandidates(m *kemi.Msg, cands []*dest) {
	clearCandidates(m)
	// AVPs read newest first: push the last candidate first.
	for i := len(cands) - 1; i >= 0; i-- {
		d := cands[i]
		m.AVPs.Add(avpURI, kemi.Str(d.uri))
		m.AVPs.Add(avpGrp, kemi.Int(d.setID))
		m.AVPs.Add(avpAttrs, kemi.Str(d.attrs))
	}
}

func clearCandidates(m *kemi.Msg) {
	m.AVPs.Del(avpURI)
	m.AVPs.Del(avpGrp)
	m.AVPs.Del(avpAttrs)
}

// candidate is one stored failover candidate.
type candidate struct {
	uri   string
	grp   int
	attrs string
}

// loadCandidates returns the stored candidates, the one in use first.
func loadCandidates(m *kemi.Msg) []candidate {
	uris := m.AVPs.All(avpURI)
	grps := m.AVPs.All(avpGrp)
	attrs := m.AVPs.All(avpAttrs)
	out := make([]candidate, len(uris))
	for i, u := range uris {
		out[i].uri = u.String()
		if i < len(grps) {
			out[i].grp = int(grps[i].AsInt())
		}
		if i < len(attrs) {
			out[i].attrs = attrs[i].String()
		}
	}
	return out
}

// useNext drops the candidate in use and applies the next one (next), or
// applies the one in use again (!next). It returns 1, or -1 when there is
// none left.
func (mod *Module) useNext(m *kemi.Msg, mode int, next bool) int {
	if !mod.failover {
		mod.log.Warn("dispatcher: failover support disabled (flags bit 2 unset)", "where", m.Where())
		return -1
	}
	cs := loadCandidates(m)
	if next && len(cs) > 0 {
		cs = cs[1:]
		clearCandidates(m)
		for i := len(cs) - 1; i >= 0; i-- {
			m.AVPs.Add(avpURI, kemi.Str(cs[i].uri))
			m.AVPs.Add(avpGrp, kemi.Int(cs[i].grp))
			m.AVPs.Add(avpAttrs, kemi.Str(cs[i].attrs))
		}
	}
	if len(cs) == 0 {
		return -1
	}
	if err := apply(m, cs[0].uri, mode); err != nil {
		m.Errorf(mod.log, "dispatcher: cannot use %s: %v", cs[0].uri, err)
		return -1
	}
	return 1
}
