package pike

import (
	"net/netip"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.pike.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "pike", Name: "pike_check_req", Return: kemi.ReturnInt, Func: mod.checkReq},
		{Module: "pike", Name: "pike_check_ip", Params: kemi.S, Return: kemi.ReturnInt, Func: mod.checkIP},
	}
}

// checkReq counts the message against its source address. A message
// without one (built, not received) is let through, as Kamailio lets
// through what it cannot count.
func (mod *Module) checkReq(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if !m.Src.Addr().IsValid() {
		m.Errorf(mod.log, "pike_check_req: the message has no source address")
		return kemi.Int(resOK)
	}
	return kemi.Int(mod.check(m.Src.Addr()))
}

// checkIP counts one request against the given IPv4 address. As in
// Kamailio (str2ip), only IPv4 text is accepted: anything else returns -1.
func (mod *Module) checkIP(m *kemi.Msg, a kemi.Args) kemi.Value {
	text := a.Str(0)
	if text == "" {
		return kemi.Int(-1)
	}
	addr, err := netip.ParseAddr(text)
	if err != nil || !addr.Is4() {
		m.Errorf(mod.log, "pike_check_ip: failed to parse ip address: %s", text)
		return kemi.Int(-1)
	}
	return kemi.Int(mod.check(addr))
}
