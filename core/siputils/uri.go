package siputils

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// uri is a URI split into its text parts the way Kamailio's parse_uri
// splits it. The parts keep their original spelling (no unescaping), so
// that a URI can be edited without disturbing what the script did not
// touch.
type uri struct {
	scheme   string // lower case: sip, sips, tel, urn
	user     string
	password string
	host     string // IPv6 references keep their brackets
	port     string // digits, "" when absent
	params   string // after the first ';', without it; "" when absent
	headers  string // after '?', without it
	hasUser  bool   // an '@' was present (sip, sips)
	semi     bool   // a ';' started a parameter section
	qmark    bool   // a '?' started a headers section
}

// parseURI parses a SIP, SIPS, TEL or URN URI and checks it the way
// Kamailio's parser does: known scheme, a host for SIP URIs, a user before
// every '@', a numeric port of at most 5 digits, no spaces or control
// characters.
func parseURI(s string) (*uri, error) {
	if len(s) < 5 {
		return nil, fmt.Errorf("uri %q is too short", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return nil, fmt.Errorf("uri %q has a space or control character", s)
		}
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return nil, fmt.Errorf("uri %q has no scheme", s)
	}
	u := &uri{scheme: strings.ToLower(s[:colon])}
	rest := s[colon+1:]
	switch u.scheme {
	case "sip", "sips":
	case "tel":
		// tel:number;params -- the number takes the user's place, as in
		// Kamailio.
		u.user, u.params, u.semi = strings.Cut(rest, ";")
		if u.user == "" {
			return nil, fmt.Errorf("tel uri %q has no number", s)
		}
		u.hasUser = true
		return u, nil
	case "urn":
		if rest == "" {
			return nil, fmt.Errorf("urn %q is empty", s)
		}
		u.host = rest
		return u, nil
	default:
		return nil, fmt.Errorf("uri %q: unsupported scheme %q", s, u.scheme)
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		u.headers, u.qmark = rest[q+1:], true
		rest = rest[:q]
	}
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		u.user, u.password, _ = strings.Cut(userinfo, ":")
		if u.user == "" {
			return nil, fmt.Errorf("uri %q has an empty user before '@'", s)
		}
		u.hasUser = true
	}
	var portPart string
	hasPort := false
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, fmt.Errorf("uri %q: unclosed IPv6 reference", s)
		}
		u.host = rest[:end+1]
		tail := rest[end+1:]
		tail, u.params, u.semi = strings.Cut(tail, ";")
		if tail != "" {
			if tail[0] != ':' {
				return nil, fmt.Errorf("uri %q: unexpected %q after host", s, tail)
			}
			portPart, hasPort = tail[1:], true
		}
	} else {
		var hostport string
		hostport, u.params, u.semi = strings.Cut(rest, ";")
		u.host, portPart, hasPort = strings.Cut(hostport, ":")
	}
	if hasPort {
		if portPart == "" {
			return nil, fmt.Errorf("uri %q: empty port", s)
		}
		u.port = portPart
	}
	if u.host == "" {
		return nil, fmt.Errorf("uri %q has no host", s)
	}
	if !validHost(u.host) {
		return nil, fmt.Errorf("uri %q: invalid host %q", s, u.host)
	}
	if u.port != "" {
		if len(u.port) > 5 {
			return nil, fmt.Errorf("uri %q: port too long", s)
		}
		n, err := strconv.Atoi(u.port)
		if err != nil || n < 0 || n > 65535 || strings.ContainsAny(u.port, "+-") {
			return nil, fmt.Errorf("uri %q: invalid port %q", s, u.port)
		}
	}
	return u, nil
}

func validHost(h string) bool {
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") || len(h) < 4 {
			return false
		}
		for _, c := range h[1 : len(h)-1] {
			if !(c == ':' || c == '.' || isHex(byte(c))) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(isAlnum(c) || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// portNum returns the port, or def when absent.
func (u *uri) portNum(def int) int {
	if u.port == "" {
		return def
	}
	n, _ := strconv.Atoi(u.port)
	return n
}

// defaultPort is the port a SIP URI without one stands for.
func (u *uri) defaultPort() int {
	if u.scheme == "sips" {
		return 5061
	}
	return 5060
}

// param is one ";name[=value]" of a parameter list.
type param struct {
	name  string
	value string
}

// splitParams splits "a=1;b;c=\"x;y\"" into its parameters. Quoted values
// keep their quotes; names and values are trimmed of white space.
func splitParams(s string) []param {
	var out []param
	for s != "" {
		end := 0
		inQuote := false
		for end < len(s) {
			c := s[end]
			if c == '"' {
				inQuote = !inQuote
			} else if c == ';' && !inQuote {
				break
			}
			end++
		}
		item := s[:end]
		if end < len(s) {
			s = s[end+1:]
		} else {
			s = ""
		}
		name, value, _ := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		out = append(out, param{name: name, value: strings.TrimSpace(value)})
	}
	return out
}

// findParam returns the first parameter called name.
func findParam(ps []param, name string, fold bool) (param, bool) {
	for _, p := range ps {
		if p.name == name || fold && strings.EqualFold(p.name, name) {
			return p, true
		}
	}
	return param{}, false
}

// removeParam returns the URI text s without its parameter called name
// (case-insensitive), and whether there was one. Only the first occurrence
// is removed, as in Kamailio.
func removeParam(s, name string) (string, bool) {
	u, err := parseURI(s)
	if err != nil || !u.semi {
		return s, false
	}
	// locate the parameter section in s: it starts after the first ';'
	// that follows the host part
	start := paramsOffset(s, u)
	if start < 0 {
		return s, false
	}
	pstr := u.params
	pos := 0
	for pos <= len(pstr) {
		end := pos
		inQuote := false
		for end < len(pstr) {
			c := pstr[end]
			if c == '"' {
				inQuote = !inQuote
			} else if c == ';' && !inQuote {
				break
			}
			end++
		}
		item := pstr[pos:end]
		pname, _, _ := strings.Cut(item, "=")
		if strings.EqualFold(strings.TrimSpace(pname), name) {
			// remove ";item" (the ';' before it) from s
			from := start + pos - 1
			to := start + end
			return s[:from] + s[to:], true
		}
		if end >= len(pstr) {
			break
		}
		pos = end + 1
	}
	return s, false
}

// paramsOffset returns where u.params begins inside s, or -1.
func paramsOffset(s string, u *uri) int {
	if !u.semi {
		return -1
	}
	end := len(s)
	if u.qmark {
		end -= len(u.headers) + 1
	}
	start := end - len(u.params)
	if start < 1 || s[start-1] != ';' || s[start:end] != u.params {
		return -1
	}
	return start
}

// addParam appends ";p" to the parameters of the URI text s, before any
// headers part.
func addParam(s, p string) string {
	if q := strings.IndexByte(s, '?'); q >= 0 {
		return s[:q] + ";" + p + s[q:]
	}
	return s + ";" + p
}

// unescape decodes %XX escapes; a malformed escape is kept as it is.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

// uriParamsNeverIgnored are the uri-parameters that make two URIs differ
// when only one of them has it (RFC 3261 §19.1.4).
var uriParamsNeverIgnored = map[string]bool{"user": true, "ttl": true, "method": true, "maddr": true}

// equalURI compares two URIs with the rules of RFC 3261 §19.1.4.
func equalURI(a, b *uri) bool {
	if a.scheme != b.scheme {
		return false
	}
	if a.scheme == "urn" {
		return strings.EqualFold(a.host, b.host)
	}
	if unescape(a.user) != unescape(b.user) || unescape(a.password) != unescape(b.password) {
		return false
	}
	if !strings.EqualFold(a.host, b.host) {
		return false
	}
	// a component with a default value (the port) does not match its
	// omission
	if (a.port == "") != (b.port == "") || a.portNum(0) != b.portNum(0) {
		return false
	}
	pa, pb := splitParams(a.params), splitParams(b.params)
	for _, x := range pa {
		y, ok := findParam(pb, x.name, true)
		if !ok {
			if uriParamsNeverIgnored[strings.ToLower(x.name)] {
				return false
			}
			continue
		}
		if !strings.EqualFold(unescape(unquote(x.value)), unescape(unquote(y.value))) {
			return false
		}
	}
	for _, y := range pb {
		if _, ok := findParam(pa, y.name, true); !ok && uriParamsNeverIgnored[strings.ToLower(y.name)] {
			return false
		}
	}
	return equalHeaders(a.headers, b.headers)
}

// equalHeaders compares the ?headers parts: every header of one must be
// in the other with the same value.
func equalHeaders(a, b string) bool {
	ha, hb := splitHeaders(a), splitHeaders(b)
	if len(ha) != len(hb) {
		return false
	}
	used := make([]bool, len(hb))
	for _, x := range ha {
		found := false
		for i, y := range hb {
			if !used[i] && strings.EqualFold(x.name, y.name) && x.value == y.value {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func splitHeaders(s string) []param {
	var out []param
	if s == "" {
		return nil
	}
	for _, item := range strings.Split(s, "&") {
		name, value, _ := strings.Cut(item, "=")
		out = append(out, param{name: unescape(name), value: unescape(value)})
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// equalAoR compares the address-of-record parts: user (case-sensitive),
// host (case-insensitive) and port (an absent port is the default one).
func equalAoR(a, b *uri) bool {
	if unescape(a.user) != unescape(b.user) {
		return false
	}
	if !strings.EqualFold(a.host, b.host) {
		return false
	}
	return a.portNum(a.defaultPort()) == b.portNum(b.defaultPort())
}
