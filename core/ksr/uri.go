package ksr

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// uriExports are the R-URI and destination-URI functions.
func (mod *Module) uriExports() []kemi.Export {
	return []kemi.Export{
		fn("seturi", kemi.S, kemi.ReturnBool, mod.uriSetter("seturi", (*kemi.Msg).SetRURI)),
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
	if err := m.CheckURIText(s); err != nil {
		return err
	}
	m.DstURI = s
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

// uriPort returns the port of u, or the default one (see defaultPort).
func uriPort(u *sip.Uri) int { return defaultPort(u.Port, uriTransport(u)) }

// requireRequest returns an error for a reply, which has no R-URI.
func requireRequest(m *kemi.Msg) error {
	if !m.IsRequest() {
		return fmt.Errorf("not a request")
	}
	return nil
}

// setRURIUser replaces the user part of the Request-URI ("" removes it).
func setRURIUser(m *kemi.Msg, user string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if err := kemi.CheckUser(user); err != nil {
		return err
	}
	u, _ := m.RURIValue()
	u.User = user
	if user == "" {
		u.Password = ""
	}
	m.ReplaceRURI(u)
	return nil
}

// setRURIHost replaces the host part of the Request-URI.
func setRURIHost(m *kemi.Msg, host string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if err := kemi.CheckHost(host); err != nil {
		return err
	}
	u, _ := m.RURIValue()
	u.Host = host
	m.ReplaceRURI(u)
	return nil
}

// setRURIPort replaces the port of the Request-URI ("" removes it).
func setRURIPort(m *kemi.Msg, port string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	u, _ := m.RURIValue()
	u.Port = 0
	if port != "" {
		n, err := kemi.ParsePort(strings.TrimSpace(port))
		if err != nil {
			return err
		}
		u.Port = n
	}
	m.ReplaceRURI(u)
	return nil
}
