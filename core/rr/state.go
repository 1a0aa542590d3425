package rr

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// stateKey is the key of the rr state stored on a message.
type stateKey struct{}

// rrKind says which function added our Record-Route, because each builds
// (and doubles) its header differently.
type rrKind uint8

const (
	kindAuto       rrKind = iota + 1 // record_route, record_route_params
	kindAdvertised                   // record_route_advertised_address
	kindPreset                       // record_route_preset, record_route_preset_one
)

// state is what rr remembers about one message.
type state struct {
	// added is Kamailio's FL_RR_ADDED: a record_route function succeeded
	// outside a branch route, so another one is refused.
	added bool
	// hdrs are the Record-Route headers we put into the request, top
	// first (two only for record_route_preset with two addresses).
	hdrs []*sip.RecordRouteHeader
	kind rrKind
	// addrN is the number of leading URI parameters of hdrs[0] that
	// belong to the address (transport and sn for record_route, the
	// address's own parameters for record_route_advertised_address); the
	// double Record-Route replaces them and puts r2=on after them.
	addrN int
	// pending are the add_rr_param parameters given before record-routing.
	pending    sip.HeaderParams
	pendingLen int
	// sentInner and sentOuter are the double Record-Route put into the
	// request itself by a stateless send (req == origin.Req): sentInner
	// stands in for hdrs[0], sentOuter is above it. The next send, or
	// remove_record_route, undoes them.
	sentInner, sentOuter *sip.RecordRouteHeader

	// routed is set when loose_route consumed a Route of ours (or, after
	// a strict router, our URI in the R-URI); params are that URI's
	// parameters, for check_route_param and is_direction.
	routed bool
	params sip.HeaderParams
	// nextHop is Kamailio's FL_ROUTE_ADDR: our Route was removed and a
	// further Route gives the next hop.
	nextHop bool
}

func stateOf(m *kemi.Msg) *state {
	if m == nil {
		return nil
	}
	st, _ := m.Value(stateKey{}).(*state)
	return st
}

func ensureState(m *kemi.Msg) *state {
	if st := stateOf(m); st != nil {
		return st
	}
	st := &state{}
	m.SetValue(stateKey{}, st)
	return st
}

// done reports whether a Record-Route of ours is in the message.
func (st *state) done(m *kemi.Msg) bool {
	for _, h := range st.hdrs {
		if m.Holds(h) {
			return true
		}
	}
	return st.sentInner != nil && m.Holds(st.sentInner)
}

// undoSent takes the double Record-Route of an earlier stateless send out
// of m's request again, so that hdrs[0] is there as record_route made it.
func (st *state) undoSent(m *kemi.Msg) {
	if st.sentOuter != nil {
		m.RemoveAddedHeader(st.sentOuter)
	}
	if st.sentInner != nil && len(st.hdrs) > 0 {
		replaceHeader(m, st.sentInner, st.hdrs[0])
	}
	st.sentInner, st.sentOuter = nil, nil
}

// indexOf returns the position of header h (by identity) in m, or -1.
func indexOf(m *kemi.Msg, h sip.Header) int {
	for i, x := range m.HeaderList() {
		if x == h {
			return i
		}
	}
	return -1
}

// replaceHeader puts nh where old is and keeps sipgo's shortcut to the
// first header of that name right.
func replaceHeader(m *kemi.Msg, old, nh sip.Header) bool {
	i := indexOf(m, old)
	if i < 0 {
		return false
	}
	m.HeaderList()[i] = nh
	fixRef(m, nh.Name())
	return true
}

// fixRef points sipgo's shortcut for name at the first header so named.
func fixRef(m *kemi.Msg, name string) {
	for _, x := range m.HeaderList() {
		if x.Name() == name {
			if m.IsRequest() {
				m.Request().ReplaceHeader(x)
			}
			return
		}
	}
}

// recordRoutes returns the structured Record-Route headers of m, in order,
// with their positions in the header list.
func recordRoutes(m *kemi.Msg) (idx []int, hs []*sip.RecordRouteHeader) {
	for i, x := range m.HeaderList() {
		if h, ok := x.(*sip.RecordRouteHeader); ok {
			idx = append(idx, i)
			hs = append(hs, h)
		}
	}
	return idx, hs
}

// Parameter helpers. URI parameter names compare case-insensitively.

func paramIndex(ps sip.HeaderParams, name string) int {
	for i, kv := range ps {
		if strings.EqualFold(kv.K, name) {
			return i
		}
	}
	return -1
}

func hasParam(ps sip.HeaderParams, name string) bool { return paramIndex(ps, name) >= 0 }

func paramValue(ps sip.HeaderParams, name string) string {
	if i := paramIndex(ps, name); i >= 0 {
		return ps[i].V
	}
	return ""
}

// withoutParam returns a copy of ps without the parameters called name.
func withoutParam(ps sip.HeaderParams, name string) sip.HeaderParams {
	out := make(sip.HeaderParams, 0, len(ps))
	for _, kv := range ps {
		if !strings.EqualFold(kv.K, name) {
			out = append(out, kv)
		}
	}
	return out
}

// concat returns a new parameter list holding all the lists in order.
func concat(lists ...sip.HeaderParams) sip.HeaderParams {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make(sip.HeaderParams, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// paramText writes parameters as they appear in a URI: ";a=1;b".
func paramText(ps sip.HeaderParams) string {
	if len(ps) == 0 {
		return ""
	}
	return ";" + ps.ToString(';')
}

// parseParams parses Record-Route parameters given by the script:
// ";name=value" pairs, each name and value made of the characters RFC 3261
// allows in URI parameters. An empty text gives no parameters.
func parseParams(text string) (sip.HeaderParams, error) {
	if text == "" {
		return nil, nil
	}
	if text[0] != ';' {
		return nil, fmt.Errorf("parameters %q must start with ';'", text)
	}
	var out sip.HeaderParams
	for _, p := range strings.Split(text[1:], ";") {
		name, val, hasVal := strings.Cut(p, "=")
		if name == "" || !validParamText(name) || (hasVal && !validParamText(val)) {
			return nil, fmt.Errorf("invalid parameter %q in %q", p, text)
		}
		out = append(out, sip.HeaderKV{K: name, V: val})
	}
	return out, nil
}

// validParamText checks RFC 3261's paramchar: unreserved, escaped and
// "[]/:&+$".
func validParamText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()[]/:&+$", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// bareHost strips the brackets of an IPv6 reference; sipgo adds them back
// when it writes a URI.
func bareHost(h string) string { return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]") }

// uriProto returns the transport a URI asks for: its transport parameter,
// "tls" for a sips URI, or "" (any).
func uriProto(u *sip.Uri) string {
	if t := paramValue(u.UriParams, "transport"); t != "" {
		return strings.ToLower(t)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return "tls"
	}
	return ""
}

// defaultPort is the port a URI without one means.
func defaultPort(u *sip.Uri) int {
	if u.Port > 0 {
		return u.Port
	}
	if strings.EqualFold(u.Scheme, "sips") || uriProto(u) == "tls" {
		return 5061
	}
	return 5060
}

// uriIsMyself is Kamailio's check_self_uri: the host and port (5060 when
// absent) over any transport are ours, and the URI is not a GRUU.
func uriIsMyself(m *kemi.Msg, u *sip.Uri) bool {
	if m.Host == nil || u.Host == "" || hasParam(u.UriParams, "gr") {
		return false
	}
	return m.Host.IsMyself(bareHost(u.Host), defaultPort(u), "")
}
