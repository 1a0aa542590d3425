package sipmsg

import "bytes"

// URI is a URI cut into its parts, each a sub-slice of the parsed bytes
// (nothing is unescaped or copied). For a sip or sips URI (RFC 3261
// §19.1.1) Opaque is nil; for another scheme (tel:, urn:...) only Scheme
// and Opaque are set.
type URI struct {
	Scheme   []byte
	User     []byte // before '@', password excluded; nil when no '@'
	Password []byte
	Host     []byte // an IPv6 reference keeps its brackets
	Port     []byte
	PortNum  int    // 0 when there is no port
	Params   []byte // after the first ';' of hostport, without it: "transport=tcp;lr"
	Headers  []byte // after '?', without it
	Opaque   []byte
}

// IsSIP reports whether the scheme is sip or sips.
func (u *URI) IsSIP() bool { return equalFold(u.Scheme, "sip") || equalFold(u.Scheme, "sips") }

// Param returns the value of a URI parameter (case-insensitive name);
// ok is false when it is not there, value nil when it has none (lr).
func (u *URI) Param(name string) (value []byte, ok bool) { return Param(u.Params, name) }

// ParseURI cuts a URI into its parts without copying. It refuses a URI
// without a scheme, a sip/sips URI without a host or with a port that is
// not 1-65535, and characters a URI cannot hold (white space, controls,
// '<', '>', '"'): those are what a name-addr's brackets are for.
func ParseURI(b []byte) (URI, error) {
	var u URI
	colon := bytes.IndexByte(b, ':')
	if colon <= 0 || !isScheme(b[:colon]) {
		return u, valueErr("URI", "no scheme")
	}
	u.Scheme = b[:colon]
	rest := b[colon+1:]
	for _, c := range rest {
		if c <= ' ' || c == '<' || c == '>' || c == '"' || c == 0x7f {
			return u, valueErr("URI", "character not allowed in a URI")
		}
	}
	if !u.IsSIP() {
		if len(rest) == 0 {
			return u, valueErr("URI", "empty after the scheme")
		}
		u.Opaque = rest
		return u, nil
	}
	// the user part may hold '?', ';' and ':' (RFC 3261 user-unreserved)
	// but no '@', which no parameter or header may hold either: so the
	// last '@' ends it
	if at := bytes.LastIndexByte(rest, '@'); at >= 0 {
		user := rest[:at]
		if bytes.IndexByte(user, '@') >= 0 {
			return u, valueErr("URI", "'@' in the user part")
		}
		if c := bytes.IndexByte(user, ':'); c >= 0 {
			u.Password = user[c+1:]
			user = user[:c]
		}
		if len(user) == 0 {
			return u, valueErr("URI", "empty user before '@'")
		}
		if !escapesOK(user) || !escapesOK(u.Password) {
			return u, valueErr("URI", "bad escape in the user part")
		}
		if !allIn(user, &userChars) || !allIn(u.Password, &userChars) {
			return u, valueErr("URI", "character not allowed in the user part")
		}
		u.User = user
		rest = rest[at+1:]
	}
	if q := bytes.IndexByte(rest, '?'); q >= 0 {
		u.Headers = rest[q+1:]
		rest = rest[:q]
	}
	if semi := bytes.IndexByte(rest, ';'); semi >= 0 {
		u.Params = rest[semi+1:]
		rest = rest[:semi]
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return u, valueErr("URI", err.Error())
	}
	u.Host, u.Port = host, port
	if port != nil {
		u.PortNum, err = portNum(port)
		if err != nil {
			return u, &ParseError{Header: "URI", Reason: err.Error(), err: ErrPort}
		}
	}
	return u, nil
}

type strErr string

func (e strErr) Error() string { return string(e) }

// splitHostPort cuts host[:port]; the host is a name, an IPv4 address or
// a bracketed IPv6 reference.
func splitHostPort(b []byte) (host, port []byte, err error) {
	if len(b) == 0 {
		return nil, nil, strErr("no host")
	}
	end := 0
	if b[0] == '[' {
		rb := bytes.IndexByte(b, ']')
		if rb < 2 {
			return nil, nil, strErr("IPv6 reference without ']'")
		}
		for _, c := range b[1:rb] {
			if !isHex(c) && c != ':' && c != '.' {
				return nil, nil, strErr("bad IPv6 reference")
			}
		}
		end = rb + 1
	} else {
		for end < len(b) && isHostChar(b[end]) {
			end++
		}
		if end == 0 {
			return nil, nil, strErr("no host")
		}
	}
	host = b[:end]
	switch {
	case end == len(b):
		return host, nil, nil
	case b[end] != ':':
		return nil, nil, strErr("character not allowed in a host")
	}
	return host, b[end+1:], nil
}

// portNum reads a port, 1-65535 (a larger one would wrap when converted
// to uint16 and send elsewhere).
func portNum(p []byte) (int, error) {
	n, ok := parseDigits(p)
	if !ok || n == 0 || n > 65535 {
		return 0, strErr("port is not 1-65535")
	}
	return int(n), nil
}

func isHostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isScheme(b []byte) bool {
	if len(b) == 0 || !(b[0] >= 'a' && b[0] <= 'z' || b[0] >= 'A' && b[0] <= 'Z') {
		return false
	}
	for _, c := range b[1:] {
		if !(isHostChar(c) && c != '_' || c == '+') {
			return false
		}
	}
	return true
}

// userChars are RFC 3261's user and password characters: unreserved,
// user-unreserved, and '%' of an escape (checked by escapesOK); ':' only
// separates the password.
var userChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = isHostChar(byte(c)) && c != '_'
	}
	for _, c := range "-_.!~*'()&=+$,;?/%" {
		t[c] = true
	}
	return t
}()

func allIn(b []byte, set *[256]bool) bool {
	for _, c := range b {
		if !set[c] {
			return false
		}
	}
	return true
}

// escapesOK reports whether every '%' starts a %HH escape.
func escapesOK(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == '%' {
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// Param returns the value of a parameter in a list of ";"-separated
// name[=value] (the part after the first ';'), the name compared case-
// insensitively, white space around ';' and '=' allowed (Via and name-
// addr parameters may have it). ok is false when it is not there; value
// is nil when the parameter has no value. A quoted value keeps its
// quotes.
func Param(params []byte, name string) (value []byte, ok bool) {
	for len(params) > 0 {
		var n, v []byte
		n, v, params, _ = NextParam(params)
		if equalFold(n, name) {
			return v, true
		}
	}
	return nil, false
}

// NextParam cuts the first parameter off a list: its name, its value
// (nil when none) and the rest after its ';'. ok is false when something
// other than white space follows the value before the next ';' (it is
// skipped).
func NextParam(params []byte) (name, value, rest []byte, ok bool) {
	i := 0
	for i < len(params) && isLWS(params[i]) {
		i++
	}
	s := i
	for i < len(params) && params[i] != '=' && params[i] != ';' && !isLWS(params[i]) {
		i++
	}
	name = params[s:i]
	for i < len(params) && isLWS(params[i]) {
		i++
	}
	if i < len(params) && params[i] == '=' {
		i++
		for i < len(params) && isLWS(params[i]) {
			i++
		}
		vs := i
		if i < len(params) && params[i] == '"' {
			i++
			for i < len(params) && params[i] != '"' {
				if params[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i+1, len(params))
		} else {
			for i < len(params) && params[i] != ';' && !isLWS(params[i]) {
				i++
			}
		}
		value = params[vs:i:i]
		if value == nil {
			value = params[vs:vs:vs]
		}
		for i < len(params) && isLWS(params[i]) {
			i++
		}
	}
	// skip to the next ';' (anything else before it is not a parameter)
	ok = true
	for i < len(params) && params[i] != ';' {
		ok = false
		i++
	}
	if i < len(params) {
		i++
	}
	return name, value, params[i:], ok
}
