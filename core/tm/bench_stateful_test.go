package tm_test

import (
	"bytes"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// BenchmarkStatefulInvite is the stateful INVITE path through an engine:
// a route that only calls t_relay, an INVITE from a caller socket relayed
// to a callee socket on loopback UDP, the 100 Trying, and the callee's 180
// and 200 relayed back, one call at a time. ns/op is the wall time of a
// call (the peers' system calls included), allocs/op those of the whole
// process (the peers allocate nothing per call), cpu-ns/op the CPU time
// of the whole process per call.
func BenchmarkStatefulInvite(b *testing.B) {
	uac, bob := benchConn(b), benchConn(b)
	bobURI := "sip:bob@" + bob.LocalAddr().String()
	s := enginetest.Start(b, `
function ksr_request_route()
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_relay()
end`, enginetest.WithWorkers(1), enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = map[string]string{"bob": bobURI}
	}), enginetest.WithParams("tm", map[string]any{"wt_timer": 1000}))
	proxy := s.Addr("udp")
	uaddr := uac.LocalAddr().String()
	inv := make([]byte, 0, 1024)
	rcv := make([]byte, 65536)
	rep := make([]byte, 0, 1024)
	lines := make([]byte, 0, 1024)
	var num [16]byte
	statuses := []string{"180 Ringing", "200 OK"}
	read := func(c *net.UDPConn, what string) []byte {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(rcv)
		if err != nil {
			b.Fatalf("waiting for %s: %v", what, err)
		}
		return rcv[:n]
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		n := strconv.AppendInt(num[:0], int64(i), 36)
		inv = append(inv[:0], "INVITE sip:bob@"...)
		inv = append(inv, proxy.String()...)
		inv = append(inv, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
		inv = append(inv, uaddr...)
		inv = append(inv, ";branch=z9hG4bKbench"...)
		inv = append(inv, n...)
		inv = append(inv, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a"...)
		inv = append(inv, n...)
		inv = append(inv, "\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: bench-"...)
		inv = append(inv, n...)
		inv = append(inv, "\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@"...)
		inv = append(inv, uaddr...)
		inv = append(inv, ">\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n"...)
		if _, err := uac.WriteToUDPAddrPort(inv, proxy); err != nil {
			b.Fatal(err)
		}
		if r := read(uac, "100 Trying"); !bytes.HasPrefix(r, []byte("SIP/2.0 100 ")) {
			b.Fatalf("the caller got %q", r)
		}
		lines = replyLines(lines[:0], read(bob, "the INVITE"))
		for _, status := range statuses {
			rep = append(append(append(rep[:0], "SIP/2.0 "...), status...), "\r\n"...)
			rep = append(append(rep, lines...), "Content-Length: 0\r\n\r\n"...)
			if _, err := bob.WriteToUDPAddrPort(rep, proxy); err != nil {
				b.Fatal(err)
			}
			if r := read(uac, status); !bytes.HasPrefix(r[len("SIP/2.0 "):], []byte(status)) {
				b.Fatalf("the caller got %q, want %s", r, status)
			}
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time the process used so far (user and system,
// every thread: the engine's and the peers'), in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// replyLines appends to dst the header lines of req a reply copies: Via,
// From, Call-ID and CSeq as they are, To with a tag.
func replyLines(dst, req []byte) []byte {
	for len(req) > 0 {
		line, rest, _ := bytes.Cut(req, []byte("\r\n"))
		req = rest
		switch {
		case bytes.HasPrefix(line, []byte("Via:")), bytes.HasPrefix(line, []byte("From:")),
			bytes.HasPrefix(line, []byte("Call-ID:")), bytes.HasPrefix(line, []byte("CSeq:")):
			dst = append(append(dst, line...), "\r\n"...)
		case bytes.HasPrefix(line, []byte("To:")):
			dst = append(append(dst, line...), ";tag=b\r\n"...)
		}
	}
	return dst
}

func benchConn(b *testing.B) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
