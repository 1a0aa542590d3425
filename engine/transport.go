package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/internal/websocket"
	"github.com/kemisip/kemi/kemi"
)

// listener is one bound SIP socket.
type listener struct {
	sock *kemi.Socket
	udp  udpSocket
	tcp  *net.TCPListener
}

// udpSocket is a UDP socket as the transport uses it: a *net.UDPConn, or
// on Linux the same socket read with blocking system calls (see
// blockingUDP).
type udpSocket interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	SetReadDeadline(t time.Time) error
	Close() error
}

// tcpConn is one TCP connection, accepted or opened by us.
type tcpConn struct {
	id     uint64
	c      net.Conn
	sock   *kemi.Socket // the local listener it belongs to
	remote netip.AddrPort
	// accepted is set for connections accepted from remote (not
	// dialled), which count against Config.TCPAcceptIPLimit
	accepted bool
	// aliases are the other addresses it is the connection for
	// (AddTCPAlias), removed with it; under transport.mu
	aliases []netip.AddrPort
	last    atomic.Int64 // unix nanos of the last read or write
	closed  atomic.Bool
	// tls is set for a TLS connection (c is then a *tls.Conn)
	tls *tlsSession
	// ws is set once the connection is upgraded to SIP over WebSocket
	ws atomic.Pointer[wsSession]

	// What the socket did not take at once waits in wq for the
	// connection's flusher, so that no worker waits on a slow reader.
	wmu        sync.Mutex
	wq         [][]byte
	wqBytes    int
	flushing   bool // a flusher runs: only it writes to c
	closeAfter bool // close once the flusher has written wq
}

// transport owns the sockets and TCP connections of an engine.
type transport struct {
	e         *Engine
	listeners []*listener
	socks     []*kemi.Socket // of the listeners, in order; fixed once bound
	nextID    atomic.Uint64

	mu     sync.Mutex
	byID   map[uint64]*tcpConn
	byAddr map[netip.AddrPort]*tcpConn
	perIP  map[netip.Addr]int // accepted connections by source address
	shut   bool               // every socket closed: no new connections

	// maxConns bounds the open connections: Config.TCPMaxConnections,
	// lowered to fit the open file limit (applyConnLimit).
	maxConns int
	warned   [numTCPRefusals]atomic.Int64 // unix nanos of the last warning
	// tlsWarned is when a failed inbound TLS handshake was last warned of
	tlsWarned atomic.Int64
	// ka pings the WebSocket connections and closes silent ones
	ka *websocket.Keepalive

	// hook, when set (by tests), is called by the readers with every
	// datagram, accepted connection (nil bytes) and framed TCP message,
	// before it is handled, and by a connection's flusher with every
	// queued write: tests make it panic to check recovery.
	hook func(site readerSite, b []byte)
	// wrapUDP, when set (by benchmarks, before Start), wraps every UDP
	// socket as it is opened
	wrapUDP func(udpSocket) udpSocket

	// writeTimeout bounds a write to a peer that does not read
	// (tcpSendTimeout; tests change it before the first write)
	writeTimeout time.Duration

	wg       sync.WaitGroup // the TCP readers and accept loops
	closed   atomic.Bool    // reading stopped; set under mu
	stopRead chan struct{}  // closed with closed: readers stop dispatching
	// udpGate is held for reading by a UDP reader from its read to the
	// hand-off of what it read, and for writing by stopReading, which so
	// waits until no UDP reader reads or dispatches (routes they are
	// running go on: the engine waits for those as for the workers')
	udpGate sync.RWMutex
}

// errClosed is the error of sending through a closed transport.
var errClosed = errors.New("transport closed")

func newTransport(e *Engine) *transport {
	return &transport{
		e:        e,
		byID:     map[uint64]*tcpConn{},
		byAddr:   map[netip.AddrPort]*tcpConn{},
		perIP:    map[netip.Addr]int{},
		maxConns: e.cfg.TCPMaxConnections,
		stopRead: make(chan struct{}),

		writeTimeout: tcpSendTimeout,
		ka: &websocket.Keepalive{
			Interval: e.cfg.WSKeepaliveInterval,
			Timeout:  e.cfg.WSPingTimeout,
		},
	}
}

// bind opens every listener of the config, or wraps the inherited ones.
// On error the inherited sockets are closed too: the engine owns them.
func (t *transport) bind() error {
	cfg := t.e.cfg
	t.applyConnLimit()
	if len(cfg.Inherited) > 0 {
		err := t.inherit(cfg.Inherited)
		if err != nil {
			for _, in := range cfg.Inherited {
				if in.Packet != nil {
					in.Packet.Close()
				}
				if in.Stream != nil {
					in.Stream.Close()
				}
			}
		}
		return err
	}
	specs, err := ListenSpecs(cfg.Listen)
	if err != nil {
		return err
	}
	for _, s := range specs {
		pc, ln, err := BindSpec(s)
		if err != nil {
			t.closeListeners()
			return err
		}
		l := &listener{}
		if pc != nil {
			l.sock = socketFor([]ListenSpec{s}, "udp", pc.LocalAddr())
			l.udp = t.wrap(readWithSyscalls(pc.(*net.UDPConn), t.e.log))
		} else {
			l.tcp = ln.(*net.TCPListener)
			l.sock = socketFor([]ListenSpec{s}, s.Proto, ln.Addr()) // tcp, tls, ws or wss
		}
		t.listeners = append(t.listeners, l)
		t.socks = append(t.socks, l.sock)
	}
	return nil
}

// wrap applies wrapUDP to a socket being opened.
func (t *transport) wrap(s udpSocket) udpSocket {
	if t.wrapUDP != nil {
		return t.wrapUDP(s)
	}
	return s
}

// inherit wraps the sockets a supervisor bound.
func (t *transport) inherit(inherited []InheritedSocket) error {
	for _, in := range inherited {
		specs, err := ParseListen(in.Spec)
		if err != nil {
			return fmt.Errorf("engine: inherited socket: %w", err)
		}
		l := &listener{}
		switch {
		case in.Packet != nil:
			uc, ok := in.Packet.(*net.UDPConn)
			if !ok {
				return fmt.Errorf("engine: inherited socket %s is not UDP", in.Spec)
			}
			l.sock = socketFor(specs, "udp", uc.LocalAddr())
			l.udp = t.wrap(readWithSyscalls(uc, t.e.log))
		case in.Stream != nil:
			tl, ok := in.Stream.(*net.TCPListener)
			if !ok {
				return fmt.Errorf("engine: inherited socket %s is not TCP", in.Spec)
			}
			l.tcp = tl
			proto := "tcp"
			if len(specs) == 1 && isStreamOverTCP(specs[0].Proto) {
				proto = specs[0].Proto // tls, ws or wss
			}
			l.sock = socketFor(specs, proto, tl.Addr())
		}
		if l.sock == nil {
			return fmt.Errorf("engine: inherited socket %s does not match its spec", in.Spec)
		}
		t.listeners = append(t.listeners, l)
		t.socks = append(t.socks, l.sock)
	}
	return nil
}

// ListenSpecs parses every listen spec.
func ListenSpecs(listen []string) ([]ListenSpec, error) {
	var out []ListenSpec
	for _, spec := range listen {
		ss, err := ParseListen(spec)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		out = append(out, ss...)
	}
	return out, nil
}

// BindSpec opens the socket of one listen spec.
func BindSpec(s ListenSpec) (net.PacketConn, net.Listener, error) {
	proto := s.Proto
	if isStreamOverTCP(proto) {
		proto = "tcp" // TLS, WS and WSS run over a TCP listener
	}
	network := proto + "4"
	if s.Addr.Addr().Is6() {
		network = proto + "6"
	}
	var lc net.ListenConfig
	if s.Proto == "udp" {
		pc, err := lc.ListenPacket(context.Background(), network, s.Addr.String())
		if err != nil {
			return nil, nil, fmt.Errorf("engine: listen %s: %w", s, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			// a larger receive queue rides out bursts (Kamailio raises it too)
			_ = uc.SetReadBuffer(4 << 20)
			_ = uc.SetWriteBuffer(4 << 20)
		}
		return pc, nil, nil
	}
	ln, err := lc.Listen(context.Background(), network, s.Addr.String())
	if err != nil {
		return nil, nil, fmt.Errorf("engine: listen %s: %w", s, err)
	}
	return nil, ln, nil
}

func socketFor(specs []ListenSpec, proto string, a net.Addr) *kemi.Socket {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return nil
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, s := range specs {
		if s.Proto == proto {
			return &kemi.Socket{Proto: proto, Addr: ap, AdvHost: s.AdvHost, AdvPort: s.AdvPort, Name: s.Name}
		}
	}
	return nil
}

// serve starts the reader goroutines: per UDP socket one reader per
// worker (see udpGroup), per TCP listener its accept loop.
func (t *transport) serve() {
	for _, l := range t.listeners {
		l := l
		if l.udp != nil {
			g := newUDPGroup(l)
			for i := range t.e.workers {
				// in the engine's group, not t.wg: a reader may be routing
				// when reading stops, and Stop waits for that as it waits
				// for the workers (with its deadline)
				t.e.wg.Add(1)
				go func() { defer t.e.wg.Done(); t.readUDP(g, i) }()
			}
			continue
		}
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.acceptTCP(l) }()
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-t.stopRead; cancel() }()
		// pings the WebSocket connections until reading stops; a panic
		// (in a ping's write or a dead peer's close) is counted and the
		// pings go on
		for ctx.Err() == nil {
			t.runKeepalive(ctx)
		}
	}()
}

// runKeepalive runs the WebSocket keepalive until ctx ends or it panics.
func (t *transport) runKeepalive(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			t.e.met.panics[siteWSKeepalive].Inc()
			t.e.log.Error("panic in the websocket keepalive: it goes on",
				"panic", r, "where", readerSiteNames[siteWSKeepalive], "stack", string(debug.Stack()))
			time.Sleep(100 * time.Millisecond) // a panic every round must not spin
		}
	}()
	t.ka.Run(ctx)
}

// readerSite names a goroutine that reads or routes network input, or
// writes to a TCP peer: the where label of kemi_core_panics_total.
type readerSite int

const (
	siteUDPReader readerSite = iota
	siteTCPAcceptor
	siteTCPReader
	siteWorker    // parses and routes what the readers received
	siteTCPWriter // a connection's flusher (flushTCP)
	siteWSKeepalive
	numReaderSites
)

var readerSiteNames = [numReaderSites]string{
	siteUDPReader:   "udp_reader",
	siteTCPAcceptor: "tcp_acceptor",
	siteTCPReader:   "tcp_reader",
	siteWorker:      "worker",
	siteTCPWriter:   "tcp_writer",
	siteWSKeepalive: "ws_keepalive",
}

// recovered logs a panic caught in a network reader, with its stack, and
// counts it. It must be called from the deferred function that recovered.
func (t *transport) recovered(site readerSite, r any, args ...any) {
	t.e.met.panics[site].Inc()
	t.e.log.Error("panic while reading from the network: input lost, reader goes on",
		append(args, "panic", r, "where", readerSiteNames[site], "stack", string(debug.Stack()))...)
}

// readUDP is one reader of a UDP socket, preferring worker prefer for the
// datagrams it routes itself. It waits for the group's read token, reads
// and hands on, until reading stops.
func (t *transport) readUDP(g *udpGroup, prefer int) {
	r := newUDPReader(g, prefer, min(t.e.cfg.MaxMessageSize+1, 65536))
	for {
		if !r.held {
			g.idle.Add(1)
			select {
			case <-g.tok:
				r.held = true
			case <-t.stopRead:
			}
			g.idle.Add(-1)
			if !r.held {
				return
			}
		}
		t0 := time.Now()
		j, w, more := t.readDatagram(r)
		if !more {
			r.handOn(true) // the others see reading stopped too
			return
		}
		t1 := time.Now()
		if w != nil {
			w.serve(j, r) // r is w's runner: what comes next for w queues behind j
		}
		r.noteLoad(t1.Sub(t0), time.Since(t1))
		r.yieldWhenDue(t1)
	}
}

// readDatagram reads one datagram and hands it on (see routeDatagram).
// When the datagram's worker was idle it returns the job and that worker,
// whose runner the caller now is, to route it. more is false once reading
// stopped.
// A panic costs that datagram only.
func (t *transport) readDatagram(r *udpReader) (j job, w *worker, more bool) {
	l := r.g.l
	t.udpGate.RLock()
	defer t.udpGate.RUnlock()
	var src netip.AddrPort
	defer func() {
		if rec := recover(); rec != nil {
			t.recovered(siteUDPReader, rec, "sock", l.sock, "src", src)
			j, w, more = job{}, nil, true
		}
	}()
	if t.closed.Load() {
		return j, nil, false
	}
	buf := r.buf
	n, src, err := l.udp.ReadFromUDPAddrPort(buf)
	if err != nil {
		if errors.Is(err, net.ErrClosed) || t.closed.Load() {
			return j, nil, false
		}
		t.e.log.Warn("udp read error", "sock", l.sock, "err", err)
		time.Sleep(10 * time.Millisecond)
		return j, nil, true
	}
	if max := t.e.cfg.MaxMessageSize; n > max {
		t.e.met.dropped(dropOversized).Inc()
		t.e.log.Debug("dropped oversized datagram", "src", src, "bytes", n, "max", max)
		return j, nil, true
	}
	if t.hook != nil {
		t.hook(siteUDPReader, buf[:n])
	}
	if isKeepalive(buf[:n]) {
		return j, nil, true
	}
	// The buffer is the reader's, reused for the next datagram; the
	// message may be kept past its route (kemi.Msg.Raw, transactions), so
	// it gets its own copy, from datagramBufs (the worker gives it back
	// when nothing kept the message: worker.handle).
	data, pooled := getDatagramBuf(n)
	copy(data, buf[:n])
	j = job{raw: data, pooled: pooled, src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), sock: l.sock, proto: "udp", at: time.Now()}
	return j, t.e.routeDatagram(&j, r.prefer), true
}

func (t *transport) acceptTCP(l *listener) {
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || t.closed.Load() || t.e.draining.Load() {
				return
			}
			t.e.log.Warn("tcp accept error", "sock", l.sock, "err", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !t.accept(l, c) {
			return
		}
	}
}

// accept registers an accepted connection and starts its reader, unless a
// limit refuses it. It returns false once the transport is shut. A panic
// costs that connection only.
func (t *transport) accept(l *listener, c *net.TCPConn) (more bool) {
	defer func() {
		if r := recover(); r != nil {
			c.Close()
			t.recovered(siteTCPAcceptor, r, "sock", l.sock, "remote", c.RemoteAddr())
			more = true
		}
	}()
	if t.hook != nil {
		t.hook(siteTCPAcceptor, nil)
	}
	rap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		c.Close()
		return true
	}
	remote := netip.AddrPortFrom(rap.Addr().Unmap(), rap.Port())
	if l.sock.Proto == "tls" || l.sock.Proto == "wss" {
		// the handshake is the reader's first step: the acceptor never
		// waits on a peer
		tconn, sess := t.tlsServer(c, l.sock)
		_, err = t.addStream(tconn, l.sock, remote, true, sess)
	} else {
		_, err = t.addConn(c, l.sock, remote, true)
	}
	return !errors.Is(err, errClosed)
}

// addConn registers a connection and starts its reader, unless reading
// has stopped. Once the transport is shut it refuses the connection and
// closes it: nothing would ever close it otherwise. Over the connection
// limit, or over the source address's limit for an accepted connection,
// it closes the connection, counts it and returns errTooManyConns or
// errIPLimit.
func (t *transport) addConn(c net.Conn, sock *kemi.Socket, remote netip.AddrPort, accepted bool) (*tcpConn, error) {
	return t.addStream(c, sock, remote, accepted, nil)
}

// addStream is addConn for a TCP connection, sess nil, or a TLS one.
func (t *transport) addStream(c net.Conn, sock *kemi.Socket, remote netip.AddrPort, accepted bool, sess *tlsSession) (*tcpConn, error) {
	return t.addStreamWith(c, sock, remote, accepted, sess, nil)
}

// addStreamWith is addStream calling prep, if not nil, on the connection
// before its reader starts (dialWS sets its WebSocket session so).
func (t *transport) addStreamWith(c net.Conn, sock *kemi.Socket, remote netip.AddrPort, accepted bool, sess *tlsSession, prep func(*tcpConn)) (*tcpConn, error) {
	tc := &tcpConn{id: t.nextID.Add(1), c: c, sock: sock, remote: remote, accepted: accepted, tls: sess}
	if prep != nil {
		prep(tc)
	}
	tc.last.Store(time.Now().UnixNano())
	t.mu.Lock()
	if t.shut {
		t.mu.Unlock()
		c.Close()
		return nil, errClosed
	}
	if limit := t.maxConns; len(t.byID) >= limit {
		t.mu.Unlock()
		// counted before the close, so that a peer that sees the close
		// also sees it counted
		t.refuse(refusedMaxConnections, "tcp connection refused: too many connections", "remote", remote, "max", limit)
		c.Close()
		return nil, errTooManyConns
	}
	if accepted {
		if n := t.perIP[remote.Addr()]; n >= t.e.cfg.TCPAcceptIPLimit {
			t.mu.Unlock()
			t.refuse(refusedIPLimit, "tcp connection refused: too many connections from one address", "remote", remote, "max", t.e.cfg.TCPAcceptIPLimit)
			c.Close()
			return nil, errIPLimit
		}
		t.perIP[remote.Addr()]++
	}
	t.byID[tc.id] = tc
	t.byAddr[remote] = tc
	// under mu, so that stopReading's Wait cannot miss this Add
	read := !t.closed.Load()
	if read {
		t.wg.Add(1)
	}
	t.mu.Unlock()
	t.e.met.tcpConns.Add(1)
	if sess != nil {
		t.e.met.tlsConns.Add(1)
	}
	if read {
		go func() { defer t.wg.Done(); t.readTCP(tc) }()
	}
	return tc, nil
}

func (t *transport) removeConn(tc *tcpConn) {
	if tc.closed.Swap(true) {
		return
	}
	if tc.tls != nil {
		tc.tls.raw.Close()
	} else {
		tc.c.Close()
	}
	t.mu.Lock()
	delete(t.byID, tc.id)
	for _, a := range append(tc.aliases, tc.remote) {
		if t.byAddr[a] == tc {
			delete(t.byAddr, a)
		}
	}
	if tc.accepted {
		ip := tc.remote.Addr()
		if t.perIP[ip] <= 1 {
			delete(t.perIP, ip)
		} else {
			t.perIP[ip]--
		}
	}
	t.mu.Unlock()
	t.e.met.tcpConns.Add(-1)
	if tc.tls != nil {
		t.e.met.tlsConns.Add(-1)
	}
	t.connClosed(tc)
}

// tcpReadChunk is how much one read of a TCP connection takes: its
// reader holds this much for the connection's life, so it is small (most
// messages fit; a larger one takes several reads).
const tcpReadChunk = 4096

// readTCP frames SIP messages out of a TCP stream and dispatches them. A
// connection idle for TCPIdleTimeout (neither read from nor written to) is
// closed, and so is one whose message has not fully arrived
// TCPMsgReadTimeout after its first byte. A framing error or a panic
// closes this connection only.
func (t *transport) readTCP(tc *tcpConn) {
	defer func() {
		if r := recover(); r != nil {
			t.recovered(siteTCPReader, r, "remote", tc.remote)
		}
		// while stopping, workers may still answer on it; close ends it
		if !t.closed.Load() {
			t.removeConn(tc)
		}
	}()
	if tc.tls != nil && tc.tls.server {
		if err := t.handshake(tc.c.(*tls.Conn), tc.tls, tc.remote); err != nil {
			return
		}
	}
	if ws := tc.ws.Load(); ws != nil && !tc.accepted {
		t.readWS(tc, ws.conn, ws.proto) // dialled by KSR.websocket.connect
		return
	}
	if tc.sock != nil && (tc.sock.Proto == "ws" || tc.sock.Proto == "wss") {
		t.serveWS(tc)
		return
	}
	idle := t.e.cfg.TCPIdleTimeout
	msgTimeout := t.e.cfg.TCPMsgReadTimeout
	f := streamFramer{max: t.e.cfg.MaxMessageSize}
	chunk := make([]byte, tcpReadChunk)
	var msgStart time.Time // first byte of the partial message buffered; zero if none
	// an accepted connection may begin with an HTTP request (xhttp.go)
	httpMaybe := tc.accepted
	for {
		deadline := time.Now().Add(idle)
		if !msgStart.IsZero() && msgStart.Add(msgTimeout).Before(deadline) {
			deadline = msgStart.Add(msgTimeout)
		}
		_ = tc.c.SetReadDeadline(deadline)
		if t.closed.Load() {
			return // stopReading may have set its deadline before ours
		}
		n, err := tc.c.Read(chunk)
		if n > 0 {
			now := time.Now()
			tc.last.Store(now.UnixNano())
			f.push(chunk[:n])
			if httpMaybe {
				if isHTTP, known := isHTTPStart(f.buf); known {
					if isHTTP {
						t.serveXHTTP(tc, f.buf)
						return
					}
					httpMaybe = false
				}
			}
			framed := false
			for {
				msg, ferr := f.next()
				if ferr != nil {
					t.e.met.dropped(ferr.reason).Inc()
					t.e.log.Debug("closing tcp connection after bad framing", "remote", tc.remote, "err", ferr)
					return
				}
				if msg == nil {
					break
				}
				framed = true
				t.streamMessage(tc, msg)
			}
			switch {
			case !f.partial():
				msgStart = time.Time{}
			case framed || msgStart.IsZero():
				msgStart = now // a new message began in this read
			}
		}
		if err != nil {
			var ne net.Error
			if t.closed.Load() || !errors.As(err, &ne) || !ne.Timeout() {
				return
			}
			if !msgStart.IsZero() && time.Since(msgStart) >= msgTimeout {
				t.refuse(refusedReadTimeout, "tcp connection closed: message not received in time (tcp_msg_read_timeout)",
					"remote", tc.remote, "timeout", msgTimeout, "buffered", len(f.buf))
				return
			}
			if time.Since(time.Unix(0, tc.last.Load())) < idle {
				continue // written to lately: still in use
			}
			return
		}
	}
}

// streamMessage dispatches a message framed out of a TCP stream, or
// answers a keep-alive.
func (t *transport) streamMessage(tc *tcpConn, msg []byte) {
	if t.hook != nil {
		t.hook(siteTCPReader, msg)
	}
	if !isKeepalive(msg) {
		t.e.dispatch(job{raw: msg, src: tc.remote, sock: tc.sock, proto: tc.proto(), connID: tc.id, at: time.Now()})
		return
	}
	// RFC 5626: answer a double-CRLF ping with a single CRLF
	if bytes.Equal(msg, []byte("\r\n\r\n")) {
		t.writeTCP(tc, []byte("\r\n"))
	}
}

// conn returns the TCP connection with that id or to that address.
func (t *transport) conn(id uint64, addr netip.AddrPort) *tcpConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id != 0 {
		if c := t.byID[id]; c != nil {
			return c
		}
	}
	return t.byAddr[addr]
}

// dial opens a TCP connection to addr from sock's address family.
// Over the connection limit, or once the transport is shut, it fails
// without dialling.
func (t *transport) dial(sock *kemi.Socket, addr netip.AddrPort) (*tcpConn, error) {
	return t.dialDest(&kemi.Dest{Proto: "tcp", Sock: sock, Addr: addr})
}

// dialDest opens a TCP or TLS connection to dst (see dial).
func (t *transport) dialDest(dst *kemi.Dest) (*tcpConn, error) {
	sock, addr := dst.Sock, dst.Addr
	if err := t.mayDial(addr); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	if dst.Proto == "tls" {
		tconn, sess, err := t.dialTLS(c, dst)
		if err != nil {
			c.Close()
			return nil, err
		}
		if err := t.handshake(tconn, sess, addr); err != nil {
			c.Close()
			return nil, err
		}
		return t.addStream(tconn, sock, addr, false, sess)
	}
	return t.addConn(c, sock, addr, false)
}

// mayDial fails when a connection to addr may not be opened: the
// transport is shut or at its connection limit (counted and logged).
func (t *transport) mayDial(addr netip.AddrPort) error {
	t.mu.Lock()
	limit, shut := t.maxConns, t.shut
	full := len(t.byID) >= limit
	t.mu.Unlock()
	if shut {
		return errClosed
	}
	if full {
		t.refuse(refusedMaxConnections, "tcp connection not opened: too many connections", "remote", addr, "max", limit)
		return errTooManyConns
	}
	return nil
}

// send transmits b to dst.
func (t *transport) send(dst *kemi.Dest, b []byte) error {
	switch dst.Proto {
	case "udp":
		l := t.listenerFor(dst.Sock)
		if l == nil || l.udp == nil {
			return fmt.Errorf("no udp socket to send from")
		}
		_, err := l.udp.WriteToUDPAddrPort(b, dst.Addr)
		return err
	case "ws", "wss":
		return t.sendWS(dst, b)
	case "tcp", "tls":
		tc := t.conn(dst.ConnID, dst.Addr)
		if tc != nil && dst.ConnID == 0 && tc.proto() != dst.Proto {
			tc = nil // a connection to that address, of another transport
		}
		if tc == nil {
			if dst.NoConnect {
				return fmt.Errorf("no %s connection to %s and connecting is not allowed", dst.Proto, dst.Addr)
			}
			var err error
			if tc, err = t.dialDest(dst); err != nil {
				return err
			}
		}
		err := t.writeTCP(tc, b)
		if err == nil && dst.Close {
			t.closeAfterWrite(tc)
		}
		return err
	}
	return fmt.Errorf("transport %q is not supported", dst.Proto)
}

func (t *transport) listenerFor(s *kemi.Socket) *listener {
	for _, l := range t.listeners {
		if l.sock == s {
			return l
		}
	}
	return nil
}

// pickSocket chooses the socket to send to addr over proto: prefer, the
// one given, then any with the same protocol and address family.
func (t *transport) pickSocket(proto string, addr netip.Addr, prefer *kemi.Socket) *kemi.Socket {
	if prefer != nil && prefer.Proto == proto && prefer.Addr.Addr().Is4() == addr.Is4() {
		return prefer
	}
	var any *kemi.Socket
	for _, l := range t.listeners {
		s := l.sock
		if s.Proto != proto {
			continue
		}
		if s.Addr.Addr().Is4() == addr.Is4() || s.Addr.Addr().IsUnspecified() && s.Addr.Addr().Is6() {
			if s.Addr.Addr().IsLoopback() == addr.IsLoopback() {
				return s
			}
			if any == nil {
				any = s
			}
		}
	}
	return any
}

// stopReading stops the readers and waits for them; the sockets and
// connections stay open so that workers can still send what they finish.
func (t *transport) stopReading() {
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		return
	}
	t.closed.Store(true)
	close(t.stopRead)
	conns := t.connsLocked()
	t.mu.Unlock()
	now := time.Now()
	for _, l := range t.listeners {
		if l.tcp != nil {
			l.tcp.Close()
		}
		if l.udp != nil {
			_ = l.udp.SetReadDeadline(now)
		}
	}
	for _, c := range conns {
		_ = c.c.SetReadDeadline(now)
	}
	// an empty section: it waits until no UDP reader reads or dispatches
	t.udpGate.Lock()
	t.udpGate.Unlock()
	t.wg.Wait()
}

// close stops the readers and closes every socket and connection; later
// connections are refused. It can be called more than once.
func (t *transport) close() {
	t.stopReading()
	t.mu.Lock()
	if t.shut {
		t.mu.Unlock()
		return
	}
	t.shut = true
	conns := t.connsLocked()
	t.mu.Unlock()
	t.closeListeners()
	for _, c := range conns {
		t.removeConn(c)
	}
}

func (t *transport) connsLocked() []*tcpConn {
	conns := make([]*tcpConn, 0, len(t.byID))
	for _, c := range t.byID {
		conns = append(conns, c)
	}
	return conns
}

// stopAccepting closes the TCP listeners: no new connections while
// draining; open connections and UDP go on.
func (t *transport) stopAccepting() {
	for _, l := range t.listeners {
		if l.tcp != nil {
			l.tcp.Close()
		}
	}
}

func (t *transport) closeListeners() {
	for _, l := range t.listeners {
		if l.udp != nil {
			l.udp.Close()
		}
		if l.tcp != nil {
			l.tcp.Close()
		}
	}
}
