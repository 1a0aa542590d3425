package websocket

import (
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.websocket. connect and send (client WebSocket
// connections opened by the script) are not in kemi.
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
