package engine_test

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
// X-Port header with KSR.websocket.send after two connects, answering
// with what they returned; a request from the peer (over ws) is answered
// 200 over the same connection.
const wsConnectScript = `
function ksr_request_route()
	if KSR.pv.get("$pr") == "ws" then
		KSR.sl.sl_send_reply(200, "Over WS")
		return
	end
	local port = tonumber(KSR.pv.get("$hdr(X-Port)"))
	local path = KSR.pv.get("$hdr(X-Path)") or "/"
	local c1 = KSR.websocket.connect("127.0.0.1", port, path, "sip", 0)
	local c2 = KSR.websocket.connect("127.0.0.1", port, path, "sip", 0)
	local s = KSR.websocket.send("127.0.0.1", port, path, "sip", 0)
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
		if !strings.HasPrefix(msg, "SIP/2.0 200 Over WS") {
			t.Errorf("the peer got, want 200 Over WS:\n%s", msg)
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
