package rtpengine_test

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/kemisip/kemi/core/rtpengine"
)

// ngPeer is the test's own ng server: it records every command it gets
// and answers with what its handler returns.
type ngPeer struct {
	t    testing.TB
	conn *net.UDPConn

	mu      sync.Mutex
	got     []map[string]any // decoded commands, in order
	packets []string         // raw packets, in order
	// handle returns the packets to send back (each a whole datagram,
	// cookie included); nil sends nothing.
	handle func(cookie string, d map[string]any) []string
}

// startPeer starts an ng peer on 127.0.0.1 that answers every command
// with "ok" (and, for offer and answer, a rewritten SDP) unless the test
// sets another handler.
func startPeer(t testing.TB) *ngPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &ngPeer{t: t, conn: conn, handle: okHandler}
	done := make(chan struct{})
	go p.serve(done)
	t.Cleanup(func() { conn.Close(); <-done })
	return p
}

// rewrittenSDP is what the default handler returns as rtpengine's SDP.
const rewrittenSDP = "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=rtpengine\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"

func okHandler(cookie string, d map[string]any) []string {
	reply := map[string]any{"result": "ok"}
	switch d["command"] {
	case "ping":
		reply["result"] = "pong"
	case "offer", "answer":
		reply["sdp"] = rewrittenSDP
	case "query":
		reply["totals"] = map[string]any{
			"RTP":  map[string]any{"bytes": int64(1000), "packets": int64(10), "errors": int64(0)},
			"RTCP": map[string]any{"bytes": int64(200), "packets": int64(2), "errors": int64(1)},
		}
	}
	return []string{cookie + " " + mustEncode(reply)}
}

func mustEncode(v any) string {
	b, err := rtpengine.Encode(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (p *ngPeer) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		raw := string(buf[:n])
		cookie, body, _ := strings.Cut(raw, " ")
		v, err := rtpengine.Decode([]byte(body))
		d, _ := v.(map[string]any)
		if err != nil || d == nil {
			p.t.Errorf("ng peer: undecodable command %q: %v", raw, err)
			continue
		}
		p.mu.Lock()
		p.got = append(p.got, d)
		p.packets = append(p.packets, raw)
		h := p.handle
		p.mu.Unlock()
		for _, out := range h(cookie, d) {
			_, _ = p.conn.WriteToUDP([]byte(out), from)
		}
	}
}

// addr is "udp:127.0.0.1:PORT", an rtpengine_sock value.
func (p *ngPeer) addr() string { return "udp:" + p.conn.LocalAddr().String() }

// setHandler replaces the handler.
func (p *ngPeer) setHandler(h func(cookie string, d map[string]any) []string) {
	p.mu.Lock()
	p.handle = h
	p.mu.Unlock()
}

// commands returns the commands received so far.
func (p *ngPeer) commands() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.got...)
}

// rawPackets returns the packets received so far.
func (p *ngPeer) rawPackets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.packets...)
}

// last returns the last command received.
func (p *ngPeer) last() map[string]any {
	p.t.Helper()
	c := p.commands()
	if len(c) == 0 {
		p.t.Fatal("ng peer got no command")
	}
	return c[len(c)-1]
}

// reset forgets the commands received.
func (p *ngPeer) reset() {
	p.mu.Lock()
	p.got, p.packets = nil, nil
	p.mu.Unlock()
}
