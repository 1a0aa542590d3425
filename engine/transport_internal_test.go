package engine

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// TestDialAfterCloseIsRefused: a worker still running after the transport
// closed must not open a connection nothing would ever close.
func TestDialAfterCloseIsRefused(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.tp.close()
	if _, err := e.tp.dial(nil, netip.MustParseAddrPort(ln.Addr().String())); !errors.Is(err, errClosed) {
		t.Fatalf("dial after close = %v, want errClosed", err)
	}
	e.tp.mu.Lock()
	n := len(e.tp.byID)
	e.tp.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d connections registered after close", n)
	}
}
