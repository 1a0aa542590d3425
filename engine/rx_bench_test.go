package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"testing"
)

// processCPU returns the user and system CPU time of the process so far,
// in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUDPRoundTrip measures the whole path of one datagram through
// an idle engine, one at a time: a peer sends an INVITE over loopback,
// the engine reads it, routes it (setdsturi + forward) and sends it on,
// and the next hop reads it. This is where hand-offs between goroutines
// and the scheduler's wake-ups show: the engine is idle before each
// message, as it mostly is at a few thousand calls per second.
func BenchmarkUDPRoundTrip(b *testing.B) {
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			script := fmt.Sprintf(`
function ksr_request_route()
	KSR.setdsturi("sip:%s")
	if KSR.forward() < 0 then KSR.sl.sl_send_reply(500, "Failed") end
end`, sink.LocalAddr())
			e, err := New(Config{Script: []byte(script), Listen: []string{"udp:127.0.0.1:0"}, Workers: workers,
				Logger: slog.New(slog.DiscardHandler), Modules: []string{"core", "sl"}, MemoryLimit: -1})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer e.Stop(context.Background())
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer peer.Close()
			to := net.UDPAddrFromAddrPort(e.Addr("udp"))
			var calls [64][]byte
			for i := range calls {
				calls[i] = fmt.Appendf(nil, "INVITE sip:bob@example.com SIP/2.0\r\n"+
					"Via: SIP/2.0/UDP %s;branch=z9hG4bK-rt-%d;rport\r\nMax-Forwards: 70\r\n"+
					"From: <sip:alice@127.0.0.1>;tag=1928301774\r\nTo: <sip:bob@example.com>\r\n"+
					"Call-ID: rt-%d@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1>\r\nContent-Length: 0\r\n\r\n",
					peer.LocalAddr(), i, i)
			}
			buf := make([]byte, 65536)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := peer.WriteToUDP(calls[i%len(calls)], to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := sink.ReadFromUDP(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// the process's CPU time (the peer and the next hop included,
			// alike in every version) says what waiting costs besides
			// the time it takes
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
