package ksr

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// uriExports are the R-URI and destination-URI functions.
func (mod *Module) uriExports() []kemi.Export {
	return []kemi.Export{
		fn("seturi", kemi.S, kemi.ReturnBool, mod.uriSetter("seturi", setRURI)),
		fn("setuser", kemi.S, kemi.ReturnBool, mod.uriSetter("setuser", setRURIUser)),
		fn("sethost", kemi.S, kemi.ReturnBool, mod.uriSetter("sethost", setRURIHost)),
		fn("setdsturi", kemi.S, kemi.ReturnBool, mod.setdsturi),
		fn("resetdsturi", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.DstURI = "" })),
		fn("isdsturiset", nil, kemi.ReturnBool, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Bool(m.DstURI != "")
		}),
	}
}

// uriSetter wraps an R-URI change as a bool export that logs its error.
func (mod *Module) uriSetter(name string, set func(m *kemi.Msg, s string) error) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		if err := set(m, a.Str(0)); err != nil {
			m.Errorf(mod.log, "KSR.%s: %v", name, err)
			return kemi.False
		}
		return kemi.True
	}
}

// setdsturi is KSR.setdsturi(uri). Kamailio returns true even when it
// cannot set $du; so does kemi, but an empty or invalid URI is logged and
// leaves $du as it was.
func (mod *Module) setdsturi(m *kemi.Msg, a kemi.Args) kemi.Value {
	if err := setDstURI(m, a.Str(0)); err != nil {
		m.Errorf(mod.log, "KSR.setdsturi: %v", err)
	}
	return kemi.True
}

// setDstURI sets $du after checking the URI.
func setDstURI(m *kemi.Msg, s string) error {
	if s == "" {
		return fmt.Errorf("empty destination uri")
	}
	if _, err := parseURI(s); err != nil {
		return err
	}
	m.DstURI = s
	return nil
}

// isSIPScheme reports whether scheme is sip or sips (or empty, which
// sipgo takes as sip).
func isSIPScheme(scheme string) bool {
	return scheme == "" || strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")
}

// parseURI parses a URI. For sip: and sips: URIs it also checks the user
// and host, which sipgo accepts too leniently ("sip:a b" parses).
func parseURI(s string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	if !isSIPScheme(u.Scheme) {
		return u, nil
	}
	if err := checkHost(u.Host); err != nil {
		return u, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	if err := checkUser(u.User); err != nil {
		return u, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	return u, nil
}

// checkHost accepts a host name, an IPv4 address or an IPv6 address,
// bracketed or not.
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("no host")
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

// checkUser refuses characters that cannot appear in the user part even
// escaped.
func checkUser(u string) error {
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= ' ' || c == 0x7f || strings.IndexByte("@:<>\"\\", c) >= 0 {
			return fmt.Errorf("invalid user %q", u)
		}
	}
	return nil
}

// uriParam returns a URI parameter, the name compared case-insensitively.
func uriParam(u *sip.Uri, name string) (string, bool) {
	for _, kv := range u.UriParams {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// uriTransport returns the transport parameter in lower case, or "".
func uriTransport(u *sip.Uri) string {
	t, _ := uriParam(u, "transport")
	return strings.ToLower(t)
}

// uriPort returns the port of u, or the default one: 5061 for
// transport=tls, else 5060 (as Kamailio's $rp and $dp).
func uriPort(u *sip.Uri) int {
	if u.Port > 0 {
		return u.Port
	}
	if uriTransport(u) == "tls" {
		return 5061
	}
	return 5060
}

// requireRequest returns an error for a reply, which has no R-URI.
func requireRequest(m *kemi.Msg) error {
	if m.Req == nil {
		return fmt.Errorf("not a request")
	}
	return nil
}

// setRURI replaces the whole Request-URI.
func setRURI(m *kemi.Msg, s string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	u, err := parseURI(s)
	if err != nil {
		return err
	}
	m.Req.Recipient = u
	return nil
}

// setRURIUser replaces the user part of the Request-URI ("" removes it).
func setRURIUser(m *kemi.Msg, user string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if err := checkUser(user); err != nil {
		return err
	}
	m.Req.Recipient.User = user
	if user == "" {
		m.Req.Recipient.Password = ""
	}
	return nil
}

// setRURIHost replaces the host part of the Request-URI.
func setRURIHost(m *kemi.Msg, host string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if err := checkHost(host); err != nil {
		return err
	}
	m.Req.Recipient.Host = host
	return nil
}

// setRURIPort replaces the port of the Request-URI ("" removes it).
func setRURIPort(m *kemi.Msg, port string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if port == "" {
		m.Req.Recipient.Port = 0
		return nil
	}
	n, err := parsePort(port)
	if err != nil {
		return err
	}
	m.Req.Recipient.Port = n
	return nil
}

// parsePort parses a port number 1..65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return n, nil
}
