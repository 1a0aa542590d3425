package sanity

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// wireField is one header field of a message as it is on the wire.
type wireField struct {
	name, value string
	// size is the length of the field: name, value, folded lines and CRLF.
	size int
}

// wireMsg is a message as it is on the wire.
type wireMsg struct {
	// method is the first token of the first line.
	method string
	fields []wireField
	// headers is the size of the header section after the first line,
	// including the empty line; body the size of what follows it.
	headers, body, total int
}

var crlf = []byte("\r\n")

// splitWire cuts a message into its first line, header fields and body.
func splitWire(b []byte) wireMsg {
	w := wireMsg{total: len(b)}
	i := bytes.Index(b, crlf)
	if i < 0 {
		w.method, _, _ = strings.Cut(string(b), " ")
		return w
	}
	w.method, _, _ = strings.Cut(string(b[:i]), " ")
	pos := i + 2
	start := pos
	for pos < len(b) {
		n := bytes.Index(b[pos:], crlf)
		end := pos + n + 2
		if n < 0 {
			n, end = len(b)-pos, len(b)
		}
		line := string(b[pos : pos+n])
		pos = end
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(w.fields) > 0 {
			last := &w.fields[len(w.fields)-1]
			last.value = strings.TrimSpace(last.value + " " + strings.TrimSpace(line))
			last.size += n + 2
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		w.fields = append(w.fields, wireField{strings.TrimSpace(name), strings.TrimSpace(value), n + 2})
	}
	w.headers = pos - start
	w.body = len(b) - pos
	return w
}

// first returns the value of the first field called name.
func (w *wireMsg) first(name string) (string, bool) {
	for _, f := range w.fields {
		if kemi.HeaderNameIs(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

// requestMethod returns the method as written on the request line: sipgo
// upper-cases it, Kamailio compares it as received.
func requestMethod(m *kemi.Msg) string {
	if m.Raw != nil {
		if method, _, ok := strings.Cut(string(m.Raw[:min(len(m.Raw), 64)]), " "); ok && strings.EqualFold(method, string(m.Request().Method)) {
			return method
		}
	}
	return string(m.Request().Method)
}

// firstNamed returns the first header called name, or nil.
func firstNamed(m *kemi.Msg, name string) sip.Header {
	for _, h := range m.HeaderList() {
		if kemi.HeaderNameIs(h.Name(), name) {
			return h
		}
	}
	return nil
}

// structured returns h in sipgo's structured form: as it is when sipgo
// parsed it, else parsed from its text (a header added as plain text). A
// comma-separated value gives several headers.
func structured(h sip.Header, canonical string) ([]sip.Header, error) {
	switch h.(type) {
	case *sip.FromHeader, *sip.ToHeader, *sip.ContactHeader, *sip.RouteHeader, *sip.RecordRouteHeader,
		*sip.ViaHeader, *sip.CSeqHeader:
		return []sip.Header{h}, nil
	}
	if strings.TrimSpace(h.Value()) == "" {
		return nil, fmt.Errorf("empty %s header", canonical)
	}
	return kemi.ParseHeaders(canonical + ": " + h.Value())
}

// addressURIs returns the URIs of an address header (From, To, Contact,
// Route, Record-Route), or an error when it does not parse.
func addressURIs(h sip.Header, canonical string) ([]*sip.Uri, error) {
	hs, err := structured(h, canonical)
	if err != nil {
		return nil, err
	}
	var out []*sip.Uri
	for _, x := range hs {
		switch v := x.(type) {
		case *sip.FromHeader:
			out = append(out, &v.Address)
		case *sip.ToHeader:
			out = append(out, &v.Address)
		case *sip.ContactHeader:
			out = append(out, &v.Address)
		case *sip.RouteHeader:
			out = append(out, &v.Address)
		case *sip.RecordRouteHeader:
			out = append(out, &v.Address)
		default:
			return nil, fmt.Errorf("%s header is not an address", canonical)
		}
	}
	return out, nil
}

// nameAddrURIs parses a comma-separated list of name-addr or addr-spec
// values (Path, P-Asserted-Identity), which has Route's grammar.
func nameAddrURIs(value string) ([]*sip.Uri, error) {
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("empty value")
	}
	hs, err := kemi.ParseHeaders("Route: " + value)
	if err != nil {
		return nil, err
	}
	var out []*sip.Uri
	for _, h := range hs {
		if r, ok := h.(*sip.RouteHeader); ok {
			out = append(out, &r.Address)
		}
	}
	return out, nil
}

// supportedScheme reports whether Kamailio routes URIs of this scheme.
func supportedScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel", "tels", "urn":
		return true
	}
	return false
}

// cseqParts splits a CSeq value the way Kamailio's parser does: a number
// token and a method token, nothing else. ok is false when it does not
// parse.
func cseqParts(v string) (num, method string, ok bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return "", "", false
	}
	return f[0], f[1], true
}

// validUint reports whether s is a decimal number that fits 32 bits.
func validUint(s string, limit uint64) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n <= limit
}

// countTags counts the tag parameters of a From or To value: the
// parameters after the URI ("<...>" or, without brackets, after the first
// ';'), outside quoted strings.
func countTags(v string) int {
	params := -1
	inQuote, inBracket := false, false
	for i := 0; i < len(v) && params < 0; i++ {
		switch c := v[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inBracket = true
		case c == '>' && inBracket:
			params = i + 1
		case c == ';' && !inBracket:
			params = i
		}
	}
	if params < 0 {
		return 0
	}
	n := 0
	for _, p := range splitOutsideQuotes(v[params:], ';') {
		name, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(name), "tag") {
			n++
		}
	}
	return n
}

// splitOutsideQuotes splits s at sep, except inside quoted strings.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQuote := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// completeDigest reports whether the credentials have every parameter
// needed to verify them (and cnonce and nc when qop is auth or auth-int),
// as Kamailio's check_dig_cred.
func completeDigest(d *kemi.Digest) bool {
	for _, p := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := d.Param(p); !ok {
			return false
		}
	}
	if qop, ok := d.Param("qop"); ok {
		switch strings.ToLower(strings.TrimSpace(qop)) {
		case "auth", "auth-int":
			_, cnonce := d.Param("cnonce")
			_, nc := d.Param("nc")
			return cnonce && nc
		}
	}
	return true
}
