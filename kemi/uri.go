package kemi

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ParseURI parses a URI and checks it with CheckURI: sipgo's parser takes
// "sip:a b@example.com", "sip:bob@example.com:99999" and "foo:bar", which
// kemi must not route (Kamailio's parser refuses the last two).
func ParseURI(s string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	if err := CheckURI(&u); err != nil {
		return u, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	return u, nil
}

// CheckURIText reports whether s is a URI kemi can route, as ParseURI,
// for callers that need no parts of it. The worker's state remembers the
// last URI accepted, so a route that sets the same next hop for every
// message ($du = a constant) parses it once.
func (m *Msg) CheckURIText(s string) error {
	if s != "" && m.Proc != nil && m.Proc.okURI == s {
		return nil
	}
	if _, err := ParseURI(s); err != nil {
		return err
	}
	if m.Proc != nil {
		m.Proc.okURI = s
	}
	return nil
}

// CheckURI reports whether u is a URI kemi can route: a sip or sips URI
// with a valid host (see CheckHost), a user without characters that
// cannot appear there even escaped (see CheckUser) and a port up to
// 65535, or a non-empty tel, tels or urn URI.
func CheckURI(u *sip.Uri) error {
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
		if u.Wildcard {
			return errors.New("wildcard is not a URI")
		}
		if err := CheckHost(u.Host); err != nil {
			return err
		}
		if err := CheckUser(u.User); err != nil {
			return err
		}
		return CheckPort(u.Port)
	case "tel", "tels", "urn":
		if u.Raw() == "" {
			return fmt.Errorf("empty %s URI", u.Scheme)
		}
		return nil
	case "":
		return errors.New("no scheme")
	}
	return fmt.Errorf("unsupported scheme %q", u.Scheme)
}

// CheckHost accepts a host name, an IPv4 address or an IPv6 address,
// bracketed or not. A name may hold letters, digits, '-', '.' and '_'.
func CheckHost(h string) error {
	if h == "" {
		return errors.New("no host")
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Is6() {
		return nil
	}
	if strings.HasPrefix(h, "[") {
		ip, err := netip.ParseAddr(strings.TrimSuffix(h[1:], "]"))
		if err != nil || !strings.HasSuffix(h, "]") || !ip.Is6() {
			return fmt.Errorf("invalid host %q", h)
		}
		return nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("invalid host %q", h)
		}
	}
	return nil
}

// CheckUser refuses characters that cannot appear in the user part of a
// URI even escaped: controls, space and @:<>"\.
func CheckUser(u string) error {
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("@:<>\"\\", c) >= 0 {
			return fmt.Errorf("invalid user %q", u)
		}
	}
	return nil
}

// ParsePort parses a port number: decimal digits giving 1 to 65535.
func ParsePort(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return int(n), nil
}
