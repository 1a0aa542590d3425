package engine_test

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/testcert"
	"github.com/kemisip/kemi/internal/websocket"
)

// wsPeer is a SIP over WebSocket server of a test: it accepts upgrades
// offering protocols and hands each message it receives to got.
type wsPeer struct {
	ln       net.Listener
	accepted atomic.Int32
	got      chan string
	conns    chan *websocket.Conn
}

func startWSPeer(t *testing.T, protocols ...string) *wsPeer {
	t.Helper()
	return startWSPeerOn(t, nil, protocols...)
}

// startWSPeerOn is startWSPeer over TLS with the certificate cert (nil:
// plain TCP).
func startWSPeerOn(t *testing.T, cert *tls.Certificate, protocols ...string) *wsPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	p := &wsPeer{ln: ln, got: make(chan string, 16), conns: make(chan *websocket.Conn, 4)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go p.serve(c, protocols)
		}
	}()
	return p
}

func (p *wsPeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *wsPeer) serve(c net.Conn, protocols []string) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req, rest, err := websocket.ReadRequest(c, 8<<10)
	if err != nil {
		return
	}
	u, err := websocket.CheckUpgrade(req, protocols)
	if err != nil {
		_, _ = c.Write(websocket.AppendReject(nil, err))
		c.Close()
		return
	}
	if _, err := c.Write(websocket.AppendAccept(nil, u, nil)); err != nil {
		return
	}
	p.accepted.Add(1)
	wc := websocket.NewServer(c, rest, websocket.Config{WriteTimeout: 5 * time.Second})
	p.conns <- wc
	for {
		_, b, err := wc.ReadMessage(nil)
		if err != nil {
			return
		}
		p.got <- string(b)
	}
}

// wsConnectScript relays a UDP request to the WebSocket peer of its
// X-Port header (over TLS when X-Mode is 1) with KSR.websocket.send after
// two connects, answering with what they returned; a request from the
// peer (over ws or wss) is answered 200 over the same connection.
const wsConnectScript = `
function ksr_request_route()
	local pr = KSR.pv.get("$pr")
	if pr == "ws" or pr == "wss" then
		KSR.sl.sl_send_reply(200, "Over " .. pr)
		return
	end
	local port = tonumber(KSR.pv.get("$hdr(X-Port)"))
	local path = KSR.pv.get("$hdr(X-Path)") or "/"
	local mode = tonumber(KSR.pv.get("$hdr(X-Mode)") or "0")
	local c1 = KSR.websocket.connect("127.0.0.1", port, path, "sip", mode)
	local c2 = KSR.websocket.connect("127.0.0.1", port, path, "sip", mode)
	local s = KSR.websocket.send("127.0.0.1", port, path, "sip", mode)
	KSR.hdr.append_to_reply("X-R: " .. c1 .. "," .. c2 .. "," .. s .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
`

// udpAsk sends req to the engine over UDP and returns the X-R header of
// its 200.
func udpAsk(t *testing.T, s *enginetest.Server, req string) string {
	t.Helper()
	return header(sendUDP(t, s, req, "SIP/2.0 200"), "X-R")
}

func withPort(req string, port int) string {
	return strings.Replace(req, "Content-Length", "X-Port: "+strconv.Itoa(port)+"\r\nContent-Length", 1)
}

func TestWSConnectAndSend(t *testing.T) {
	peer := startWSPeer(t, "sip")
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0"))

	if got := udpAsk(t, s, withPort(sipOptions("UDP", "wsc1"), peer.port())); got != "1,1,1" {
		t.Fatalf("connect, connect, send = %q, want 1,1,1\n%s", got, s.Logs())
	}
	var msg string
	select {
	case msg = <-peer.got:
	case <-time.After(5 * time.Second):
		t.Fatalf("the OPTIONS did not reach the peer\n%s", s.Logs())
	}
	if !strings.HasPrefix(msg, "OPTIONS ") || header(msg, "Call-ID") != "wsc1" {
		t.Errorf("the peer got:\n%s", msg)
	}
	// a second request reuses the connection
	if got := udpAsk(t, s, withPort(sipOptions("UDP", "wsc2"), peer.port())); got != "1,1,1" {
		t.Fatalf("second time = %q, want 1,1,1", got)
	}
	<-peer.got
	if n := peer.accepted.Load(); n != 1 {
		t.Errorf("the peer accepted %d connections, want 1 (reused)", n)
	}

	// the peer's request on the connection is routed as ws, answered on it
	wc := <-peer.conns
	req := strings.Replace(sipOptions("WS", "fromPeer"), "127.0.0.1:5999", "peer.invalid", 1)
	if err := wc.WriteMessage(websocket.OpText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	select {
	case msg = <-peer.got:
		if !strings.HasPrefix(msg, "SIP/2.0 200 Over ws") {
			t.Errorf("the peer got, want 200 Over ws:\n%s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer on the WebSocket\n%s", s.Logs())
	}
}

func TestWSConnectFails(t *testing.T) {
	refusing := startWSPeer(t, "msrp") // no sip: 400
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0"))
	for _, tc := range []struct {
		name string
		port int
		log  string
	}{
		{"refused upgrade", refusing.port(), "handshake refused"},
		{"unreachable", closedPort, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if got := udpAsk(t, s, withPort(sipOptions("UDP", "f"+strconv.Itoa(tc.port)), tc.port)); got != "-1,-1,-1" {
				t.Fatalf("connect, connect, send = %q, want -1,-1,-1\n%s", got, s.Logs())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			logs := s.Logs()
			found := false
			for _, line := range strings.Split(logs, "\n") {
				found = found || strings.Contains(line, "websocket: connect failed") && strings.Contains(line, tc.log) && strings.Contains(line, ".lua:")
			}
			if !found {
				t.Errorf("no log line with %q and the script's file:line:\n%s", tc.log, logs)
			}
		})
	}
}

// TestWSSConnectAndSend is TestWSConnectAndSend over TLS (cmode 1): kemi
// verifies the peer's certificate with its client profile's ca_list, and
// one that is not trusted fails the connect.
func TestWSSConnectAndSend(t *testing.T) {
	cert := testcert.SelfSigned(t)
	certFile, _ := cert.Files(t)
	peer := startWSPeerOn(t, &cert.TLS, "sip")
	stranger := testcert.SelfSigned(t)
	untrusted := startWSPeerOn(t, &stranger.TLS, "sip")
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0"),
		enginetest.WithConfig(func(c *engine.Config) {
			// no TLS listener: only the client side, trusting the peer
			c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{CAList: certFile}}
		}))
	wss := func(req string, port int) string {
		return strings.Replace(withPort(req, port), "Content-Length", "X-Mode: 1\r\nContent-Length", 1)
	}

	if got := udpAsk(t, s, wss(sipOptions("UDP", "wss1"), peer.port())); got != "1,1,1" {
		t.Fatalf("connect, connect, send = %q, want 1,1,1\n%s", got, s.Logs())
	}
	select {
	case msg := <-peer.got:
		if header(msg, "Call-ID") != "wss1" {
			t.Errorf("the peer got:\n%s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the OPTIONS did not reach the peer\n%s", s.Logs())
	}
	wc := <-peer.conns
	req := strings.Replace(sipOptions("WSS", "fromWSSPeer"), "127.0.0.1:5999", "peer.invalid", 1)
	if err := wc.WriteMessage(websocket.OpText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-peer.got:
		if !strings.HasPrefix(msg, "SIP/2.0 200 Over wss") {
			t.Errorf("the peer got, want 200 Over wss:\n%s", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no answer on the WebSocket\n%s", s.Logs())
	}

	if got := udpAsk(t, s, wss(sipOptions("UDP", "wss2"), untrusted.port())); got != "-1,-1,-1" {
		t.Fatalf("an untrusted peer: %q, want -1,-1,-1\n%s", got, s.Logs())
	}
	if n := untrusted.accepted.Load(); n != 0 {
		t.Errorf("the untrusted peer got %d upgrades", n)
	}
}
