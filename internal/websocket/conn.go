package websocket

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Default limits of a [Config] left at zero.
const (
	// DefaultMaxMessageSize is the engine's default largest SIP message
	// (Kamailio's BUF_SIZE).
	DefaultMaxMessageSize = 65535
	// DefaultMaxFragments bounds the frames one message may come in.
	DefaultMaxFragments = 64
)

// readChunk is the most a payload buffer grows by before the bytes to
// fill it have arrived, so a peer announcing a large frame and sending
// it slowly holds memory in proportion to what it sent.
const readChunk = 16 << 10

// Config holds a connection's limits. The zero value takes the defaults.
type Config struct {
	// MaxMessageSize is the largest message accepted, all fragments
	// together; a larger one closes the connection with 1009.
	MaxMessageSize int
	// MaxFragments is the most frames a message may come in; more
	// closes the connection with 1009 (a message fragmented forever).
	MaxFragments int
	// WriteTimeout, when set, bounds each write on a connection that has
	// SetWriteDeadline (a net.Conn). Without it a write to a peer that
	// reads nothing blocks, and the pongs and close replies the reader
	// sends wait behind it.
	WriteTimeout time.Duration
	// Reader, when set, is read instead of the connection itself (a
	// bufio.Reader for throughput, at the cost of its buffer while idle).
	Reader io.Reader
}

// Conn is one side of a WebSocket connection whose opening handshake is
// done. One goroutine reads ([Conn.ReadMessage]); any number may write.
//
// A Conn holds no buffer while idle: the frame header is read into a
// 14-byte array inside it, a payload into the caller's buffer, grown as
// bytes arrive. Reads are unbuffered unless Config.Reader says otherwise,
// so a frame costs two reads on the socket (header, then payload).
type Conn struct {
	rw           io.ReadWriter
	r            io.Reader
	server       bool
	maxMsg       int
	maxFrags     int
	writeTimeout time.Duration

	// Reader state, owned by the reading goroutine.
	pending []byte          // bytes read past the handshake, read first
	hbuf    [maxHeader]byte // frame header bytes, and possibly payload after them
	hr, hw  int             // unread part of hbuf
	ctrl    [maxControl]byte
	rerr    error // sticky: the CloseError that ended reading

	// Writer state.
	wmu       sync.Mutex
	closeSent bool  // a close frame was written: no more frames
	werr      error // sticky write error

	// Keepalive state, in Unix nanoseconds.
	lastRead atomic.Int64 // a frame arrived
	pingAt   atomic.Int64 // a ping is waiting for its pong, 0 none
	timedOut atomic.Bool  // closed by the keepalive
}

// NewServer returns the server side of conn. pending holds the bytes
// read from conn after the upgrade request, if any (they are the first
// frames); it is read, not copied.
func NewServer(conn io.ReadWriter, pending []byte, cfg Config) *Conn {
	return newConn(conn, pending, cfg, true)
}

// NewClient returns the client side of conn; pending as for [NewServer],
// usually the rest returned by [ClientHandshake].
func NewClient(conn io.ReadWriter, pending []byte, cfg Config) *Conn {
	return newConn(conn, pending, cfg, false)
}

func newConn(conn io.ReadWriter, pending []byte, cfg Config, server bool) *Conn {
	c := &Conn{
		rw:           conn,
		r:            cfg.Reader,
		server:       server,
		maxMsg:       cfg.MaxMessageSize,
		maxFrags:     cfg.MaxFragments,
		writeTimeout: cfg.WriteTimeout,
		pending:      pending,
	}
	if c.r == nil {
		c.r = conn
	}
	if c.maxMsg <= 0 {
		c.maxMsg = DefaultMaxMessageSize
	}
	if c.maxFrags <= 0 {
		c.maxFrags = DefaultMaxFragments
	}
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// IsServer reports whether c is the server side.
func (c *Conn) IsServer() bool { return c.server }

// ReadMessage reads the next whole message, OpText or OpBinary, appending
// its payload to buf[:0]. Fragments are joined; pings are answered with
// pongs, pongs noted, between them. It returns a *CloseError when the
// connection ends: the peer's close (answered), a violation (a close
// frame with its code was sent; Err tells which), or a read error (Code
// CloseAbnormal). Once it has returned an error it returns the same
// error again; the caller then closes the socket.
func (c *Conn) ReadMessage(buf []byte) (Opcode, []byte, error) {
	if c.rerr != nil {
		return 0, buf[:0], c.rerr
	}
	msg := buf[:0]
	var op Opcode // the message's opcode, 0 until its first frame
	frags := 0
	checked := 0 // bytes of a text message known to be UTF-8
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, msg, c.fail(err)
		}
		if err := c.checkHeader(h); err != nil {
			return 0, msg, c.fail(err)
		}
		if h.op.isControl() {
			p, err := c.readPayload(c.ctrl[:0], h)
			if err != nil {
				return 0, msg, c.fail(err)
			}
			if err := c.control(h.op, p); err != nil {
				return 0, msg, err
			}
			continue
		}
		switch {
		case h.op == OpContinuation && op == 0, h.op != OpContinuation && op != 0:
			return 0, msg, c.fail(ErrBadContinuation)
		case h.op != OpContinuation:
			op = h.op
		}
		if frags++; frags > c.maxFrags {
			return 0, msg, c.fail(ErrTooManyFragments)
		}
		if h.length > uint64(c.maxMsg-len(msg)) {
			return 0, msg, c.fail(ErrMessageTooBig)
		}
		if msg, err = c.readPayload(msg, h); err != nil {
			return 0, msg, c.fail(err)
		}
		if op == OpText {
			// Each fragment as it arrives: a bad text fails at once.
			n, ok := validUTF8Prefix(msg[checked:], h.fin)
			if !ok {
				return 0, msg, c.fail(ErrInvalidUTF8)
			}
			checked += n
		}
		if h.fin {
			return op, msg, nil
		}
	}
}

// validUTF8Prefix reports whether b is UTF-8, allowing, when it is not
// final, an incomplete character at its end; n is how many bytes are
// whole characters.
func validUTF8Prefix(b []byte, final bool) (n int, ok bool) {
	if utf8.Valid(b) {
		return len(b), true
	}
	for n < len(b) {
		r, size := utf8.DecodeRune(b[n:])
		if r == utf8.RuneError && size == 1 {
			// The start of a character cut by the fragment's end waits
			// for the next fragment.
			return n, !final && len(b)-n < utf8.UTFMax && !utf8.FullRune(b[n:])
		}
		n += size
	}
	return n, true
}

// checkHeader applies the rules of RFC 6455 §5 that depend on the side.
func (c *Conn) checkHeader(h frameHeader) error {
	if h.rsv != 0 {
		return ErrReservedBits
	}
	switch h.op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return ErrBadOpcode
	}
	if h.masked != c.server {
		return ErrMasking
	}
	if h.op.isControl() && (!h.fin || h.length > maxControl) {
		return ErrControlFrame
	}
	return nil
}

// control handles a ping, pong or close read between message frames. It
// returns the CloseError that ends reading after a close.
func (c *Conn) control(op Opcode, p []byte) error {
	switch op {
	case OpPing:
		// A write error here shows up on the next read or write.
		_ = c.writeFrame(OpPong, p)
	case OpPong:
		c.pingAt.Store(0)
	case OpClose:
		code, reason := CloseNoStatus, ""
		switch {
		case len(p) == 1:
			return c.fail(ErrBadClosePayload)
		case len(p) >= 2:
			code = int(p[0])<<8 | int(p[1])
			if !validCloseCode(code) {
				return c.fail(ErrBadClosePayload)
			}
			if !utf8.Valid(p[2:]) {
				return c.fail(ErrInvalidUTF8)
			}
			reason = string(p[2:])
		}
		reply := code
		if reply == CloseNoStatus {
			reply = CloseNormal
		}
		_ = c.WriteClose(reply, "")
		c.rerr = &CloseError{Code: code, Reason: reason, Remote: true}
		return c.rerr
	}
	return nil
}

// fail ends reading because of err: a violation is answered with a close
// frame carrying its code, a read error ends with CloseAbnormal.
func (c *Conn) fail(err error) error {
	code := CloseProtocolError
	switch {
	case errors.Is(err, ErrMessageTooBig), errors.Is(err, ErrTooManyFragments):
		code = CloseMessageTooBig
	case errors.Is(err, ErrInvalidUTF8):
		code = CloseInvalidPayload
	case isViolation(err):
	default:
		if c.timedOut.Load() {
			err = ErrPingTimeout
		}
		c.rerr = &CloseError{Code: CloseAbnormal, Err: err}
		return c.rerr
	}
	_ = c.WriteClose(code, "")
	c.rerr = &CloseError{Code: code, Err: err}
	return c.rerr
}

func isViolation(err error) bool {
	for _, v := range [...]error{ErrMasking, ErrReservedBits, ErrBadOpcode, ErrControlFrame,
		ErrBadLength, ErrBadContinuation, ErrBadClosePayload} {
		if err == v {
			return true
		}
	}
	return false
}

// readHeader reads one frame header.
func (c *Conn) readHeader() (frameHeader, error) {
	if err := c.fill(2); err != nil {
		return frameHeader{}, err
	}
	n := headerSize(c.hbuf[c.hr+1])
	if err := c.fill(n); err != nil {
		return frameHeader{}, unexpected(err)
	}
	h, err := parseHeader(c.hbuf[c.hr : c.hr+n])
	c.hr += n
	c.lastRead.Store(time.Now().UnixNano())
	return h, err
}

// fill makes sure hbuf holds n unread bytes (n <= maxHeader).
func (c *Conn) fill(n int) error {
	if c.hw-c.hr >= n {
		return nil
	}
	if c.hr > 0 {
		c.hw = copy(c.hbuf[:], c.hbuf[c.hr:c.hw])
		c.hr = 0
	}
	for c.hw < n {
		m, err := c.read(c.hbuf[c.hw:])
		c.hw += m
		if c.hw >= n {
			return nil
		}
		if err != nil {
			if err == io.EOF && c.hw > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// read reads the pending bytes first, then the connection.
func (c *Conn) read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil // let the caller's buffer go
		}
		return n, nil
	}
	return c.r.Read(p)
}

// readPayload appends h's payload to dst, unmasked, growing dst only as
// the bytes arrive.
func (c *Conn) readPayload(dst []byte, h frameHeader) ([]byte, error) {
	start := len(dst)
	remaining := int(h.length) // the caller checked it against the limits
	if k := min(remaining, c.hw-c.hr); k > 0 {
		dst = append(dst, c.hbuf[c.hr:c.hr+k]...)
		c.hr += k
		remaining -= k
	}
	for remaining > 0 {
		if cap(dst) == len(dst) {
			dst = slices.Grow(dst, min(remaining, max(readChunk, cap(dst))))
		}
		k := min(remaining, cap(dst)-len(dst))
		m, err := c.read(dst[len(dst) : len(dst)+k])
		dst = dst[:len(dst)+m]
		remaining -= m
		if err != nil && remaining > 0 {
			return dst, unexpected(err)
		}
	}
	if h.masked {
		maskBytes(dst[start:], h.mask, 0)
	}
	return dst, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteMessage writes p as one frame, op OpText or OpBinary, masked on
// the client side. It is safe for concurrent use; frames never interleave.
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	if op != OpText && op != OpBinary {
		return errors.New("websocket: WriteMessage wants OpText or OpBinary, not " + op.String())
	}
	return c.writeFrame(op, p)
}

// WritePing writes a ping with payload p (at most 125 bytes).
func (c *Conn) WritePing(p []byte) error {
	if len(p) > maxControl {
		return ErrControlFrame
	}
	return c.writeFrame(OpPing, p)
}

// WritePong writes an unsolicited pong with payload p (at most 125
// bytes), a one-way heartbeat.
func (c *Conn) WritePong(p []byte) error {
	if len(p) > maxControl {
		return ErrControlFrame
	}
	return c.writeFrame(OpPong, p)
}

// WriteClose writes a close frame with code and reason (at most 123
// bytes) and lets no frame follow it. It does not close the socket: the
// reader goes on until the peer's close arrives.
func (c *Conn) WriteClose(code int, reason string) error {
	if len(reason) > maxControl-2 {
		return ErrControlFrame
	}
	var p [maxControl]byte
	p[0], p[1] = byte(code>>8), byte(code)
	n := 2 + copy(p[2:], reason)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrClosed
	}
	c.closeSent = true
	return c.writeLocked(OpClose, p[:n], 0)
}

// Close writes a normal close frame if none was written and the socket
// takes it at once, and closes the connection when it is an io.Closer.
// The reader then ends with an error.
func (c *Conn) Close() error {
	c.closeFrameNow(CloseNormal, closeFrameWait)
	if cl, ok := c.rw.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// closeFrameWait bounds the write of the close frame that Close and
// CloseLingering send before closing the socket.
const closeFrameWait = 100 * time.Millisecond

// closeFrameNow writes a close frame with code unless one was written, a
// write failed, or a writer holds the connection (a peer that reads
// nothing must not keep the socket open). The write waits at most wait on
// a socket with deadlines.
func (c *Conn) closeFrameNow(code int, wait time.Duration) {
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	if c.closeSent || c.werr != nil {
		return
	}
	c.closeSent = true
	p := [2]byte{byte(code >> 8), byte(code)}
	_ = c.writeLocked(OpClose, p[:], wait)
}

func (c *Conn) writeFrame(op Opcode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return ErrClosed
	}
	return c.writeLocked(op, p, 0)
}

// frameBufs keeps the buffers frames are built in between writes.
var frameBufs = sync.Pool{New: func() any { return new([]byte) }}

// writeLocked writes one frame; c.wmu is held. The write waits at most
// wait, or Config.WriteTimeout when wait is 0, on a socket with deadlines.
func (c *Conn) writeLocked(op Opcode, p []byte, wait time.Duration) error {
	if c.werr != nil {
		return c.werr
	}
	var mask *[4]byte
	if !c.server {
		var k [4]byte
		r := rand.Uint32()
		k[0], k[1], k[2], k[3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
		mask = &k
	}
	bp := frameBufs.Get().(*[]byte)
	b := AppendFrame((*bp)[:0], true, op, mask, p)
	if wait == 0 {
		wait = c.writeTimeout
	}
	if wait > 0 {
		if d, ok := c.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
			_ = d.SetWriteDeadline(time.Now().Add(wait))
		}
	}
	_, err := c.rw.Write(b)
	if cap(b) <= 4*DefaultMaxMessageSize {
		*bp = b
		frameBufs.Put(bp)
	}
	if err != nil {
		c.werr = &CloseError{Code: CloseAbnormal, Err: err}
		return c.werr
	}
	return nil
}

// CloseLingering ends the connection after its reader stopped: it writes
// a normal close frame if none was written, shuts the sending side of the
// socket (when it has CloseWrite, as *net.TCPConn and *tls.Conn do),
// discards what the peer still sends until it closes or d passes, then
// closes the socket. Closing at once with unread bytes makes the kernel
// send a reset, which can destroy the close frame before the peer reads
// it; lingering lets the peer see why it was closed (1009, 1002...).
// It blocks for up to d.
func (c *Conn) CloseLingering(d time.Duration) error {
	c.closeFrameNow(CloseNormal, closeFrameWait)
	if cw, ok := c.rw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if rd, ok := c.rw.(interface{ SetReadDeadline(time.Time) error }); ok && d > 0 {
		_ = rd.SetReadDeadline(time.Now().Add(d))
		var b [512]byte
		for {
			if _, err := c.read(b[:]); err != nil {
				break
			}
		}
	}
	if cl, ok := c.rw.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
