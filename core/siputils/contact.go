package siputils

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// contacts returns the Contact headers of m that hold a URI (not "*"),
// and whether m has a Contact header at all.
func contacts(m *kemi.Msg) (out []*sip.ContactHeader, present bool) {
	for _, h := range m.HeaderList() {
		if c, ok := h.(*sip.ContactHeader); ok {
			present = true
			if !c.Address.Wildcard {
				out = append(out, c)
			}
		}
	}
	return out, present
}

// rewriteContacts gives each Contact of cs the URI newURI returns for it
// ("" leaves it alone). Every new URI is made and checked before any
// Contact changes, so that a failure changes nothing: it is logged as fn
// and gives failCode when newURI fails, badCode when a new URI is invalid.
func (mod *Module) rewriteContacts(m *kemi.Msg, fn string, cs []*sip.ContactHeader,
	newURI func(c *sip.ContactHeader) (string, error), failCode, badCode int) kemi.Value {
	us := make([]*sip.Uri, len(cs))
	for i, c := range cs {
		s, err := newURI(c)
		if err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			return kemi.Int(failCode)
		}
		if s == "" {
			continue
		}
		u, err := contactURI(s)
		if err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			return kemi.Int(badCode)
		}
		us[i] = u
	}
	for i, c := range cs {
		if us[i] != nil {
			c.Address = *us[i]
		}
	}
	return kemi.OK
}

// contactURI checks s as Kamailio's parser would and parses it for a
// Contact header.
func contactURI(s string) (*sip.Uri, error) {
	if _, err := parseURI(s); err != nil {
		return nil, err
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return nil, fmt.Errorf("invalid uri %q: %w", s, err)
	}
	return &u, nil
}

// encodeURI turns sip:user:pass@host:port;transport=proto into
// sip:prefix*user*pass*host*port*proto@hostpart (the separator is the
// contact_flds_separator parameter). Other URI parameters are dropped, as
// in Kamailio.
func (mod *Module) encodeURI(s, prefix, hostpart string) (string, error) {
	u, err := parseURI(s)
	if err != nil {
		return "", err
	}
	if u.scheme != "sip" {
		return "", fmt.Errorf("only sip: URIs can be encoded, not %q", s)
	}
	if strings.HasPrefix(u.host, "[") || strings.IndexByte(u.password, mod.sep) >= 0 || strings.IndexByte(u.user, mod.sep) >= 0 {
		// an IPv6 address would put ':' into the user part, a separator
		// in a field would make the result undecodable
		return "", fmt.Errorf("uri %q cannot be encoded", s)
	}
	proto := ""
	if p, ok := findParam(splitParams(u.params), "transport", true); ok {
		proto = p.value
	}
	sep := string(mod.sep)
	return s[:strings.IndexByte(s, ':')+1] + prefix + sep + u.user + sep + u.password + sep + u.host + sep +
		u.port + sep + proto + "@" + hostpart, nil
}

// decodeURI reverses encodeURI: the parameters after the public host are
// kept, the public host and port are dropped.
func (mod *Module) decodeURI(s string) (string, error) {
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return "", fmt.Errorf("invalid uri %q: missing ':'", s)
	}
	rest := s[colon+1:]
	at := strings.IndexByte(rest, '@')
	if at < 0 {
		return "", fmt.Errorf("invalid uri %q: missing '@'", s)
	}
	fields := strings.Split(rest[:at], string(mod.sep))
	if len(fields) != 6 {
		return "", fmt.Errorf("uri %q is not encoded: want 6 fields separated by %q, got %d", s, mod.sep, len(fields))
	}
	user, pass, ip, port, proto := fields[1], fields[2], fields[3], fields[4], fields[5]
	if ip == "" {
		return "", fmt.Errorf("uri %q: no host address encoded", s)
	}
	if pass != "" && user == "" {
		return "", fmt.Errorf("uri %q: password encoded without username", s)
	}
	tail := ""
	if end := strings.IndexAny(rest[at:], ";>"); end >= 0 {
		tail = rest[at+end:]
	}
	var b strings.Builder
	b.WriteString(s[:colon+1])
	if user != "" {
		b.WriteString(user)
		if pass != "" {
			b.WriteString(":" + pass)
		}
		b.WriteByte('@')
	}
	b.WriteString(ip)
	if port != "" {
		b.WriteString(":" + port)
	}
	if proto != "" {
		b.WriteString(";transport=" + proto)
	}
	b.WriteString(tail)
	return b.String(), nil
}

func (mod *Module) encodeContact(m *kemi.Msg, a kemi.Args) kemi.Value {
	prefix, hostpart := a.Str(0), a.Str(1)
	if hostpart == "" {
		m.Errorf(mod.log, "encode_contact: empty host part")
		return kemi.Fail
	}
	cs, present := contacts(m)
	if !present {
		m.Errorf(mod.log, "encode_contact: no Contact header present")
		return kemi.Fail
	}
	return mod.rewriteContacts(m, "encode_contact", cs, func(c *sip.ContactHeader) (string, error) {
		return mod.encodeURI(c.Address.String(), prefix, hostpart)
	}, -2, -2)
}

func (mod *Module) decodeContact(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "decode_contact: not a request")
		return kemi.Fail
	}
	n, err := mod.decodeURI(m.RURI())
	if err != nil {
		m.Errorf(mod.log, "decode_contact: %v", err)
		return kemi.Int(-2)
	}
	if err := m.SetRURI(n); err != nil {
		m.Errorf(mod.log, "decode_contact: %v", err)
		return kemi.Int(-2)
	}
	return kemi.OK
}

func (mod *Module) decodeContactHeader(m *kemi.Msg, a kemi.Args) kemi.Value {
	cs, present := contacts(m)
	if !present {
		m.Errorf(mod.log, "decode_contact_header: no Contact header present")
		return kemi.Fail
	}
	return mod.rewriteContacts(m, "decode_contact_header", cs, func(c *sip.ContactHeader) (string, error) {
		return mod.decodeURI(c.Address.String())
	}, -2, -2)
}

// contactParamEncode replaces every Contact URI with saddr plus a
// parameter pname holding the original URI in base64url (without
// padding). With alias, ";alias=ip~port~proto" of the source address is
// added to the original URI first.
func (mod *Module) contactParamEncode(m *kemi.Msg, pname, saddr string, alias bool) kemi.Value {
	fn := "contact_param_encode"
	if alias {
		fn = "contact_param_encode_alias"
	}
	if pname == "" || saddr == "" {
		m.Errorf(mod.log, "%s: empty parameter name or address", fn)
		return kemi.Fail
	}
	if _, err := parseURI(saddr); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	cs, _ := contacts(m)
	return mod.rewriteContacts(m, fn, cs, func(c *sip.ContactHeader) (string, error) {
		orig := c.Address.String()
		if alias {
			if !m.Src.IsValid() {
				return "", fmt.Errorf("unknown source address")
			}
			ip := m.Src.Addr().Unmap()
			host := ip.String()
			if ip.Is6() {
				host = "[" + host + "]"
			}
			orig = addAlias(orig, host+"~"+strconv.Itoa(int(m.Src.Port()))+"~"+strconv.Itoa(kemi.ProtoID(m.Proto)))
		}
		return addParam(saddr, pname+"="+base64.RawURLEncoding.EncodeToString([]byte(orig))), nil
	}, -1, -3)
}

// addAlias appends the alias parameter after the URI parameters.
func addAlias(s, v string) string {
	return addParam(s, "alias="+v)
}

// decodeParam returns the URI encoded in parameter pname of the URI text
// s: found is false when the parameter is missing or empty.
func decodeParam(s, pname string) (dec string, found bool, err error) {
	u, err := parseURI(s)
	if err != nil {
		return "", false, err
	}
	p, ok := findParam(splitParams(u.params), pname, true)
	if !ok || p.value == "" {
		return "", false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p.value, "="))
	if err != nil || len(raw) == 0 {
		return "", true, fmt.Errorf("cannot decode parameter %s of %q", pname, s)
	}
	return string(raw), true, nil
}

func (mod *Module) contactParamDecode(m *kemi.Msg, a kemi.Args) kemi.Value {
	cs, _ := contacts(m)
	return mod.rewriteContacts(m, "contact_param_decode", cs, func(c *sip.ContactHeader) (string, error) {
		dec, _, err := decodeParam(c.Address.String(), a.Str(0))
		return dec, err // "" when not found: left alone
	}, -1, -1)
}

func (mod *Module) contactParamDecodeRURI(m *kemi.Msg, a kemi.Args) kemi.Value {
	s, _, ok := mod.rURI(m, "contact_param_decode_ruri")
	if !ok {
		return kemi.Fail
	}
	dec, found, err := decodeParam(s, a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "contact_param_decode_ruri: %v", err)
		return kemi.Fail
	}
	if !found {
		return kemi.OK
	}
	if _, err := parseURI(dec); err != nil {
		m.Errorf(mod.log, "contact_param_decode_ruri: decoded %v", err)
		return kemi.Fail
	}
	if err := m.SetRURI(dec); err != nil {
		m.Errorf(mod.log, "contact_param_decode_ruri: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

func (mod *Module) contactParamRm(m *kemi.Msg, a kemi.Args) kemi.Value {
	cs, _ := contacts(m)
	return mod.rewriteContacts(m, "contact_param_rm", cs, func(c *sip.ContactHeader) (string, error) {
		n, removed := removeParam(c.Address.String(), a.Str(0))
		if !removed {
			return "", nil
		}
		return n, nil
	}, -1, -1)
}

// contactParamCheck returns 1 when a Contact URI has the parameter. As in
// Kamailio, a message without Contact header also gives 1.
func (mod *Module) contactParamCheck(m *kemi.Msg, a kemi.Args) kemi.Value {
	cs, present := contacts(m)
	if !present {
		return kemi.OK
	}
	for _, c := range cs {
		u, err := parseURI(c.Address.String())
		if err != nil {
			m.Errorf(mod.log, "contact_param_check: %v", err)
			return kemi.Fail
		}
		if _, ok := findParam(splitParams(u.params), a.Str(0), true); ok {
			return kemi.OK
		}
	}
	return kemi.Fail
}
