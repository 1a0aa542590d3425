package nathelper

import "github.com/kemisip/kemi/kemi"

// Exports returns KSR.nathelper: the 14 functions of Kamailio 5.6's KEMI.
func (mod *Module) Exports() []kemi.Export {
	none := []kemi.ParamKind(nil)
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "nathelper", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		x("nat_uac_test", kemi.I, mod.natUACTest),
		x("is_rfc1918", kemi.S, mod.isRFC1918),
		x("add_rcv_param", kemi.I, mod.addRcvParam),
		x("fix_nated_contact", none, mod.fixNatedContact),
		x("fix_nated_register", none, mod.fixNatedRegister),
		x("add_contact_alias", none, mod.addContactAlias),
		x("add_contact_alias_addr", kemi.SSS, mod.addContactAliasAddr),
		x("set_contact_alias", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return mod.setContactAlias(m, false) }),
		x("set_contact_alias_trim", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return mod.setContactAlias(m, true) }),
		x("handle_ruri_alias", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return mod.handleRURIAlias(m, 0) }),
		x("handle_ruri_alias_mode", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.handleRURIAlias(m, a.Int(0)) }),
		x("set_alias_to_pv", kemi.S, mod.setAliasToPV),
		x("fix_nated_sdp", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.fixNatedSDP(m, a.Int(0), "") }),
		x("fix_nated_sdp_ip", kemi.IS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.fixNatedSDP(m, a.Int(0), a.Str(1)) }),
	}
}
