package permissions

import (
	"net/netip"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.permissions.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "permissions", Name: "allow_source_address", Params: []kemi.ParamKind{kemi.ParamInt}, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.allowAddr(m, int(a.Int(0)), m.Src.Addr(), int(m.Src.Port())))
		}},
		{Module: "permissions", Name: "allow_source_address_group", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.allowAddr(m, -1, m.Src.Addr(), int(m.Src.Port())))
		}},
		{Module: "permissions", Name: "allow_address", Params: []kemi.ParamKind{kemi.ParamInt, kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.allowText(m, int(a.Int(0)), a.Str(1), int(a.Int(2))))
		}},
		{Module: "permissions", Name: "allow_address_group", Params: []kemi.ParamKind{kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.allowText(m, -1, a.Str(0), int(a.Int(1))))
		}},
		{Module: "permissions", Name: "allow_trusted", Return: kemi.ReturnInt, Func: mod.allowTrusted},
	}
}

// allowAddr checks an address in group grp (1 when found), or in any
// group (grp < 0: the group found); -1 when not found. The tag of the
// matching row goes to peer_tag_avp.
func (mod *Module) allowAddr(m *kemi.Msg, grp int, a netip.Addr, port int) int {
	e, ok := mod.cur.Load().addr.match(grp, a, port)
	if !ok {
		return -1
	}
	mod.setTag(m, e.tag)
	if grp < 0 {
		return e.grp
	}
	return 1
}

// allowText is allowAddr for an address given as text: an IP address,
// or else a domain name compared with the domain name rows. As Kamailio,
// a domain name found in any group sets no tag.
func (mod *Module) allowText(m *kemi.Msg, grp int, s string, port int) int {
	if a, ok := parseIP(s); ok {
		return mod.allowAddr(m, grp, a, port)
	}
	e, ok := mod.cur.Load().addr.matchDomain(grp, s, port)
	if !ok {
		return -1
	}
	if grp < 0 {
		return e.grp
	}
	mod.setTag(m, e.tag)
	return 1
}

// allowTrusted is allow_trusted(): the source address and protocol of
// the message, its From URI and R-URI against the trusted table. It
// returns 1 (peer_tag_mode 0) or the number of matches (mode 1), -1
// when none match.
func (mod *Module) allowTrusted(m *kemi.Msg, _ kemi.Args) kemi.Value {
	var from, ruri string
	isReq := m.IsRequest()
	if isReq {
		if h := m.Request().From(); h != nil {
			from = h.Address.String()
		}
		ruri = m.OrigURI
		if ruri == "" {
			ruri = m.Request().Recipient.String()
		}
	}
	found := mod.cur.Load().trusted.match(m.Src.Addr().Unmap().String(), m.Proto, isReq, from, ruri, mod.tagAll)
	if len(found) == 0 {
		return kemi.Int(-1)
	}
	for _, e := range found {
		mod.setTag(m, e.tag)
	}
	if mod.tagAll {
		return kemi.Int(len(found))
	}
	return kemi.OK
}

// setTag adds the tag to peer_tag_avp, as Kamailio's add_avp (a NULL tag
// adds nothing).
func (mod *Module) setTag(m *kemi.Msg, tag *string) {
	if mod.tagAVP == nil || tag == nil {
		return
	}
	if err := mod.tagAVP.Set(m, kemi.Str(*tag)); err != nil {
		m.Errorf(mod.log, "permissions: setting peer_tag_avp: %v", err)
	}
}
