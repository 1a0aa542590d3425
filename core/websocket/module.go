// Package websocket is Kamailio's websocket module as scripts see it:
// KSR.websocket.handle_handshake upgrades an HTTP request that arrived on
// a SIP tcp or tls listener (in the ksr_xhttp_event route) to SIP over
// WebSocket, KSR.websocket.connect and send open WebSocket connections to
// a peer, and KSR.websocket.close* end WebSocket connections. The
// WebSocket transport itself (ws: and wss: listeners, frames, keepalive
// pings, the kemi_websocket_* metrics) belongs to the engine.
package websocket

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "websocket", Order: 230, New: func() kemi.Module { return &Module{} }})
}

// Module is the websocket module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the module's logger. Kamailio's websocket parameters
// that kemi has are the engine's (ws_keepalive_interval,
// ws_ping_timeout in [core]).
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
