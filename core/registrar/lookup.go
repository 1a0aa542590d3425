package registrar

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// Lookup return values, as Kamailio's.
const (
	lookupFound    = 1
	lookupNone     = -1
	lookupMethod   = -2 // found, but no contact takes the request's method
	lookupInternal = -3
)

// bindings returns the bindings of the AOR of uri in the order usrloc
// keeps them, or a lookup return value.
func (mod *Module) bindings(m *kemi.Msg, fn, table, uri string) (string, []kemi.Binding, int) {
	loc := mod.location(m, fn)
	if loc == nil {
		return "", nil, lookupInternal
	}
	aor, _, _, err := mod.aor(uri, useDomain(loc))
	if err != nil {
		m.Errorf(mod.log, "registrar: %s: failed to extract address of record from %q: %v", fn, uri, err)
		return "", nil, lookupInternal
	}
	bs, err := loc.Lookup(context.Background(), table, aor)
	if err != nil {
		mod.log.Error("registrar: location lookup failed", "fn", fn, "aor", aor, "table", table, "err", err, "at", m.Where())
		m.SetError(500, "Server Internal Error")
		return aor, nil, lookupInternal
	}
	sortBindings(bs)
	return aor, bs, lookupFound
}

// valid reports whether b can be used at now (use_expired_contacts uses
// the expired ones too).
func (mod *Module) valid(b *kemi.Binding, now time.Time) bool {
	return mod.cfg.useExpired || !b.Expired(now)
}

// requestURI is the URI lookup works on: the R-URI as the script has it.
func requestURI(m *kemi.Msg) string { return m.RURI() }

// lookup is lookup, lookup_uri (toDset false) and lookup_to_dset (true).
// The first usable binding becomes the Request-URI (unless toDset), the
// others branches when append_branches is on.
func (mod *Module) lookup(m *kemi.Msg, table, uri string, toDset bool) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "registrar: lookup: not a request")
		return kemi.Int(lookupInternal)
	}
	if uri == "" {
		uri = requestURI(m)
	}
	_, bs, ret := mod.bindings(m, "lookup", table, uri)
	if ret < 0 {
		return kemi.Int(ret)
	}
	now := time.Now()
	ret = lookupNone
	first := -1
	for i := range bs {
		if !mod.valid(&bs[i], now) {
			continue
		}
		if !mod.allowedMethod(m, &bs[i]) {
			ret = lookupMethod
			continue
		}
		first = i
		break
	}
	if first < 0 {
		return kemi.Int(ret)
	}
	rest := bs[first:]
	if !toDset {
		b := &bs[first]
		if err := m.SetRURI(b.Contact); err != nil {
			m.Errorf(mod.log, "registrar: lookup: unable to rewrite Request-URI to %q: %v", b.Contact, err)
			return kemi.Int(lookupInternal)
		}
		m.DstURI = ""
		dst, path, err := mod.nextHop(b)
		if err != nil {
			m.Errorf(mod.log, "registrar: lookup: %v", err)
			return kemi.Int(lookupInternal)
		}
		if path != "" {
			m.PathVec = path
		}
		m.DstURI = dst
		m.SetRURIQ(b.Q)
		m.BFlags |= b.CFlags
		if s := mod.socket(m, b); s != nil {
			m.SendSock = s
		}
		rest = bs[first+1:]
	}
	if !mod.cfg.appendBranches {
		return kemi.Int(lookupFound)
	}
	for i := range rest {
		b := &rest[i]
		if !mod.valid(b, now) || !mod.allowedMethod(m, b) {
			continue
		}
		dst, path, err := mod.nextHop(b)
		if err != nil {
			m.Errorf(mod.log, "registrar: lookup: %v", err)
			continue
		}
		br := kemi.Branch{URI: b.Contact, DstURI: dst, Q: b.Q, Flags: b.CFlags, Path: path, Sock: mod.socket(m, b)}
		if err := m.AppendBranch(br); err != nil {
			m.Errorf(mod.log, "registrar: lookup: failed to append a branch for %s: %v", b.Contact, err)
		}
	}
	return kemi.Int(lookupFound)
}

// nextHop is where a request for b goes: the first Path hop (the Path
// becomes the branch's route set), else the received address of a NATed
// contact, else nowhere but the contact itself ("").
func (mod *Module) nextHop(b *kemi.Binding) (dst, path string, err error) {
	if b.Path != "" {
		u, err := firstPathURI(b.Path)
		if err != nil {
			return "", "", err
		}
		dst = u.String()
		if mod.cfg.pathUseRcv {
			if dec, ok := pathReceived(u); ok {
				dst = dec
			}
		}
		return dst, b.Path, nil
	}
	return b.Received, "", nil
}

// socket returns the local socket b registered through, if we have it.
func (mod *Module) socket(m *kemi.Msg, b *kemi.Binding) *kemi.Socket {
	if b.Socket == "" || m.Host == nil {
		return nil
	}
	return m.Host.FindSocket(b.Socket)
}

// lookupBranches is lookup_branches: lookup for the R-URI and for every
// branch that is still a bare URI (no $du, Path, socket or flags), each
// branch taking the attributes of its first binding.
func (mod *Module) lookupBranches(m *kemi.Msg, table string) kemi.Value {
	if !m.IsRequest() {
		return kemi.Int(lookupInternal)
	}
	start := len(m.Branches)
	ret := mod.lookup(m, table, "", false)
	if start == 0 {
		return ret
	}
	found := ret.Int > 0
	// the R-URI branch as lookup left it
	ruri, du, pv, q, sock, bflags := m.RURI(), m.DstURI, m.PathVec, m.RURIQ(), m.SendSock, m.BFlags
	for i := 0; i < start; i++ {
		br := m.Branches[i]
		if br.URI == "" || br.DstURI != "" || br.Path != "" || br.Sock != nil || br.Flags != 0 {
			continue
		}
		if err := m.SetRURI(br.URI); err != nil {
			continue
		}
		m.DstURI, m.PathVec, m.SendSock, m.BFlags = "", "", nil, 0
		m.SetRURIQ(-1)
		if r := mod.lookup(m, table, "", false); r.Int > 0 {
			found = true
			m.Branches[i] = kemi.Branch{URI: m.RURI(), DstURI: m.DstURI, Q: m.RURIQ(), Flags: m.BFlags, Path: m.PathVec, Sock: m.SendSock}
		} else {
			ret = r
		}
	}
	_ = m.SetRURI(ruri)
	m.DstURI, m.PathVec, m.SendSock, m.BFlags = du, pv, sock, bflags
	m.SetRURIQ(q)
	if found {
		return kemi.Int(lookupFound)
	}
	return ret
}

// registered is registered, registered_uri, registered_flags and
// registered_action: 1 when the AOR (of uri, else of the R-URI, or the To
// URI of a reply) has a live binding. The match flags need xavp_cfg, which
// kemi does not have: they are accepted and ignored.
func (mod *Module) registered(m *kemi.Msg, table, uri string) kemi.Value {
	if uri == "" {
		switch {
		case m.IsRequest():
			uri = requestURI(m)
		case m.IsReply() && m.Response().To() != nil:
			uri = m.Response().To().Address.String()
		}
	}
	_, bs, ret := mod.bindings(m, "registered", table, uri)
	if ret < 0 {
		return kemi.Fail
	}
	now := time.Now()
	for i := range bs {
		if mod.valid(&bs[i], now) {
			return kemi.OK
		}
	}
	return kemi.Fail
}

// unregister is unregister (ruid "") and unregister_ruid: -1 for a bad
// AOR, -2 for a storage error, -3 when unregister_ruid finds nothing.
func (mod *Module) unregister(m *kemi.Msg, table, uri, ruid string) kemi.Value {
	loc := mod.location(m, "unregister")
	if loc == nil {
		return kemi.Int(-2)
	}
	if uri == "" {
		if ruid != "" {
			m.Errorf(mod.log, "registrar: unregister_ruid: the AOR is needed: kemi's location table is keyed by AOR")
			return kemi.Fail
		}
		if !m.IsRequest() || m.Request().To() == nil {
			m.Errorf(mod.log, "registrar: unregister: no AOR")
			return kemi.Fail
		}
		uri = m.Request().To().Address.String()
	}
	aor, _, _, err := mod.aor(uri, useDomain(loc))
	if err != nil {
		m.Errorf(mod.log, "registrar: unregister: failed to extract address of record from %q: %v", uri, err)
		return kemi.Fail
	}
	ctx := context.Background()
	if ruid == "" {
		if _, err := loc.DeleteAOR(ctx, table, aor); err != nil {
			mod.log.Error("registrar: unregister failed", "aor", aor, "err", err, "at", m.Where())
			return kemi.Int(-2)
		}
		return kemi.OK
	}
	found, err := loc.DeleteRUID(ctx, table, aor, ruid)
	switch {
	case err != nil:
		mod.log.Error("registrar: unregister_ruid failed", "aor", aor, "ruid", ruid, "err", err, "at", m.Where())
		return kemi.Int(-2)
	case !found:
		return kemi.Int(-3)
	}
	return kemi.OK
}

// Modes of reg_from_user.
const (
	fromUserPort  = 1
	fromUserProto = 2
)

// regFromUser is reg_from_user: 1 when the message comes from the address
// (received, else contact) of a binding of the AOR of uri; with mode 1 the
// port must match too, with mode 2 the transport. A URI without a port
// stands for 5060 (5061 for sips), without transport for udp (tls).
func (mod *Module) regFromUser(m *kemi.Msg, table, uri string, mode int) kemi.Value {
	_, bs, ret := mod.bindings(m, "reg_from_user", table, uri)
	if ret < 0 {
		return kemi.Fail
	}
	src := m.Src.Addr().Unmap()
	for i := range bs {
		addr := bs[i].Received
		if addr == "" {
			addr = bs[i].Contact
		}
		u, err := kemi.ParseURI(addr)
		if err != nil {
			m.Errorf(mod.log, "registrar: reg_from_user: %v", err)
			return kemi.Fail
		}
		ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
		if err != nil || ip.Unmap() != src {
			continue
		}
		secure := strings.EqualFold(u.Scheme, "sips")
		if mode&fromUserPort != 0 {
			port := u.Port
			if port == 0 {
				port = 5060
				if secure {
					port = 5061
				}
			}
			if port != int(m.Src.Port()) {
				continue
			}
		}
		if mode&fromUserProto != 0 {
			proto := "udp"
			if secure {
				proto = "tls"
			}
			if t, ok := u.UriParams.Get("transport"); ok {
				proto = strings.ToLower(t)
			}
			if proto != m.Proto {
				continue
			}
		}
		return kemi.OK
	}
	return kemi.Fail
}
