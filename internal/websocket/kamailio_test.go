package websocket_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/kamailiotest"
	"github.com/kemisip/kemi/internal/websocket"
)

// startKamailio runs testdata/kamailio-ws.cfg and returns its WebSocket
// (TCP) address.
func startKamailio(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wsAddr := ln.Addr().String()
	ln.Close()
	kamailiotest.Start(t, "testdata/kamailio-ws.cfg",
		[]string{"xhttp.so", "websocket.so", "sl.so", "pv.so", "textops.so"},
		"kamailio kamailio-websocket-modules",
		func(string) bool {
			c, err := net.DialTimeout("tcp", wsAddr, 200*time.Millisecond)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				return false
			}
			c.Close()
			return true
		}, "WSLISTEN=tcp:"+wsAddr)
	return wsAddr
}

// TestKamailio compares the handshake replies with Kamailio's websocket
// module for the same requests, then talks SIP over WebSocket to it with
// this package's client.
func TestKamailio(t *testing.T) {
	addr := startKamailio(t)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	head := func(lines ...string) string {
		return "GET / HTTP/1.1\r\nHost: " + addr + "\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
	upgrade, conn, version := "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"
	withKey, sip := "Sec-WebSocket-Key: "+key, "Sec-WebSocket-Protocol: sip"
	tests := []struct {
		name string
		req  string
	}{
		{"sip", head(upgrade, conn, withKey, sip, version)},
		{"several offered", head(upgrade, conn, withKey, "Sec-WebSocket-Protocol: foo, sip", version)},
		{"no subprotocol", head(upgrade, conn, withKey, version)},
		{"xmpp only", head(upgrade, conn, withKey, "Sec-WebSocket-Protocol: xmpp", version)},
		{"version 8", head(upgrade, conn, withKey, sip, "Sec-WebSocket-Version: 8")},
		{"no version", head(upgrade, conn, withKey, sip)},
		{"no key", head(upgrade, conn, sip, version)},
		{"two keys", head(upgrade, conn, withKey, withKey, sip, version)},
		{"two versions", head(upgrade, conn, withKey, sip, version, version)},
		{"no upgrade", head(conn, withKey, sip, version)},
		{"no connection", head(upgrade, withKey, sip, version)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			theirs := kamailioReply(t, addr, tt.req)
			ours := ourReply(t, tt.req)
			t.Logf("kamailio %d %q, ours %d %q", theirs.StatusCode, theirs.Header, ours.StatusCode, ours.Header)
			if theirs.StatusCode != ours.StatusCode {
				t.Fatalf("status: kamailio %d, ours %d", theirs.StatusCode, ours.StatusCode)
			}
			for _, h := range []string{"Sec-WebSocket-Accept", "Sec-WebSocket-Version"} {
				if a, b := theirs.Header.Get(h), ours.Header.Get(h); a != b {
					t.Errorf("%s: kamailio %q, ours %q", h, a, b)
				}
			}
			// Kamailio lists msrp too (its module speaks it); sip must be in both.
			if a, b := theirs.Header.Values("Sec-WebSocket-Protocol"), ours.Header.Values("Sec-WebSocket-Protocol"); hasSIP(a) != hasSIP(b) {
				t.Errorf("Sec-WebSocket-Protocol: kamailio %q, ours %q", a, b)
			}
		})
	}

	t.Run("SIP over WebSocket", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		proto, rest, err := websocket.ClientHandshake(nc, websocket.ClientOptions{Host: addr, Protocols: []string{"sip"}})
		if err != nil || proto != "sip" {
			t.Fatalf("handshake with kamailio: %q %v", proto, err)
		}
		c := websocket.NewClient(nc, rest, websocket.Config{})
		local := nc.LocalAddr().String()
		for i := range 3 {
			options := "OPTIONS sip:kamailio@" + addr + ";transport=ws SIP/2.0\r\n" +
				"Via: SIP/2.0/WS " + local + ";branch=z9hG4bK-ws-" + strconv.Itoa(i) + "\r\n" +
				"Max-Forwards: 70\r\nFrom: <sip:kemi@127.0.0.1>;tag=ws1\r\nTo: <sip:kamailio@127.0.0.1>\r\n" +
				"Call-ID: ws-" + strconv.Itoa(i) + "@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
			if err := c.WriteMessage(websocket.OpText, []byte(options)); err != nil {
				t.Fatal(err)
			}
			op, msg, err := c.ReadMessage(nil)
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			if op != websocket.OpText || !strings.HasPrefix(string(msg), "SIP/2.0 200 OK\r\n") ||
				!strings.Contains(string(msg), "branch=z9hG4bK-ws-"+strconv.Itoa(i)) {
				t.Errorf("reply %d (%v): %q", i, op, msg)
			}
		}
		if err := c.WriteClose(websocket.CloseNormal, "bye"); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.ReadMessage(nil)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || !ce.Remote || ce.Code != websocket.CloseNormal {
			t.Errorf("after our close: %v", err)
		}
	})
}

func hasSIP(vs []string) bool {
	for _, v := range vs {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "sip") {
				return true
			}
		}
	}
	return false
}

// kamailioReply sends req on a new connection and reads the reply head.
func kamailioReply(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("kamailio reply: %v", err)
	}
	return resp
}

// ourReply is what this package answers to req.
func ourReply(t *testing.T, req string) *http.Response {
	t.Helper()
	r, _, err := websocket.ParseRequest([]byte(req), 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if u, err := websocket.CheckUpgrade(r, []string{"sip"}); err != nil {
		out = websocket.AppendReject(nil, err)
	} else {
		out = websocket.AppendAccept(nil, u, nil)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
	if err != nil {
		t.Fatalf("our reply %q: %v", out, err)
	}
	return resp
}
