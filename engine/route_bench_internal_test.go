package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// The route-to-send benchmarks of issue 9: one message handed to a
// worker as a UDP reader hands it (the datagram copied out of the read
// buffer first, as readDatagram does), parsed, routed through
// examples/bench/stateless.lua (process_maxfwd, setdsturi, forward; the
// core's reply routing for a reply) and written to the socket. The
// socket is wrapped so that the write keeps nothing and makes no system
// call: ns/op and allocs/op are the engine's own work per message, what
// the loopback benchmarks in bench_test.go hide under two system calls
// and two wake-ups.
//
//	go test -run '^$' -bench RouteToSend -benchmem ./engine/

// discardWrites is a UDP socket whose writes are counted and dropped.
type discardWrites struct {
	udpSocket
	writes atomic.Int64
	last   atomic.Int64 // length of the last write
}

func (d *discardWrites) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	d.writes.Add(1)
	d.last.Store(int64(len(b)))
	return len(b), nil
}

// startRouteBench starts the stateless bench script with one worker and
// returns the engine, its worker and the wrapped socket.
func startRouteBench(b *testing.B) (*Engine, *worker, *discardWrites) {
	b.Helper()
	script, err := os.ReadFile("../examples/bench/stateless.lua")
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Config{
		Script:     script,
		ScriptPath: "stateless.lua",
		Defines:    map[string]string{"BENCH_UAS_URI": "sip:127.0.0.1:5070"},
		Listen:     []string{"udp:127.0.0.1:0"},
		Workers:    1,
		DBURL:      "memory",
		Modules:    []string{"core", "kx", "sl", "maxfwd"},
		Logger:     slog.New(slog.DiscardHandler),
		LogLevel:   slog.LevelError,
	})
	if err != nil {
		b.Fatal(err)
	}
	var sock *discardWrites
	e.tp.wrapUDP = func(s udpSocket) udpSocket {
		sock = &discardWrites{udpSocket: s}
		return sock
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e, e.workers[0], sock
}

// routeBench hands msg to w b.N times, as a datagram from src, and checks
// that each was written once.
func routeBench(b *testing.B, e *Engine, w *worker, sock *discardWrites, msg []byte, src netip.AddrPort) {
	l := e.tp.listeners[0]
	// nothing else sends to the engine: the benchmark is the worker's only
	// runner
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw, bp := getDatagramBuf(len(msg))
		copy(raw, msg)
		w.handle(job{raw: raw, pooled: bp, src: src, sock: l.sock, proto: "udp", at: time.Now()})
	}
	b.StopTimer()
	if n := sock.writes.Load(); n != int64(b.N) {
		b.Fatalf("%d messages written for %d handled", n, b.N)
	}
}

var benchSrc = netip.MustParseAddrPort("127.0.0.1:5061")

// benchInviteText is the INVITE of sipp's built-in uac scenario, as
// bench_test.go's benchInvite builds it.
func benchInviteText(to netip.AddrPort) []byte {
	body := "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n" +
		"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	return fmt.Appendf(nil, "INVITE sip:service@%[1]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-4242-1-0\r\n"+
		"From: sipp <sip:sipp@%[2]s>;tag=4242SIPpTag001\r\n"+
		"To: service <sip:service@%[1]s>\r\n"+
		"Call-ID: 1-4242@127.0.0.1\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: sip:sipp@%[2]s\r\n"+
		"Max-Forwards: 70\r\n"+
		"Subject: Performance Test\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %[3]d\r\n"+
		"\r\n%[4]s", to, benchSrc, len(body), body)
}

// BenchmarkRouteToSend: a stateless INVITE, from the datagram in a
// worker's hands to its forwarded bytes handed to the socket.
func BenchmarkRouteToSend(b *testing.B) {
	e, w, sock := startRouteBench(b)
	routeBench(b, e, w, sock, benchInviteText(e.tp.listeners[0].sock.Addr), benchSrc)
}

// BenchmarkReplyRouteToSend: the 180 Ringing to that INVITE, coming back
// with our Via on top, routed on the second Via.
func BenchmarkReplyRouteToSend(b *testing.B) {
	e, w, sock := startRouteBench(b)
	us := e.tp.listeners[0].sock.Addr
	reply := fmt.Appendf(nil, "SIP/2.0 180 Ringing\r\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bKsl1b2c3d4e5f\r\n"+
		"Via: SIP/2.0/UDP %[2]s;branch=z9hG4bK-4242-1-0\r\n"+
		"From: sipp <sip:sipp@%[2]s>;tag=4242SIPpTag001\r\n"+
		"To: service <sip:service@%[1]s>;tag=7788SIPpTag011\r\n"+
		"Call-ID: 1-4242@127.0.0.1\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n"+
		"Content-Length: 0\r\n\r\n", us, benchSrc)
	routeBench(b, e, w, sock, reply, netip.MustParseAddrPort("127.0.0.1:5070"))
}
