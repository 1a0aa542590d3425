package kemi

import (
	"net/netip"
	"strings"
)

// HTTPRequest is an HTTP request that arrived on a SIP tcp or tls
// listener, while the script's ksr_xhttp_event route runs for it (as in
// Kamailio, where xhttp serves HTTP on the SIP sockets and the websocket
// module upgrades such a request to SIP over WebSocket). The engine sets
// it on the route's message (HTTPRequestOf) and acts on what the route
// asked for once it ends.
type HTTPRequest struct {
	Method string // "GET"
	URL    string // the request target, "/" or "/ws?x=y"
	Proto  string // "HTTP/1.1"
	Header [][2]string
	Body   []byte

	// Reply asks for this HTTP reply to be sent when the route ends
	// (KSR.xhttp.xhttp_reply); the last call wins. It fails once a
	// handshake was accepted.
	Reply func(code int, reason, contentType string, body []byte) error
	// Handshake checks the request as a SIP over WebSocket upgrade
	// (KSR.websocket.handle_handshake): accepted, the 101 is sent when
	// the route ends and the connection carries SIP over WebSocket;
	// refused, the refusal (400, 405, 426) is sent and the error says
	// why.
	Handshake func() error
}

// httpRequestKey is the Msg.Value key of an HTTPRequest.
type httpRequestKey struct{}

// HTTPRequestOf returns the HTTP request m stands for in a
// ksr_xhttp_event route, or nil.
func HTTPRequestOf(m *Msg) *HTTPRequest {
	r, _ := m.Value(httpRequestKey{}).(*HTTPRequest)
	return r
}

// SetHTTPRequest makes m stand for r (the engine, before it runs
// ksr_xhttp_event).
func SetHTTPRequest(m *Msg, r *HTTPRequest) { m.SetValue(httpRequestKey{}, r) }

// HeaderValue returns the first value of header name, compared without
// case, or "".
func (r *HTTPRequest) HeaderValue(name string) string {
	for _, h := range r.Header {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// WSHost is implemented by a Host that serves SIP over WebSocket.
type WSHost interface {
	// WSClose sends a close frame with code and reason on WebSocket
	// connection connID and closes it once the peer answers (or soon
	// after). It fails when there is no such WebSocket connection.
	WSClose(connID uint64, code int, reason string) error
}

// ConnCloseHook is implemented by modules that keep state bound to a
// TCP, TLS or WebSocket connection, such as the registrar's bindings of
// a WebSocket client, which live only as long as its connection (RFC
// 7118 §5, Kamailio's tcp:closed event). The engine calls
// OnConnClosed, from whatever goroutine closed the connection (a reader,
// a worker whose send failed, a write flusher), once the connection is
// gone: sends to it fail from then on. It must return soon and must not
// send: a hook with slow work (a database write) hands it to a goroutine
// of its own.
type ConnCloseHook interface {
	OnConnClosed(c ClosedConn)
}

// ClosedConn describes a connection that has closed.
type ClosedConn struct {
	ID     uint64         // the connection id (Msg.ConnID)
	Proto  string         // "tcp", "tls", "ws" or "wss"
	Remote netip.AddrPort // the peer's address (Msg.Src)
	Local  *Socket        // the listener it belongs to
}
