package engine_test

import (
	"context"
	"crypto/tls"
	"net"
	"regexp"
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
	// answer, set before the first connection, writes the peer's reply
	// to each request it gets (nil: none)
	answer func(req string) string
}

func startWSPeer(t *testing.T, protocols ...string) *wsPeer {
	t.Helper()
	return startWSPeerOn(t, nil, protocols...)
}

// startWSPeerOn is startWSPeer over TLS with the certificate cert (nil:
// plain TCP).
func startWSPeerOn(t *testing.T, cert *tls.Certificate, protocols ...string) *wsPeer {
	t.Helper()
	return startWSPeerAt(t, "127.0.0.1:0", cert, protocols...)
}

// startWSPeerAt is startWSPeerOn listening on addr.
func startWSPeerAt(t *testing.T, addr string, cert *tls.Certificate, protocols ...string) *wsPeer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
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

// wantCallID waits for the next message the peer gets and checks that
// it has the Call-ID callID.
func (p *wsPeer) wantCallID(t *testing.T, s *enginetest.Server, callID string) {
	t.Helper()
	select {
	case msg := <-p.got:
		if header(msg, "Call-ID") != callID {
			t.Errorf("the peer got, want Call-ID %s:\n%s", callID, msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the request %s did not reach the peer\n%s", callID, s.Logs())
	}
}

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
		if p.answer != nil && !strings.HasPrefix(string(b), "SIP/2.0 ") {
			if err := wc.WriteMessage(websocket.OpText, []byte(p.answer(string(b)))); err != nil {
				return
			}
		}
	}
}

// wsConnectScript relays a UDP request to the WebSocket peer of its
// X-Host (default 127.0.0.1) and X-Port headers (over TLS when X-Mode is 1) with KSR.websocket.send after
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
	local host = KSR.pv.get("$hdr(X-Host)") or "127.0.0.1"
	local c1 = KSR.websocket.connect(host, port, path, "sip", mode)
	local c2 = KSR.websocket.connect(host, port, path, "sip", mode)
	local s = KSR.websocket.send(host, port, path, "sip", mode)
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
	// send's Via names a tcp listener, as Kamailio's ws_send needs one
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))

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

// TestWSSendToAName sends to the peer by a name ("localhost"): send
// goes to the address connect resolved and connected to, the first the
// name has, not to one a second lookup picks (the engine's resolver
// prefers IPv4, so with ::1 listed first they would differ).
func TestWSSendToAName(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
	if err != nil || len(ips) == 0 {
		t.Skipf("localhost does not resolve here: %v", err)
	}
	first := ips[0].Unmap()
	t.Logf("localhost is %v", ips)
	peer := startWSPeerAt(t, net.JoinHostPort(first.String(), "0"), nil, "sip")
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0", "tcp:"+net.JoinHostPort(first.String(), "0")))

	req := strings.Replace(withPort(sipOptions("UDP", "wsname"), peer.port()), "Content-Length", "X-Host: localhost\r\nContent-Length", 1)
	if got := udpAsk(t, s, req); got != "1,1,1" {
		t.Fatalf("connect, connect, send to localhost = %q, want 1,1,1\n%s", got, s.Logs())
	}
	peer.wantCallID(t, s, "wsname")
	if n := peer.accepted.Load(); n != 1 {
		t.Errorf("the peer accepted %d connections, want 1: send used connect's", n)
	}
}

func TestWSConnectFails(t *testing.T) {
	refusing := startWSPeer(t, "msrp") // no sip: 400
	accepting := startWSPeer(t, "sip")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	// UDP only: send has no tcp socket to write its WS Via from
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0"))
	for _, tc := range []struct {
		name string
		port int
		want string
		log  string
	}{
		{"refused upgrade", refusing.port(), "-1,-1,-1", "websocket: connect failed.*handshake refused"},
		{"unreachable", closedPort, "-1,-1,-1", "websocket: connect failed.*connection refused"},
		{"no socket for the Via", accepting.port(), "1,1,-1", "websocket: send failed.*no ws socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if got := udpAsk(t, s, withPort(sipOptions("UDP", "f"+strconv.Itoa(tc.port)), tc.port)); got != tc.want {
				t.Fatalf("connect, connect, send = %q, want %s\n%s", got, tc.want, s.Logs())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			logs := s.Logs()
			re := regexp.MustCompile(tc.log + ".*\\.lua:")
			if !re.MatchString(logs) {
				t.Errorf("no log line matching %q with the script's file:line:\n%s", tc.log, logs)
			}
		})
	}
}

// TestWSSConnectAndSend is TestWSConnectAndSend over TLS (cmode 1): kemi
// verifies the peer's certificate with its client profile's ca_list, and
// one that is not trusted fails the connect.
func TestWSSConnectAndSend(t *testing.T) {
	cert := testcert.SelfSigned(t)
	certFile, keyFile := cert.Files(t)
	peer := startWSPeerOn(t, &cert.TLS, "sip")
	stranger := testcert.SelfSigned(t)
	untrusted := startWSPeerOn(t, &stranger.TLS, "sip")
	s := enginetest.Start(t, wsConnectScript, withListen("udp:127.0.0.1:0"),
		enginetest.WithConfig(func(c *engine.Config) {
			// a tls listener for send's WSS Via (its certificate is the
			// peer's, which does not matter here); the client side trusts
			// the peer
			c.Listen = []string{"udp:127.0.0.1:0", "tls:127.0.0.1:0"}
			c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: certFile, PrivateKey: keyFile, CAList: certFile}}
		}))
	wss := func(req string, port int) string {
		return strings.Replace(withPort(req, port), "Content-Length", "X-Mode: 1\r\nContent-Length", 1)
	}

	if got := udpAsk(t, s, wss(sipOptions("UDP", "wss1"), peer.port())); got != "1,1,1" {
		t.Fatalf("connect, connect, send = %q, want 1,1,1\n%s", got, s.Logs())
	}
	peer.wantCallID(t, s, "wss1")
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

// answerSIP is a reply with code and reason to the request req, its Via
// headers, From, To (with a tag), Call-ID and CSeq copied, as a UAS
// writes it.
func answerSIP(req string, code int, reason string) string {
	var b strings.Builder
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n")
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v", "from", "f", "call-id", "i", "cseq":
			b.WriteString(line + "\r\n")
		case "to", "t":
			b.WriteString(line + ";tag=peer\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// wsSendReplyScript forwards a UDP request to the WebSocket peer of its
// X-Port header with KSR.websocket.send (over TLS when X-Mode is 1); the replies coming back run
// ksr_reply_route, which logs them and drops the one of Call-ID
// "drop-me".
const wsSendReplyScript = `
function ksr_request_route()
	local port = tonumber(KSR.pv.get("$hdr(X-Port)"))
	local mode = tonumber(KSR.pv.get("$hdr(X-Mode)") or "0")
	if KSR.websocket.send("127.0.0.1", port, "/sip", "sip", mode) < 0 then
		KSR.sl.sl_send_reply(500, "Not Sent")
	end
end

function ksr_reply_route()
	KSR.log("info", "reply route: " .. KSR.pv.get("$rs") .. " " .. KSR.pv.get("$ci") .. " over " .. KSR.pv.get("$pr") .. "\n")
	if KSR.pv.get("$ci") == "drop-me" then
		KSR.x.drop()
	end
end
`

// viaLines returns the values of msg's Via headers, one per header line.
func viaLines(msg string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\r\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(name, "Via") || strings.EqualFold(name, "v")) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestWSSendReply sends requests with KSR.websocket.send to a WebSocket
// peer that answers them on the same connection, as Kamailio's ws_send
// does: the request carries kemi's Via (WS, the tcp listener's address)
// above the sender's, and the peer's reply runs ksr_reply_route and goes
// back to the UDP sender without kemi's Via, or is dropped there by the
// script and counted.
func TestWSSendReply(t *testing.T) {
	peer := startWSPeer(t, "sip")
	peer.answer = func(req string) string { return answerSIP(req, 200, "Peer OK") }
	s := enginetest.Start(t, wsSendReplyScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	tcpPort := strconv.Itoa(int(s.Addr("tcp").Port()))

	got := sendUDP(t, s, withPort(sipOptions("UDP", "wsreply1"), peer.port()), "SIP/2.0 ")
	if !strings.HasPrefix(got, "SIP/2.0 200 Peer OK") {
		t.Fatalf("the UDP sender got, want the peer's 200:\n%s\n%s", got, s.Logs())
	}
	req := <-peer.got
	vias := viaLines(req)
	if len(vias) != 2 || !strings.HasPrefix(vias[0], "SIP/2.0/WS 127.0.0.1:"+tcpPort+";branch=z9hG4bK") ||
		!strings.HasPrefix(vias[1], "SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-wsreply1") {
		t.Errorf("the peer got Vias %q, want kemi's WS Via above the sender's", vias)
	}
	if v := viaLines(got); len(v) != 1 || !strings.Contains(v[0], "branch=z9hG4bK-wsreply1") {
		t.Errorf("the reply reached the sender with Vias %q, want only its own", v)
	}
	if !strings.Contains(s.Logs(), "reply route: 200 wsreply1 over ws") {
		t.Errorf("ksr_reply_route did not run for the peer's reply:\n%s", s.Logs())
	}

	// the script drops a reply in ksr_reply_route: the sender gets none
	before := s.Metric(`kemi_core_messages_dropped_total{reason="script_drop"}`)
	c, err := net.Dial("udp", s.UDP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(withPort(sipOptions("UDP", "drop-me"), peer.port()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.got:
	case <-time.After(5 * time.Second):
		t.Fatalf("the second request did not reach the peer\n%s", s.Logs())
	}
	if got := s.WaitMetric(`kemi_core_messages_dropped_total{reason="script_drop"}`, before+1, 3*time.Second); got != before+1 {
		t.Errorf("script drops = %v, want %v\n%s", got, before+1, s.Logs())
	}
	if !strings.Contains(s.Logs(), "reply route: 200 drop-me over ws") {
		t.Errorf("ksr_reply_route did not run for the dropped reply:\n%s", s.Logs())
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4096)); err == nil {
		t.Errorf("a reply dropped in ksr_reply_route reached the sender (%d bytes)", n)
	}
	if n := peer.accepted.Load(); n != 1 {
		t.Errorf("the peer accepted %d connections, want 1", n)
	}
}

// TestWSSSendReply is TestWSSendReply over TLS: kemi's Via names its tls
// listener with transport WSS, and the peer's reply on the connection
// is taken as an answer to it.
func TestWSSSendReply(t *testing.T) {
	cert := testcert.SelfSigned(t)
	certFile, keyFile := cert.Files(t)
	peer := startWSPeerOn(t, &cert.TLS, "sip")
	peer.answer = func(req string) string { return answerSIP(req, 200, "Peer OK") }
	s := enginetest.Start(t, wsSendReplyScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "tls:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: certFile, PrivateKey: keyFile, CAList: certFile}}
	}))
	req := strings.Replace(withPort(sipOptions("UDP", "wssreply"), peer.port()), "Content-Length", "X-Mode: 1\r\nContent-Length", 1)
	got := sendUDP(t, s, req, "SIP/2.0 ")
	if !strings.HasPrefix(got, "SIP/2.0 200 Peer OK") {
		t.Fatalf("the UDP sender got, want the peer's 200:\n%s\n%s", got, s.Logs())
	}
	vias := viaLines(<-peer.got)
	if len(vias) != 2 || !strings.HasPrefix(vias[0], "SIP/2.0/WSS 127.0.0.1:"+strconv.Itoa(int(s.Addr("tls").Port()))+";branch=z9hG4bK") {
		t.Errorf("the peer got Vias %q, want kemi's WSS Via on top", vias)
	}
	if !strings.Contains(s.Logs(), "reply route: 200 wssreply over wss") {
		t.Errorf("ksr_reply_route did not run for the peer's reply:\n%s", s.Logs())
	}
}
