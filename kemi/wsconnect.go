package kemi

import "net/netip"

// WSDialer is implemented by a Host that opens SIP over WebSocket
// connections itself (KSR.websocket.connect and send).
type WSDialer interface {
	// WSConnect returns the id of a WebSocket connection to host:port
	// over tcp (secure false) or tls (secure true), reusing one that is
	// open, else dialling it and asking for path with subprotocol
	// subproto, and the peer's address the connection uses (host
	// resolved once, here). Dial and handshake are bounded in time.
	WSConnect(host string, port int, path, subproto string, secure bool) (connID uint64, peer netip.AddrPort, err error)
}
