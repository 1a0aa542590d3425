package engine

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestBlockingUDP: the socket read with blocking system calls sends and
// receives over IPv4 and IPv6 with the peer's address, stops reading at a
// read deadline in the past and at Close, within blockingWake.
func TestBlockingUDP(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"udp4", "127.0.0.1:0"},
		{"udp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			uc, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
			if err != nil {
				t.Skipf("no %s: %v", tc.network, err)
			}
			local := netip.MustParseAddrPort(uc.LocalAddr().String())
			u, err := newBlockingUDP(uc)
			if err != nil {
				t.Fatal(err)
			}
			uc.Close()
			defer u.Close()
			peer, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			peerAddr := netip.MustParseAddrPort(peer.LocalAddr().String())

			if _, err := peer.WriteToUDPAddrPort([]byte("ping"), local); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, src, err := u.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "ping" || src != peerAddr {
				t.Fatalf("read %q from %v, %v; want ping from %v", buf[:n], src, err, peerAddr)
			}
			if _, err := u.WriteToUDPAddrPort([]byte("pong"), src); err != nil {
				t.Fatal(err)
			}
			peer.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "pong" || from != local {
				t.Fatalf("peer read %q from %v, %v; want pong from %v", buf[:n], from, err, local)
			}

			u.SetReadDeadline(time.Now())
			if _, _, err := u.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read after a deadline in the past: %v", err)
			}
			u.SetReadDeadline(time.Time{})
			done := make(chan error, 1)
			go func() { _, _, err := u.ReadFromUDPAddrPort(buf); done <- err }()
			time.Sleep(10 * time.Millisecond) // blocked in recvfrom
			start := time.Now()
			u.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("blocked read at Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(10 * blockingWake):
				t.Fatal("a blocked read did not end at Close")
			}
			if d := time.Since(start); d > 4*blockingWake {
				t.Errorf("Close took %v", d)
			}
			if _, err := u.WriteToUDPAddrPort([]byte("late"), peerAddr); !errors.Is(err, net.ErrClosed) {
				t.Errorf("send after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestBlockingUDPSharedNonblock: O_NONBLOCK belongs to the open file
// description, which a dup shares, and so do the processes of fork mode
// that inherit the socket: a process that starts (net.FilePacketConn sets
// the flag) turns every other process's recvfrom non-blocking. An idle
// reader must then wait, not spin on EAGAIN.
func TestBlockingUDPSharedNonblock(t *testing.T) {
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close() // kept open: another holder of the description
	u, err := newBlockingUDP(uc)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	raw, err := uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), true) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}

	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _, err := u.ReadFromUDPAddrPort(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	before := cpuTime(t)
	time.Sleep(300 * time.Millisecond) // the reader idle
	if used := cpuTime(t) - before; used > 150*time.Millisecond {
		t.Errorf("an idle reader on a non-blocking description used %v of CPU in 300ms", used)
	}
	if _, err := uc.WriteToUDPAddrPort([]byte("ping"), netip.MustParseAddrPort(uc.LocalAddr().String())); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "ping" {
			t.Fatalf("read %q, want ping", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the datagram was not read")
	}
}

// cpuTime is the CPU time the process used so far.
func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBlockingUDPZone: a link-local peer's interface (the sockaddr's
// scope id) comes with its address as net reports it, and goes back out
// with the reply.
func TestBlockingUDPZone(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo:", err)
	}
	var rsa unix.RawSockaddrAny
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
	sa.Family = unix.AF_INET6
	sa.Addr = netip.MustParseAddr("fe80::1").As16()
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = 5060>>8, 5060&0xff // network order
	sa.Scope_id = uint32(lo.Index)
	got := addrPortOf(&rsa)
	if want := netip.MustParseAddrPort("[fe80::1%lo]:5060"); got != want {
		t.Errorf("addrPortOf = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		zone string
		want uint32
	}{
		{"", 0},
		{"lo", uint32(lo.Index)},
		{"7", 7},
		{"no-such-interface", 0},
	} {
		if got := zoneIndex(tc.zone); got != tc.want {
			t.Errorf("zoneIndex(%q) = %d, want %d", tc.zone, got, tc.want)
		}
	}
}

// TestBlockingUDPBatch: the datagrams already waiting behind the one read
// are taken by the same recvmmsg and handed out in order, each with its
// own source, by the next reads; queued reports them as waiting, so a
// reader hands its turn on (see udpReader.handOn).
func TestBlockingUDPBatch(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(uc.LocalAddr().String())
	u, err := newBlockingUDP(uc)
	if err != nil {
		t.Fatal(err)
	}
	uc.Close()
	defer u.Close()
	const sent = batchSize + 3 // more than one batch
	var conns [2]*net.UDPConn
	var peers [2]netip.AddrPort
	for i := range conns {
		p, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		conns[i], peers[i] = p, netip.MustParseAddrPort(p.LocalAddr().String())
	}
	for k := 0; k < sent; k++ { // from the two peers in turn
		if _, err := conns[k%2].WriteToUDPAddrPort(fmt.Appendf(nil, "dgram-%d", k), local); err != nil {
			t.Fatal(err)
		}
	}
	// all of them wait in the socket before the first read (loopback
	// delivers at once)
	buf := make([]byte, 128)
	got := map[string]netip.AddrPort{}
	var order []string
	for k := 0; k < sent; k++ {
		n, src, err := u.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		got[string(buf[:n])] = src
		order = append(order, string(buf[:n]))
		if k == 0 {
			if p := u.pending(); p != batchSize-1 {
				t.Errorf("after the first read %d datagrams wait in the batch, want %d", p, batchSize-1)
			}
			if u.queued() <= 0 {
				t.Errorf("queued() = %d with datagrams in the batch", u.queued())
			}
		}
	}
	for k := 0; k < sent; k++ {
		want := peers[k%2]
		if src, ok := got[fmt.Sprintf("dgram-%d", k)]; !ok || src != want {
			t.Errorf("dgram-%d from %v (read: %v), want from %v", k, src, ok, want)
		}
	}
	for k, s := range order { // one socket: arrival order
		if want := fmt.Sprintf("dgram-%d", k); s != want {
			t.Errorf("read %d is %q, want %q (order %v)", k, s, want, order)
			break
		}
	}
}
