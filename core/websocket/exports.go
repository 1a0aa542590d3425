package websocket

import (
	"net/netip"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.websocket.
func (mod *Module) Exports() []kemi.Export {
	return []kemi.Export{
		{Module: "websocket", Name: "handle_handshake", Return: kemi.ReturnInt, Func: mod.handleHandshake},
		{Module: "websocket", Name: "close", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return mod.close(m, m.ConnID, 1000, "Normal closure")
		}},
		{Module: "websocket", Name: "close_reason", Params: kemi.IS, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.close(m, m.ConnID, a.Int(0), a.Str(1))
		}},
		{Module: "websocket", Name: "close_conid", Params: []kemi.ParamKind{kemi.ParamInt, kemi.ParamStr, kemi.ParamInt}, Return: kemi.ReturnInt,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
				return mod.close(m, uint64(a.Int64(2)), a.Int(0), a.Str(1))
			}},
		{Module: "websocket", Name: "connect", Params: wsDialParams, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if _, _, ok := mod.connect(m, a); !ok {
				return kemi.Int(-1)
			}
			return kemi.Int(1)
		}},
		{Module: "websocket", Name: "send", Params: wsDialParams, Return: kemi.ReturnInt, Func: mod.send},
	}
}

// handleHandshake accepts the HTTP request of the ksr_xhttp_event route
// as a SIP over WebSocket upgrade: 1, and the 101 goes out when the route
// ends; -1 when it is refused (the refusal, 400, 405 or 426, goes out
// then) or when there is no HTTP request.
func (mod *Module) handleHandshake(m *kemi.Msg, _ kemi.Args) kemi.Value {
	r := kemi.HTTPRequestOf(m)
	if r == nil || r.Handshake == nil {
		mod.log.Error("websocket: handle_handshake outside an HTTP request (ksr_xhttp_event)", "at", m.Where())
		return kemi.Int(-1)
	}
	if err := r.Handshake(); err != nil {
		mod.log.Info("websocket: handshake refused", "err", err, "src", m.Src, "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}

// close sends a close frame with code and reason on WebSocket connection
// id: 1, or -1 when it is not one.
func (mod *Module) close(m *kemi.Msg, id uint64, code int, reason string) kemi.Value {
	h, ok := m.Host.(kemi.WSHost)
	if !ok || id == 0 {
		mod.log.Error("websocket: no WebSocket connection to close", "conid", id, "at", m.Where())
		return kemi.Int(-1)
	}
	if err := h.WSClose(id, code, reason); err != nil {
		mod.log.Error("websocket: close: "+err.Error(), "conid", id, "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}

// wsDialParams are the parameters of connect and send: host, port, HTTP
// path, subprotocol and connection mode (0 tcp, 1 tls).
var wsDialParams = []kemi.ParamKind{kemi.ParamStr, kemi.ParamInt, kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}

// connect returns the id of a WebSocket connection to the peer a names,
// reused or opened, and the peer's address it goes to; false (logged)
// when there is none.
func (mod *Module) connect(m *kemi.Msg, a kemi.Args) (uint64, netip.AddrPort, bool) {
	host, port, path, subproto, cmode := a.Str(0), a.Int(1), a.Str(2), a.Str(3), a.Int(4)
	if subproto != "sip" {
		// kemi routes SIP only: an MSRP relay over WebSocket is not in it
		mod.log.Error("websocket: connect: subprotocol not supported (only sip)", "subproto", subproto, "at", m.Where())
		return 0, netip.AddrPort{}, false
	}
	if cmode != 0 && cmode != 1 {
		mod.log.Error("websocket: connect: bad connection mode (0 tcp, 1 tls)", "cmode", cmode, "at", m.Where())
		return 0, netip.AddrPort{}, false
	}
	d, ok := m.Host.(kemi.WSDialer)
	if !ok {
		mod.log.Error("websocket: connect: this host does not open WebSocket connections", "at", m.Where())
		return 0, netip.AddrPort{}, false
	}
	id, peer, err := d.WSConnect(host, port, path, subproto, cmode == 1)
	if err != nil {
		mod.log.Error("websocket: connect failed", "err", err, "at", m.Where())
		return 0, netip.AddrPort{}, false
	}
	return id, peer, true
}

// send forwards the request being routed statelessly over a WebSocket
// connection to the peer a names (see connect), as Kamailio's ws_send
// builds it: with our Via and the route's changes, like KSR.forward. The
// peer's replies come back over that connection with our Via on top, so
// they run ksr_reply_route and go on to the next Via as the replies of
// any stateless forward. 1, or -1 (a reply, no connection, no socket for
// our Via, a failed send).
func (mod *Module) send(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		mod.log.Error("websocket: send: only requests are sent (as Kamailio's ws_send)", "at", m.Where())
		return kemi.Int(-1)
	}
	_, peer, ok := mod.connect(m, a)
	if !ok {
		return kemi.Int(-1)
	}
	proto := "ws"
	if a.Int(4) == 1 {
		proto = "wss"
	}
	// to the address connect resolved and opened or reused, not the name:
	// resolved again, a name of several addresses could give another one,
	// with no connection to it
	uri := "sip:" + peer.String() + ";transport=" + proto
	if err := m.Host.Forward(m, uri); err != nil {
		mod.log.Error("websocket: send failed", "err", err, "uri", uri, "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}
