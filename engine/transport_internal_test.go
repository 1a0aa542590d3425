package engine

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// tableSizes returns the number of connections and of addresses in the
// transport's tables.
func tableSizes(tp *transport) (conns, addrs int) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return len(tp.byID), len(tp.byAddr)
}

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
	if n, _ := tableSizes(e.tp); n != 0 {
		t.Fatalf("%d connections registered after close", n)
	}
	// nor is one opened and closed again: the peer sees none
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("dial after close connected to the peer")
	}
}

// TestAliasesGoWithTheirConnection: the addresses KSR.add_tcp_alias gave
// a connection stayed in the table after it closed, so a peer could grow
// it without bound, and requests to an alias went to the closed
// connection (and failed) instead of a new one.
func TestAliasesGoWithTheirConnection(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	defer e.tp.close()
	tc, _ := dialPeer(t, e, false)
	var aliases []netip.AddrPort
	for port := uint16(5000); port < 5000+maxTCPAliases; port++ {
		a := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), port)
		if err := e.AddTCPAlias(tc.id, a); err != nil {
			t.Fatal(err)
		}
		aliases = append(aliases, a)
	}
	if e.tp.conn(0, aliases[0]) != tc {
		t.Fatal("an alias does not name its connection")
	}
	e.tp.removeConn(tc)
	for _, a := range aliases {
		if c := e.tp.conn(0, a); c != nil {
			t.Fatalf("alias %s still names the closed connection", a)
		}
	}
	if _, n := tableSizes(e.tp); n != 0 {
		t.Errorf("%d addresses left in the table after the connection closed", n)
	}
}

// TestTCPAliasesAreBounded: every address KSR.add_tcp_alias gave a
// connection stayed until it closed, so a peer whose Via port changed with
// every request (the script aliasing each) grew the table by one entry a
// request, up to 65535 for each of its connections. As in Kamailio, a
// connection has a few aliases; past them add_tcp_alias fails.
func TestTCPAliasesAreBounded(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	defer e.tp.close()
	tc, _ := dialPeer(t, e, false)
	alias := func(port uint16) netip.AddrPort {
		return netip.AddrPortFrom(tc.remote.Addr(), port)
	}
	for i := range uint16(maxTCPAliases) {
		if err := e.AddTCPAlias(tc.id, alias(5000+i)); err != nil {
			t.Fatalf("alias %d: %v", i+1, err)
		}
	}
	if err := e.AddTCPAlias(tc.id, alias(6000)); err == nil {
		t.Fatalf("alias %d of one connection accepted, want an error past %d", maxTCPAliases+1, maxTCPAliases)
	}
	if c := e.tp.conn(0, alias(6000)); c != nil {
		t.Errorf("the refused alias names a connection")
	}
	// what it has already, and its own address, it may be given again
	for _, a := range []netip.AddrPort{alias(5000), tc.remote} {
		if err := e.AddTCPAlias(tc.id, a); err != nil {
			t.Errorf("alias %s again: %v", a, err)
		}
	}
	if _, n := tableSizes(e.tp); n != 1+maxTCPAliases {
		t.Errorf("%d addresses in the table, want %d", n, 1+maxTCPAliases)
	}
}
