package siputils

import (
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// hasTotag reports whether the To header has a non-empty tag parameter.
// It reads the message in whichever form it is (kemi.Msg.ToPart), so that
// a route testing for in-dialog requests does not have sipgo parse it.
func (mod *Module) hasTotag(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() && !m.IsReply() {
		return kemi.Fail
	}
	tag, ok := m.ToPart(kemi.PartTag)
	if !ok {
		m.Errorf(mod.log, "has_totag: no To header")
		return kemi.Fail
	}
	return kemi.IntBool(tag != "")
}

// isFirstHop guesses whether we are the first hop after the UA: for a
// request, there is a single Via; for a reply, the top Record-Route is
// ours (mode 0: it must be an IP address and the reply must not come from
// that very address, which would be a local loop).
func (mod *Module) isFirstHop(m *kemi.Msg, mode int) kemi.Value {
	if m.IsRequest() {
		// a single Via (value): there is no second one
		_, _, _, second := m.ViaTargetAt(1)
		return kemi.IntBool(!second)
	}
	if !m.IsReply() {
		return kemi.Fail
	}
	var rr *sip.RecordRouteHeader
	for _, h := range m.HeaderList() {
		if x, ok := h.(*sip.RecordRouteHeader); ok {
			rr = x
			break
		}
	}
	if rr == nil {
		return kemi.OK
	}
	host := strings.Trim(rr.Address.Host, "[]")
	proto := ""
	if t, ok := rr.Address.UriParams.Get("transport"); ok {
		proto = strings.ToLower(t)
	}
	var ip netip.Addr
	if mode == 0 {
		var err error
		if ip, err = netip.ParseAddr(host); err != nil {
			return kemi.Fail
		}
	}
	if m.Host == nil || !m.Host.IsMyself(host, rr.Address.Port, proto) {
		return kemi.Fail
	}
	if mode == 0 && m.Src.IsValid() && ip.Unmap() == m.Src.Addr().Unmap() {
		samePort := int(m.Src.Port()) == rr.Address.Port || rr.Address.Port == 0 && m.Src.Port() == 5060
		sameProto := proto == m.Proto || proto == "" && m.Proto == "udp"
		if samePort && sameProto {
			// the reply comes from our own address: a local loop
			return kemi.Fail
		}
	}
	return kemi.OK
}

// isUser compares the username of the credentials an authentication
// module authorized with the given one.
func (mod *Module) isUser(m *kemi.Msg, a kemi.Args) kemi.Value {
	auth, _ := mod.svc.Lookup(kemi.ServiceAuth).(kemi.AuthorizedUser)
	var user string
	ok := false
	if auth != nil {
		user, ok = auth.AuthorizedUser(m)
	}
	if !ok {
		m.Errorf(mod.log, "is_user: no authorized credentials found (call www_authorize or proxy_authorize first)")
		return kemi.Fail
	}
	return kemi.IntBool(user != "" && user == a.Str(0))
}

// rURI returns the parsed Request-URI.
func (mod *Module) rURI(m *kemi.Msg, fn string) (string, *uri, bool) {
	if !m.IsRequest() {
		m.Errorf(mod.log, "%s: not a request", fn)
		return "", nil, false
	}
	s := m.RURI()
	u, err := parseURI(s)
	if err != nil {
		m.Errorf(mod.log, "%s: cannot parse the R-URI: %v", fn, err)
		return "", nil, false
	}
	return s, u, true
}

// isGruu returns 1 when the R-URI has a gr parameter with a value
// (public GRUU), 2 when it has one without value (temporary GRUU).
func (mod *Module) isGruu(m *kemi.Msg, a kemi.Args) kemi.Value {
	_, u, ok := mod.rURI(m, "is_gruu")
	if !ok {
		return kemi.Fail
	}
	p, found := findParam(splitParams(u.params), "gr", true)
	switch {
	case !found:
		return kemi.Fail
	case p.value != "":
		return kemi.OK
	}
	return kemi.Int(2)
}

// hdrDateCheck accepts a message whose Date header is at most tdiff
// seconds old.
func (mod *Module) hdrDateCheck(m *kemi.Msg, a kemi.Args) kemi.Value {
	v, ok := m.HeaderBody("Date")
	if !ok {
		m.Errorf(mod.log, "hdr_date_check: Date header field is not found")
		return kemi.Fail
	}
	t, err := time.Parse(time.RFC1123, strings.TrimSpace(v))
	if err != nil || !strings.HasSuffix(strings.TrimSpace(v), " GMT") {
		m.Errorf(mod.log, "hdr_date_check: invalid Date value %q", v)
		return kemi.Fail
	}
	if time.Now().Unix() > t.Unix()+a.Int64(0) {
		mod.log.Debug("outdated Date header", "date", v, "at", m.Where())
		return kemi.Int(-4)
	}
	return kemi.OK
}

// isTelNumber: an optional '+' and a non-zero digit, then digits only.
func isTelNumber(s string) kemi.Value {
	if s == "" {
		return kemi.Int(-2)
	}
	i := 0
	if s[0] == '+' {
		if len(s) < 2 || s[1] < '1' || s[1] > '9' {
			return kemi.Int(-2)
		}
		i = 2
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return kemi.Int(-2)
		}
	}
	return kemi.OK
}

func isNumeric(s string) kemi.Value {
	if s == "" {
		return kemi.Int(-2)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return kemi.Int(-2)
		}
	}
	return kemi.OK
}

// isAlphanumEx: ASCII letters and digits, plus the bytes of extra.
func isAlphanumEx(s, extra string) kemi.Value {
	if s == "" {
		return kemi.Int(-2)
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return kemi.Int(-3)
		}
	}
	return kemi.OK
}

// cmpResult maps a comparison to Kamailio's 1 (match), -1 (no match) and
// -2 (error).
func cmpResult(equal bool) kemi.Value {
	if equal {
		return kemi.OK
	}
	return kemi.Fail
}

// cmpURIs is cmp_uri and cmp_aor: 1 when the two URI arguments are equal
// by equal, -1 when not, -2 when one does not parse.
func (mod *Module) cmpURIs(m *kemi.Msg, a kemi.Args, fn string, equal func(a, b *uri) bool) kemi.Value {
	u1, err1 := parseURI(a.Str(0))
	u2, err2 := parseURI(a.Str(1))
	if err1 != nil || err2 != nil {
		mod.log.Debug(fn+": invalid uri", "uri1", a.Str(0), "uri2", a.Str(1), "at", m.Where())
		return kemi.Int(-2)
	}
	return cmpResult(equal(u1, u2))
}

// cmpHdrName compares two header names: case-insensitive, compact forms
// equal to their full names ("f" and "From").
func (mod *Module) cmpHdrName(m *kemi.Msg, a kemi.Args) kemi.Value {
	n1 := strings.TrimRight(a.Str(0), " \t\r\n")
	n2 := strings.TrimRight(a.Str(1), " \t\r\n")
	if !kemi.ValidHeaderName(n1) || !kemi.ValidHeaderName(n2) {
		m.Errorf(mod.log, "cmp_hdr_name: invalid header name [%s] [%s]", n1, n2)
		return kemi.Int(-2)
	}
	return cmpResult(kemi.CanonicalHeader(n1) == kemi.CanonicalHeader(n2))
}

// uriParam looks for the R-URI parameter name (case-sensitive, first
// occurrence): without withValue it must have no value, with withValue its
// value must be value.
func (mod *Module) uriParam(m *kemi.Msg, name, value string, withValue bool) kemi.Value {
	_, u, ok := mod.rURI(m, "uri_param")
	if !ok {
		return kemi.Fail
	}
	p, found := findParam(splitParams(u.params), name, false)
	if !found {
		return kemi.Fail
	}
	if withValue {
		return kemi.IntBool(p.value == value)
	}
	return kemi.IntBool(p.value == "")
}

// uriParamAny looks for the R-URI parameter name (case-insensitive), with
// or without a value.
func (mod *Module) uriParamAny(m *kemi.Msg, a kemi.Args) kemi.Value {
	_, u, ok := mod.rURI(m, "uri_param_any")
	if !ok {
		return kemi.Fail
	}
	_, found := findParam(splitParams(u.params), a.Str(0), true)
	return kemi.IntBool(found)
}

// uriParamRm removes the first R-URI parameter called name
// (case-insensitive). A missing parameter is not an error.
func (mod *Module) uriParamRm(m *kemi.Msg, a kemi.Args) kemi.Value {
	s, _, ok := mod.rURI(m, "uri_param_rm")
	if !ok {
		return kemi.Fail
	}
	ns, removed := removeParam(s, a.Str(0))
	if !removed {
		return kemi.OK
	}
	if err := m.SetRURI(ns); err != nil {
		m.Errorf(mod.log, "uri_param_rm: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// addURIParam appends ";param" to the R-URI parameters.
func (mod *Module) addURIParam(m *kemi.Msg, a kemi.Args) kemi.Value {
	p := a.Str(0)
	if p == "" {
		return kemi.OK
	}
	s, _, ok := mod.rURI(m, "add_uri_param")
	if !ok {
		return kemi.Fail
	}
	ns := addParam(s, p)
	if _, err := parseURI(ns); err != nil {
		m.Errorf(mod.log, "add_uri_param: %v", err)
		return kemi.Fail
	}
	if err := m.SetRURI(ns); err != nil {
		m.Errorf(mod.log, "add_uri_param: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}
