package websocket

import (
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
			if _, ok := mod.connect(m, a); !ok {
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
// reused or opened; false (logged) when there is none.
func (mod *Module) connect(m *kemi.Msg, a kemi.Args) (uint64, bool) {
	host, port, path, subproto, cmode := a.Str(0), a.Int(1), a.Str(2), a.Str(3), a.Int(4)
	if subproto != "sip" {
		// kemi routes SIP only: an MSRP relay over WebSocket is not in it
		mod.log.Error("websocket: connect: subprotocol not supported (only sip)", "subproto", subproto, "at", m.Where())
		return 0, false
	}
	if cmode != 0 && cmode != 1 {
		mod.log.Error("websocket: connect: bad connection mode (0 tcp, 1 tls)", "cmode", cmode, "at", m.Where())
		return 0, false
	}
	d, ok := m.Host.(kemi.WSDialer)
	if !ok {
		mod.log.Error("websocket: connect: this host does not open WebSocket connections", "at", m.Where())
		return 0, false
	}
	id, err := d.WSConnect(host, port, path, subproto, cmode == 1)
	if err != nil {
		mod.log.Error("websocket: connect failed", "err", err, "at", m.Where())
		return 0, false
	}
	return id, true
}

// send sends the message being routed, as received, over a WebSocket
// connection to the peer a names (see connect): 1, or -1.
func (mod *Module) send(m *kemi.Msg, a kemi.Args) kemi.Value {
	if len(m.Raw) == 0 {
		mod.log.Error("websocket: send: no received message to send", "at", m.Where())
		return kemi.Int(-1)
	}
	id, ok := mod.connect(m, a)
	if !ok {
		return kemi.Int(-1)
	}
	rs, ok := m.Host.(kemi.RawSender)
	if !ok {
		mod.log.Error("websocket: send: this host cannot send raw messages", "at", m.Where())
		return kemi.Int(-1)
	}
	proto := "ws"
	if a.Int(4) == 1 {
		proto = "wss"
	}
	if err := rs.SendRaw(kemi.Dest{Proto: proto, ConnID: id}, m.Raw); err != nil {
		mod.log.Error("websocket: send failed", "err", err, "conid", id, "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(1)
}
