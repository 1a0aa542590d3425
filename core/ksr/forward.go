package ksr

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Return values of set_advertised_* and add_tcp_alias*: Kamailio gives 0,
// not a negative number, on error.
var (
	intOK  = kemi.OK
	intErr = kemi.Int(0)
)

// maxAdvertisedAddress is Kamailio's limit for set_advertised_address.
const maxAdvertisedAddress = 127

// forwardExports are stateless forwarding, the per-message send options,
// set_drop and route.
func (mod *Module) forwardExports() []kemi.Export {
	return []kemi.Export{
		fn("forward", nil, kemi.ReturnInt, func(m *kemi.Msg, _ kemi.Args) kemi.Value { return mod.forward(m, "") }),
		fn("forward_uri", kemi.S, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.forward(m, a.Str(0)) }),
		fn("set_forward_close", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.ForwardClose = true })),
		fn("set_forward_no_connect", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.ForwardNoConnect = true })),
		fn("set_reply_close", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.ReplyClose = true })),
		fn("set_reply_no_connect", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.ReplyNoConnect = true })),
		fn("force_rport", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.ForceRport = true })),
		fn("add_local_rport", nil, kemi.ReturnBool, setTrue(func(m *kemi.Msg) { m.LocalRport = true })),
		fn("set_advertised_address", kemi.S, kemi.ReturnInt, mod.setAdvertisedAddress),
		fn("set_advertised_port", kemi.S, kemi.ReturnInt, mod.setAdvertisedPort),
		fn("add_tcp_alias", kemi.I, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.addTCPAlias(m, a.Int(0))
		}),
		fn("add_tcp_alias_via", nil, kemi.ReturnInt, mod.addTCPAliasVia),
		fn("set_drop", nil, kemi.ReturnVoid, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			m.Drop = true
			return kemi.Null
		}),
		fn("route", kemi.S, kemi.ReturnInt, mod.route),
	}
}

// forward sends the request statelessly to uri, or to $du / the R-URI when
// uri is "" (so forward_uri("") is forward(), as in Kamailio). It gives 1,
// or -1 when the next hop is not a valid URI, the message is a reply, or
// sending failed.
func (mod *Module) forward(m *kemi.Msg, uri string) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "KSR.forward: not a request (a reply has no next-hop uri)")
		return kemi.Fail
	}
	target := uri
	if target == "" {
		target = m.NextHop()
	}
	if err := m.CheckURIText(target); err != nil {
		m.Errorf(mod.log, "KSR.forward: bad next hop: %v", err)
		return kemi.Fail
	}
	h := mod.hostOf(m)
	if h == nil {
		m.Errorf(mod.log, "KSR.forward: no engine to send with")
		return kemi.Fail
	}
	if err := h.Forward(m, uri); err != nil {
		mod.log.Warn("stateless forward failed", "uri", target, "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}

// setAdvertisedAddress is KSR.set_advertised_address(addr): the host put
// in our Via and Record-Route for this message ("" goes back to the
// socket's). 1 on success, 0 on error.
func (mod *Module) setAdvertisedAddress(m *kemi.Msg, a kemi.Args) kemi.Value {
	addr := a.Str(0)
	if len(addr) > maxAdvertisedAddress {
		m.Errorf(mod.log, "KSR.set_advertised_address: address too long (%d bytes)", len(addr))
		return intErr
	}
	if addr != "" {
		if err := kemi.CheckHost(addr); err != nil {
			m.Errorf(mod.log, "KSR.set_advertised_address: %v", err)
			return intErr
		}
	}
	m.AdvHost = addr
	return intOK
}

// setAdvertisedPort is KSR.set_advertised_port(port): the port put in our
// Via and Record-Route for this message ("" goes back to the socket's). 1
// on success, 0 on error.
func (mod *Module) setAdvertisedPort(m *kemi.Msg, a kemi.Args) kemi.Value {
	s := a.Str(0)
	if s == "" {
		m.AdvPort = 0
		return intOK
	}
	port, err := kemi.ParsePort(strings.TrimSpace(s))
	if err != nil {
		m.Errorf(mod.log, "KSR.set_advertised_port: %v", err)
		return intErr
	}
	m.AdvPort = port
	return intOK
}

// isTCPOrTLS reports whether the message came over a connection that
// add_tcp_alias works on.
func isTCPOrTLS(m *kemi.Msg) bool {
	p := strings.ToLower(m.Proto)
	return p == "tcp" || p == "tls"
}

// addTCPAlias is KSR.add_tcp_alias(port): requests to the source IP and
// port reuse the connection the message came over. Over other transports
// there is nothing to do and it gives 1, as Kamailio; 0 on error.
func (mod *Module) addTCPAlias(m *kemi.Msg, port int) kemi.Value {
	if !isTCPOrTLS(m) {
		return intOK
	}
	if err := mod.aliasConn(m, port); err != nil {
		m.Errorf(mod.log, "KSR.add_tcp_alias: %v", err)
		return intErr
	}
	return intOK
}

// addTCPAliasVia is KSR.add_tcp_alias_via(): add_tcp_alias with the port
// of the top Via (the transport's default port when it has none).
func (mod *Module) addTCPAliasVia(m *kemi.Msg, _ kemi.Args) kemi.Value {
	if !isTCPOrTLS(m) {
		return intOK
	}
	_, port, _, ok := m.ViaTargetAt(0)
	if !ok {
		m.Errorf(mod.log, "KSR.add_tcp_alias_via: no Via header")
		return intErr
	}
	if err := mod.aliasConn(m, port); err != nil {
		m.Errorf(mod.log, "KSR.add_tcp_alias_via: %v", err)
		return intErr
	}
	return intOK
}

// aliasConn asks the engine to use m's connection for the source IP and
// port.
func (mod *Module) aliasConn(m *kemi.Msg, port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("invalid port %d", port)
	}
	if !m.Src.IsValid() {
		return fmt.Errorf("no source address")
	}
	h := mod.hostOf(m)
	if h == nil {
		return fmt.Errorf("no engine")
	}
	return h.AddTCPAlias(m.ConnID, netip.AddrPortFrom(m.Src.Addr(), uint16(port)))
}

// route is KSR.route(name). kemi has no native cfg routes, so it runs the
// script's global function name with the current message and route type.
// It gives 1 when the function returned, 0 when it ended with KSR.x.exit
// or KSR.x.drop, and -1 when there is no such function (logged here) or
// it failed with a Lua error (logged by the engine, which runs every
// route, with the route's name and a traceback).
func (mod *Module) route(m *kemi.Msg, a kemi.Args) kemi.Value {
	name := a.Str(0)
	switch {
	case name == "":
		m.Errorf(mod.log, "KSR.route: empty route name")
		return kemi.Fail
	case m.Run == nil:
		m.Errorf(mod.log, "KSR.route(%q): no script is running", name)
		return kemi.Fail
	case !m.Run.Has(name):
		m.Errorf(mod.log, "KSR.route(%q): the script has no function %s", name, name)
		return kemi.Fail
	}
	res, err := m.Run.Call(name, m.Route, m)
	switch {
	case err != nil:
		// the Runner logged and counted the error, with its traceback
		mod.log.Debug("KSR.route: the route ended with a Lua error", "route", name, "err", err, "at", m.Where())
		return kemi.Fail
	case !res.Ran:
		m.Errorf(mod.log, "KSR.route(%q): the script has no function %s", name, name)
		return kemi.Fail
	case res.Exited:
		return kemi.Int(0)
	}
	return kemi.OK
}
