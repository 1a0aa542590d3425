package rr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Return codes of loose_route, as in Kamailio.
const (
	resRouted    = 1  // the next hop comes from the route set
	resNotRouted = -1 // no Route header, or nothing left after ours; also errors
	resPreloaded = -3 // an initial request whose only Route (ours) was removed
	// 2 (routed by an outbound flow token) and -2 (tampered flow token)
	// need Kamailio's outbound module and are never returned.
)

// E_CFG, what Kamailio's is_direction returns for a wrong call.
const errCfg = -6

// looseRoute routes a request along its route set (RFC 3261 §16.4,
// §16.12), as Kamailio's loose_route_mode.
func (mod *Module) looseRoute(m *kemi.Msg, mode int) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "loose_route: not a request")
		mod.lrErrors.Inc()
		return kemi.Int(resNotRouted)
	}
	st := ensureState(m)
	st.routed, st.params, st.nextHop = false, nil, false
	routes, err := routeHeaders(m)
	if err != nil {
		m.Errorf(mod.log, "loose_route: %v", err)
		mod.lrErrors.Inc()
		return kemi.Int(resNotRouted)
	}
	if len(routes) == 0 {
		mod.notRouted.Inc()
		return kemi.Int(resNotRouted)
	}
	totag, ok := m.ToPart(kemi.PartTag)
	if !ok {
		m.Errorf(mod.log, "loose_route: no To header")
		mod.lrErrors.Inc()
		return kemi.Int(resNotRouted)
	}
	preloaded := totag == ""
	var res int
	ruri, _ := m.RURIValue()
	strict := !preloaded && mode&modeLooseOnly == 0 && uriIsMyself(m, &ruri)
	if m.Lazy() != nil && (strict || !allLoose(routes)) {
		// a strict router before or after us: the R-URI and the Route
		// set change places, on sipgo's form
		m.Request()
		if routes, err = routeHeaders(m); err != nil {
			m.Errorf(mod.log, "loose_route: %v", err)
			mod.lrErrors.Inc()
			return kemi.Int(resNotRouted)
		}
	}
	if strict {
		res, err = mod.afterStrict(m, st, routes)
	} else {
		res, err = mod.afterLoose(m, st, routes, preloaded)
	}
	switch {
	case err != nil:
		m.Errorf(mod.log, "loose_route: %v", err)
		mod.lrErrors.Inc()
		return kemi.Int(resNotRouted)
	case res == resPreloaded:
		mod.preloaded.Inc()
	case res == resNotRouted:
		mod.notRouted.Inc()
	case strict:
		mod.strict.Inc()
	default:
		mod.routed.Inc()
	}
	if st.routed && len(st.params) > 0 {
		// Kamailio's rr callbacks: only when our Route had parameters
		mod.runRouted(m, st.params)
	}
	return kemi.Int(res)
}

// afterLoose handles a request whose previous hop was a loose router: our
// Route on top (two with r2) is removed and the next Route, if any, gives
// the next hop.
func (mod *Module) afterLoose(m *kemi.Msg, st *state, routes []*sip.RouteHeader, preloaded bool) (int, error) {
	first := &routes[0].Address
	if err := checkRoute(first); err != nil {
		return resNotRouted, err
	}
	if !uriIsMyself(m, first) {
		// a route set that does not start with us: follow it
		return resRouted, routeTo(m, routes, 0)
	}
	st.routed = true
	st.params = first.UriParams.Clone()
	r2 := mod.doubleRR != 0 && hasParam(first.UriParams, "r2")
	if mod.forceSendSock && !r2 {
		mod.forceSocket(m, first, false)
	}
	dropRoute(m, routes[0])
	done := resRouted
	if preloaded {
		done = resPreloaded
	}
	next := 1
	if next == len(routes) {
		return done, nil
	}
	if r2 {
		// the second of our double Record-Route: leave over its socket
		if err := checkRoute(&routes[1].Address); err != nil {
			return resNotRouted, err
		}
		mod.forceSocket(m, &routes[1].Address, true)
		dropRoute(m, routes[1])
		next++
		if next == len(routes) {
			return done, nil
		}
	}
	st.nextHop = true
	return resRouted, routeTo(m, routes, next)
}

// afterStrict handles a request whose previous hop was a strict router:
// the R-URI is ours (it carries our Record-Route URI) and the remote target
// is the last Route.
func (mod *Module) afterStrict(m *kemi.Msg, st *state, routes []*sip.RouteHeader) (int, error) {
	params := m.Request().Recipient.UriParams.Clone()
	for _, r := range []*sip.RouteHeader{routes[0], routes[len(routes)-1]} {
		if err := checkRoute(&r.Address); err != nil {
			return resNotRouted, err
		}
	}
	i := 0
	if first := &routes[0].Address; mod.doubleRR != 0 && hasParam(first.UriParams, "r2") && uriIsMyself(m, first) {
		mod.forceSocket(m, first, true)
		m.RemoveHeaderValue(routes[0])
		i++
		if i == len(routes) {
			return resNotRouted, nil
		}
	}
	st.routed = true
	st.params = params
	hop := routes[i]
	if err := checkRoute(&hop.Address); err != nil {
		return resNotRouted, err
	}
	if !hasParam(hop.Address.UriParams, "lr") {
		// strict next hop: it goes into the R-URI
		if err := m.SetRURI(maddrURI(&hop.Address)); err != nil {
			return resNotRouted, err
		}
		m.RemoveHeaderValue(hop)
		return resRouted, nil
	}
	// loose next hop: it becomes $du and the last Route, the remote target
	// the strict router put there, goes back into the R-URI
	m.DstURI = maddrURI(&hop.Address)
	last := routes[len(routes)-1]
	if err := m.SetRURI(maddrURI(&last.Address)); err != nil {
		return resNotRouted, err
	}
	m.RemoveHeaderValue(last)
	return resRouted, nil
}

// routeTo makes routes[i] the next hop: $du for a loose router; for a
// strict router (no lr) the R-URI goes to the end of the route set and
// routes[i] into the R-URI (RFC 3261 §16.12).
func routeTo(m *kemi.Msg, routes []*sip.RouteHeader, i int) error {
	hop := routes[i]
	if err := checkRoute(&hop.Address); err != nil {
		return err
	}
	if hasParam(hop.Address.UriParams, "lr") {
		m.DstURI = maddrURI(&hop.Address)
		// as Kamailio's loose_route: a new next hop makes the R-URI
		// relayable again (t_relay in a failure route forks it)
		m.MarkRURINew()
		return nil
	}
	saved := &sip.RouteHeader{Address: *m.Request().Recipient.Clone()}
	last := indexOf(m, routes[len(routes)-1])
	if err := m.SetRURI(maddrURI(&hop.Address)); err != nil {
		return err
	}
	m.InsertHeadersAt(last+1, saved)
	m.RemoveHeaderValue(hop)
	return nil
}

// allLoose reports whether every Route URI has the lr parameter: routing
// along it only removes Routes from the top and sets $du.
func allLoose(routes []*sip.RouteHeader) bool {
	for _, r := range routes {
		if !hasParam(r.Address.UriParams, "lr") {
			return false
		}
	}
	return true
}

// dropRoute removes r, the top Route, from m: the first value of the
// first Route header on the lazy form (whose routes routeHeaders parsed
// from the text), r itself on sipgo's form.
func dropRoute(m *kemi.Msg, r *sip.RouteHeader) {
	if m.Lazy() != nil {
		m.RemoveFirstValue("Route")
		return
	}
	m.RemoveHeaderValue(r)
}

// checkRoute refuses a Route URI that is no SIP URI with a host.
func checkRoute(u *sip.Uri) error {
	if u.Host == "" || u.Scheme != "" && !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips") {
		return fmt.Errorf("invalid Route URI %q", u.String())
	}
	return nil
}

// maddrURI is the URI to send to for a Route URI: sip:maddr[:port] when it
// has a maddr parameter, else the URI itself.
func maddrURI(u *sip.Uri) string {
	if maddr := paramValue(u.UriParams, "maddr"); maddr != "" {
		s := "sip:" + maddr
		if u.Port > 0 {
			s += ":" + strconv.Itoa(u.Port)
		}
		return s
	}
	return u.String()
}

// routeHeaders returns the Route headers of m in order, one per URI.
// Route headers sipgo kept as text (added as such by a module) are parsed
// and put back in structured form first. On the lazy form they are parsed
// from the text of the message, which stays as it is.
func routeHeaders(m *kemi.Msg) ([]*sip.RouteHeader, error) {
	if m.Lazy() != nil {
		var out []*sip.RouteHeader
		for _, body := range m.HeaderBodies("Route") {
			rs, err := parseRoutes(body)
			if err != nil {
				return nil, err
			}
			out = append(out, rs...)
		}
		return out, nil
	}
	for fixed := true; fixed; {
		fixed = false
		for i, h := range m.HeaderList() {
			if _, ok := h.(*sip.RouteHeader); ok || !kemi.HeaderNameIs(h.Name(), "Route") {
				continue
			}
			parsed, err := parseRoutes(h.Value())
			if err != nil {
				return nil, err
			}
			m.RemoveHeaderValue(h)
			for j := len(parsed) - 1; j >= 0; j-- {
				m.InsertHeadersAt(i, parsed[j])
			}
			fixed = true
			break
		}
	}
	var out []*sip.RouteHeader
	for _, h := range m.HeaderList() {
		if r, ok := h.(*sip.RouteHeader); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRoutes parses the body of a Route header into one header per URI.
func parseRoutes(body string) ([]*sip.RouteHeader, error) {
	parsed, err := kemi.ParseHeaders("Route: " + body)
	if err != nil {
		return nil, fmt.Errorf("invalid Route header %q", body)
	}
	out := make([]*sip.RouteHeader, 0, len(parsed))
	for _, p := range parsed {
		r, ok := p.(*sip.RouteHeader)
		if !ok {
			return nil, fmt.Errorf("invalid Route header %q", body)
		}
		out = append(out, r)
	}
	return out, nil
}

// topRoute returns the first Route URI of m, parsed, or nil.
func topRoute(m *kemi.Msg) *sip.RouteHeader {
	if m.Lazy() != nil {
		body, ok := m.HeaderBody("Route")
		if !ok {
			return nil
		}
		rs, err := parseRoutes(body)
		if err != nil {
			return nil
		}
		return rs[0]
	}
	for _, h := range m.HeaderList() {
		if r, ok := h.(*sip.RouteHeader); ok {
			return r
		}
	}
	return nil
}

// forceSocket makes the request leave over the socket our Route URI
// names (Kamailio's set_force_socket): by its sn parameter in
// sockname_mode, else by host, port and transport.
func (mod *Module) forceSocket(m *kemi.Msg, u *sip.Uri, second bool) {
	if m.Host == nil {
		return
	}
	if mod.socknameMode {
		if sn := paramValue(u.UriParams, "sn"); sn != "" {
			if s := m.Host.FindSocket(sn); s != nil {
				m.SendSock = s
				return
			}
		}
	}
	socks := m.Host.Sockets()
	s := kemi.SocketFor(socks, uriProto(u), u.Host, defaultPort(u))
	if s == nil && u.Port == 0 {
		s = kemi.SocketFor(socks, uriProto(u), u.Host, 0)
	}
	if s != nil {
		m.SendSock = s
		return
	}
	if second && mod.mismatchWarn {
		mod.log.Warn("no socket found to match the second Route", "uri", u.String(), "myself", uriIsMyself(m, u), "at", m.Where())
	}
}

// routedParams are the parameters of our URI that loose_route consumed;
// before loose_route (or when it found no Route of ours) those of the top
// Route, when it is ours.
func routedParams(m *kemi.Msg) (sip.HeaderParams, bool) {
	if st := stateOf(m); st != nil && st.routed && len(st.params) > 0 {
		return st.params, true
	}
	if !m.IsRequest() {
		return nil, false
	}
	if r := topRoute(m); r != nil && uriIsMyself(m, &r.Address) {
		return r.Address.UriParams, true
	}
	return nil, false
}

// checkRouteParam matches the parameters of our consumed Route
// (";lr;ftag=...;nat=yes") against a regular expression, ignoring case.
func (mod *Module) checkRouteParam(m *kemi.Msg, a kemi.Args) kemi.Value {
	re, err := mod.res.Get(a.Str(0), kemi.RegexICase) // case-insensitive, as in Kamailio
	if err != nil {
		m.Errorf(mod.log, "check_route_param: bad regular expression %q: %v", a.Str(0), err)
		return kemi.Fail
	}
	ps, ok := routedParams(m)
	if !ok || len(ps) == 0 {
		return kemi.Fail
	}
	return kemi.IntBool(re.MatchString(paramText(ps)))
}

// upstream reports whether an in-dialog request goes from callee to
// caller: the ftag of our consumed Route is not the From tag.
func (mod *Module) upstream(m *kemi.Msg) bool {
	ps, ok := routedParams(m)
	if !ok {
		return false
	}
	ftag := paramValue(ps, "ftag")
	if ftag == "" || !m.IsRequest() {
		return false
	}
	tag, _ := m.FromPart(kemi.PartTag)
	return tag != "" && tag != ftag
}

// isDirection tests the direction of an in-dialog request.
func (mod *Module) isDirection(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.appendFromtag {
		m.Errorf(mod.log, "is_direction: needs the parameter append_fromtag on")
		return kemi.Int(errCfg)
	}
	var up bool
	switch strings.ToLower(a.Str(0)) {
	case "downstream":
	case "upstream":
		up = true
	default:
		m.Errorf(mod.log, "is_direction: unknown direction %q (want downstream or upstream)", a.Str(0))
		return kemi.Int(errCfg)
	}
	return kemi.IntBool(mod.upstream(m) == up)
}
