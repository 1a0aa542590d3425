package engine

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// queuedBytes returns the size of the datagram waiting first in the
// socket fd (SIOCINQ), 0 when none waits, -1 when unknown.
func queuedBytes(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return -1
	}
	return n
}

// blockingWake is how often a reader blocked in recvfrom wakes up to see
// whether reading stopped (SO_RCVTIMEO): what a Stop may wait for it.
const blockingWake = 50 * time.Millisecond

// blockingUDP is a UDP socket whose reader waits for a datagram in the
// kernel, in a blocking recvmmsg that also takes the datagrams already
// waiting behind it (Kamailio's processes block in recvfrom), rather than
// in Go's poller. With the poller, every datagram that finds the engine
// idle costs the runtime a round of its scheduler: the poller's thread
// wakes up, hands the reader to a thread with a processor, and that
// thread, once the route is done, spins looking for work before it
// sleeps again (a third of the CPU at 2000 calls/s in a profile). A
// thread blocked in the kernel is woken by the kernel with the datagram
// and takes a free processor back on its own.
//
// The socket is a duplicate of the one bound (or inherited), taken out
// of Go's poller: the original is closed, so that the poller's epoll no
// longer wakes up for each datagram too. Sends are blocking sendto calls
// (a UDP send waits only on a full send buffer).
type blockingUDP struct {
	fd     int
	family int // unix.AF_INET or unix.AF_INET6

	// mu is held for reading by every system call on fd and for writing
	// by Close, so that the number is never used once closed (it may be
	// reused by another file)
	mu     sync.RWMutex
	closed atomic.Bool
	stop   atomic.Bool // a read deadline in the past: reads return

	// batch holds the datagrams one recvmmsg read beyond the first,
	// handed out by the next reads without a system call (see readBatch)
	bmu   sync.Mutex
	batch *udpBatch
}

// batchSize is how many datagrams one recvmmsg may read. Measured at 2000
// calls/s stateless (2 vCPU), reading the datagrams that already wait
// with the one waited for took the proxy's CPU from 24.6-28.1 % to
// 21.6-23.6 % of a core (four paired runs), stateful from 48.6 to 46.6:
// under sipp's bursts a read often finds several.
const batchSize = 8

// udpBatch is the state of recvmmsg for one socket.
type udpBatch struct {
	bufs    [batchSize][]byte
	iovs    [batchSize]unix.Iovec
	hdrs    [batchSize]unix.Mmsghdr
	names   [batchSize]unix.RawSockaddrAny
	n, next int
}

// readWithSyscalls returns uc's socket as a blockingUDP, closing uc, or
// uc itself when that fails (logged).
func readWithSyscalls(uc *net.UDPConn, log *slog.Logger) udpSocket {
	u, err := newBlockingUDP(uc)
	if err != nil {
		log.Warn("udp socket read through Go's poller", "sock", uc.LocalAddr(), "err", err)
		return uc
	}
	uc.Close()
	return u
}

func newBlockingUDP(uc *net.UDPConn) (*blockingUDP, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	u := &blockingUDP{fd: fd}
	sa, err := unix.Getsockname(fd)
	switch sa.(type) {
	case *unix.SockaddrInet4:
		u.family = unix.AF_INET
	case *unix.SockaddrInet6:
		u.family = unix.AF_INET6
	default:
		err = errors.Join(err, errors.New("not an inet socket"))
	}
	if err == nil {
		err = unix.SetNonblock(fd, false)
	}
	if err == nil {
		tv := unix.NsecToTimeval(int64(blockingWake))
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return u, nil
}

// ReadFromUDPAddrPort waits for a datagram and reads it into b, from the
// datagrams the last recvmmsg read when it holds some (see readBatch). It
// returns net.ErrClosed once the socket is closed and
// os.ErrDeadlineExceeded once a read deadline in the past is set.
func (u *blockingUDP) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	for {
		switch {
		case u.closed.Load():
			return 0, netip.AddrPort{}, net.ErrClosed
		case u.stop.Load():
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		n, ap, e := u.readBatch(b)
		switch e {
		case 0:
			return n, ap, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN: // the wake-up (SO_RCVTIMEO), or see waitNonblock
			u.waitNonblock()
			continue
		}
		return 0, netip.AddrPort{}, os.NewSyscallError("recvmmsg", e)
	}
}

// readBatch returns the next datagram of the last recvmmsg, or reads a
// new batch: it blocks for the first datagram and takes the others that
// already wait (MSG_WAITFORONE).
func (u *blockingUDP) readBatch(b []byte) (int, netip.AddrPort, syscall.Errno) {
	u.bmu.Lock()
	defer u.bmu.Unlock()
	bt := u.batch
	if bt == nil || len(bt.bufs[0]) < len(b) {
		bt = &udpBatch{}
		for i := range bt.bufs {
			bt.bufs[i] = make([]byte, len(b))
			bt.iovs[i].Base = &bt.bufs[i][0]
			bt.iovs[i].SetLen(len(b))
			bt.hdrs[i].Hdr.Iov = &bt.iovs[i]
			bt.hdrs[i].Hdr.SetIovlen(1)
			bt.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&bt.names[i]))
		}
		u.batch = bt
	}
	if bt.next >= bt.n {
		for i := range bt.hdrs {
			bt.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
			bt.hdrs[i].Hdr.Flags = 0
			bt.hdrs[i].Len = 0
		}
		n, _, e := syscall.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&bt.hdrs[0])), batchSize, unix.MSG_WAITFORONE, 0, 0)
		if e != 0 {
			return 0, netip.AddrPort{}, e
		}
		bt.n, bt.next = int(n), 0
	}
	i := bt.next
	bt.next++
	n := copy(b, bt.bufs[i][:bt.hdrs[i].Len])
	return n, addrPortOf(&bt.names[i]), 0
}

// pending is how many datagrams the last batch still holds.
func (u *blockingUDP) pending() int {
	u.bmu.Lock()
	defer u.bmu.Unlock()
	if u.batch == nil {
		return 0
	}
	return u.batch.n - u.batch.next
}

// waitNonblock waits up to blockingWake for a datagram when the socket
// is in non-blocking mode, and returns at once when it is not (recvfrom
// already waited). The mode is the open file description's, shared with
// every dup and every process of fork mode that inherited the socket:
// one that starts sets it (Go's net.FilePacketConn), and until it clears
// it again (newBlockingUDP), or for good if it dies first, recvfrom here
// would return EAGAIN at once, a reader spinning on a CPU.
func (u *blockingUDP) waitNonblock() {
	fl, err := unix.FcntlInt(uintptr(u.fd), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		return
	}
	pfd := []unix.PollFd{{Fd: int32(u.fd), Events: unix.POLLIN}}
	_, _ = unix.Poll(pfd, int(blockingWake/time.Millisecond)) // EINTR: the caller retries
}

// addrPortOf reads an address recvfrom filled in.
func addrPortOf(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			// a link-local peer: the reply needs the interface back
			ip = ip.WithZone(zoneName(sa.Scope_id))
		}
		return netip.AddrPortFrom(ip, uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// zoneName is the name of the interface of index i, as net reports a
// link-local address's zone, or its number when there is no such
// interface.
func zoneName(i uint32) string {
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(i), 10)
}

// zoneIndex is the index of the interface a zone names (by name or by
// number), 0 when none.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// WriteToUDPAddrPort sends b to addr.
func (u *blockingUDP) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed.Load() {
		return 0, net.ErrClosed
	}
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var sa unsafe.Pointer
	var salen uintptr
	ip := addr.Addr()
	switch {
	case u.family == unix.AF_INET && (ip.Is4() || ip.Is4In6()):
		sa4.Family = unix.AF_INET
		sa4.Addr = ip.Unmap().As4()
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(addr.Port()>>8), byte(addr.Port())
		sa, salen = unsafe.Pointer(&sa4), unix.SizeofSockaddrInet4
	case u.family == unix.AF_INET6 && ip.IsValid():
		sa6.Family = unix.AF_INET6
		sa6.Addr = ip.As16() // an IPv4 address as ::ffff:a.b.c.d
		sa6.Scope_id = zoneIndex(ip.Zone())
		p := (*[2]byte)(unsafe.Pointer(&sa6.Port))
		p[0], p[1] = byte(addr.Port()>>8), byte(addr.Port())
		sa, salen = unsafe.Pointer(&sa6), unix.SizeofSockaddrInet6
	default:
		return 0, &net.AddrError{Err: "address family does not match the socket's", Addr: addr.String()}
	}
	for {
		n, _, e := syscall.Syscall6(unix.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0,
			uintptr(sa), salen)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("sendto", e)
	}
}

// SetReadDeadline stops reads (and makes the next return at once) when t
// is in the past, and lets them go on when t is zero; only those two are
// used (stopReading).
func (u *blockingUDP) SetReadDeadline(t time.Time) error {
	u.stop.Store(!t.IsZero() && !t.After(time.Now()))
	return nil
}

// Close closes the socket once no system call uses it: a reader blocked
// in recvfrom sees it within blockingWake.
func (u *blockingUDP) Close() error {
	if u.closed.Swap(true) {
		return net.ErrClosed
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return unix.Close(u.fd)
}

// queued returns the size of the datagram waiting first, 0 when none
// does, -1 when unknown.
func (u *blockingUDP) queued() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed.Load() {
		return -1
	}
	if u.pending() > 0 {
		return 1
	}
	return queuedBytes(uintptr(u.fd))
}
