package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/websocket"
	"github.com/kemisip/kemi/kemi"
)

// HTTP on the SIP tcp and tls listeners, Kamailio's way: a connection
// whose first line is an HTTP request line runs the script's
// ksr_xhttp_event route for each request, where KSR.xhttp.xhttp_reply
// answers it and KSR.websocket.handle_handshake upgrades the connection to
// SIP over WebSocket. A script without that route gets 404 and the
// connection closed.

// xhttpRoute is the script function HTTP requests run (Kamailio's
// xhttp.event_callback as its examples name it), with the event name
// xhttpEvent.
const (
	xhttpRoute = "ksr_xhttp_event"
	xhttpEvent = "xhttp:request"
)

// xhttpRouteWait bounds how long a connection's reader waits for the
// worker running its request's route.
const xhttpRouteWait = 30 * time.Second

// isHTTPStart reports, for the first bytes of a connection, whether they
// begin an HTTP request (a request line ending in HTTP/1.x rather than
// SIP/2.0), and whether that is known yet (the first line is whole).
func isHTTPStart(b []byte) (isHTTP, known bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false, len(b) >= wsMaxHead
	}
	line := bytes.TrimRight(b[:i], "\r")
	return bytes.HasSuffix(line, []byte(" HTTP/1.1")) || bytes.HasSuffix(line, []byte(" HTTP/1.0")), true
}

// xhttpResult is what the route asked for one HTTP request.
type xhttpResult struct {
	ran     bool
	drop    bool
	close   bool               // set_reply_close: close once the reply is written
	reply   []byte             // the HTTP reply, nil for none
	upgrade *websocket.Upgrade // handle_handshake accepted the upgrade
	refusal error              // handle_handshake refused it
}

// serveXHTTP serves HTTP requests on tc, whose first bytes (pending) are
// one, until the connection closes or is upgraded to SIP over
// WebSocket. The caller removes the connection.
func (t *transport) serveXHTTP(tc *tcpConn, pending []byte) {
	maxBody := t.e.cfg.MaxMessageSize
	for {
		req, rest, err := t.readHTTPHead(tc, pending)
		if err != nil {
			var he *websocket.HandshakeError
			if errors.As(err, &he) && t.writeTCP(tc, websocket.AppendReject(nil, err)) == nil {
				t.lingerClose(tc)
			}
			return
		}
		n, ok := httpBodyLength(req.Header)
		if !ok {
			// a length that is not one number, or a chunked body: where the
			// next request starts is unknown (request smuggling)
			if t.writeTCP(tc, appendHTTPReply(nil, 400, "Bad Request", "", nil, true)) == nil {
				t.lingerClose(tc)
			}
			return
		}
		if n > maxBody {
			if t.writeTCP(tc, appendHTTPReply(nil, 413, "Content Too Large", "", nil, true)) == nil {
				t.lingerClose(tc)
			}
			return
		}
		body := rest
		if len(body) < n {
			body = append(make([]byte, 0, n), rest...)
			if _, err := io.ReadFull(tc.c, body[len(rest):n]); err != nil {
				return
			}
			body = body[:n]
			rest = nil
		} else {
			body, rest = rest[:n:n], rest[n:]
		}
		res, ok := t.e.runXHTTP(tc, req, body)
		if !ok {
			return
		}
		switch {
		case res.upgrade != nil:
			_ = tc.c.SetReadDeadline(time.Time{})
			t.accepted(tc, res.upgrade, rest)
			return
		case res.refusal != nil:
			t.refuseUpgrade(tc, upgradeReason(req, res.refusal), res.refusal)
			return
		case !res.ran:
			if t.writeTCP(tc, appendHTTPReply(nil, 404, "Not Found", "", nil, true)) == nil {
				t.lingerClose(tc)
			}
			return
		case res.reply == nil || res.drop:
			return // nothing to answer: the connection closes
		}
		if t.writeTCP(tc, res.reply) != nil {
			return
		}
		if res.close || strings.EqualFold(req.Header.Get("Connection"), "close") || req.Proto == "HTTP/1.0" {
			t.lingerClose(tc)
			return
		}
		pending = rest
	}
}

// runXHTTP runs the script's ksr_xhttp_event route for req on a worker
// and waits for it; ok is false when the engine stopped first.
func (e *Engine) runXHTTP(tc *tcpConn, req *websocket.Request, body []byte) (xhttpResult, bool) {
	var res xhttpResult // the worker's until done is closed
	hr := &kemi.HTTPRequest{Method: req.Method, URL: req.Target, Proto: req.Proto, Body: body}
	for _, f := range req.Header {
		hr.Header = append(hr.Header, [2]string{f.Name, f.Value})
	}
	hr.Reply = func(code int, reason, ctype string, b []byte) error {
		if res.upgrade != nil {
			return errors.New("the connection is upgraded to WebSocket: no HTTP reply")
		}
		if code < 100 || code > 999 {
			return fmt.Errorf("bad status code %d", code)
		}
		res.reply = appendHTTPReply(nil, code, reason, ctype, b, false)
		return nil
	}
	hr.Handshake = func() error {
		if res.upgrade != nil {
			return errors.New("handshake already accepted")
		}
		u, err := websocket.CheckUpgrade(req, []string{"sip"})
		if err != nil {
			res.refusal = err
			return err
		}
		res.upgrade, res.reply = u, nil
		return nil
	}
	done := make(chan struct{})
	e.dispatch(job{fn: func(w *worker) {
		defer close(done)
		m := httpMsg(req, body)
		m.Proc, m.Host, m.Run = w.proc, e, w
		m.Proto, m.Src, m.Rcv, m.ConnID = tc.proto(), tc.remote, tc.sock, tc.id
		kemi.SetHTTPRequest(m, hr)
		cr, _ := w.run(xhttpRoute, kemi.RouteEvent, m, xhttpEvent) // a Lua error is logged and counted
		res.ran, res.drop, res.close = cr.Ran, m.Drop, m.ReplyClose
	}})
	timer := time.NewTimer(xhttpRouteWait)
	defer timer.Stop()
	select {
	case <-done:
		return res, true
	case <-e.tp.stopRead:
	case <-timer.C:
		e.log.Warn("xhttp: the route did not run in time; connection closed", "remote", tc.remote, "wait", xhttpRouteWait)
	}
	return xhttpResult{}, false // the worker may still write res
}

// sipHeaders are the headers the stand-in message of an HTTP request
// keeps as FakeMsg made them: the HTTP request's own would not parse or
// would change its SIP meaning. Content-Length is the body's, set with
// it.
var sipHeaders = map[string]bool{
	"via": true, "from": true, "to": true, "call-id": true, "cseq": true, "contact": true,
	"route": true, "record-route": true, "max-forwards": true, "content-length": true,
}

// httpMsg is the message ksr_xhttp_event runs with, as Kamailio's xhttp
// makes one of the HTTP request: FakeMsg's with the HTTP method ($rm),
// the HTTP request's headers ($hdr(Upgrade), $hdr(Host), $cT, ...) and
// its body ($rb), which serveXHTTP bounded by MaxMessageSize.
func httpMsg(req *websocket.Request, body []byte) *kemi.Msg {
	r := fakeRequest(sip.RequestMethod(req.Method))
	for _, f := range req.Header {
		if !sipHeaders[strings.ToLower(f.Name)] {
			r.AppendHeader(sip.NewHeader(f.Name, f.Value))
		}
	}
	if len(body) > 0 {
		r.SetBody(bytes.Clone(body))
	}
	return kemi.WithRequest(&kemi.Msg{OrigURI: r.Recipient.String(), Received: time.Now(), Faked: true}, r)
}

// appendHTTPReply appends an HTTP/1.1 reply with a Content-Length.
func appendHTTPReply(dst []byte, code int, reason, ctype string, body []byte, close bool) []byte {
	dst = fmt.Appendf(dst, "HTTP/1.1 %d %s\r\nServer: kemi\r\n", code, reason)
	if ctype != "" {
		dst = fmt.Appendf(dst, "Content-Type: %s\r\n", ctype)
	}
	if close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = fmt.Appendf(dst, "Content-Length: %d\r\n\r\n", len(body))
	return append(dst, body...)
}

// WSClose closes WebSocket connection connID with code and reason; see
// kemi.WSHost.
func (e *Engine) WSClose(connID uint64, code int, reason string) error {
	tc := e.tp.conn(connID, netip.AddrPort{})
	if tc == nil || tc.id != connID {
		return fmt.Errorf("no connection %d", connID)
	}
	ws := tc.ws.Load()
	if ws == nil {
		return fmt.Errorf("connection %d is not a WebSocket connection", connID)
	}
	ws.closing.Store(true)
	if err := ws.conn.WriteClose(code, reason); err != nil {
		return err
	}
	// the peer answers with its close, which ends the reader; one that
	// does not is not waited for long
	_ = tc.c.SetReadDeadline(time.Now().Add(wsLinger))
	return nil
}

var _ kemi.WSHost = (*Engine)(nil)

// httpBodyLength returns the length of an HTTP request's body from its
// headers: 0 without Content-Length; ok is false for a Content-Length that
// is repeated, not a number or negative, and for any Transfer-Encoding
// (kemi reads no chunked bodies).
func httpBodyLength(h websocket.Header) (n int, ok bool) {
	if len(h.Values("Transfer-Encoding")) > 0 {
		return 0, false
	}
	switch v := h.Values("Content-Length"); len(v) {
	case 0:
		return 0, true
	case 1:
		if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil && n >= 0 {
			return n, true
		}
	}
	return 0, false
}
