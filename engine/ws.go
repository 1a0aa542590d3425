package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/internal/websocket"
	"github.com/kemisip/kemi/kemi"
)

// SIP over WebSocket (RFC 7118). A ws: or wss: listener is a TCP
// listener whose connections begin with an HTTP upgrade request; once it
// is accepted every WebSocket message is one SIP message, routed with
// proto "ws" or "wss" like a message framed out of a TCP stream. The
// connection stays a tcpConn: found by id and address, counted against
// the TCP limits, written through writeTCP, so that a worker never waits
// on a WebSocket peer either.

// wsMaxHead bounds the HTTP upgrade request head.
const wsMaxHead = 8 << 10

// wsLinger is how long a connection closed for a protocol violation is
// drained before its socket closes, so that the peer reads the close
// frame (1002, 1009) rather than a reset.
const wsLinger = time.Second

// wsSession is the WebSocket side of an upgraded connection.
type wsSession struct {
	proto   string // "ws" or "wss"
	conn    *websocket.Conn
	closing atomic.Bool // kemi sent a close (KSR.websocket.close)
}

// Reasons of kemi_websocket_handshake_failures_total.
var wsHandshakeReasons = []string{
	"incomplete",  // the peer closed or was silent before its request head was whole
	"malformed",   // the head does not parse or is too large: 400
	"method",      // not GET: 405
	"version",     // Sec-WebSocket-Version not 13: 426
	"subprotocol", // a valid upgrade that does not offer sip: 400
	"bad_request", // another invalid upgrade: 400
}

// Reasons of kemi_websocket_closed_total.
var wsCloseReasons = []string{
	"remote",          // the peer's close frame
	"ping_timeout",    // a ping left unanswered
	"message_too_big", // a message over max_message_size, or in too many frames: 1009
	"protocol_error",  // a frame broke RFC 6455, or text not UTF-8: 1002, 1007
	"abnormal",        // the socket ended without a close frame
	"local",           // kemi closed it (a send failed, shutdown)
}

// wsMetrics are the kemi_websocket_* series of an engine.
type wsMetrics struct {
	conns      atomic.Int64
	handshakes *metrics.Counter
	failures   map[string]*metrics.Counter
	closed     map[string]*metrics.Counter
}

func newWSMetrics(set *kemi.Metrics, m *wsMetrics) {
	set.NewGauge(`kemi_websocket_connections`, "SIP over WebSocket connections open now (upgraded; also counted in kemi_core_tcp_connections).",
		func() float64 { return float64(m.conns.Load()) })
	m.handshakes = set.NewCounter(`kemi_websocket_handshakes_total`, "WebSocket opening handshakes accepted (101 Switching Protocols sent).")
	m.failures = map[string]*metrics.Counter{}
	for _, r := range wsHandshakeReasons {
		m.failures[r] = set.NewCounter(`kemi_websocket_handshake_failures_total{reason="`+r+`"}`,
			"WebSocket opening handshakes refused, by reason: incomplete (closed or timed out before the request head), malformed, method (405), version (426), subprotocol (sip not offered: 400), bad_request (400).")
	}
	m.closed = map[string]*metrics.Counter{}
	for _, r := range wsCloseReasons {
		m.closed[r] = set.NewCounter(`kemi_websocket_closed_total{reason="`+r+`"}`,
			"WebSocket connections ended, by reason: remote (the peer's close), ping_timeout, message_too_big (1009), protocol_error (1002, 1007), abnormal (no close frame), local (kemi closed it).")
	}
}

// isStreamOverTCP reports whether proto runs over a TCP listener besides
// tcp itself.
func isStreamOverTCP(proto string) bool {
	return proto == "tls" || proto == "ws" || proto == "wss"
}

// proto returns the transport of messages on c: tcp, tls, ws or wss. A
// connection of a ws: or wss: listener is ws or wss from its accept.
func (c *tcpConn) proto() string {
	if ws := c.ws.Load(); ws != nil {
		return ws.proto
	}
	if c.sock != nil && (c.sock.Proto == "ws" || c.sock.Proto == "wss") {
		return c.sock.Proto
	}
	if c.tls != nil {
		return "tls"
	}
	return "tcp"
}

// wsIO is what a websocket.Conn reads and writes: the connection's
// socket for reading, writeTCP for writing (so that frames, the SIP
// messages, pings, pongs and closes, queue behind each other and never
// hold a worker), closeAfterWrite for closing (the frames queued before
// the close, the close frame last, still go out, as a TCP connection's
// messages do).
type wsIO struct {
	t  *transport
	tc *tcpConn
}

func (w wsIO) Read(b []byte) (int, error) { return w.tc.c.Read(b) }

func (w wsIO) Write(b []byte) (int, error) {
	if err := w.t.writeTCP(w.tc, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (w wsIO) Close() error {
	w.t.closeAfterWrite(w.tc)
	return nil
}

// serveWS reads the upgrade request of a connection, answers it, and then routes each WebSocket
// message as one SIP message until the connection ends. The caller
// removes the connection.
func (t *transport) serveWS(tc *tcpConn) {
	req, rest, err := t.readHTTPHead(tc, nil)
	if err != nil {
		var he *websocket.HandshakeError
		if errors.Is(err, errClosed) {
			return
		}
		if !errors.As(err, &he) {
			t.e.met.ws.failures["incomplete"].Inc()
			t.e.log.Debug("websocket: no upgrade request", "remote", tc.remote, "err", err)
			return
		}
		t.refuseUpgrade(tc, "malformed", err)
		return
	}
	t.upgrade(tc, req, rest)
}

// readHTTPHead reads an HTTP request head from tc, after the bytes in
// pending, within TCPMsgReadTimeout; it returns what was read after it.
// A *websocket.HandshakeError is a head that is malformed or too large.
func (t *transport) readHTTPHead(tc *tcpConn, pending []byte) (*websocket.Request, []byte, error) {
	_ = tc.c.SetReadDeadline(time.Now().Add(t.e.cfg.TCPMsgReadTimeout))
	if t.closed.Load() {
		return nil, nil, errClosed // stopReading may have set its deadline before ours
	}
	var r io.Reader = tc.c
	if len(pending) > 0 {
		r = io.MultiReader(bytes.NewReader(pending), tc.c)
	}
	return websocket.ReadRequest(r, wsMaxHead)
}

// refuseUpgrade answers a refused upgrade, counts it and closes the
// connection once the answer is written.
func (t *transport) refuseUpgrade(tc *tcpConn, reason string, err error) {
	t.e.met.ws.failures[reason].Inc()
	t.e.log.Debug("websocket: upgrade refused", "remote", tc.remote, "reason", reason, "err", err)
	if t.writeTCP(tc, websocket.AppendReject(nil, err)) == nil {
		t.lingerClose(tc)
	}
}

// upgradeReason names why CheckUpgrade refused req.
func upgradeReason(req *websocket.Request, err error) string {
	var he *websocket.HandshakeError
	if errors.As(err, &he) {
		switch he.Status {
		case 405:
			return "method"
		case 426:
			return "version"
		}
	}
	if _, e := websocket.CheckUpgrade(req, nil); e == nil {
		return "subprotocol" // valid but for sip
	}
	return "bad_request"
}

// upgrade checks req, a WebSocket upgrade request read from tc with rest
// read after it, answers it and serves the connection as SIP over
// WebSocket (see serveWS).
func (t *transport) upgrade(tc *tcpConn, req *websocket.Request, rest []byte) {
	u, err := websocket.CheckUpgrade(req, []string{"sip"})
	if err != nil {
		t.refuseUpgrade(tc, upgradeReason(req, err), err)
		return
	}
	t.accepted(tc, u, rest)
}

// accepted answers an accepted upgrade u of tc with 101 and serves the
// connection as SIP over WebSocket, rest being what was read after the
// request.
func (t *transport) accepted(tc *tcpConn, u *websocket.Upgrade, rest []byte) {
	proto := "ws"
	if tc.tls != nil {
		proto = "wss"
	}
	if err := t.writeTCP(tc, websocket.AppendAccept(nil, u, websocket.Header{{Name: "Server", Value: "kemi"}})); err != nil {
		return
	}
	t.e.met.ws.handshakes.Inc()
	wc := websocket.NewServer(wsIO{t, tc}, rest, websocket.Config{MaxMessageSize: t.e.cfg.MaxMessageSize})
	// the 101 went first: only now may SIP be sent on it
	tc.ws.Store(&wsSession{proto: proto, conn: wc})
	t.readWS(tc, wc, proto)
}

// readWS routes each message of WebSocket connection wc (of tc) as one
// SIP message with proto ws or wss until the connection ends.
func (t *transport) readWS(tc *tcpConn, wc *websocket.Conn, proto string) {
	_ = tc.c.SetReadDeadline(time.Time{})
	if t.closed.Load() {
		return // stopReading may have set its deadline before ours
	}
	t.e.met.ws.conns.Add(1)
	defer t.e.met.ws.conns.Add(-1)
	t.ka.Add(wc)
	defer t.ka.Remove(wc)
	for {
		_, msg, err := wc.ReadMessage(nil)
		if err != nil {
			t.wsEnded(tc, err)
			return
		}
		now := time.Now()
		tc.last.Store(now.UnixNano())
		if t.hook != nil {
			t.hook(siteTCPReader, msg)
		}
		if isKeepalive(msg) {
			continue
		}
		t.e.dispatch(job{raw: msg, src: tc.remote, sock: tc.sock, proto: proto, connID: tc.id, at: now})
	}
}

// wsEnded counts why a WebSocket connection ended, and lets a peer that
// broke the protocol read its close frame.
func (t *transport) wsEnded(tc *tcpConn, err error) {
	var ce *websocket.CloseError
	errors.As(err, &ce)
	reason := "abnormal"
	switch {
	case errors.Is(err, websocket.ErrPingTimeout):
		reason = "ping_timeout"
	case tc.ws.Load() != nil && tc.ws.Load().closing.Load():
		reason = "local"
	case ce != nil && ce.Remote:
		reason = "remote"
	case ce != nil && ce.Code == websocket.CloseMessageTooBig:
		reason = "message_too_big"
	case ce != nil && (ce.Code == websocket.CloseProtocolError || ce.Code == websocket.CloseInvalidPayload):
		reason = "protocol_error"
	case tc.closed.Load() || t.closed.Load():
		reason = "local"
	}
	t.e.met.ws.closed[reason].Inc()
	t.e.log.Debug("websocket connection ended", "remote", tc.remote, "reason", reason, "err", err)
	switch reason {
	case "message_too_big", "protocol_error":
		t.lingerClose(tc)
	case "remote":
		t.waitFlushed(tc, time.Now().Add(wsLinger)) // the close frame echoed
	}
}

// lingerClose ends a connection whose last frame (or HTTP reply) is
// written or queued: it waits for the queue to drain, shuts the sending
// side and discards what the peer still sends for up to wsLinger, so
// that the peer reads what it was sent rather than a reset. The caller
// removes the connection.
func (t *transport) lingerClose(tc *tcpConn) {
	until := time.Now().Add(wsLinger)
	t.waitFlushed(tc, until)
	raw := tc.c
	if tc.tls != nil {
		raw = tc.tls.raw
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = tc.c.SetReadDeadline(until)
	var b [512]byte
	for {
		if _, err := tc.c.Read(b[:]); err != nil {
			return
		}
	}
}

// waitFlushed waits until what is queued for tc is written, or until.
func (t *transport) waitFlushed(tc *tcpConn, until time.Time) {
	for time.Now().Before(until) {
		tc.wmu.Lock()
		busy := tc.flushing
		tc.wmu.Unlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sendWS sends b as one WebSocket message on the connection of dst
// (by its id, else to its address). A send does not open a connection: a
// WebSocket peer is reached over the connection it opened, or one a script
// opened with KSR.websocket.connect or send.
func (t *transport) sendWS(dst *kemi.Dest, b []byte) error {
	tc := t.conn(dst.ConnID, dst.Addr)
	if tc == nil {
		return fmt.Errorf("no %s connection to %s (a WebSocket peer is reached over a connection it or KSR.websocket.connect opened)", dst.Proto, dst.Addr)
	}
	ws := tc.ws.Load()
	// transport=ws names WS and WSS clients alike, as in Kamailio: the
	// received URI and Record-Route of a WSS client say ws
	if ws == nil || dst.ConnID == 0 && ws.proto != dst.Proto && !(dst.Proto == "ws" && ws.proto == "wss") {
		return fmt.Errorf("no %s connection to %s (a WebSocket peer is reached over a connection it or KSR.websocket.connect opened)", dst.Proto, dst.Addr)
	}
	op := websocket.OpText
	if !utf8.Valid(b) {
		op = websocket.OpBinary // a body that is not text
	}
	if err := ws.conn.WriteMessage(op, b); err != nil {
		return fmt.Errorf("websocket send to %s: %w", dst.Addr, err)
	}
	if dst.Close {
		ws.conn.Close()
	}
	return nil
}

// connClosed tells the modules that keep state per connection
// (kemi.ConnCloseHook) that tc is gone. A panic in one costs that call
// only.
func (t *transport) connClosed(tc *tcpConn) {
	if len(t.e.mods) == 0 {
		return
	}
	c := kemi.ClosedConn{ID: tc.id, Proto: tc.proto(), Remote: tc.remote, Local: tc.sock}
	for _, lm := range t.e.mods {
		h, ok := lm.Module.(kemi.ConnCloseHook)
		if !ok {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.e.log.Error("panic in a connection close hook", "module", lm.Name, "panic", r, "conn", c.ID)
				}
			}()
			h.OnConnClosed(c)
		}()
	}
}

var _ io.ReadWriteCloser = wsIO{}
