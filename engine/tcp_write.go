package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"syscall"
	"time"
)

// A worker never waits on a TCP peer: a write gives the socket what it
// takes at once, and the rest waits in the connection's queue for a
// flusher goroutine that writes it in order. A peer that does not read
// what is sent to it (the queue would pass writeQueueMax, or a queued
// write takes longer than the send timeout) has its connection closed,
// as Kamailio's async TCP writes do.

// tcpSendTimeout bounds one write to a TCP peer.
const tcpSendTimeout = 5 * time.Second

// tcpConnWriteQueueMax is Kamailio's tcp_conn_wq_max default: the bytes
// that may wait for a peer that reads slower than it is sent to.
const tcpConnWriteQueueMax = 32 << 10

// writeNow writes what c's socket takes of b without waiting and returns
// how much that was. A connection that is no socket takes nothing here:
// its writes all go through the queue.
func writeNow(c net.Conn, b []byte) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := syscall.Write(int(fd), b[n:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // full: the rest goes to the queue
			case err != nil:
				werr = err
				return true
			case m <= 0:
				return true
			}
			n += m
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, fmt.Errorf("write: %w", err)
	}
	return n, nil
}

// writeTCP sends b on tc without waiting for a peer that reads slowly:
// what the socket does not take at once is queued (copied) for the
// connection's flusher. A queue that would grow past writeQueueMax, like
// a write error, closes the connection.
func (t *transport) writeTCP(tc *tcpConn, b []byte) error {
	tc.wmu.Lock()
	if !tc.flushing {
		n, err := writeNow(tc.c, b)
		if err != nil {
			tc.wmu.Unlock()
			t.removeConn(tc)
			return err
		}
		tc.last.Store(time.Now().UnixNano())
		if b = b[n:]; len(b) == 0 {
			tc.wmu.Unlock()
			return nil
		}
	}
	if limit := t.writeQueueMax(); tc.wqBytes+len(b) > limit {
		queued := tc.wqBytes
		tc.wmu.Unlock()
		t.refuse(refusedSlowReader, "tcp connection closed: the peer does not read what is sent to it",
			"remote", tc.remote, "queued", queued, "max", limit)
		t.removeConn(tc) // after counting: a peer that sees the close sees it counted
		return errSlowReader
	}
	tc.wq = append(tc.wq, bytes.Clone(b))
	tc.wqBytes += len(b)
	if !tc.flushing {
		tc.flushing = true
		go t.flushTCP(tc)
	}
	tc.wmu.Unlock()
	return nil
}

// writeQueueMax bounds the bytes queued for one connection: Kamailio's
// tcp_conn_wq_max default, or one message of the largest size.
func (t *transport) writeQueueMax() int {
	return max(tcpConnWriteQueueMax, t.e.cfg.MaxMessageSize)
}

// flushTCP writes tc's queue in order, each write bounded by
// writeTimeout, then ends; a peer that takes longer has its connection
// closed. A panic closes this connection only: the flusher is a goroutine
// of its own, and an unrecovered panic would end the process.
func (t *transport) flushTCP(tc *tcpConn) {
	defer func() {
		if r := recover(); r != nil {
			// what was queued goes with the connection, which is no
			// longer found by its id or address
			t.removeConn(tc)
			t.e.met.panics[siteTCPWriter].Inc()
			t.e.log.Error("panic while writing to a tcp connection: connection closed",
				"panic", r, "where", readerSiteNames[siteTCPWriter], "remote", tc.remote, "stack", string(debug.Stack()))
		}
	}()
	for {
		tc.wmu.Lock()
		if len(tc.wq) == 0 {
			// writeNow does not wait: it must not meet an old deadline
			_ = tc.c.SetWriteDeadline(time.Time{})
			tc.flushing = false
			closeNow := tc.closeAfter
			tc.wmu.Unlock()
			if closeNow {
				t.removeConn(tc)
			}
			return
		}
		b := tc.wq[0]
		tc.wq[0] = nil
		tc.wq = tc.wq[1:]
		tc.wmu.Unlock()
		if t.hook != nil {
			t.hook(siteTCPWriter, b)
		}
		_ = tc.c.SetWriteDeadline(time.Now().Add(t.writeTimeout))
		_, err := tc.c.Write(b)
		tc.wmu.Lock()
		tc.wqBytes -= len(b)
		if err != nil {
			tc.wq, tc.wqBytes, tc.flushing = nil, 0, false
		}
		tc.wmu.Unlock()
		if err != nil {
			t.e.met.sendErrs.Inc()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.refuse(refusedSlowReader, "tcp connection closed: the peer does not read what is sent to it",
					"remote", tc.remote, "timeout", t.writeTimeout)
			} else {
				t.e.log.Debug("tcp write failed", "remote", tc.remote, "err", err)
			}
			t.removeConn(tc)
			return
		}
		tc.last.Store(time.Now().UnixNano())
	}
}

// closeAfterWrite closes tc once what is queued for it is written.
func (t *transport) closeAfterWrite(tc *tcpConn) {
	tc.wmu.Lock()
	if tc.flushing {
		tc.closeAfter = true
		tc.wmu.Unlock()
		return
	}
	tc.wmu.Unlock()
	t.removeConn(tc)
}
