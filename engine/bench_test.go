package engine_test

// The message path benchmarks of issue 9: what one stateless INVITE costs
// on its way through a real engine, from a datagram on the engine's UDP
// socket to the forwarded bytes on the next hop's. They use only the
// engine's exported API (New, Start, Addr, Stats, Stop) and real loopback
// sockets, so they measure whatever path the engine has (one reader handing
// messages to workers today, a reader per worker tomorrow) and keep
// compiling when its internals change.
//
//	go test -run '^$' -bench 'Stateless|LoopbackRelay' -benchmem ./engine/
//
// How to read them:
//   - allocs/op of BenchmarkStatelessForward is the allocations per
//     forwarded request on the whole path (read, parse, route with
//     process_maxfwd + setdsturi + forward, write). The test's own sockets
//     allocate nothing: BenchmarkLoopbackRelay, the same sockets with a
//     bare relay instead of the engine, shows 0 allocs/op.
//   - route-ns/op is the worker's own clock (Engine.Stats, Busy per worker)
//     per request: from a message in a worker's hands to its bytes written,
//     parse and route included. That is the route-to-send time.
//   - ns/op of BenchmarkStatelessForward is a round trip in lockstep (send,
//     wait for the forwarded copy): route-to-send plus two loopback hops and
//     the goroutine wake-ups of both sides. BenchmarkLoopbackRelay's ns/op
//     is the same trip with no work at all: the floor.
//   - BenchmarkStatelessThroughput keeps 32 requests in flight through two
//     workers: its ns/op is the wall time per request at full speed, so
//     1e9/ns is requests per second on this machine.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
)

// benchTimeout bounds every wait for a forwarded datagram: loopback loses
// nothing at these windows, so a timeout is a lost or refused request.
const benchTimeout = 5 * time.Second

// benchScript is examples/bench/stateless.lua (maxfwd, setdsturi,
// forward; the next hop from the define BENCH_UAS_URI): the shape of the
// route that `make bench-compare` measures under sipp.
const benchScript = "../examples/bench/stateless.lua"

// benchInvite is the INVITE of sipp's built-in uac scenario, the one the
// load benchmarks send, with a distinct Call-ID per call i.
func benchInvite(from netip.AddrPort, to netip.AddrPort, i int) []byte {
	body := fmt.Sprintf("v=0\r\n"+
		"o=user1 53655765 2353687637 IN IP4 %[1]s\r\n"+
		"s=-\r\n"+
		"c=IN IP4 %[1]s\r\n"+
		"t=0 0\r\n"+
		"m=audio 6000 RTP/AVP 0\r\n"+
		"a=rtpmap:0 PCMU/8000\r\n", from.Addr())
	return fmt.Appendf(nil, "INVITE sip:service@%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bK-4242-%[3]d-0\r\n"+
		"From: sipp <sip:sipp@%[1]s>;tag=4242SIPpTag00%[3]d\r\n"+
		"To: service <sip:service@%[2]s>\r\n"+
		"Call-ID: %[3]d-4242@%[4]s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: sip:sipp@%[1]s\r\n"+
		"Max-Forwards: 70\r\n"+
		"Subject: Performance Test\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %[5]d\r\n"+
		"\r\n%[6]s", from, to, i, from.Addr(), len(body), body)
}

// benchPeers are the two ends of a forwarded request: the client that sends
// INVITEs and the next hop (sink) that receives them. Both use the
// *AddrPort socket calls, which do not allocate.
type benchPeers struct {
	client, sink *net.UDPConn
	buf          []byte
}

func newBenchPeers(b *testing.B) *benchPeers {
	b.Helper()
	p := &benchPeers{buf: make([]byte, 65536)}
	for _, c := range []**net.UDPConn{&p.client, &p.sink} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		// room for a window of requests in flight, whatever the default
		if err := conn.SetReadBuffer(4 << 20); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		*c = conn
	}
	return p
}

// clientAddr is where the requests come from.
func (p *benchPeers) clientAddr() netip.AddrPort {
	return p.client.LocalAddr().(*net.UDPAddr).AddrPort()
}

// sinkAddr is the next hop.
func (p *benchPeers) sinkAddr() netip.AddrPort { return p.sink.LocalAddr().(*net.UDPAddr).AddrPort() }

// send sends one request to dst.
func (p *benchPeers) send(b *testing.B, msg []byte, dst netip.AddrPort) {
	if _, err := p.client.WriteToUDPAddrPort(msg, dst); err != nil {
		b.Fatalf("send: %v", err)
	}
}

// receive waits for one forwarded request at the sink and returns it (in
// p.buf: valid until the next receive).
func (p *benchPeers) receive(b *testing.B) []byte {
	n, _, err := p.sink.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.Fatalf("no forwarded request within %v: lost or refused", benchTimeout)
		}
		b.Fatalf("receive: %v", err)
	}
	return p.buf[:n]
}

// startBenchEngine runs benchScript with the given workers on a free UDP
// port, forwarding to next, with nothing logged.
func startBenchEngine(b *testing.B, workers int, next netip.AddrPort) *engine.Engine {
	b.Helper()
	script, err := os.ReadFile(benchScript)
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(engine.Config{
		Script:     script,
		ScriptPath: benchScript,
		Defines:    map[string]string{"BENCH_UAS_URI": "sip:" + next.String()},
		Listen:     []string{"udp:127.0.0.1:0"},
		Workers:    workers,
		DBURL:      "memory",
		Modules:    []string{"core", "kx", "sl", "maxfwd"},
		Logger:     slog.New(slog.DiscardHandler),
		LogLevel:   slog.LevelError,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e
}

// busy is the time every worker spent on messages so far.
func busy(e *engine.Engine) time.Duration {
	var d time.Duration
	for _, w := range e.Stats().Workers {
		d += w.Busy
	}
	return d
}

// benchCalls is how many distinct calls the benchmarks cycle through: enough
// Call-IDs for the engine to spread them over its workers.
const benchCalls = 64

// benchSetup makes the calls' INVITEs for dst and sends each once through,
// untimed: the first requests build the Lua state's caches and the
// sockets' buffers. Each must come out as the INVITE with Max-Forwards
// decremented (the route ran; a relay leaves it), or, for the relay,
// unchanged.
func benchSetup(b *testing.B, p *benchPeers, dst netip.AddrPort) [][]byte {
	b.Helper()
	calls := make([][]byte, benchCalls)
	for i := range calls {
		calls[i] = benchInvite(p.clientAddr(), dst, i)
	}
	p.sink.SetReadDeadline(time.Now().Add(benchTimeout))
	for i := range calls {
		p.send(b, calls[i], dst)
		got := p.receive(b)
		routed := bytes.HasPrefix(got, []byte("INVITE sip:service@")) &&
			bytes.Contains(got, []byte("\r\nMax-Forwards: 69\r\n"))
		if !routed && !bytes.Equal(got, calls[i]) {
			b.Fatalf("call %d came out as\n%s", i, got)
		}
	}
	return calls
}

// deadlineEvery is how often the timed loops move the sink's read deadline
// on: a deadline per read would cost a timer each, none would let a lost
// request hang the benchmark.
const deadlineEvery = 1024

// forwardLockstep sends the calls through dst one at a time, each after
// the previous one came out at the sink, b.N in all, timed.
func forwardLockstep(b *testing.B, p *benchPeers, calls [][]byte, dst netip.AddrPort) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%deadlineEvery == 0 {
			p.sink.SetReadDeadline(time.Now().Add(benchTimeout))
		}
		p.send(b, calls[i%len(calls)], dst)
		p.receive(b)
	}
	b.StopTimer()
}

// BenchmarkStatelessForward: one stateless INVITE at a time through a real
// engine with one worker, from the client's socket to the next hop's. See
// the top of the file for how to read allocs/op, route-ns/op and ns/op.
func BenchmarkStatelessForward(b *testing.B) {
	p := newBenchPeers(b)
	e := startBenchEngine(b, 1, p.sinkAddr())
	dst := e.Addr("udp")
	calls := benchSetup(b, p, dst)
	before := busy(e)
	forwardLockstep(b, p, calls, dst)
	b.ReportMetric(float64((busy(e)-before).Nanoseconds())/float64(b.N), "route-ns/op")
}

// BenchmarkLoopbackRelay is BenchmarkStatelessForward with a bare Go relay
// (read a datagram, write it on) instead of the engine: the floor of the
// round trip, and a check that the peers allocate nothing.
func BenchmarkLoopbackRelay(b *testing.B) {
	p := newBenchPeers(b)
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { relay.Close() })
	next := p.sinkAddr()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := relay.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			relay.WriteToUDPAddrPort(buf[:n], next)
		}
	}()
	dst := relay.LocalAddr().(*net.UDPAddr).AddrPort()
	forwardLockstep(b, p, benchSetup(b, p, dst), dst)
}

// BenchmarkStatelessThroughput keeps a window of requests in flight through
// an engine with two workers (the load benchmarks' setting): ns/op is the
// wall time per forwarded request at full speed.
func BenchmarkStatelessThroughput(b *testing.B) {
	const window = 32
	p := newBenchPeers(b)
	e := startBenchEngine(b, 2, p.sinkAddr())
	dst := e.Addr("udp")
	calls := benchSetup(b, p, dst)
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for ; sent < b.N && sent < window; sent++ {
		p.send(b, calls[sent%len(calls)], dst)
	}
	for got := 0; got < b.N; got++ {
		if got%deadlineEvery == 0 {
			p.sink.SetReadDeadline(time.Now().Add(benchTimeout))
		}
		p.receive(b)
		if sent < b.N {
			p.send(b, calls[sent%len(calls)], dst)
			sent++
		}
	}
	b.StopTimer()
}
