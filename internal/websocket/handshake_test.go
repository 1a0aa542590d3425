package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// RFC 6455 §1.3's example.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func TestAcceptKey(t *testing.T) {
	if got := AcceptKey(rfcKey); got != rfcAccept {
		t.Fatalf("AcceptKey(%q) = %q, want %q", rfcKey, got, rfcAccept)
	}
}

// goodHead is a browser's upgrade request for SIP.
const goodHead = "GET /ws HTTP/1.1\r\n" +
	"Host: 127.0.0.1:8080\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: keep-alive, Upgrade\r\n" +
	"Sec-WebSocket-Key: " + rfcKey + "\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: sip\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"\r\n"

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		wantN   int // bytes taken; 0 with an error
		wantErr error
		status  int // HandshakeError status wanted, 0 none
		check   func(*testing.T, *Request)
	}{
		{name: "browser", in: goodHead + "\x81\x05", wantN: len(goodHead), check: func(t *testing.T, r *Request) {
			if r.Method != "GET" || r.Target != "/ws" || r.Proto != "HTTP/1.1" || len(r.Header) != 7 {
				t.Errorf("request = %+v", r)
			}
			if got := r.Header.Get("sec-websocket-key"); got != rfcKey {
				t.Errorf("key = %q", got)
			}
		}},
		{name: "LF only and leading CRLF", in: "\r\nGET / HTTP/1.1\nHost:  a \n\n", wantN: 28, check: func(t *testing.T, r *Request) {
			if r.Header.Get("Host") != "a" {
				t.Errorf("Host = %q", r.Header.Get("Host"))
			}
		}},
		{name: "incomplete", in: "GET / HTTP/1.1\r\nHost: a\r\n", wantErr: ErrIncomplete},
		{name: "empty", in: "", wantErr: ErrIncomplete},
		{name: "too large", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 100) + "\r\n", max: 64, status: 400},
		{name: "head fits only past max", in: "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 100) + "\r\n\r\n", max: 64, status: 400},
		{name: "folded", in: "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", status: 400},
		{name: "no colon", in: "GET / HTTP/1.1\r\nX a\r\n\r\n", status: 400},
		{name: "space in name", in: "GET / HTTP/1.1\r\nX y: a\r\n\r\n", status: 400},
		{name: "control char", in: "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", status: 400},
		{name: "bad request line", in: "GET /\r\n\r\n", status: 400},
		{name: "not http", in: "GET / SIP/2.0\r\n\r\n", status: 400},
		{name: "too many fields", in: "GET / HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", 101) + "\r\n", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, n, err := ParseRequest([]byte(tt.in), tt.max)
			var he *HandshakeError
			switch {
			case tt.status != 0:
				if !errors.As(err, &he) || he.Status != tt.status {
					t.Fatalf("err = %v, want HandshakeError %d", err, tt.status)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			if n != tt.wantN {
				t.Errorf("n = %d, want %d", n, tt.wantN)
			}
			if tt.check != nil {
				tt.check(t, req)
			}
		})
	}
}

// replace returns goodHead with the header line starting with old
// replaced by repl (removed when repl is "").
func replace(old, repl string) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(goodHead, "\r\n") {
		if strings.HasPrefix(line, old) {
			b.WriteString(repl)
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestCheckUpgrade(t *testing.T) {
	sip := []string{"sip"}
	tests := []struct {
		name      string
		head      string
		protocols []string
		status    int    // 0: accepted
		hdr       string // a reply header line wanted in the rejection
		protocol  string
		offered   int
	}{
		{name: "ok", head: goodHead, protocols: sip, protocol: "sip", offered: 1},
		{name: "several offered, server order wins", head: replace("Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: msrp, SIP\r\nSec-WebSocket-Protocol: xmpp\r\n"),
			protocols: []string{"sip", "msrp"}, protocol: "SIP", offered: 3},
		{name: "msrp only when sip allowed", head: replace("Sec-WebSocket-Protocol", "Sec-WebSocket-Protocol: msrp\r\n"),
			protocols: sip, status: 400, hdr: "Sec-WebSocket-Protocol: sip"},
		{name: "no subprotocol", head: replace("Sec-WebSocket-Protocol", ""), protocols: sip, status: 400, hdr: "Sec-WebSocket-Version: 13"},
		{name: "no subprotocol none required", head: replace("Sec-WebSocket-Protocol", ""), protocol: ""},
		{name: "POST", head: strings.Replace(goodHead, "GET", "POST", 1), protocols: sip, status: 405, hdr: "Allow: GET"},
		{name: "HTTP/1.0", head: strings.Replace(goodHead, "HTTP/1.1", "HTTP/1.0", 1), protocols: sip, status: 400},
		{name: "version 8", head: replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8\r\n"), protocols: sip, status: 426, hdr: "Sec-WebSocket-Version: 13"},
		{name: "no version", head: replace("Sec-WebSocket-Version", ""), protocols: sip, status: 400},
		{name: "two versions", head: replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"), protocols: sip, status: 400},
		{name: "no upgrade", head: replace("Upgrade", ""), protocols: sip, status: 400},
		{name: "upgrade h2c", head: replace("Upgrade", "Upgrade: h2c\r\n"), protocols: sip, status: 400},
		{name: "connection keep-alive", head: replace("Connection", "Connection: keep-alive\r\n"), protocols: sip, status: 400},
		{name: "connection case", head: replace("Connection", "connection: UPGRADE\r\n"), protocols: sip, protocol: "sip", offered: 1},
		{name: "upgrades inside a word do not count", head: replace("Connection", "Connection: upgrades\r\n"), protocols: sip, status: 400},
		{name: "no key", head: replace("Sec-WebSocket-Key", ""), protocols: sip, status: 400},
		{name: "short key", head: replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"), protocols: sip, status: 400},
		{name: "key not base64", head: replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"), protocols: sip, status: 400},
		{name: "two keys", head: replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: "+rfcKey+"\r\nSec-WebSocket-Key: "+rfcKey+"\r\n"), protocols: sip, status: 400},
		{name: "two origins", head: replace("Origin", "Origin: http://a\r\nOrigin: http://b\r\n"), protocols: sip, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _, err := ParseRequest([]byte(tt.head), 0)
			if err != nil {
				t.Fatal(err)
			}
			u, err := CheckUpgrade(req, tt.protocols)
			if tt.status != 0 {
				var he *HandshakeError
				if !errors.As(err, &he) || he.Status != tt.status {
					t.Fatalf("err = %v, want status %d", err, tt.status)
				}
				reply := string(AppendReject(nil, err))
				if !strings.HasPrefix(reply, "HTTP/1.1 "+itoa3(tt.status)+" ") || !strings.HasSuffix(reply, "Content-Length: 0\r\n\r\n") {
					t.Errorf("reply = %q", reply)
				}
				if tt.hdr != "" && !strings.Contains(reply, "\r\n"+tt.hdr+"\r\n") {
					t.Errorf("reply %q lacks %q", reply, tt.hdr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Protocol != tt.protocol || len(u.Offered) != tt.offered {
				t.Errorf("protocol %q offered %q, want %q and %d", u.Protocol, u.Offered, tt.protocol, tt.offered)
			}
			if u.Origin != "http://example.com" || u.Host != "127.0.0.1:8080" || u.Target != "/ws" || u.Key != rfcKey {
				t.Errorf("upgrade = %+v", u)
			}
		})
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestAppendAccept(t *testing.T) {
	req, _, err := ParseRequest([]byte(goodHead), 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := CheckUpgrade(req, []string{"sip"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendAccept(nil, u, Header{{"Access-Control-Allow-Origin", u.Origin}}))
	want := "HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + rfcAccept + "\r\n" +
		"Sec-WebSocket-Protocol: sip\r\n" +
		"Access-Control-Allow-Origin: http://example.com\r\n" +
		"\r\n"
	if got != want {
		t.Errorf("AppendAccept =\n%q\nwant\n%q", got, want)
	}
	if got := string(AppendReject(nil, io.EOF)); !strings.HasPrefix(got, "HTTP/1.1 500 Internal Server Error\r\n") {
		t.Errorf("AppendReject(non-handshake error) = %q", got)
	}
}

func TestReadRequestByteByByte(t *testing.T) {
	in := goodHead + "\x81\x80rest"
	req, rest, err := ReadRequest(io.LimitReader(&oneByteReader{s: in}, int64(len(in))), 0)
	if err != nil {
		t.Fatal(err)
	}
	if req.Target != "/ws" {
		t.Errorf("target %q", req.Target)
	}
	// Read one byte at a time, nothing past the head is read.
	if len(rest) != 0 {
		t.Errorf("rest = %q", rest)
	}
	_, _, err = ReadRequest(strings.NewReader("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 200)), 100)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 400 {
		t.Errorf("oversized head: err = %v", err)
	}
	_, _, err = ReadRequest(strings.NewReader("GET / HTTP/1.1\r\n"), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated head: err = %v", err)
	}
}

type oneByteReader struct {
	s string
	i int
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[r.i]
	r.i++
	return 1, nil
}

// fakeServer answers one handshake with reply (the key's accept value
// replaces ACCEPT) followed by after.
func fakeServer(t *testing.T, reply, after string) net.Conn {
	t.Helper()
	c1, c2 := net.Pipe()
	go func() {
		defer c2.Close()
		req, _, err := ReadRequest(c2, 0)
		if err != nil {
			return
		}
		r := strings.ReplaceAll(reply, "ACCEPT", AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
		_, _ = io.WriteString(c2, r+after)
		_, _ = io.Copy(io.Discard, c2)
	}()
	t.Cleanup(func() { c1.Close() })
	_ = c1.SetDeadline(time.Now().Add(5 * time.Second))
	return c1
}

func TestClientHandshake(t *testing.T) {
	const ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
	tests := []struct {
		name    string
		reply   string
		offer   []string
		target  string
		wantErr string
	}{
		{name: "ok", reply: ok, offer: []string{"sip"}},
		{name: "refused", reply: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", offer: []string{"sip"}, wantErr: "refused: 400"},
		{name: "bad accept", reply: strings.Replace(ok, "ACCEPT", rfcAccept, 1), offer: []string{"sip"}, wantErr: "does not match"},
		{name: "other subprotocol", reply: strings.Replace(ok, "sip", "msrp", 1), offer: []string{"sip"}, wantErr: "chose subprotocol"},
		{name: "no subprotocol", reply: strings.Replace(ok, "Sec-WebSocket-Protocol: sip\r\n", "", 1), offer: []string{"sip"}, wantErr: "chose subprotocol"},
		{name: "subprotocol not offered", reply: ok, wantErr: "none offered"},
		{name: "no upgrade", reply: strings.Replace(ok, "Upgrade: websocket\r\n", "", 1), offer: []string{"sip"}, wantErr: "Upgrade"},
		{name: "extension", reply: strings.Replace(ok, "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1), offer: []string{"sip"}, wantErr: "extension"},
		{name: "garbage", reply: "SIP/2.0 200 OK\r\n\r\n", offer: []string{"sip"}, wantErr: "status line"},
		{name: "CR LF in the target", reply: ok, offer: []string{"sip"}, target: "/ws HTTP/1.1\r\nX-Injected: 1\r\n", wantErr: "control character"},
		{name: "space in the target", reply: ok, offer: []string{"sip"}, target: "/a b", wantErr: "control character or space"},
		{name: "line break in a subprotocol", reply: ok, offer: []string{"sip\r\nX: 1"}, wantErr: "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeServer(t, tt.reply, "\x81\x02hi")
			proto, rest, err := ClientHandshake(c, ClientOptions{Host: "h", Protocols: tt.offer, Target: tt.target})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if proto != "sip" {
				t.Errorf("protocol %q", proto)
			}
			// The frame sent right after the reply is read, whether it
			// came with the head or not.
			op, msg, err := NewClient(c, rest, Config{}).ReadMessage(nil)
			if err != nil || op != OpText || !bytes.Equal(msg, []byte("hi")) {
				t.Errorf("first frame: %v %q %v", op, msg, err)
			}
		})
	}
}
