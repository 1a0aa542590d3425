package sipmsg

import "bytes"

// NameAddr is the value of a From, To, Contact, Route or Record-Route
// header (one value of a list): name-addr or addr-spec and the header's
// parameters (RFC 3261 §20.10, §25.1). Parts are sub-slices.
type NameAddr struct {
	Display []byte // as written, a quoted one with its quotes; nil when none
	URI     []byte
	Params  []byte // after the ';' that follows the address, without it
	Tag     []byte // the tag parameter's value, nil when none
	Star    bool   // the value is "*" (Contact of a REGISTER removing all)
}

// ParseNameAddr parses one name-addr or addr-spec with its parameters.
// In an addr-spec (no angle brackets) the parameters after the URI are
// the header's, as RFC 3261 §20 says. The URI is checked (ParseURI).
func ParseNameAddr(v []byte) (NameAddr, error) {
	var na NameAddr
	p := skipLWS(v, 0)
	v = v[p:]
	for len(v) > 0 && isLWS(v[len(v)-1]) {
		v = v[:len(v)-1]
	}
	if len(v) == 0 {
		return na, valueErr("name-addr", "empty")
	}
	if len(v) == 1 && v[0] == '*' {
		na.Star, na.URI = true, v
		return na, nil
	}
	rest := v
	switch {
	case v[0] == '"':
		end := quotedEnd(v)
		if end < 0 {
			return na, valueErr("name-addr", "display name: no closing quote")
		}
		na.Display = v[:end]
		rest = v[skipLWS(v, end):]
		if len(rest) == 0 || rest[0] != '<' {
			return na, valueErr("name-addr", "no '<' after the display name")
		}
	case v[0] != '<':
		lt := bytes.IndexByte(v, '<')
		if lt < 0 {
			// addr-spec: the URI ends at the first ';'
			semi := bytes.IndexByte(v, ';')
			if semi < 0 {
				semi = len(v)
			}
			na.URI = trimLWS(v[:semi])
			if bytes.ContainsAny(na.URI, "?,") {
				// RFC 3261 §20: a URI with headers or a comma needs <>
				return na, valueErr("name-addr", "a URI holding '?' or ',' without '<>'")
			}
			if semi < len(v) {
				na.Params = v[semi+1:]
			}
			return na, na.finish()
		}
		na.Display = trimLWS(v[:lt])
		for _, c := range na.Display {
			if !tokenChars[c] && !isLWS(c) {
				return na, valueErr("name-addr", "unquoted display name is not tokens")
			}
		}
		rest = v[lt:]
	}
	gt := bytes.IndexByte(rest, '>')
	if gt < 0 {
		return na, valueErr("name-addr", "no '>'")
	}
	na.URI = rest[1:gt]
	rest = rest[skipLWS(rest, gt+1):]
	if len(rest) > 0 {
		if rest[0] != ';' {
			return na, valueErr("name-addr", "junk after '>'")
		}
		na.Params = rest[1:]
	}
	return na, na.finish()
}

// finish checks the URI and the parameters and finds the tag.
func (na *NameAddr) finish() error {
	if _, err := ParseURI(na.URI); err != nil {
		return err
	}
	for rest := na.Params; len(rest) > 0; {
		var name, value []byte
		var ok bool
		name, value, rest, ok = NextParam(rest)
		if !ok {
			return valueErr("name-addr", "junk after a parameter value")
		}
		if !isToken(name) {
			return valueErr("name-addr", "parameter name is not a token")
		}
		if equalFold(name, "tag") {
			// RFC 3261 wants a token, but a tag is an opaque key:
			// Kamailio takes about any value, and so does kemi (UAs put
			// user names with '@' in them)
			if !opaqueValue(value, `="\`) {
				return valueErr("name-addr", `tag holds '=', '"' or '\'`)
			}
			na.Tag = value
		}
	}
	return nil
}

// opaqueValue reports whether v, a Via branch or a From or To tag, is a
// value Kamailio's parsers take (parse_via.c, parse_addr_spec.c): a
// quoted string, or text without any of the characters in refused, which
// they read as the start of another part (a value, a quoted string, an
// escape) and refuse the header for. RFC 3261 wants a token; UAs send
// more, which both take.
func opaqueValue(v []byte, refused string) bool {
	if len(v) > 0 && v[0] == '"' {
		return quotedEnd(v) == len(v)
	}
	return !bytes.ContainsAny(v, refused)
}

// quotedEnd returns the index after the closing quote of the quoted
// string v starts with, -1 when it does not close.
func quotedEnd(v []byte) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

func trimLWS(b []byte) []byte {
	for len(b) > 0 && isLWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isLWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// From returns the parsed From header, kept until From changes.
func (m *Msg) From() (NameAddr, error) {
	if m.fromOK {
		return m.from, nil
	}
	na, err := m.nameAddr(HdrFrom)
	if err == nil {
		m.from, m.fromOK = na, true
	}
	return na, err
}

// To returns the parsed To header, kept until To changes.
func (m *Msg) To() (NameAddr, error) {
	if m.toOK {
		return m.to, nil
	}
	na, err := m.nameAddr(HdrTo)
	if err == nil {
		m.to, m.toOK = na, true
	}
	return na, err
}

func (m *Msg) nameAddr(t HdrType) (NameAddr, error) {
	v := m.Get(t)
	if v == nil {
		return NameAddr{}, valueErr(t.String(), "missing")
	}
	na, err := ParseNameAddr(v)
	if err != nil {
		return na, valueErr(t.String(), err.(*ParseError).Reason)
	}
	return na, nil
}
