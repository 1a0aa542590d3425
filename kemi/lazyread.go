package kemi

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
)

// The read-only accessors of the script's pseudo-variables and KSR
// functions ($hdr, $fu, $rU, KSR.hdr.get, has_totag...). Each answers
// from the lazy message while there is one, so that a route that only
// reads never has sipgo parse the message (see lazy.go), and otherwise
// from sipgo's form as before. The semantic values (user, host, port,
// tag, display name, numbers) are the same in both forms; what differs
// is how a whole header value or URI is written: the lazy form gives
// the text as received (Kamailio's answer), sipgo's form its own
// rendering, which for a well-formed message is mostly the same text.
// Every string returned is a copy: the lazy message's bytes belong to
// the receive buffer, which the engine reuses after the route.

// MsgPart names a part of the Request-URI or of a From or To header, for
// RURIPart, FromPart and ToPart.
type MsgPart uint8

// The parts RURIPart, FromPart and ToPart return.
const (
	// PartURI is the whole URI as text.
	PartURI MsgPart = iota
	// PartUser is the user part of the URI, escapes kept.
	PartUser
	// PartHost is the host of the URI; an IPv6 reference keeps its
	// brackets.
	PartHost
	// PartPort is the port of the URI in decimal, "" when it has none.
	PartPort
	// PartScheme is the URI scheme in lower case.
	PartScheme
	// PartTransport is the transport parameter of the URI as written, ""
	// when it has none.
	PartTransport
	// PartDisplay is the display name of a From or To header, without
	// its quotes (escapes kept), "" when none.
	PartDisplay
	// PartTag is the tag parameter of a From or To header, "" when none.
	PartTag
)

// HeaderBody returns the body of the first header called name (compact
// forms match, case-insensitively) and whether there is one. On the lazy
// form the body is the header's value as received, a comma list whole
// (Kamailio's hdr->body), folded lines joined by a space; on sipgo's form
// it is sipgo's rendering of its first value (HeaderValue).
func (m *Msg) HeaderBody(name string) (string, bool) {
	if m.lazy == nil {
		return m.HeaderValue(name)
	}
	return m.HeaderBodyAt(name, 0)
}

// HeaderBodyAt returns the body of the idx-th header called name (0 is
// the first; a negative idx counts from the end, -1 is the last) and
// whether there is one. The lazy form counts header lines, sipgo's form
// the values it split them into (HeaderAt).
func (m *Msg) HeaderBodyAt(name string, idx int) (string, bool) {
	lm := m.lazy
	if lm == nil {
		return m.HeaderAt(name, idx)
	}
	if idx < 0 {
		idx += m.HeaderCount(name)
		if idx < 0 {
			return "", false
		}
	}
	id := lazyHeader(lm, name, idx)
	if id == sipmsg.NoHeader {
		return "", false
	}
	return headerText(lm.Value(id)), true
}

// HeaderBodies returns the bodies of every header called name, in order
// (see HeaderBody for what a body is in each form).
func (m *Msg) HeaderBodies(name string) []string {
	lm := m.lazy
	if lm == nil {
		return m.HeaderValues(name)
	}
	name = strings.TrimSpace(name)
	t := headerType(name)
	var out []string
	for id := range lm.Headers() {
		if lazyHeaderIs(lm, id, t, name) {
			out = append(out, headerText(lm.Value(id)))
		}
	}
	return out
}

// AllHeaderBodies returns the body of every header of the message in
// order, whatever its name ($hdr(*)).
func (m *Msg) AllHeaderBodies() []string {
	lm := m.lazy
	if lm == nil {
		var out []string
		for _, h := range m.HeaderList() {
			out = append(out, h.Value())
		}
		return out
	}
	var out []string
	for id := range lm.Headers() {
		out = append(out, headerText(lm.Value(id)))
	}
	return out
}

// HeaderCount returns how many headers are called name: header lines on
// the lazy form (Kamailio's $hdrc), the values sipgo split them into on
// sipgo's form.
func (m *Msg) HeaderCount(name string) int {
	lm := m.lazy
	if lm == nil {
		return len(m.Headers(name))
	}
	name = strings.TrimSpace(name)
	t := headerType(name)
	n := 0
	for id := range lm.Headers() {
		if lazyHeaderIs(lm, id, t, name) {
			n++
		}
	}
	return n
}

// HeaderPresent reports whether a header called name is present (HasHeader
// without asking for sipgo's form).
func (m *Msg) HeaderPresent(name string) bool {
	if lm := m.lazy; lm != nil {
		return lazyHeader(lm, name, 0) != sipmsg.NoHeader
	}
	return m.HasHeader(name)
}

// lazyHeader returns the idx-th (from 0) header of lm called name,
// NoHeader when there is none.
func lazyHeader(lm *sipmsg.Msg, name string, idx int) sipmsg.HeaderID {
	name = strings.TrimSpace(name)
	t := headerType(name)
	for id := range lm.Headers() {
		if !lazyHeaderIs(lm, id, t, name) {
			continue
		}
		if idx == 0 {
			return id
		}
		idx--
	}
	return sipmsg.NoHeader
}

// headerType is the sipmsg type of a header name given by the script
// (HdrOther for a name sipmsg does not know, and for "").
func headerType(name string) sipmsg.HdrType {
	if name == "" {
		return sipmsg.HdrOther
	}
	// a string's bytes for a lookup: TypeOf keeps nothing
	return sipmsg.TypeOf([]byte(name))
}

// lazyHeaderIs reports whether header id of lm is called name, whose type
// is t: by type for a well-known header (so that compact forms match), by
// name otherwise, as HeaderNameIs does on sipgo's form.
func lazyHeaderIs(lm *sipmsg.Msg, id sipmsg.HeaderID, t sipmsg.HdrType, name string) bool {
	if t != sipmsg.HdrOther {
		return lm.Type(id) == t
	}
	return lm.Type(id) == sipmsg.HdrOther && name != "" && asciiEqualFold(lm.Name(id), name)
}

// asciiEqualFold compares a header name with s, ASCII letters in any case
// (header names are tokens: ASCII only).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// headerText returns a header value as a string, a folded value on one
// line: a script that copies it into another header must not carry line
// breaks along (sipgo's form has none either).
func headerText(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	return string(sipmsg.Unfold(make([]byte, 0, len(v)), v))
}

// RURIPart returns a part of the Request-URI (see MsgPart; PartDisplay
// and PartTag are always "") and whether there is one: false for a reply
// and for a Request-URI that does not parse. A URI that is not sip or
// sips (tel:...) has no user, host, port or parameters.
func (m *Msg) RURIPart(p MsgPart) (string, bool) {
	lm := m.lazy
	if lm == nil {
		if !m.IsRequest() {
			return "", false
		}
		return sipgoURIPart(&m.Request().Recipient, p), true
	}
	if !lm.IsRequest() {
		return "", false
	}
	if p == PartURI {
		return string(lm.RURI()), true
	}
	u, err := lm.ParsedRURI()
	if err != nil {
		return "", false
	}
	return lazyURIPart(&u, p), true
}

// FromPart returns a part of the first From header (see MsgPart) and
// whether there is one.
func (m *Msg) FromPart(p MsgPart) (string, bool) { return m.addrPart(false, p) }

// ToPart returns a part of the first To header (see MsgPart) and whether
// there is one.
func (m *Msg) ToPart(p MsgPart) (string, bool) { return m.addrPart(true, p) }

// addrPart is FromPart (to false) and ToPart (to true).
func (m *Msg) addrPart(to bool, p MsgPart) (string, bool) {
	lm := m.lazy
	if lm == nil {
		return m.sipgoAddrPart(to, p)
	}
	var (
		na  sipmsg.NameAddr
		err error
	)
	if to {
		na, err = lm.To()
	} else {
		na, err = lm.From()
	}
	if err != nil {
		// missing, or (for a message the engine did not check) broken
		return "", false
	}
	switch p {
	case PartURI:
		return string(na.URI), true
	case PartDisplay:
		return displayName(na.Display), true
	case PartTag:
		return string(na.Tag), true
	}
	u, err := sipmsg.ParseURI(na.URI)
	if err != nil {
		return "", false
	}
	return lazyURIPart(&u, p), true
}

// sipgoAddrPart is addrPart on sipgo's form: the first From or To header
// of the list (sipgo's shortcut may point at another one).
func (m *Msg) sipgoAddrPart(to bool, p MsgPart) (string, bool) {
	for _, h := range m.HeaderList() {
		var (
			uri     *sip.Uri
			display string
			params  sip.HeaderParams
		)
		switch x := h.(type) {
		case *sip.FromHeader:
			if to {
				continue
			}
			uri, display, params = &x.Address, x.DisplayName, x.Params
		case *sip.ToHeader:
			if !to {
				continue
			}
			uri, display, params = &x.Address, x.DisplayName, x.Params
		default:
			continue
		}
		switch p {
		case PartDisplay:
			return display, true
		case PartTag:
			tag, _ := params.Get("tag")
			return tag, true
		}
		return sipgoURIPart(uri, p), true
	}
	return "", false
}

// displayName returns a display name as sipgo gives it: a quoted one
// without its quotes (the escapes inside kept), an unquoted one as
// written.
func displayName(d []byte) string {
	if len(d) >= 2 && d[0] == '"' && d[len(d)-1] == '"' {
		d = d[1 : len(d)-1]
	}
	return string(d)
}

// lazyURIPart returns part p of a URI parsed by sipmsg.
func lazyURIPart(u *sipmsg.URI, p MsgPart) string {
	switch p {
	case PartUser:
		return string(u.User)
	case PartHost:
		return string(u.Host)
	case PartPort:
		if u.PortNum == 0 {
			return ""
		}
		return strconv.Itoa(u.PortNum)
	case PartScheme:
		return lowerASCII(u.Scheme)
	case PartTransport:
		t, _ := u.Param("transport")
		return string(t)
	}
	return ""
}

// sipgoURIPart returns part p of a sipgo URI.
func sipgoURIPart(u *sip.Uri, p MsgPart) string {
	switch p {
	case PartURI:
		return u.String()
	case PartUser:
		return u.User
	case PartHost:
		return u.Host
	case PartPort:
		if u.Port == 0 {
			return ""
		}
		return strconv.Itoa(u.Port)
	case PartScheme:
		if u.Scheme == "" {
			return "sip" // as sipgo writes it
		}
		return strings.ToLower(u.Scheme)
	case PartTransport:
		for _, kv := range u.UriParams {
			if strings.EqualFold(kv.K, "transport") {
				return kv.V
			}
		}
	}
	return ""
}

// lowerASCII returns b as a string in lower case, without a second copy
// when it already is.
func lowerASCII(b []byte) string {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(string(b))
		}
	}
	return string(b)
}

// LazyViaTarget is ViaTarget for a Via of a lazy message: where a reply
// to it goes, received and rport first, then sent-by with the default
// port of its transport; the host without IPv6 brackets, proto in lower
// case.
func LazyViaTarget(v sipmsg.Via) (host string, port int, proto string) {
	proto = LowerProto(v.Transport)
	h := v.Host
	if len(v.Received) > 0 {
		h = v.Received
	}
	port = v.PortNum
	if len(v.Rport) > 0 {
		if p, err := strconv.Atoi(string(v.Rport)); err == nil {
			port = p
		}
	}
	if port == 0 {
		port = DefaultPort(proto)
	}
	return string(bytes.TrimSuffix(bytes.TrimPrefix(h, []byte("[")), []byte("]"))), port, proto
}

// LowerProto returns a Via transport in lower case, without allocating
// for the usual ones.
func LowerProto(t []byte) string {
	for _, p := range [...]string{"udp", "tcp", "tls", "sctp", "ws", "wss"} {
		if bytes.EqualFold(t, []byte(p)) {
			return p
		}
	}
	return lowerASCII(t)
}

// CSeqNum returns the number of the CSeq header and whether there is one
// that parses.
func (m *Msg) CSeqNum() (uint32, bool) {
	if lm := m.lazy; lm != nil {
		cs, err := lm.CSeq()
		if err != nil {
			return 0, false
		}
		return cs.Num, true
	}
	for _, h := range m.HeaderList() {
		if cs, ok := h.(*sip.CSeqHeader); ok {
			return cs.SeqNo, true
		}
	}
	return 0, false
}

// Reason returns the reason phrase of a reply, "" for a request.
func (m *Msg) Reason() string {
	if lm := m.lazy; lm != nil {
		if lm.IsRequest() {
			return ""
		}
		return string(lm.Reason())
	}
	if m.res == nil {
		return ""
	}
	return m.res.Reason
}

// BodyText returns the message body as text and whether there is a
// message (an empty body is "", true).
func (m *Msg) BodyText() (string, bool) {
	if lm := m.lazy; lm != nil {
		return string(lm.Body()), true
	}
	s := m.SIP()
	if s == nil {
		return "", false
	}
	return string(s.Body()), true
}

// Current returns the message with every change made so far, as it would
// be written now ($mbu), "" when there is none. The lazy form writes the
// received text with its changes (Kamailio's lumps applied), sipgo's form
// its own rendering.
func (m *Msg) Current() string {
	if lm := m.lazy; lm != nil {
		return string(lm.AppendTo(make([]byte, 0, len(lm.Bytes())+256)))
	}
	if s := m.SIP(); s != nil {
		return s.String()
	}
	return ""
}

// ViaTargetAt returns where the i-th via-parm of the message (0 is the top
// one, a Via header with several values counts each) sends a reply:
// received and rport before sent-by, port 5060 (5061 for TLS) when none,
// the transport in lower case, an IPv6 host without brackets (see the
// function ViaTarget). ok is false
// when there is no such Via or it does not parse.
func (m *Msg) ViaTargetAt(i int) (host string, port int, proto string, ok bool) {
	lm := m.lazy
	if lm == nil {
		n := 0
		for _, h := range m.HeaderList() {
			if v, isVia := h.(*sip.ViaHeader); isVia {
				if n == i {
					host, port, proto = ViaTarget(v)
					return host, port, proto, true
				}
				n++
			}
		}
		return "", 0, "", false
	}
	n := 0
	for v, err := range lm.Vias() {
		if err != nil {
			return "", 0, "", false
		}
		if n < i {
			n++
			continue
		}
		host, port, proto = LazyViaTarget(v)
		return host, port, proto, true
	}
	return "", 0, "", false
}
