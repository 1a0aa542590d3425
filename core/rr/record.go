package rr

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// maxPendingParams is the room for add_rr_param parameters given before
// record-routing, as Kamailio's buffer.
const maxPendingParams = 512

// startRR checks that m may be record-routed now and returns its state.
func (mod *Module) startRR(m *kemi.Msg, fn string) *state {
	if !m.IsRequest() {
		m.Errorf(mod.log, "%s: not a request", fn)
		return nil
	}
	st := ensureState(m)
	if st.added {
		m.Errorf(mod.log, "%s: double attempt to record-route", fn)
		return nil
	}
	return st
}

// recordRoute adds our Record-Route for the socket the request came in
// on (record_route, record_route_params). The double Record-Route, if
// needed, is added by BeforeSend once the outgoing socket is known.
func (mod *Module) recordRoute(m *kemi.Msg, fn, params string) kemi.Value {
	st := mod.startRR(m, fn)
	if st == nil {
		return kemi.Fail
	}
	extra, err := parseParams(params)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	if m.Rcv == nil {
		m.Errorf(mod.log, "%s: the request has no receiving socket", fn)
		return kemi.Fail
	}
	user, err := mod.rrUser(m)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	tag, err := mod.rrTag(m, true)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	host, port := m.Rcv.Host(), m.Rcv.Port()
	if m.AdvHost != "" {
		host = m.AdvHost
	}
	if m.AdvPort != 0 {
		port = m.AdvPort
	}
	addr := mod.sockParams(m.Rcv, m.Proto)
	u := sip.Uri{Scheme: mod.scheme(m), User: user, Host: bareHost(host), Port: port}
	u.UriParams = concat(addr, mod.lrParam(), ftagParam(tag), extra, st.pending)
	mod.addRR(m, st, kindAuto, len(addr), &sip.RecordRouteHeader{Address: u})
	return kemi.OK
}

// recordRouteAdvertised adds a Record-Route with the given address
// ("host[:port][;params]") instead of the socket's.
func (mod *Module) recordRouteAdvertised(m *kemi.Msg, a kemi.Args) kemi.Value {
	const fn = "record_route_advertised_address"
	st := mod.startRR(m, fn)
	if st == nil {
		return kemi.Fail
	}
	user, err := mod.rrUser(m)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	u, err := mod.presetURI(m, user, a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	tag, err := mod.rrTag(m, true)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	n := len(u.UriParams)
	u.UriParams = concat(u.UriParams, ftagParam(tag), mod.lrParam(), st.pending)
	mod.addRR(m, st, kindAdvertised, n, &sip.RecordRouteHeader{Address: *u})
	return kemi.OK
}

// recordRoutePreset adds Record-Route headers with fixed addresses: one,
// or two (addr1 for the outgoing side on top, addr2 for the incoming
// side) when addr2 is given.
func (mod *Module) recordRoutePreset(m *kemi.Msg, fn, addr1, addr2 string) kemi.Value {
	st := mod.startRR(m, fn)
	if st == nil {
		return kemi.Fail
	}
	if addr2 != "" && mod.doubleRR == 0 {
		m.Errorf(mod.log, "%s: two addresses while enable_double_rr is off", fn)
		return kemi.Fail
	}
	user, err := mod.rrUser(m)
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	tag := ""
	if mod.appendFromtag {
		var ok bool
		if tag, ok = m.FromPart(kemi.PartTag); !ok {
			m.Errorf(mod.log, "%s: no From header", fn)
			return kemi.Fail
		}
	}
	var hs []*sip.RecordRouteHeader
	for _, addr := range []string{addr1, addr2} {
		if addr == "" && len(hs) > 0 {
			break
		}
		u, err := mod.presetURI(m, user, addr)
		if err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			return kemi.Fail
		}
		u.UriParams = concat(u.UriParams, ftagParam(tag), st.pending, mod.lrParam())
		hs = append(hs, &sip.RecordRouteHeader{Address: *u})
	}
	mod.addRR(m, st, kindPreset, 0, hs...)
	return kemi.OK
}

// addRR puts hs above every header of m, where Kamailio writes its
// Record-Route (and so above the Record-Routes already there; below the
// headers the script inserted at the top before, as Kamailio's lumps), and
// remembers them.
func (mod *Module) addRR(m *kemi.Msg, st *state, kind rrKind, addrN int, hs ...*sip.RecordRouteHeader) {
	add := make([]sip.Header, len(hs))
	for i, h := range hs {
		add[i] = h
	}
	m.AddHeaders(kemi.PlaceFirst, "", add...)
	st.hdrs = hs
	st.kind = kind
	st.addrN = addrN
	st.pending, st.pendingLen = nil, 0
	st.sentInner, st.sentOuter = nil, nil
	// Kamailio lets a branch route record-route every branch
	st.added = m.Route != kemi.RouteBranch
	mod.recordRoutes.Inc()
}

// presetURI parses a Record-Route address given by the script: "host",
// "host:port", with URI parameters if wanted, and no scheme.
func (mod *Module) presetURI(m *kemi.Msg, user, addr string) (*sip.Uri, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return nil, fmt.Errorf("empty address")
	}
	low := strings.ToLower(addr)
	if strings.HasPrefix(low, "sip:") || strings.HasPrefix(low, "sips:") {
		return nil, fmt.Errorf("address %q must not have a scheme (it is added)", addr)
	}
	if strings.ContainsAny(addr, "<>\", \t\r\n") {
		return nil, fmt.Errorf("invalid address %q", addr)
	}
	text := mod.scheme(m) + ":"
	if user != "" {
		text += user + "@"
	}
	text += addr
	var u sip.Uri
	if err := sip.ParseUri(text, &u); err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid address %q", addr)
	}
	if u.UriParams == nil {
		u.UriParams = sip.NewParams()
	}
	return &u, nil
}

// scheme is "sips" when the R-URI is a sips URI (unless ignore_sips).
func (mod *Module) scheme(m *kemi.Msg) string {
	if mod.ignoreSips {
		return "sip"
	}
	if s, _ := m.RURIPart(kemi.PartScheme); s == "sips" {
		return "sips"
	}
	return "sip"
}

// rrUser is the user part of our Record-Route URI with add_username: the
// custom_user_avp value, else the user of the R-URI as received, else of
// the R-URI as it is now.
func (mod *Module) rrUser(m *kemi.Msg) (string, error) {
	if !mod.addUsername {
		return "", nil
	}
	if mod.customUser != nil {
		if v, err := mod.customUser.Get(m); err == nil && !v.IsNull() && v.String() != "" {
			return v.String(), nil
		}
	}
	var u sip.Uri
	if m.OrigURI != "" {
		if err := sip.ParseUri(m.OrigURI, &u); err != nil {
			return "", fmt.Errorf("invalid R-URI %q", m.OrigURI)
		}
	}
	if u.User == "" && m.RURI() != m.OrigURI {
		now, _ := m.RURIValue()
		return now.User, nil
	}
	return u.User, nil
}

// rrTag is the tag for the ftag parameter (append_fromtag): the From tag,
// or the To tag of an in-dialog request going upstream, so that ftag
// always names the caller.
func (mod *Module) rrTag(m *kemi.Msg, directional bool) (string, error) {
	if !mod.appendFromtag {
		return "", nil
	}
	if directional && mod.upstream(m) {
		tag, ok := m.ToPart(kemi.PartTag)
		if !ok {
			return "", fmt.Errorf("no To header")
		}
		return tag, nil
	}
	tag, ok := m.FromPart(kemi.PartTag)
	if !ok {
		return "", fmt.Errorf("no From header")
	}
	return tag, nil
}

func (mod *Module) lrParam() sip.HeaderParams {
	if mod.fullLR {
		return sip.HeaderParams{{K: "lr", V: "on"}}
	}
	return sip.HeaderParams{{K: "lr"}}
}

func ftagParam(tag string) sip.HeaderParams {
	if tag == "" {
		return nil
	}
	return sip.HeaderParams{{K: "ftag", V: tag}}
}

// sockParams are the address parameters of a socket in our URIs: the
// transport (not for UDP) and, with sockname_mode, the socket name. proto
// is the message's transport on that socket: SIP over WebSocket on a tcp
// or tls listener (upgraded there by ksr_xhttp_event) is transport=ws, as
// Kamailio writes it for WS and WSS alike.
func (mod *Module) sockParams(s *kemi.Socket, proto string) sip.HeaderParams {
	var out sip.HeaderParams
	t, ok := kemi.URIProto(s.Proto)
	if p := strings.ToLower(proto); p == "ws" || p == "wss" {
		t, ok = "ws", true
	}
	if ok && t != "udp" {
		out = append(out, sip.HeaderKV{K: "transport", V: t})
	}
	if mod.socknameMode && s.Name != "" {
		out = append(out, sip.HeaderKV{K: "sn", V: s.Name})
	}
	return out
}

// removeRecordRoute takes out the Record-Route headers rr added. As in
// Kamailio, record-routing again is still refused afterwards.
func (mod *Module) removeRecordRoute(m *kemi.Msg, _ kemi.Args) kemi.Value {
	st := stateOf(m)
	if st == nil || !m.IsRequest() {
		return kemi.OK
	}
	st.undoSent(m)
	for _, h := range st.hdrs {
		m.RemoveAddedHeader(h)
	}
	st.hdrs = nil
	return kemi.OK
}

// addRRParam adds parameters to our Record-Route, or keeps them for the
// Record-Route still to be added.
func (mod *Module) addRRParam(m *kemi.Msg, a kemi.Args) kemi.Value {
	const fn = "add_rr_param"
	if !m.IsRequest() {
		m.Errorf(mod.log, "%s: not a request", fn)
		return kemi.Fail
	}
	ps, err := parseParams(a.Str(0))
	if err == nil && len(ps) == 0 {
		err = fmt.Errorf("no parameter")
	}
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	st := ensureState(m)
	if st.done(m) {
		for _, h := range append(append([]*sip.RecordRouteHeader(nil), st.hdrs...), st.sentInner, st.sentOuter) {
			if h != nil {
				h.Address.UriParams = concat(h.Address.UriParams, ps)
				m.HeaderChanged(h) // the lazy form writes it again
			}
		}
		return kemi.OK
	}
	if st.pendingLen+len(a.Str(0)) > maxPendingParams {
		m.Errorf(mod.log, "%s: more than %d bytes of parameters", fn, maxPendingParams)
		return kemi.Fail
	}
	st.pending = concat(st.pending, ps)
	st.pendingLen += len(a.Str(0))
	return kemi.OK
}

// WantsSend reports whether BeforeSend may have work to do for origin:
// record_route ran, and a double Record-Route may be needed (enable_double_rr,
// not a preset one, more than one socket to leave from) or a stateless
// send left one in the request. Otherwise a lazy request is forwarded as
// it is, Record-Route included.
func (mod *Module) WantsSend(origin *kemi.Msg) bool {
	st := stateOf(origin)
	if st == nil || len(st.hdrs) == 0 {
		return false
	}
	if st.sentInner != nil || st.sentOuter != nil {
		return true
	}
	if mod.doubleRR == 0 || st.kind == kindPreset {
		return false
	}
	return origin.Host == nil || len(origin.Host.Sockets()) > 1 || mod.doubleRR == 2
}

// BeforeSend adds the double Record-Route: when rr record-routed origin
// and req leaves over another socket or transport than origin came in on,
// our Record-Route (the top one of req) gets r2=on and a second one for
// the outgoing socket goes above it, so that in-dialog requests are routed
// whichever side they come from.
func (mod *Module) BeforeSend(origin *kemi.Msg, req *sip.Request, dst *kemi.Dest) {
	if origin == nil || req == nil || dst == nil {
		return
	}
	st := stateOf(origin)
	if st == nil || len(st.hdrs) == 0 {
		return
	}
	rm := origin
	own := origin.Lazy() == nil && req == origin.Request() // a lazy origin has no sipgo request
	if own {
		// a stateless send changes the request itself: start again from
		// the Record-Route as record_route made it
		st.undoSent(origin)
	} else {
		rm = kemi.RequestMsg(req)
		normalizeCopy(rm, st)
	}
	if mod.doubleRR == 0 || st.kind == kindPreset || dst.Sock == nil {
		return
	}
	idx, hs := recordRoutes(rm)
	if len(hs) == 0 {
		return
	}
	top := hs[0]
	if own && top != st.hdrs[0] || !own && top.Value() != st.hdrs[0].Value() {
		return // not ours on top: the script put another one there
	}
	if !mod.needDouble(st.kind, origin, dst) {
		return
	}
	inner, outer := mod.doubled(origin, st, dst)
	rm.HeaderList()[idx[0]] = inner
	fixRef(rm, inner.Name())
	rm.InsertHeadersAt(idx[0], outer)
	if own {
		st.sentInner, st.sentOuter = inner, outer
	}
	mod.doubles.Inc()
}

// BeforeSendLazy is BeforeSend for a stateless forward of origin still
// in its lazy form (kemi.LazySendHook): the double Record-Route, when
// needed, replaces ours for this send only.
func (mod *Module) BeforeSendLazy(origin *kemi.Msg, dst *kemi.Dest) bool {
	st := stateOf(origin)
	switch {
	case origin == nil || dst == nil || origin.Lazy() == nil:
		return false
	case st == nil || len(st.hdrs) == 0:
		return true
	case st.sentInner != nil || st.sentOuter != nil:
		return false // left by a send in sipgo's form: BeforeSend undoes it
	case mod.doubleRR == 0 || st.kind == kindPreset || dst.Sock == nil:
		return true
	case !origin.FirstOfName(st.hdrs[0]):
		return true // not ours on top: the script put another one there
	case !mod.needDouble(st.kind, origin, dst):
		return true
	}
	inner, outer := mod.doubled(origin, st, dst)
	if !origin.ReplaceAddedForSend(st.hdrs[0], outer, inner) {
		return false
	}
	mod.doubles.Inc()
	return true
}

// normalizeCopy undoes, in a copy of the request, the double Record-Route
// that a stateless send left in the request it was copied from.
func normalizeCopy(rm *kemi.Msg, st *state) {
	if st.sentInner == nil || st.sentOuter == nil {
		return
	}
	_, hs := recordRoutes(rm)
	if len(hs) < 2 || hs[0].Value() != st.sentOuter.Value() || hs[1].Value() != st.sentInner.Value() {
		return
	}
	rm.RemoveHeaderValue(hs[0])
	replaceHeader(rm, hs[1], st.hdrs[0].Clone())
}

// needDouble is Kamailio's condition for the second Record-Route:
// always with enable_double_rr = 2; otherwise another transport, address
// or port (record_route), or another transport
// (record_route_advertised_address).
func (mod *Module) needDouble(kind rrKind, origin *kemi.Msg, dst *kemi.Dest) bool {
	if mod.doubleRR == 2 {
		return true
	}
	rcv, snd := origin.Rcv, dst.Sock
	if rcv == nil {
		return false
	}
	if !strings.EqualFold(rcv.Proto, snd.Proto) || (origin.Proto != "" && dst.Proto != "" && !strings.EqualFold(origin.Proto, dst.Proto)) {
		return true
	}
	return kind == kindAuto && rcv.Addr != snd.Addr
}

// doubled builds the two Record-Route headers of a double record-route:
// ours for the incoming side (inner) and one for the outgoing side (outer),
// both with r2=on.
func (mod *Module) doubled(origin *kemi.Msg, st *state, dst *kemi.Dest) (inner, outer *sip.RecordRouteHeader) {
	base := st.hdrs[0].Address
	n := min(st.addrN, len(base.UriParams))
	addr, rest := base.UriParams[:n], base.UriParams[n:]
	r2 := sip.HeaderParams{{K: "r2", V: "on"}}
	snd := dst.Sock
	var inAddr, outAddr sip.HeaderParams
	outHost, outPort := base.Host, base.Port
	switch st.kind {
	case kindAdvertised:
		// the given address on both sides, with the transports told apart
		data := withoutParam(addr, "transport")
		rcvProto := origin.Proto
		if origin.Rcv != nil {
			rcvProto = origin.Rcv.Proto
		}
		inAddr = concat(data, sip.HeaderParams{{K: "transport", V: strings.ToLower(rcvProto)}})
		outAddr = concat(data, sip.HeaderParams{{K: "transport", V: strings.ToLower(snd.Proto)}})
	default:
		inAddr = addr
		outAddr = mod.sockParams(snd, dst.Proto)
		outHost = snd.AdvHost
		if outHost == "" {
			outHost = origin.AdvHost
		}
		if outHost == "" {
			outHost = snd.Addr.Addr().Unmap().String()
		}
		outPort = snd.AdvPort
		if outPort == 0 && snd.AdvHost == "" {
			outPort = origin.AdvPort
		}
		if outPort == 0 {
			outPort = int(snd.Addr.Port())
		}
	}
	iu := *base.Clone()
	iu.UriParams = concat(inAddr, r2, rest)
	ou := *base.Clone()
	ou.Host, ou.Port = bareHost(outHost), outPort
	ou.UriParams = concat(outAddr, r2, rest)
	return &sip.RecordRouteHeader{Address: iu}, &sip.RecordRouteHeader{Address: ou}
}
