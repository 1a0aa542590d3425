package engine_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/websocket"
	"github.com/kemisip/kemi/kemi"
)

// wsClient is a SIP over WebSocket client of a test.
type wsClient struct {
	t  *testing.T
	nc net.Conn
	c  *websocket.Conn
}

// dialWS opens a WebSocket connection offering protocols to addr, over
// TLS when cfg is set.
func dialWS(t *testing.T, addr string, cfg *tls.Config, protocols ...string) (*wsClient, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 3 * time.Second}
	var nc net.Conn
	var err error
	if cfg != nil {
		nc, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	_, rest, err := websocket.ClientHandshake(nc, websocket.ClientOptions{Host: addr, Protocols: protocols})
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return &wsClient{t: t, nc: nc, c: websocket.NewClient(nc, rest, websocket.Config{WriteTimeout: 5 * time.Second})}, nil
}

// send writes one SIP message as one text message.
func (w *wsClient) send(msg string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.OpText, []byte(msg)); err != nil {
		w.t.Fatalf("websocket send: %v", err)
	}
}

// read returns the next message that starts with prefix, within 5 s.
func (w *wsClient) read(prefix string) (string, error) {
	w.t.Helper()
	_ = w.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, b, err := w.c.ReadMessage(nil)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(string(b), prefix) {
			return string(b), nil
		}
	}
}

// inviteWith is an INVITE over proto with Call-ID id and the header
// lines extra.
func inviteWith(proto, id, extra string) string {
	inv := strings.Replace(sipOptions(proto, id), "OPTIONS", "INVITE", 2)
	return strings.Replace(inv, "Content-Length", extra+"Content-Length", 1)
}

// recvUDP returns the next datagram peer receives, within 5 s.
func recvUDP(t *testing.T, s *enginetest.Server, peer net.PacketConn, what string) (string, net.Addr) {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 65536)
	n, from, err := peer.ReadFrom(b)
	if err != nil {
		t.Fatalf("%s did not arrive: %v\n%s", what, err, s.Logs())
	}
	return string(b[:n]), from
}

// wantMetric checks that series reaches want within 2 s.
func wantMetric(t *testing.T, s *enginetest.Server, series string, want float64) {
	t.Helper()
	if got := s.WaitMetric(series, want, 2*time.Second); got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// wantClose checks that the next read on w ends with a close frame with
// one of codes.
func wantClose(t *testing.T, w *wsClient, codes ...int) {
	t.Helper()
	_, err := w.read("")
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || !slices.Contains(codes, ce.Code) {
		t.Errorf("got %v, want a close with %v", err, codes)
	}
}

// wsScript answers every request with what the script sees of its
// transport, in X- headers.
const wsScript = `
function ksr_request_route()
	KSR.hdr.append_to_reply("X-Proto: " .. tostring(KSR.pv.get("$pr")) .. "\r\n")
	KSR.hdr.append_to_reply("X-Proto-Id: " .. tostring(KSR.pv.get("$proto")) .. "\r\n")
	KSR.hdr.append_to_reply("X-WS: " .. tostring(KSR.is_WS()) .. "\r\n")
	KSR.hdr.append_to_reply("X-WSS: " .. tostring(KSR.is_WSS()) .. "\r\n")
	KSR.hdr.append_to_reply("X-WSX: " .. tostring(KSR.is_WSX()) .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
`

func withListen(listen ...string) enginetest.Option {
	return enginetest.WithConfig(func(c *engine.Config) { c.Listen = listen })
}

func TestWSListener(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, wsScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0", "wss:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
	}))
	for i, tc := range []struct {
		proto string
		cfg   *tls.Config
	}{
		{"ws", nil},
		{"wss", &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			w, err := dialWS(t, s.Addr(tc.proto).String(), tc.cfg, "sip")
			if err != nil {
				t.Fatalf("handshake: %v\n%s", err, s.Logs())
			}
			for n := range 3 { // replies keep coming back on the one connection
				w.send(sipOptions(strings.ToUpper(tc.proto), fmt.Sprintf("%s-%d", tc.proto, n)))
				msg, err := w.read("SIP/2.0 ")
				if err != nil {
					t.Fatalf("no reply: %v\n%s", err, s.Logs())
				}
				wantWSS := tc.proto == "wss"
				for name, want := range map[string]string{
					"X-Proto": tc.proto, "X-WS": strconv.FormatBool(!wantWSS), "X-WSS": strconv.FormatBool(wantWSS),
					"X-WSX": "true", "X-Proto-Id": tc.proto,
				} {
					if got := header(msg, name); got != want {
						t.Errorf("%s = %q, want %q in\n%s", name, got, want, msg)
					}
				}
				if !strings.HasPrefix(msg, "SIP/2.0 200") || !strings.Contains(header(msg, "Via"), "SIP/2.0/"+strings.ToUpper(tc.proto)) {
					t.Errorf("reply:\n%s", msg)
				}
			}
			if got := s.WaitMetric(`kemi_websocket_connections`, 1, 2*time.Second); got != 1 {
				t.Errorf("kemi_websocket_connections = %v, want 1", got)
			}
			if err := w.c.WriteClose(websocket.CloseNormal, "bye"); err != nil {
				t.Fatal(err)
			}
			_, err = w.read("")
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || !ce.Remote || ce.Code != websocket.CloseNormal {
				t.Errorf("close answered with %v, want the 1000 echoed", err)
			}
			if got := s.WaitMetric(`kemi_websocket_closed_total{reason="remote"}`, float64(i+1), 2*time.Second); got != float64(i+1) {
				t.Errorf(`kemi_websocket_closed_total{reason="remote"} = %v, want %d`, got, i+1)
			}
			deadline := time.Now().Add(2 * time.Second)
			for s.Metric(`kemi_websocket_connections`) != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := s.Metric(`kemi_websocket_connections`); got != 0 {
				t.Errorf("kemi_websocket_connections = %v after the close, want 0", got)
			}
		})
	}
	if got := s.Metric(`kemi_websocket_handshakes_total`); got != 2 {
		t.Errorf("kemi_websocket_handshakes_total = %v, want 2", got)
	}
}

// relayScript relays every request with tm, to X-Target when it has one.
const relayScript = `
function ksr_request_route()
	local target = KSR.pv.get("$hdr(X-Target)")
	if target ~= nil then
		KSR.pv.sets("$du", target)
	end
	KSR.tm.t_relay()
end
`

func TestWSInviteToAndFromUDP(t *testing.T) {
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := enginetest.Start(t, relayScript, withListen("udp:127.0.0.1:0", "ws:127.0.0.1:0"))
	w, err := dialWS(t, s.Addr("ws").String(), nil, "sip")
	if err != nil {
		t.Fatal(err)
	}
	wsPort := strconv.Itoa(int(s.Addr("ws").Port()))

	// WS client -> kemi -> UDP peer, and the 200 back on the WebSocket
	w.send(inviteWith("WS", "fromws", "X-Target: sip:"+peer.LocalAddr().String()+"\r\n"+
		"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n"))
	relayed, from := recvUDP(t, s, peer, "the INVITE")
	if v := header(relayed, "Via"); !strings.HasPrefix(v, "SIP/2.0/UDP ") {
		t.Errorf("top Via of the relayed INVITE %q, want ours over UDP", v)
	}
	if !strings.Contains(relayed, "SIP/2.0/WS 127.0.0.1:5999;branch=z9hG4bK-fromws;received=127.0.0.1;rport=") {
		t.Errorf("the client's Via lost its received/rport:\n%s", relayed)
	}
	if _, err := peer.WriteTo([]byte(reply(relayed, 200, "OK")), from); err != nil {
		t.Fatal(err)
	}
	if msg, err := w.read("SIP/2.0 200"); err != nil {
		t.Fatalf("no 200 on the WebSocket: %v\n%s", err, s.Logs())
	} else if !strings.Contains(msg, "Call-ID: fromws") {
		t.Errorf("200 of another call:\n%s", msg)
	}

	// UDP peer -> kemi -> the WS client's connection, found by its
	// address with ;transport=ws, and the 200 back to the peer
	clientAddr := w.nc.LocalAddr().String()
	req := inviteWith("UDP", "tows", "X-Target: sip:"+clientAddr+";transport=ws\r\n")
	req = strings.Replace(req, "127.0.0.1:5999", peer.LocalAddr().String(), 1)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr("udp")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	got, err := w.read("INVITE ")
	if err != nil {
		t.Fatalf("the INVITE did not arrive on the WebSocket: %v\n%s", err, s.Logs())
	}
	if v := header(got, "Via"); !strings.HasPrefix(v, "SIP/2.0/WS 127.0.0.1:"+wsPort+";") {
		t.Errorf("top Via %q, want SIP/2.0/WS of the ws listener", v)
	}
	w.send(reply(got, 200, "OK"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 65536)
	for {
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("no 200 from the WebSocket client: %v\n%s", err, s.Logs())
		}
		if strings.HasPrefix(string(b[:n]), "SIP/2.0 200") {
			break
		}
	}
}

// rawUpgrade sends an upgrade request head to addr and returns the
// status line of the reply.
func rawUpgrade(t *testing.T, addr, head string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no reply to the upgrade: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestWSBadInput(t *testing.T) {
	s := enginetest.Start(t, wsScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0"}
		c.WSKeepaliveInterval = 200 * time.Millisecond
		c.WSPingTimeout = 300 * time.Millisecond
	}))
	addr := s.Addr("ws").String()
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, tc := range []struct {
		name, head, status, reason string
	}{
		{"no sip", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "Sec-WebSocket-Protocol: chat\r\n\r\n", "HTTP/1.1 400", "subprotocol"},
		{"no protocol", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "\r\n", "HTTP/1.1 400", "subprotocol"},
		{"plain http", "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400", "bad_request"},
		{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405", "method"},
		{"version 8", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: sip\r\n\r\n", "HTTP/1.1 426", "version"},
		{"sip on a ws port", sipOptions("TCP", "raw"), "HTTP/1.1 400", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			series := `kemi_websocket_handshake_failures_total{reason="` + tc.reason + `"}`
			before := s.Metric(series)
			if got := rawUpgrade(t, addr, tc.head); !strings.HasPrefix(got, tc.status) {
				t.Errorf("reply %q, want %s", got, tc.status)
			}
			if got := s.WaitMetric(series, before+1, 2*time.Second); got != before+1 {
				t.Errorf("%s = %v, want %v", series, got, before+1)
			}
		})
	}
	if got := s.Metric(`kemi_websocket_handshakes_total`); got != 0 {
		t.Errorf("kemi_websocket_handshakes_total = %v after refusals only", got)
	}

	t.Run("oversized message", func(t *testing.T) {
		w, err := dialWS(t, addr, nil, "sip")
		if err != nil {
			t.Fatal(err)
		}
		_ = w.c.WriteMessage(websocket.OpBinary, make([]byte, 70000)) // over max_message_size
		wantClose(t, w, websocket.CloseMessageTooBig)
		wantMetric(t, s, `kemi_websocket_closed_total{reason="message_too_big"}`, 1)
	})

	t.Run("fragmented forever", func(t *testing.T) {
		w, err := dialWS(t, addr, nil, "sip")
		if err != nil {
			t.Fatal(err)
		}
		mask := [4]byte{1, 2, 3, 4}
		frame := websocket.AppendFrame(nil, false, websocket.OpText, &mask, []byte("OPTIONS"))
		_ = w.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, werr := w.nc.Write(frame)
		for i := 0; i < 200 && werr == nil; i++ {
			_, werr = w.nc.Write(websocket.AppendFrame(nil, false, websocket.OpContinuation, &mask, []byte("x")))
		}
		wantClose(t, w, websocket.CloseMessageTooBig)
		wantMetric(t, s, `kemi_websocket_closed_total{reason="message_too_big"}`, 2)
	})

	t.Run("silent peer", func(t *testing.T) {
		w, err := dialWS(t, addr, nil, "sip")
		if err != nil {
			t.Fatal(err)
		}
		// the client never reads, so never answers the pings
		const series = `kemi_websocket_closed_total{reason="ping_timeout"}`
		if got := s.WaitMetric(series, 1, 5*time.Second); got != 1 {
			t.Errorf("%s = %v, want 1", series, got)
		}
		_ = w.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(io.Discard, w.nc); err != nil {
			t.Errorf("the connection was not closed: %v", err)
		}
	})

	t.Run("answering peer stays", func(t *testing.T) {
		w, err := dialWS(t, addr, nil, "sip")
		if err != nil {
			t.Fatal(err)
		}
		// reading answers the pings; the connection outlives many of them
		before := s.Metric(`kemi_websocket_closed_total{reason="ping_timeout"}`)
		_ = w.nc.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		_, _, err = w.c.ReadMessage(nil)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read ended with %v, want our own deadline", err)
		}
		if got := s.Metric(`kemi_websocket_closed_total{reason="ping_timeout"}`); got != before {
			t.Errorf("a peer answering pings was closed")
		}
	})
}

// xhttpScript is Kamailio's WebSocket example reduced: HTTP requests on
// the SIP listeners are upgraded when they ask for it, answered with a
// page otherwise; SIP requests get their transport in a header.
const xhttpScript = `
function ksr_request_route()
	KSR.hdr.append_to_reply("X-Proto: " .. tostring(KSR.pv.get("$pr")) .. "\r\n")
	if KSR.is_method("MESSAGE") then
		KSR.sl.sl_send_reply(200, "Closing")
		KSR.websocket.close_reason(4000, "asked to")
		return
	end
	KSR.sl.sl_send_reply(200, "OK")
end

function ksr_xhttp_event(evname)
	-- Kamailio's websocket.cfg, the KEMI way
	if string.find(string.lower(KSR.pv.gete("$hdr(Upgrade)")), "websocket")
			and string.find(string.lower(KSR.pv.gete("$hdr(Connection)")), "upgrade")
			and KSR.pv.get("$rm") == "GET" then
		if KSR.pv.gete("$hdr(Host)") == "" or KSR.xhttp.get_hu() ~= "/ws" then
			KSR.xhttp.xhttp_reply(403, "Forbidden", "", "")
			return
		end
		if KSR.websocket.handle_handshake() < 0 then
			KSR.log("info", "handshake refused\n")
		end
		return
	end
	if KSR.pv.get("$hu") == "/close" then
		KSR.set_reply_close()
	end
	KSR.xhttp.xhttp_reply(200, "OK", "text/plain", evname .. " " .. KSR.pv.get("$hu") .. " " .. KSR.pv.get("$rm"))
end
`

func TestXHTTPKamailioWay(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, xhttpScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0", "tls:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
	}))

	t.Run("plain http", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.TCP(), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for _, path := range []string{"/index.html", "/other", "/close"} { // keep-alive until set_reply_close
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			head, err := readSIP(t, c, r)
			if err != nil {
				t.Fatalf("no HTTP reply: %v\n%s", err, s.Logs())
			}
			n, _ := strconv.Atoi(header(head, "Content-Length"))
			body := make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(head, "HTTP/1.1 200 OK") || header(head, "Content-Type") != "text/plain" || string(body) != "xhttp:request "+path+" GET" {
				t.Errorf("reply %q body %q", head, body)
			}
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("after set_reply_close the connection gave %v, want EOF", err)
		}
	})

	t.Run("sip on the same listener", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.TCP(), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, sipOptions("TCP", "plain-tcp")); err != nil {
			t.Fatal(err)
		}
		msg, err := readSIP(t, c, bufio.NewReader(c))
		if err != nil || header(msg, "X-Proto") != "tcp" {
			t.Errorf("SIP over tcp: %v\n%s", err, msg)
		}
	})

	for _, tc := range []struct {
		proto, listener string
		cfg             *tls.Config
	}{
		{"ws", "tcp", nil},
		{"wss", "tls", &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}},
	} {
		t.Run("upgrade "+tc.proto, func(t *testing.T) {
			d := &net.Dialer{Timeout: 3 * time.Second}
			var nc net.Conn
			var err error
			if tc.cfg != nil {
				nc, err = tls.DialWithDialer(d, "tcp", s.Addr(tc.listener).String(), tc.cfg)
			} else {
				nc, err = d.Dial("tcp", s.Addr(tc.listener).String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			_, rest, err := websocket.ClientHandshake(nc, websocket.ClientOptions{Host: "x", Target: "/ws", Protocols: []string{"sip"}})
			if err != nil {
				t.Fatalf("handshake: %v\n%s", err, s.Logs())
			}
			w := &wsClient{t: t, nc: nc, c: websocket.NewClient(nc, rest, websocket.Config{WriteTimeout: 5 * time.Second})}
			w.send(sipOptions(strings.ToUpper(tc.proto), "up-"+tc.proto))
			msg, err := w.read("SIP/2.0 ")
			if err != nil || header(msg, "X-Proto") != tc.proto {
				t.Fatalf("SIP over the upgraded connection: %v\n%s\n%s", err, msg, s.Logs())
			}
			// KSR.websocket.close_reason closes it from the script
			w.send(strings.Replace(sipOptions(strings.ToUpper(tc.proto), "close-"+tc.proto), "OPTIONS", "MESSAGE", 2))
			if msg, err := w.read("SIP/2.0 "); err != nil || !strings.HasPrefix(msg, "SIP/2.0 200 Closing") {
				t.Fatalf("no reply before the close: %v\n%s", err, msg)
			}
			_, err = w.read("")
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || !ce.Remote || ce.Code != 4000 || ce.Reason != "asked to" {
				t.Errorf("got %v, want the script's close 4000", err)
			}
		})
	}
	if got := s.WaitMetric(`kemi_websocket_closed_total{reason="local"}`, 2, 2*time.Second); got != 2 {
		t.Errorf(`kemi_websocket_closed_total{reason="local"} = %v, want 2`, got)
	}

	t.Run("upgrade refused by the script", func(t *testing.T) {
		// the route reads the HTTP headers and method as Kamailio's do
		got := rawUpgrade(t, s.TCP(), "GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 403") {
			t.Errorf("reply %q, want the script's 403", got)
		}
	})

	t.Run("upgrade without sip", func(t *testing.T) {
		before := s.Metric(`kemi_websocket_handshake_failures_total{reason="subprotocol"}`)
		got := rawUpgrade(t, s.TCP(), "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		if !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("reply %q, want 400", got)
		}
		if got := s.WaitMetric(`kemi_websocket_handshake_failures_total{reason="subprotocol"}`, before+1, 2*time.Second); got != before+1 {
			t.Errorf("subprotocol refusals = %v, want %v", got, before+1)
		}
	})
}

func TestXHTTPWithoutRoute(t *testing.T) {
	s := enginetest.Start(t, wsScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	if got := rawUpgrade(t, s.TCP(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 404") {
		t.Errorf("reply %q, want 404 from a script without ksr_xhttp_event", got)
	}
}

// udpRTTs sends n OPTIONS to the engine's UDP socket one after another
// and returns the sorted round-trip times.
func udpRTTs(t *testing.T, s *enginetest.Server, n int) []time.Duration {
	t.Helper()
	c, err := net.Dial("udp", s.UDP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 4096)
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if _, err := io.WriteString(c, sipOptions("UDP", "rtt-"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(b); err != nil {
			t.Fatalf("OPTIONS %d unanswered: %v", i, err)
		}
		out = append(out, time.Since(t0))
	}
	slices.Sort(out)
	return out
}

// TestWSIdleConnectionsDoNotSlowUDP holds 1 000 idle WSS connections,
// pinged every second and answering, and checks that OPTIONS over UDP
// are answered about as fast as without them.
func TestWSIdleConnectionsDoNotSlowUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("1 000 TLS connections: not with -short")
	}
	const conns = 1000
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, wsScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "wss:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
		c.WSKeepaliveInterval = time.Second
		c.WSPingTimeout = 30 * time.Second
	}))
	before := udpRTTs(t, s, 200)
	cfg := &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i := range conns {
		w, err := dialWS(t, s.Addr("wss").String(), cfg, "sip")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		go func() { _, _, _ = w.c.ReadMessage(nil) }() // reading answers the pings
		t.Cleanup(func() { w.nc.Close() })
	}
	if got := s.WaitMetric(`kemi_websocket_connections`, conns, 10*time.Second); got != conns {
		t.Fatalf("kemi_websocket_connections = %v, want %d", got, conns)
	}
	time.Sleep(2500 * time.Millisecond) // two rounds of pings
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	after := udpRTTs(t, s, 200)
	p50 := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	p95 := func(d []time.Duration) time.Duration { return d[len(d)*95/100] }
	t.Logf("UDP OPTIONS round trip without / with %d idle WSS connections: p50 %v / %v, p95 %v / %v; heap in use %.1f KiB per connection, both ends and the test's reading goroutines included",
		conns, p50(before), p50(after), p95(before), p95(after), float64(int64(ms1.HeapInuse)-int64(ms0.HeapInuse))/conns/1024)
	if limit := 5*p50(before) + 2*time.Millisecond; p50(after) > limit {
		t.Errorf("p50 round trip %v with idle connections, over %v", p50(after), limit)
	}
	if got := s.Metric(`kemi_websocket_closed_total{reason="ping_timeout"}`); got != 0 {
		t.Errorf("%v answering connections closed by the keepalive", got)
	}
}

// aliasScript is the nathelper part of Kamailio's WebSocket example: a
// request from a WebSocket client gets a contact alias, and a request to
// an aliased contact goes to the connection the alias names.
var aliasScript = `
function ksr_request_route()
	if KSR.is_WSX() then
		KSR.rr.record_route()
		KSR.nathelper.add_contact_alias()
		KSR.pv.sets("$du", "sip:%s")
	else
		KSR.rr.loose_route()
		KSR.nathelper.handle_ruri_alias()
	end
	KSR.tm.t_relay()
end
`

func TestWSContactAlias(t *testing.T) {
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := enginetest.Start(t, fmt.Sprintf(aliasScript, peer.LocalAddr()), withListen("udp:127.0.0.1:0", "ws:127.0.0.1:0"))
	w, err := dialWS(t, s.Addr("ws").String(), nil, "sip")
	if err != nil {
		t.Fatal(err)
	}
	w.send(inviteWith("WS", "alias", "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\n"))
	relayed, _ := recvUDP(t, s, peer, "the INVITE")
	// crossing from WS to UDP: two Record-Routes, the inner one for ws
	wsPort := strconv.Itoa(int(s.Addr("ws").Port()))
	udpPort := strconv.Itoa(int(s.Addr("udp").Port()))
	if !strings.Contains(relayed, "Record-Route: <sip:127.0.0.1:"+udpPort+";r2=on;lr;ftag=alias>\r\n"+
		"Record-Route: <sip:127.0.0.1:"+wsPort+";transport=ws;r2=on;lr;ftag=alias>\r\n") {
		t.Errorf("no double Record-Route in\n%s", relayed)
	}
	_, port, _ := net.SplitHostPort(w.nc.LocalAddr().String())
	contact := header(relayed, "Contact")
	if !strings.Contains(contact, ";alias=127.0.0.1~"+port+"~5") {
		t.Fatalf("Contact %q has no alias for the ws connection", contact)
	}
	// the peer's in-dialog request to that contact reaches the client
	uri := strings.Trim(contact, "<>")
	bye := strings.Replace(sipOptions("UDP", "alias"), "OPTIONS sip:kemi@127.0.0.1", "BYE "+uri, 1)
	bye = strings.Replace(bye, "CSeq: 1 OPTIONS", "CSeq: 2 BYE", 1)
	bye = strings.Replace(bye, "127.0.0.1:5999", peer.LocalAddr().String(), 1)
	// the route set the Record-Routes gave the peer, ours both
	bye = strings.Replace(bye, "Content-Length", "Route: <sip:127.0.0.1:"+udpPort+";r2=on;lr;ftag=alias>\r\n"+
		"Route: <sip:127.0.0.1:"+wsPort+";transport=ws;r2=on;lr;ftag=alias>\r\nContent-Length", 1)
	if _, err := peer.WriteTo([]byte(bye), net.UDPAddrFromAddrPort(s.Addr("udp"))); err != nil {
		t.Fatal(err)
	}
	got, err := w.read("BYE ")
	if err != nil {
		t.Fatalf("the BYE did not reach the WebSocket client: %v\n%s", err, s.Logs())
	}
	if v := header(got, "Via"); !strings.HasPrefix(v, "SIP/2.0/WS ") {
		t.Errorf("top Via %q, want ours over WS", v)
	}
	if r := header(got, "Route"); r != "" {
		t.Errorf("Route %q left in the BYE: loose_route removes both of ours", r)
	}
}

// closeRecorder is a module that records the connections that close.
type closeRecorder struct{ closed chan kemi.ClosedConn }

var theCloseRecorder = closeRecorder{closed: make(chan kemi.ClosedConn, 16)}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginewstest-closes", New: func() kemi.Module { return theCloseRecorder }})
}

func (r closeRecorder) OnConnClosed(c kemi.ClosedConn) { r.closed <- c }

func (closeRecorder) Exports() []kemi.Export { return nil }

func TestWSConnCloseHook(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	KSR.hdr.append_to_reply("X-Conid: " .. KSR.kx.get_conid() .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end`, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0"}
		c.Modules = append(kemi.StandardModules(), "enginewstest-closes")
	}))
	w, err := dialWS(t, s.Addr("ws").String(), nil, "sip")
	if err != nil {
		t.Fatal(err)
	}
	w.send(sipOptions("WS", "hook"))
	msg, err := w.read("SIP/2.0 200")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseUint(header(msg, "X-Conid"), 10, 64)
	w.nc.Close()
	select {
	case c := <-theCloseRecorder.closed:
		if c.ID != id || c.Proto != "ws" || c.Remote.String() != w.nc.LocalAddr().String() || c.Local == nil || c.Local.Proto != "ws" {
			t.Errorf("closed %+v, want connection %d over ws from %s", c, id, w.nc.LocalAddr())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the module was not told that the connection closed")
	}
}

// TestWSReplyClose: with set_reply_close the reply still reaches the
// client, then the close frame, over ws and over wss (whose frames all
// go through the write queue: closing the socket at once lost both).
func TestWSReplyClose(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, `
function ksr_request_route()
	KSR.set_reply_close()
	KSR.sl.sl_send_reply(200, "Bye Now")
end
`, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0", "wss:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
	}))
	for _, tc := range []struct {
		proto string
		cfg   *tls.Config
	}{
		{"ws", nil},
		{"wss", &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}},
	} {
		t.Run(tc.proto, func(t *testing.T) {
			for n := range 5 {
				w, err := dialWS(t, s.Addr(tc.proto).String(), tc.cfg, "sip")
				if err != nil {
					t.Fatalf("handshake: %v\n%s", err, s.Logs())
				}
				w.send(sipOptions(strings.ToUpper(tc.proto), fmt.Sprintf("close-%s-%d", tc.proto, n)))
				if msg, err := w.read("SIP/2.0 "); err != nil || !strings.HasPrefix(msg, "SIP/2.0 200 Bye Now") {
					t.Fatalf("reply %d: %q %v\n%s", n, msg, err, s.Logs())
				}
				wantClose(t, w, 1000)
			}
		})
	}
}
