package kemi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ErrNotDigest is what ParseDigest returns for credentials of another
// scheme than Digest.
var ErrNotDigest = errors.New("not digest credentials")

// Digest is Digest credentials (RFC 2617) as Kamailio's parser reads them
// from an Authorization or Proxy-Authorization header.
type Digest struct {
	// Username is the username parameter (Kamailio's username.whole).
	Username string
	// User and Domain are Username split as Kamailio's parse_username
	// does: "sip:alice@example.com" gives "alice" and "example.com". A
	// username of two characters or less is not split.
	User, Domain string
	// Realm is the realm parameter.
	Realm string

	params map[string]string
}

// Param returns the value of the parameter called name (compared without
// case) and whether it was there. Of a repeated parameter the last wins,
// as in Kamailio.
func (d *Digest) Param(name string) (string, bool) {
	v, ok := d.params[strings.ToLower(name)]
	return v, ok
}

// ParseDigest parses an Authorization or Proxy-Authorization value as
// Kamailio's parse_digest_cred does: the scheme "Digest" followed by white
// space or a comma, then comma-separated name=value parameters. A value is
// a token or a quoted string without escapes; anything between a value
// and the next comma is ignored. It returns ErrNotDigest for another
// scheme and another error when the parameters do not parse.
func ParseDigest(v string) (*Digest, error) {
	s := strings.TrimLeft(v, " \t\r\n")
	if len(s) < 7 || !strings.EqualFold(s[:6], "digest") || strings.IndexByte(" \t\r\n,", s[6]) < 0 {
		return nil, ErrNotDigest
	}
	s = strings.TrimLeft(s[7:], " \t\r\n")
	d := &Digest{params: map[string]string{}}
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("digest parameter without value: %q", s)
		}
		name := strings.ToLower(strings.TrimRight(s[:eq], " \t\r\n"))
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		if s == "" {
			return nil, fmt.Errorf("no value for digest parameter %s", name)
		}
		var val string
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted value of digest parameter %s", name)
			}
			val, s = s[1:1+end], s[end+2:]
		} else {
			end := strings.IndexAny(s, " \t\r\n,")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, fmt.Errorf("empty value of digest parameter %s", name)
			}
			val, s = s[:end], s[end:]
		}
		d.params[name] = val
		comma := strings.IndexByte(s, ',')
		if comma < 0 {
			break
		}
		s = strings.TrimLeft(s[comma+1:], " \t\r\n")
	}
	d.Username = d.params["username"]
	d.User, d.Domain = splitUsername(d.Username)
	d.Realm = d.params["realm"]
	return d, nil
}

// splitUsername is Kamailio's parse_username: the domain follows the
// first '@', and a scheme before the first ':' is dropped from the user.
func splitUsername(whole string) (user, domain string) {
	if len(whole) <= 2 {
		return whole, ""
	}
	user = whole
	if at := strings.IndexByte(whole, '@'); at >= 0 {
		user, domain = whole[:at], whole[at+1:]
	}
	if colon := strings.IndexByte(user, ':'); colon >= 0 {
		user = user[colon+1:]
	}
	return user, domain
}

// Credentials returns the Digest credentials of the message: of its first
// Proxy-Authorization header, else of its first Authorization header, as
// Kamailio's $au and KSR.kx.get_au read them. ok is false when there is no
// such header, when it does not hold Digest credentials that parse, and
// for ACK and CANCEL, which carry no credentials of their own.
func (m *Msg) Credentials() (d *Digest, ok bool) {
	if m.IsRequest() && (m.Request().Method == sip.ACK || m.Request().Method == sip.CANCEL) {
		return nil, false
	}
	v, ok := m.HeaderValue("Proxy-Authorization")
	if !ok {
		if v, ok = m.HeaderValue("Authorization"); !ok {
			return nil, false
		}
	}
	d, err := ParseDigest(v)
	if err != nil {
		return nil, false
	}
	return d, true
}
