package sipmsg

import (
	"bytes"
	"iter"
)

// Via is one via-parm (RFC 3261 §20.42), each part a sub-slice of the
// header value.
type Via struct {
	Protocol  []byte // "SIP"
	Version   []byte // "2.0"
	Transport []byte // "UDP", as written
	Host      []byte // an IPv6 reference keeps its brackets
	Port      []byte
	PortNum   int    // 0 when there is no port
	Params    []byte // after the first ';', without it
	Branch    []byte
	Received  []byte
	Rport     []byte // the value of rport, nil when it has none
	HasRport  bool
}

// ParseVia parses the first via-parm of a Via value and returns the rest
// after its comma (empty when it was the last one).
func ParseVia(v []byte) (Via, []byte, error) {
	if bytes.IndexByte(v, ',') < 0 {
		// one value, the common case: no need to walk it for a comma
		via, err := parseViaParm(trimLWS(v))
		return via, v[len(v):], err
	}
	s, e, next := nextItem(v, 0)
	via, err := parseViaParm(v[s:e])
	return via, v[next:], err
}

func parseViaParm(b []byte) (Via, error) {
	var via Via
	var ok bool
	p := 0
	if via.Protocol, p, ok = tokenAt(b, p); !ok {
		return via, valueErr("Via", "no protocol name")
	}
	if p = skipLWS(b, p); p >= len(b) || b[p] != '/' {
		return via, valueErr("Via", "no '/' after the protocol name")
	}
	if via.Version, p, ok = tokenAt(b, skipLWS(b, p+1)); !ok {
		return via, valueErr("Via", "no protocol version")
	}
	if p = skipLWS(b, p); p >= len(b) || b[p] != '/' {
		return via, valueErr("Via", "no '/' after the protocol version")
	}
	if via.Transport, p, ok = tokenAt(b, skipLWS(b, p+1)); !ok {
		return via, valueErr("Via", "no transport")
	}
	q := skipLWS(b, p)
	if q == p {
		return via, valueErr("Via", "no white space before sent-by")
	}
	p = q
	hs := p
	if p < len(b) && b[p] == '[' {
		for p < len(b) && b[p] != ']' {
			p++
		}
		p = min(p+1, len(b))
	} else {
		for p < len(b) && isHostChar(b[p]) {
			p++
		}
	}
	host, _, err := splitHostPort(b[hs:p])
	if err != nil {
		return via, valueErr("Via", "sent-by: "+err.Error())
	}
	via.Host = host
	p = skipLWS(b, p)
	if p < len(b) && b[p] == ':' {
		p = skipLWS(b, p+1)
		ps := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		via.Port = b[ps:p:p]
		if via.PortNum, err = portNum(via.Port); err != nil {
			return via, valueErr("Via", "sent-by: "+err.Error())
		}
		p = skipLWS(b, p)
	}
	if p == len(b) {
		return via, nil
	}
	if b[p] != ';' {
		return via, valueErr("Via", "junk after sent-by")
	}
	via.Params = b[p+1:]
	for rest := via.Params; len(rest) > 0; {
		var name, value []byte
		var ok bool
		name, value, rest, ok = NextParam(rest)
		if !ok {
			return via, valueErr("Via", "junk after a parameter value")
		}
		if !isToken(name) {
			return via, valueErr("Via", "parameter name is not a token")
		}
		switch {
		case equalFold(name, "branch"):
			// RFC 3261 wants a token, but the branch is an opaque key:
			// Kamailio takes about any value ("z9hG4bK-alice@host-1"
			// from UAs that put their user name in it), and so does kemi
			if len(value) == 0 {
				return via, valueErr("Via", "empty branch")
			}
			if !opaqueValue(value, `="`) {
				return via, valueErr("Via", `branch holds '=' or '"'`)
			}
			via.Branch = value
		case equalFold(name, "received"):
			if !isIPAddr(value) {
				return via, valueErr("Via", "received is not an IP address")
			}
			via.Received = value
		case equalFold(name, "rport"):
			if value != nil {
				if _, err := portNum(value); err != nil {
					return via, valueErr("Via", "rport: "+err.Error())
				}
			}
			via.Rport, via.HasRport = value, true
		}
	}
	return via, nil
}

// isIPAddr reports a dotted IPv4 address, or the characters of an IPv6
// one (brackets allowed): received is where replies go (RFC 3261
// §18.2.1), and the engine refuses anything else, as it did after sipgo.
func isIPAddr(b []byte) bool {
	if len(b) > 2 && b[0] == '[' && b[len(b)-1] == ']' {
		b = b[1 : len(b)-1]
	}
	if bytes.IndexByte(b, ':') >= 0 {
		return len(b) >= 2 && allIn(b, &ipv6Chars)
	}
	dots, n, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c == '.' && digits > 0:
			dots, n, digits = dots+1, 0, 0
		case c >= '0' && c <= '9' && digits < 3:
			n, digits = n*10+int(c-'0'), digits+1
			if n > 255 {
				return false
			}
		default:
			return false
		}
	}
	return dots == 3 && digits > 0
}

var ipv6Chars = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF:." {
		t[c] = true
	}
	return t
}()

// tokenAt reads a token at p: the token, where it ends, whether there
// was one.
func tokenAt(b []byte, p int) ([]byte, int, bool) {
	s := p
	for p < len(b) && tokenChars[b[p]] {
		p++
	}
	return b[s:p:p], p, p > s
}

func skipLWS(b []byte, p int) int {
	for p < len(b) && isLWS(b[p]) {
		p++
	}
	return p
}

// TopVia returns the first via-parm of the first current Via header:
// where a reply goes, and the branch a transaction is matched by. It is
// parsed once and kept until a Via changes.
func (m *Msg) TopVia() (Via, error) {
	if m.viaOK {
		return m.via, nil
	}
	v := m.Get(HdrVia)
	if v == nil {
		return Via{}, valueErr("Via", "missing")
	}
	via, _, err := ParseVia(v)
	if err != nil {
		return via, err
	}
	m.via, m.viaOK = via, true
	return via, nil
}

// Vias yields every via-parm of every current Via header in order, with
// the error of one that does not parse (and stops after it).
func (m *Msg) Vias() iter.Seq2[Via, error] {
	return func(yield func(Via, error) bool) {
		var c cursor
		for id := m.step(&c); id != NoHeader; id = m.step(&c) {
			if m.hdrs[id].typ != HdrVia {
				continue
			}
			v := m.Value(id)
			if len(v) == 0 || v[len(v)-1] == ',' {
				yield(Via{}, valueErr("Via", "empty header or value"))
				return
			}
			for p := 0; p < len(v); {
				s, e, next := nextItem(v, p)
				via, err := parseViaParm(v[s:e])
				if !yield(via, err) || err != nil {
					return
				}
				p = next
			}
		}
	}
}
