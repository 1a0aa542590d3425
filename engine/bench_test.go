package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"
)

// statelessBench starts an engine with n workers whose script forwards
// every request to a UDP sink, and returns it with an INVITE for call i.
func statelessBench(b *testing.B, workers int) (*Engine, func(i int) []byte) {
	b.Helper()
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := sink.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	script := fmt.Sprintf(`
function ksr_request_route()
	KSR.setdsturi("sip:%s")
	if KSR.forward() < 0 then KSR.sl.sl_send_reply(500, "Failed") end
end`, sink.LocalAddr())
	e, err := New(Config{Script: []byte(script), Listen: []string{"udp:127.0.0.1:0"}, Workers: workers,
		Logger: slog.New(slog.DiscardHandler), Modules: []string{"core", "sl"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Stop(context.Background()) })
	body := "v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	invite := func(i int) []byte {
		return []byte("INVITE sip:bob@example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-524287-1---abc;rport\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: \"alice\" <sip:alice@127.0.0.1:5080>;tag=1928301774\r\n" +
			"To: <sip:bob@example.com>\r\n" +
			fmt.Sprintf("Call-ID: a84b4c76e66710-%d@pc33.atlanta.com\r\n", i) +
			"CSeq: 314159 INVITE\r\n" +
			"Contact: <sip:alice@127.0.0.1:5080>\r\n" +
			"Content-Type: application/sdp\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
	}
	return e, invite
}

// BenchmarkStatelessRequest measures one INVITE through a worker: parse,
// ksr_request_route (setdsturi + forward), serialize and send over UDP.
func BenchmarkStatelessRequest(b *testing.B) {
	e, invite := statelessBench(b, 1)
	w := e.workers[0]
	raw := invite(0)
	src := netip.MustParseAddrPort("127.0.0.1:5080")
	sock := e.tp.listeners[0].sock
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.handle(job{raw: raw, src: src, sock: sock, proto: "udp", at: time.Now()})
	}
	b.StopTimer()
	if sent := e.met.sentReq.Get(); sent < uint64(b.N) {
		b.Fatalf("forwarded %d of %d requests", sent, b.N)
	}
}

// BenchmarkDispatchedRequest is BenchmarkStatelessRequest through the
// dispatcher and two workers, as the UDP reader hands messages over: 64
// calls in turn, so that the workers share the load.
func BenchmarkDispatchedRequest(b *testing.B) {
	e, invite := statelessBench(b, 2)
	var calls [64][]byte
	for i := range calls {
		calls[i] = invite(i)
	}
	src := netip.MustParseAddrPort("127.0.0.1:5080")
	sock := e.tp.listeners[0].sock
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.dispatch(job{raw: calls[i%len(calls)], src: src, sock: sock, proto: "udp", at: time.Now()})
	}
	deadline := time.Now().Add(time.Minute)
	for e.met.sentReq.Get() < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	if sent := e.met.sentReq.Get(); sent < uint64(b.N) {
		b.Fatalf("forwarded %d of %d requests", sent, b.N)
	}
}
