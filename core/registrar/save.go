package registrar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Flags of save, as Kamailio's REG_SAVE_*_FL.
const (
	saveMemOnly   = 0x01 // write the location to memory only
	saveNoReply   = 0x02 // do not reply; reg_send_reply does later
	saveReplace   = 0x04 // the REGISTER's contact replaces all others
	saveNoVary    = 0x08 // no random expires variation (kemi never varies)
	savePrepReply = 0x10 // with 0x02: put the reply headers on the message
)

// flMem is usrloc's FL_MEM contact flag: the binding is not written to
// the database.
const flMem = 1

// Save return values besides the failure -1, as Kamailio's.
const (
	saveInserted = 1 // a binding was added
	saveUpdated  = 2 // a binding was refreshed
	saveDeleted  = 3 // a binding was removed, or all (Contact: *)
	saveQueried  = 4 // no Contact: the bindings were only listed
	saveTooMany  = -2
)

// maxCallID and maxUA are Kamailio's CALLID_MAX_SIZE and MAX_UA_SIZE.
const (
	maxCallID = 255
	maxUA     = 255
)

// saveCtx is what save learned from the REGISTER, common to its contacts:
// Kamailio's ucontact_info.
type saveCtx struct {
	callID    string
	cseq      int
	hdrExp    int
	path      string
	received  string // from the Path (path_use_received) or received_avp
	pathRcv   bool
	userAgent string
	socket    string
	connID    int64
	cflags    uint32
	flags     uint32
	methods   int
	qOverride int
	now       time.Time
}

// save is KSR.registrar.save and save_uri: it stores the contacts of the
// REGISTER in m for the AOR of its To URI (or of uri), and replies.
func (mod *Module) save(m *kemi.Msg, table string, flags int, uri string) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "registrar: save: not a request")
		return kemi.Fail
	}
	loc := mod.location(m, "save")
	if uri == "" {
		to := m.Request().To()
		if to == nil {
			mod.rejected.Inc()
			return mod.refuseReg(m, flags, rToMiss, "", nil)
		}
		uri = to.Address.String()
	}
	aor, _, why, err := mod.aor(uri, useDomain(loc))
	if err != nil {
		m.Errorf(mod.log, "registrar: save: failed to extract address of record from %q: %v (%s)", uri, err, rerrInfo[why].info)
		return kemi.Fail
	}
	if loc == nil {
		mod.rejected.Inc()
		return mod.refuseReg(m, flags, rULGet, "", nil)
	}
	sc, cs, star, err := mod.readRegister(m, flags)
	if err != nil {
		return mod.fail(m, flags, err, sc.path)
	}
	ctx := context.Background()
	var (
		ret   int
		final []kemi.Binding
	)
	switch {
	case star:
		if _, err = loc.DeleteAOR(ctx, table, aor); err == nil {
			ret = saveDeleted
		}
	case len(cs) == 0:
		final, err = loc.Lookup(ctx, table, aor)
		ret = saveQueried
	default:
		err = loc.Update(ctx, table, aor, func(cur []kemi.Binding) (kemi.BindingChange, error) {
			ch, r, fin, err := mod.change(aor, cur, cs, sc, flags&saveReplace != 0)
			ret, final = r, fin
			return ch, err
		})
	}
	if err != nil {
		var re *regError
		if !errors.As(err, &re) {
			mod.log.Error("registrar: save failed", "aor", aor, "table", table, "err", err, "at", m.Where())
			err = refuse(rULUpdate, err.Error())
		}
		// as Kamailio, the refusals that leave the bindings as they were
		// list them (the Update changed nothing)
		var cur []kemi.Binding
		if errors.As(err, &re) && (re.why == rInvCSeq || re.why == rTooMany) {
			cur, _ = loc.Lookup(ctx, table, aor)
		}
		return mod.fail(m, flags, err, sc.path, cur...)
	}
	mod.accepted.Inc()
	r := &pendingReply{why: rFine, contacts: mod.contactHeader(final, sc.now), path: sc.path}
	if v := mod.reply(m, flags, r); v.Int < 0 {
		return v
	}
	return kemi.Int(ret)
}

// fail counts a refused REGISTER and replies with the reason in err,
// listing the bindings cur, if any.
func (mod *Module) fail(m *kemi.Msg, flags int, err error, path string, cur ...kemi.Binding) kemi.Value {
	mod.rejected.Inc()
	var re *regError
	why := rULUpdate
	if errors.As(err, &re) {
		why = re.why
	}
	mod.log.Info("registrar: REGISTER refused", "reason", rerrInfo[why].info, "detail", err.Error(), "at", m.Where())
	return mod.refuseReg(m, flags, why, path, cur)
}

// refuseReg replies the refusal why (unless flags ask for no reply) and
// sets it as the message's error, for sl_reply_error.
func (mod *Module) refuseReg(m *kemi.Msg, flags int, why rerr, path string, final []kemi.Binding) kemi.Value {
	info := rerrInfo[why]
	m.SetError(info.code, info.reason)
	r := &pendingReply{why: why, path: path}
	if len(final) > 0 {
		r.contacts = mod.contactHeader(final, time.Now())
	}
	if m.Route == kemi.RouteRequest || m.Route == kemi.RouteNone || flags&saveNoReply != 0 {
		mod.reply(m, flags&^savePrepReply, r)
	}
	if why == rTooMany {
		return kemi.Int(saveTooMany)
	}
	return kemi.Fail
}

// readRegister reads what save needs from the REGISTER: the common
// binding data and the checked contacts.
func (mod *Module) readRegister(m *kemi.Msg, flags int) (saveCtx, []regContact, bool, error) {
	sc := saveCtx{now: time.Now(), methods: -1, qOverride: -1}
	req := m.Request()
	cid := req.CallID()
	if cid == nil {
		return sc, nil, false, refuse(rCallIDMiss, "Call-ID not found")
	}
	sc.callID = strings.TrimRight(cid.Value(), " \t")
	if len(sc.callID) > maxCallID {
		return sc, nil, false, refuse(rCallIDLen, "callid too long")
	}
	cs := req.CSeq()
	if cs == nil {
		return sc, nil, false, refuse(rCSeqMiss, "CSeq not found")
	}
	sc.cseq = int(cs.SeqNo)
	exp, ok := expiresHeader(m)
	if !ok {
		return sc, nil, false, refuse(rParseExp, "failed to parse expires body")
	}
	sc.hdrExp = exp
	contacts, star, err := mod.contacts(m, exp)
	if err != nil {
		return sc, nil, false, err
	}
	if mod.cfg.usePath {
		if err := mod.readPath(m, &sc); err != nil {
			return sc, nil, false, err
		}
	}
	sc.userAgent = "n/a"
	if ua, ok := m.HeaderValue("User-Agent"); ok && ua != "" && len(ua) < maxUA {
		sc.userAgent = ua
	}
	if m.Rcv != nil {
		sc.socket = m.Rcv.String()
	}
	if mod.cfg.sockFlag >= 0 && kemi.TestBit(m.Flags, mod.cfg.sockFlag) {
		if v, ok := m.HeaderValue(mod.cfg.sockHdrName); ok {
			if s := m.Host.FindSocket(strings.TrimSpace(v)); s != nil {
				sc.socket = s.String()
			}
		}
	}
	if m.Proto != "udp" {
		sc.connID = int64(m.ConnID)
	}
	sc.cflags = m.BFlags
	if flags&saveMemOnly != 0 {
		sc.flags = flMem
	}
	if vals := m.HeaderValues("Allow"); len(vals) > 0 {
		bits, err := parseMethods(strings.Join(vals, ","))
		if err == nil {
			sc.methods = bits
		}
	}
	if !sc.pathRcv && mod.cfg.receivedAVP != "" {
		if v, ok := m.AVPs.Get(mod.cfg.receivedAVP, 0); ok && v.String() != "" {
			if len(v.String()) > receivedMaxSize {
				return sc, nil, false, refuse(rContactLen, "received too long")
			}
			sc.received = v.String()
		}
	}
	if q, ok := m.Value(qOverrideKey{}).(int); ok {
		sc.qOverride = q
	}
	return sc, contacts, star, nil
}

// readPath collects the Path headers (use_path), and the received
// parameter of the first Path URI with path_use_received.
func (mod *Module) readPath(m *kemi.Msg, sc *saveCtx) error {
	vals := m.HeaderValues("Path")
	if len(vals) == 0 {
		return nil
	}
	sc.path = strings.Join(vals, ",")
	first, err := firstPathURI(sc.path)
	if err != nil {
		return refuse(rParsePath, err.Error())
	}
	if mod.cfg.pathUseRcv {
		if dec, ok := pathReceived(first); ok {
			sc.received, sc.pathRcv = dec, true
		}
	}
	return nil
}

// pathReceived returns the unescaped received parameter of a Path URI
// (path_use_received), if it has a usable one.
func pathReceived(u sip.Uri) (string, bool) {
	r, ok := u.UriParams.Get("received")
	if !ok || r == "" {
		return "", false
	}
	dec, err := url.QueryUnescape(r)
	if err != nil {
		return "", false
	}
	return dec, true
}

// firstPathURI returns the URI of the first entry of a Path (or Route)
// set.
func firstPathURI(path string) (sip.Uri, error) {
	rs, err := kemi.PathRoutes(path)
	if err != nil || len(rs) == 0 {
		return sip.Uri{}, fmt.Errorf("invalid Path %q", path)
	}
	return rs[0].Address, nil
}

// matchResult is what usrloc's get_ucontact_by_instance tells.
type matchResult int

const (
	matchFound   matchResult = iota // the binding to update
	matchNone                       // no binding for this contact
	matchBadCSeq                    // same Call-ID, CSeq not higher: refused
	matchRetrans                    // same Call-ID and CSeq just now: skipped
)

// match finds the binding of rc among cur: by +sip.instance and reg-id
// when the contact has an instance (RFC 5626), else by the contact URI,
// checking the CSeq when the Call-ID is the same (RFC 3261 §10.3 step 7).
func match(cur []kemi.Binding, rc regContact, sc *saveCtx) (int, matchResult) {
	if rc.instance != "" {
		for i := range cur {
			if cur[i].Instance != "" && cur[i].RegID == rc.regID && sameInstance(cur[i].Instance, rc.instance) {
				return i, matchFound
			}
		}
		return -1, matchNone
	}
	for i := range cur {
		b := &cur[i]
		if b.Contact != rc.uri {
			continue
		}
		if b.CallID == sc.callID {
			if sc.cseq < b.CSeq {
				return i, matchBadCSeq
			}
			if sc.cseq == b.CSeq {
				if b.LastModified.Add(cseqDelay).After(sc.now) {
					return i, matchRetrans
				}
				return i, matchBadCSeq
			}
		}
		return i, matchFound
	}
	return -1, matchNone
}

// binding makes the binding of rc, expiring in e seconds.
func (mod *Module) binding(aor string, rc regContact, sc *saveCtx, e int) kemi.Binding {
	b := kemi.Binding{
		AOR: aor, Contact: rc.uri, Path: sc.path, Expires: sc.now.Add(time.Duration(e) * time.Second),
		Q: rc.q, CallID: sc.callID, CSeq: sc.cseq, Flags: sc.flags, CFlags: sc.cflags,
		UserAgent: sc.userAgent, Socket: sc.socket, Methods: rc.methods, Instance: rc.instance,
		RegID: rc.regID, ConnID: sc.connID, LastModified: sc.now,
	}
	if b.Q < 0 {
		b.Q = mod.cfg.defaultQ
	}
	if sc.qOverride >= 0 {
		b.Q = sc.qOverride
	}
	if b.Methods < 0 {
		b.Methods = sc.methods
	}
	switch {
	case sc.pathRcv:
		b.Received = sc.received
	case rc.received != "":
		b.Received = rc.received
	default:
		b.Received = sc.received
	}
	return b
}

// change decides what a REGISTER with contacts does to the bindings cur
// of aor, as Kamailio's insert_contacts (no binding yet) and
// update_contacts (replace: the flag 0x04). It returns the change, save's
// return value and the bindings after the change.
func (mod *Module) change(aor string, cur []kemi.Binding, cs []regContact, sc saveCtx, replace bool) (kemi.BindingChange, int, []kemi.Binding, error) {
	work := slices.Clone(cur)
	maxContacts := int(mod.cfg.maxContacts.Load()) // one value for the whole REGISTER
	var deleted []string
	del := func(i int) {
		deleted = append(deleted, work[i].RUID)
		work = slices.Delete(work, i, i+1)
	}
	live := 0
	for i := range work {
		if !work[i].Expired(sc.now) {
			live++
		}
	}
	ret := 0
	if len(cur) == 0 {
		// insert_contacts: every contact with expires > 0, within
		// max_contacts; a contact given twice updates the first
		for _, rc := range cs {
			e, err := mod.expires(rc, sc.hdrExp)
			if err != nil {
				return kemi.BindingChange{}, 0, nil, err
			}
			if e == 0 {
				continue
			}
			b := mod.binding(aor, rc, &sc, e)
			i, res := match(work, rc, &saveCtx{callID: sc.callID, cseq: sc.cseq + 1, now: sc.now})
			if res == matchFound {
				b.RUID = work[i].RUID
				work[i] = b
				continue
			}
			if maxContacts > 0 && len(work) >= maxContacts {
				return kemi.BindingChange{}, 0, nil, refuse(rTooMany, fmt.Sprintf("too many contacts for AOR %s (max %d)", aor, maxContacts))
			}
			b.RUID = mod.newRUID()
			work = append(work, b)
		}
		ret = saveInserted
	} else {
		if !replace && maxContacts > 0 {
			n := live
			for _, rc := range cs {
				e, _ := mod.expires(rc, sc.hdrExp)
				_, res := match(work, rc, &sc)
				switch res {
				case matchBadCSeq:
					return kemi.BindingChange{}, 0, nil, refuse(rInvCSeq, "invalid cseq for aor "+aor)
				case matchNone:
					if e != 0 {
						n++
					}
				case matchFound:
					if e == 0 {
						n--
					}
				}
			}
			if n > maxContacts {
				return kemi.BindingChange{}, 0, nil, refuse(rTooMany, fmt.Sprintf("too many contacts for AOR %s (%d, max %d)", aor, n, maxContacts))
			}
		}
	contacts:
		for _, rc := range cs {
			e, err := mod.expires(rc, sc.hdrExp)
			if err != nil {
				return kemi.BindingChange{}, 0, nil, err
			}
			i, res := match(work, rc, &sc)
			updated := false
			switch res {
			case matchBadCSeq:
				return kemi.BindingChange{}, 0, nil, refuse(rInvCSeq, "invalid cseq for aor "+aor)
			case matchRetrans:
				if e != 0 && replace {
					break contacts
				}
				continue
			case matchNone:
				if e == 0 {
					continue
				}
				b := mod.binding(aor, rc, &sc, e)
				b.RUID = mod.newRUID()
				if replace {
					for len(work) > 0 {
						del(0)
					}
					updated = true
				}
				work = append(work, b)
				ret = saveInserted
			case matchFound:
				if e == 0 {
					del(i)
					ret = saveDeleted
					continue
				}
				b := mod.binding(aor, rc, &sc, e)
				b.RUID = work[i].RUID
				old := work[i]
				work[i] = b
				if replace {
					for j := len(work) - 1; j >= 0; j-- {
						if work[j].RUID != b.RUID {
							del(j)
						}
					}
					updated = true
				}
				// a new Call-ID for an instance: its other bindings go
				if b.Instance != "" && old.CallID != b.CallID {
					for j := len(work) - 1; j >= 0; j-- {
						if work[j].RUID != b.RUID && work[j].Instance != "" && sameInstance(work[j].Instance, b.Instance) {
							del(j)
						}
					}
					updated = true
				}
				ret = saveUpdated
			}
			if updated {
				break contacts
			}
		}
	}
	if ret == 0 {
		ret = saveInserted
	}
	var ch kemi.BindingChange
	ch.Delete = deleted
	for _, b := range work {
		if i := slices.IndexFunc(cur, func(c kemi.Binding) bool { return c.RUID == b.RUID }); i < 0 || cur[i] != b {
			ch.Put = append(ch.Put, b)
		}
	}
	sortBindings(work)
	return ch, ret, work, nil
}

// sortBindings orders bindings as usrloc keeps them: by q, highest first
// (no q counts as -1, below 0), and among equal q the older first: usrloc
// inserts a contact after those of equal q (mem_insert_ucontact) and its
// RUIDs grow with time.
func sortBindings(bs []kemi.Binding) {
	slices.SortStableFunc(bs, func(a, b kemi.Binding) int {
		if a.Q != b.Q {
			return b.Q - a.Q
		}
		return strings.Compare(a.RUID, b.RUID)
	})
}
