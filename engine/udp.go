package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// slowRoute is the route time above which a UDP reader hands its read
// token on before every route it runs (see udpReader.handOn): with routes
// that slow (a database, a DNS lookup) a wake-up per datagram is cheap,
// and holding the token would leave the socket unread for a whole route.
const slowRoute = 200 * time.Microsecond

// udpGroup are the readers of one UDP socket, one per worker, and its read
// token: only the reader that holds the token reads the socket.
//
// A datagram read is routed on the goroutine that read it (see
// Engine.routeDatagram): no hand-off to a worker goroutine, so one
// wake-up per datagram, the socket's (on Linux the holder waits in the
// kernel, see blockingUDP). The token also keeps the order: the holder
// assigns what it read to a worker before anyone reads the next datagram.
// Several goroutines blocked in the read of one socket would cost a
// wake-up more: Go serialises them on the socket's read lock and wakes the
// next one each time the lock is released. So the others wait for the
// token instead, and the holder keeps it while it
// routes, reading the next datagram once done, unless another reader is
// idle, the holder is busy (it spends more time routing than waiting for
// datagrams) and another datagram already waits, or routes are slow: then
// it hands the token on first, and the two route in parallel. At a low or
// moderate rate one goroutine reads and routes everything, without a
// wake-up of another or a probe of the socket; under load every worker
// routes.
type udpGroup struct {
	l    *listener
	tok  chan struct{} // holds the token while no reader has it
	idle atomic.Int32  // readers waiting for the token
	slow atomic.Bool   // the last route a reader ran took more than slowRoute
	raw  syscall.RawConn
	// queued, when the socket has it, is the backlog probe (see
	// blockingUDP.queued)
	queued func() int
}

func newUDPGroup(l *listener) *udpGroup {
	g := &udpGroup{l: l, tok: make(chan struct{}, 1)}
	g.tok <- struct{}{}
	switch s := l.udp.(type) {
	case interface{ queued() int }:
		g.queued = s.queued
	case syscall.Conn:
		if raw, err := s.SyscallConn(); err == nil {
			g.raw = raw
		}
	}
	return g
}

// pooledDatagram is the size of datagramBufs' buffers: a datagram larger
// than that (rare: an INVITE with a long SDP is about 1 KB) gets a buffer
// of its own.
const pooledDatagram = 2048

// datagramBufs are the buffers received datagrams are copied into.
var datagramBufs = sync.Pool{New: func() any { b := make([]byte, pooledDatagram); return &b }}

// getDatagramBuf returns a buffer of n bytes for a datagram, and the pool
// entry it came from (nil when it did not: n is over pooledDatagram).
func getDatagramBuf(n int) ([]byte, *[]byte) {
	if n > pooledDatagram {
		return make([]byte, n), nil
	}
	bp := datagramBufs.Get().(*[]byte)
	return (*bp)[:n], bp
}

// putDatagramBuf gives a datagram's buffer back once nothing refers to it.
func putDatagramBuf(bp *[]byte) {
	if bp != nil {
		datagramBufs.Put(bp)
	}
}

// udpReader is one reader of a udpGroup, with its own read buffer.
type udpReader struct {
	g      *udpGroup
	prefer int // the worker it routes on when that is idle
	buf    []byte
	held   bool // holds the group's read token

	// the backlog probe (see backlog), built once so that a probe
	// allocates nothing
	probe  func(fd uintptr)
	queued int

	// waited and worked are moving sums of the time the reader spent
	// reading (mostly waiting for a datagram) and routing (see noteLoad)
	waited, worked time.Duration

	// yielded is when the reader last gave its processor up (see
	// yieldWhenDue)
	yielded time.Time
}

// yieldEvery is how often a reader that keeps the token gives its
// processor up for a moment: well under the 10 ms after which Go's
// runtime forces a goroutine that never left its processor off it.
const yieldEvery = 5 * time.Millisecond

// yieldWhenDue lets the scheduler run once every yieldEvery. A reader
// that keeps the token reads and routes for as long as datagrams come,
// blocked in recvmmsg between them, and so never leaves its processor.
// Go's monitor thread takes such a goroutine for a runaway after 10 ms:
// it signals the thread, takes its processor away while it is in the
// system call, and then polls every 20 µs again for a while. At 2000
// calls/s stateless that cost a quarter of kemi's CPU (24.5-27.4 % of a
// core against 18.6-18.9 % with the yield, paired runs); a yield costs a
// few microseconds.
func (r *udpReader) yieldWhenDue(now time.Time) {
	if now.Sub(r.yielded) > yieldEvery {
		r.yielded = now
		runtime.Gosched()
	}
}

// loadShift sets how fast the load follows: each datagram weighs 1/16.
const loadShift = 4

// noteLoad adds one datagram's time waiting for it and routing it to the
// reader's load.
func (r *udpReader) noteLoad(wait, work time.Duration) {
	r.waited += wait - r.waited>>loadShift
	r.worked += work - r.worked>>loadShift
}

// busy reports whether the reader spends more time routing than waiting
// for datagrams: only then is another reader worth a wake-up (handOn).
// Below that one goroutine reads and routes everything, which costs the
// least CPU: every hand-off of the token is a wake-up of another thread,
// and the backlog probe a system call per datagram (together about a
// sixth of kemi's CPU at 2000 calls/s stateless, measured).
func (r *udpReader) busy() bool { return r.worked > r.waited }

func newUDPReader(g *udpGroup, prefer, size int) *udpReader {
	r := &udpReader{g: g, prefer: prefer, buf: make([]byte, size)}
	r.probe = func(fd uintptr) { r.queued = queuedBytes(fd) }
	return r
}

// handOn passes the read token to an idle reader when that is worth its
// wake-up: always, routes being slow, or the reader busy (see busy) with
// another datagram waiting.
func (r *udpReader) handOn(always bool) {
	g := r.g
	if !r.held || !always && (g.idle.Load() == 0 || !g.slow.Load() && (!r.busy() || !r.backlog())) {
		return
	}
	r.held = false
	g.tok <- struct{}{} // never waits: the token was here
}

// backlog reports whether another datagram waits in the socket.
func (r *udpReader) backlog() bool {
	if r.g.queued != nil {
		return r.g.queued() != 0
	}
	if r.g.raw == nil {
		return true // unknown: hand on, as readers on a shared socket would
	}
	r.queued = 0
	if r.g.raw.Control(r.probe) != nil {
		return true
	}
	return r.queued != 0
}
