package enginetest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// Exchange sends a SIP request to addr over UDP from a socket of its own
// and returns the first reply that is not provisional, as text. build
// writes the request given the socket's address (for its Via). No final
// reply within timeout fails the test.
func Exchange(t testing.TB, addr string, build func(local string) string, timeout time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatalf("enginetest: exchange with %s: %v", addr, err)
	}
	defer c.Close()
	msg := build(c.LocalAddr().String())
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("enginetest: exchange with %s: %v", addr, err)
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("enginetest: no final reply from %s to %.40q...: %v", addr, msg, err)
		}
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 1") {
			return string(buf[:n])
		}
	}
}
