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

// BenchmarkStatelessRequest measures one INVITE through a worker: parse,
// ksr_request_route (setdsturi + forward), serialize and send over UDP.
func BenchmarkStatelessRequest(b *testing.B) {
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
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
	e, err := New(Config{Script: []byte(script), Listen: []string{"udp:127.0.0.1:0"}, Workers: 1,
		Logger: slog.New(slog.DiscardHandler), Modules: []string{"core", "sl"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Stop(context.Background())
	w := e.workers[0]
	body := "v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	invite := []byte("INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-524287-1---abc;rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: \"alice\" <sip:alice@127.0.0.1:5080>;tag=1928301774\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n" +
		"CSeq: 314159 INVITE\r\n" +
		"Contact: <sip:alice@127.0.0.1:5080>\r\n" +
		"Content-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
	src := netip.MustParseAddrPort("127.0.0.1:5080")
	sock := e.tp.listeners[0].sock
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.handle(job{raw: invite, src: src, sock: sock, proto: "udp", at: time.Now()})
	}
	b.StopTimer()
	if sent := e.met.sentReq.Get(); sent < uint64(b.N) {
		b.Fatalf("forwarded %d of %d requests", sent, b.N)
	}
}
