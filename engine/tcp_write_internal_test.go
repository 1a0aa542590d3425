package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi/kemitest"
)

// dialPeer opens a connection from e's transport to a local peer and
// returns both ends; the peer end reads nothing unless the test does. The
// engine's end has a small send buffer, so that writes stall soon, and
// the peer's a small receive buffer if smallPeer (loopback TCP with both
// small is slow to drain).
func dialPeer(t *testing.T, e *Engine, smallPeer bool) (*tcpConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tc, err := e.tp.dial(nil, netip.MustParseAddrPort(ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if smallPeer {
		_ = peer.(*net.TCPConn).SetReadBuffer(4096)
	}
	_ = tc.c.(*net.TCPConn).SetWriteBuffer(4096)
	return tc, peer
}

// TestSlowReaderDoesNotBlockWriters: a worker answering a peer that does
// not read waited for the write timeout (5 s) on every reply once the
// kernel's buffers were full, so a few such peers stalled every worker.
// Now a write queues what the socket does not take at once, and a
// connection whose queue grows past its bound is closed and counted.
func TestSlowReaderDoesNotBlockWriters(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	e.tp.writeTimeout = time.Minute // far longer than the test waits
	defer e.tp.close()
	tc, _ := dialPeer(t, e, true)

	msg := bytes.Repeat([]byte("x"), 16<<10)
	done := make(chan error, 1)
	go func() {
		// 16 MiB: more than the kernel's buffers and the queue hold
		for i := 0; i < 1024; i++ {
			if err := e.tp.writeTCP(tc, msg); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errSlowReader) {
			t.Fatalf("writes to a peer that does not read: %v, want errSlowReader", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a write to a peer that does not read blocked its writer")
	}
	if v := e.met.tcpRefused[refusedSlowReader].Get(); v != 1 {
		t.Errorf("refused slow_reader = %d, want 1", v)
	}
	if c := e.tp.conn(tc.id, tc.remote); c != nil {
		t.Errorf("the stalled connection is still open")
	}
}

// TestQueuedWritesKeepOrderAndCloseAfter: what waits in the queue reaches
// a peer that reads late whole and in order, and a close asked for after
// the last write (Dest.Close) comes after it.
func TestQueuedWritesKeepOrderAndCloseAfter(t *testing.T) {
	e := newEngine(Config{Workers: 1, MaxMessageSize: 4 << 20}.withDefaults())
	defer e.tp.close()
	tc, peer := dialPeer(t, e, false)

	var want bytes.Buffer
	for i := 0; i < 128; i++ { // 2 MiB: more than the kernel's buffers hold
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10)
		want.Write(msg)
		if err := e.tp.writeTCP(tc, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	tc.wmu.Lock()
	queued := tc.flushing
	tc.wmu.Unlock()
	if !queued {
		t.Fatal("nothing was queued: the test does not test the queue")
	}
	e.tp.closeAfterWrite(tc)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer) // up to the close
	if err != nil {
		t.Fatalf("read: %v (after %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer got %d bytes, not the %d written in order", len(got), want.Len())
	}
	if c := e.tp.conn(tc.id, tc.remote); c != nil {
		t.Errorf("the connection is still registered after its close")
	}
}

// TestWriterPanicIsRecovered: a panic in a connection's flusher, a
// goroutine of its own, took the whole process down. Now it is logged
// with its stack and counted, and costs that connection only.
func TestWriterPanicIsRecovered(t *testing.T) {
	logs := &kemitest.LogBuffer{}
	e := newEngine(Config{Workers: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))}.withDefaults())
	e.tp.hook = func(site readerSite, b []byte) {
		if site == siteTCPWriter {
			panic("test: tcp writer")
		}
	}
	defer e.tp.close()
	tc, _ := dialPeer(t, e, true)
	msg := bytes.Repeat([]byte("x"), 16<<10)
	for i := 0; i < 64; i++ { // until the flusher has something to write
		if err := e.tp.writeTCP(tc, msg); err != nil {
			break
		}
		tc.wmu.Lock()
		queued := tc.flushing
		tc.wmu.Unlock()
		if queued {
			break
		}
	}
	if n := waitCount(e.met.panics[siteTCPWriter].Get, 1); n != 1 {
		t.Fatalf("tcp writer panics = %d, want 1", n)
	}
	if c := e.tp.conn(tc.id, tc.remote); c != nil {
		t.Errorf("the connection whose flusher panicked is still open")
	}
	for _, want := range []string{"level=ERROR", "where=tcp_writer", "test: tcp writer", "tcp_write_internal_test.go"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}
