package nathelper

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// contactDoneKey marks a message whose Contact fix_nated_contact or
// set_contact_alias rewrote: Kamailio refuses a second rewrite ("you
// can't call fix_nated_contact twice").
type contactDoneKey struct{}

func contactDone(m *kemi.Msg) bool {
	done, _ := m.Value(contactDoneKey{}).(bool)
	return done
}

// srcHost is the source IP as a URI host (IPv6 without brackets: sipgo
// adds them).
func srcHost(m *kemi.Msg) string { return m.Src.Addr().Unmap().String() }

// aliasValue is Kamailio's alias encoding of the source address:
// ip~port~protoid, the IPv6 address in brackets.
func aliasValue(m *kemi.Msg) (string, bool) {
	id := kemi.ProtoID(m.Proto)
	if id == 0 || !m.Src.IsValid() {
		return "", false
	}
	ip := m.Src.Addr().Unmap()
	host := ip.String()
	if ip.Is6() {
		host = "[" + host + "]"
	}
	return host + "~" + strconv.Itoa(int(m.Src.Port())) + "~" + strconv.Itoa(id), true
}

// fixNatedContact is KSR.nathelper.fix_nated_contact: the host and port
// of the first Contact become the source address; a maddr parameter goes.
func (mod *Module) fixNatedContact(m *kemi.Msg, _ kemi.Args) kemi.Value {
	const fn = "fix_nated_contact"
	c := firstContact(m)
	if c == nil {
		return mod.fail(m, fn, "no Contact URI")
	}
	if contactDone(m) {
		return mod.fail(m, fn, "you can't call fix_nated_contact twice, check your config")
	}
	c.Address.Host = srcHost(m)
	c.Address.Port = int(m.Src.Port())
	c.Address.UriParams.Remove("maddr")
	m.SetValue(contactDoneKey{}, true)
	mod.rewrites.Inc()
	return kemi.OK
}

// addContactAlias is KSR.nathelper.add_contact_alias: an alias parameter
// with the source address goes right after the host:port of the first
// Contact, unless the Contact already names the source IP, port and
// transport (2); 2 also when there is no Contact.
func (mod *Module) addContactAlias(m *kemi.Msg, _ kemi.Args) kemi.Value {
	const fn = "add_contact_alias"
	if !hasContactHeader(m) {
		return kemi.Int(2)
	}
	c := firstContact(m)
	if c == nil {
		return mod.fail(m, fn, "failed to get contact uri")
	}
	if ip, err := netip.ParseAddr(c.Address.Host); err == nil &&
		ip.Unmap() == m.Src.Addr().Unmap() &&
		(int(m.Src.Port()) == c.Address.Port || (c.Address.Port == 0 && m.Src.Port() == 5060)) &&
		uriProtoID(c.Address) == kemi.ProtoID(m.Proto) {
		return kemi.Int(2)
	}
	if contactDone(m) {
		return mod.fail(m, fn, "you can't call add_contact_alias twice, check your config")
	}
	v, ok := aliasValue(m)
	if !ok {
		return mod.fail(m, fn, "invalid transport protocol")
	}
	mod.insertAlias(c, v)
	return kemi.OK
}

// addContactAliasAddr is KSR.nathelper.add_contact_alias_addr(ip, port,
// proto): add_contact_alias with the address given.
func (mod *Module) addContactAliasAddr(m *kemi.Msg, a kemi.Args) kemi.Value {
	const fn = "add_contact_alias_addr"
	if !hasContactHeader(m) {
		return kemi.Int(2)
	}
	c := firstContact(m)
	if c == nil {
		return mod.fail(m, fn, "failed to get contact uri")
	}
	ipStr, portStr, proto := a.Str(0), a.Str(1), a.Str(2)
	if _, err := netip.ParseAddr(strings.Trim(ipStr, "[]")); err != nil {
		return mod.fail(m, fn, "ip param value %s is not valid IP address", ipStr)
	}
	if n, err := strconv.ParseUint(portStr, 10, 32); err != nil || n == 0 || n > 65535 {
		return mod.fail(m, fn, "port param value is not valid port")
	}
	id := kemi.ProtoID(proto)
	if id == 0 {
		return mod.fail(m, fn, "proto param value %s is not a known protocol", proto)
	}
	if contactDone(m) {
		return mod.fail(m, fn, "you can't call alias_contact twice, check your config")
	}
	mod.insertAlias(c, ipStr+"~"+portStr+"~"+strconv.Itoa(id))
	return kemi.OK
}

// insertAlias puts alias=v first among the URI parameters of c, where
// Kamailio writes it (after host:port).
func (mod *Module) insertAlias(c *sip.ContactHeader, v string) {
	ps := make(sip.HeaderParams, 0, len(c.Address.UriParams)+1)
	ps = append(ps, sip.HeaderKV{K: mod.aliasName, V: v})
	c.Address.UriParams = append(ps, c.Address.UriParams...)
	mod.rewrites.Inc()
}

// setContactAlias is KSR.nathelper.set_contact_alias and, with trim,
// set_contact_alias_trim: an alias parameter with the source address is
// appended to the first Contact URI (trim first takes out the last alias
// parameter it had). Unlike add_contact_alias it is added whatever the
// Contact says, and the save of a REGISTER stores it.
func (mod *Module) setContactAlias(m *kemi.Msg, trim bool) kemi.Value {
	fn := "set_contact_alias"
	if trim {
		fn = "set_contact_alias_trim"
	}
	c := firstContact(m)
	if c == nil {
		return mod.fail(m, fn, "no Contact URI")
	}
	if contactDone(m) {
		return mod.fail(m, fn, "you can't update contact twice, check your config")
	}
	v, ok := aliasValue(m)
	if !ok {
		return mod.fail(m, fn, "cannot add the alias parameter")
	}
	if trim {
		mod.trimAlias(&c.Address)
	}
	c.Address.UriParams = append(c.Address.UriParams, sip.HeaderKV{K: mod.aliasName, V: v})
	m.SetValue(contactDoneKey{}, true)
	mod.rewrites.Inc()
	return kemi.OK
}

// trimAlias removes the last well-formed alias parameter (ip~port~proto)
// of u, as Kamailio's uri_trim_rcv_alias.
func (mod *Module) trimAlias(u *sip.Uri) {
	for i := len(u.UriParams) - 1; i >= 0; i-- {
		kv := u.UriParams[i]
		if kv.K != mod.aliasName {
			continue
		}
		if _, _, _, err := parseAlias(kv.V); err == nil {
			u.UriParams = append(u.UriParams[:i:i], u.UriParams[i+1:]...)
		}
		return
	}
}

// hasContactHeader reports whether m has a Contact header at all.
func hasContactHeader(m *kemi.Msg) bool {
	for _, h := range m.HeaderList() {
		if kemi.HeaderNameIs(h.Name(), "Contact") {
			return true
		}
	}
	return false
}

// uriProtoID is the transport of a URI as Kamailio's parse_uri sets it: 0
// when there is no transport parameter.
func uriProtoID(u sip.Uri) int {
	t, ok := u.UriParams.Get("transport")
	if !ok {
		return 0
	}
	return kemi.ProtoID(t)
}

// addRcvParam is KSR.nathelper.add_rcv_param: every Contact gets the
// source address as a received parameter: quoted among the Contact
// header's parameters (flag 0), or unquoted in the URI (flag not 0,
// UDP only). registrar's save stores it as the binding's received.
func (mod *Module) addRcvParam(m *kemi.Msg, a kemi.Args) kemi.Value {
	const fn = "add_rcv_param"
	inURI := a.Int(0) != 0
	if inURI && strings.ToLower(m.Proto) != "udp" {
		return mod.fail(m, fn, "adding received parameter to Contact URI works only for UDP")
	}
	uri, ok := m.SourceURI()
	if !ok {
		return mod.fail(m, fn, "no source address")
	}
	var cs []*sip.ContactHeader
	for _, h := range m.HeaderList() {
		if c, ok := h.(*sip.ContactHeader); ok && !c.Address.Wildcard {
			cs = append(cs, c)
		} else if !ok && kemi.HeaderNameIs(h.Name(), "Contact") {
			return mod.fail(m, fn, "bad Contact %q", h.Value())
		}
	}
	if len(cs) == 0 {
		return mod.fail(m, fn, "no Contact")
	}
	for _, c := range cs {
		if inURI {
			c.Address.UriParams = append(c.Address.UriParams, sip.HeaderKV{K: "received", V: uri})
		} else {
			if c.Params == nil {
				c.Params = sip.NewParams()
			}
			c.Params = append(c.Params, sip.HeaderKV{K: "received", V: `"` + uri + `"`})
		}
	}
	mod.rewrites.Inc()
	return kemi.OK
}

// fixNatedRegister is KSR.nathelper.fix_nated_register: the source
// address as a URI goes into the received_avp AVP, which registrar's save
// stores as the binding's received address. 1 without received_avp.
func (mod *Module) fixNatedRegister(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if mod.receivedAVP == "" {
		return kemi.OK
	}
	uri, ok := m.SourceURI()
	if !ok {
		return mod.fail(m, "fix_nated_register", "no source address")
	}
	m.AVPs.Add(mod.receivedAVP, kemi.Str(uri))
	return kemi.OK
}

// setAliasToPV is KSR.nathelper.set_alias_to_pv: the alias parameter of
// the only Contact, as sip:ip:port;transport=proto, goes into the
// pseudo-variable named.
func (mod *Module) setAliasToPV(m *kemi.Msg, a kemi.Args) kemi.Value {
	const fn = "set_alias_to_pv"
	var cs []*sip.ContactHeader
	for _, h := range m.HeaderList() {
		if c, ok := h.(*sip.ContactHeader); ok {
			cs = append(cs, c)
		} else if kemi.HeaderNameIs(h.Name(), "Contact") {
			return mod.fail(m, fn, "couldn't parse Contact header")
		}
	}
	if len(cs) != 1 || cs[0].Address.Wildcard {
		return mod.fail(m, fn, "couldn't parse Contact header")
	}
	v, ok := cs[0].Address.UriParams.Get(mod.aliasName)
	if !ok {
		v, ok = cs[0].Params.Get(mod.aliasName)
	}
	if !ok {
		return mod.fail(m, fn, "alias sign couldn't be found")
	}
	host, port, proto, err := parseAlias(v)
	if err != nil {
		return mod.fail(m, fn, "%v", err)
	}
	uri := "sip:" + host + ":" + port + ";transport=" + proto
	if err := mod.pvs.Set(m, a.Str(0), kemi.Str(uri)); err != nil {
		return mod.fail(m, fn, "%v", err)
	}
	return kemi.OK
}
