package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// serve accepts one connection on ln, does the server handshake for
// "sip" and hands the Conn to fn.
func serve(t *testing.T, ln net.Listener, cfg Config, fn func(*Conn)) {
	t.Helper()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		req, rest, err := ReadRequest(nc, 0)
		if err != nil {
			t.Errorf("server: %v", err)
			return
		}
		u, err := CheckUpgrade(req, []string{"sip"})
		if err != nil {
			_, _ = nc.Write(AppendReject(nil, err))
			t.Errorf("server: %v", err)
			return
		}
		if _, err := nc.Write(AppendAccept(nil, u, nil)); err != nil {
			t.Errorf("server: %v", err)
			return
		}
		fn(NewServer(nc, rest, cfg))
	}()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dial(t *testing.T, ln net.Listener, cfg Config) *Conn {
	t.Helper()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	proto, rest, err := ClientHandshake(nc, ClientOptions{Host: ln.Addr().String(), Protocols: []string{"sip"}})
	if err != nil || proto != "sip" {
		t.Fatalf("client handshake: %q %v", proto, err)
	}
	return NewClient(nc, rest, cfg)
}

// Client and server over loopback TCP: each side writes from several
// goroutines at once while the server echoes what it reads; every
// message arrives whole, then the client closes.
func TestLoopbackConcurrent(t *testing.T) {
	const writers, perWriter = 4, 50
	ln := listen(t)
	cfg := Config{MaxMessageSize: 1 << 20, WriteTimeout: 5 * time.Second}
	serverDone := make(chan error, 1)
	serve(t, ln, cfg, func(c *Conn) {
		wg := writeAll(t, c, OpBinary, "server", writers, perWriter)
		var buf []byte
		for {
			op, msg, err := c.ReadMessage(buf)
			if err != nil {
				wg.Wait()
				serverDone <- err
				return
			}
			buf = msg
			if err := c.WriteMessage(op, append([]byte("echo:"), msg...)); err != nil {
				t.Errorf("server echo: %v", err)
			}
		}
	})

	c := dial(t, ln, cfg)
	wg := writeAll(t, c, OpText, "client", writers, perWriter)
	var got []string
	for len(got) < 2*writers*perWriter {
		_, msg, err := c.ReadMessage(nil)
		if err != nil {
			t.Fatalf("client read after %d: %v", len(got), err)
		}
		got = append(got, string(msg))
	}
	wg.Wait()
	var want []string
	for w := range writers {
		for i := range perWriter {
			want = append(want, string(payload("server", w, i)), "echo:"+string(payload("client", w, i)))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages differ: got %d, want %d", len(got), len(want))
	}

	if err := c.WriteClose(CloseNormal, "done"); err != nil {
		t.Fatal(err)
	}
	var ce *CloseError
	if _, _, err := c.ReadMessage(nil); !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseNormal {
		t.Errorf("client end: %v", err)
	}
	select {
	case err := <-serverDone:
		if !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseNormal || ce.Reason != "done" {
			t.Errorf("server end: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not end")
	}
}

// writeAll writes perWriter messages from each of writers goroutines.
func writeAll(t *testing.T, c *Conn, op Opcode, who string, writers, perWriter int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := c.WriteMessage(op, payload(who, w, i)); err != nil {
					t.Errorf("%s write: %v", who, err)
					return
				}
			}
		})
	}
	return &wg
}

// payload is a message of a size depending on i (up to 20 KB, so all
// three length encodings are used), text that says who wrote it.
func payload(who string, w, i int) []byte {
	head := fmt.Sprintf("%s-%d-%d:", who, w, i)
	n := (i * 419) % 20000
	return append([]byte(head), bytes.Repeat([]byte{'a' + byte(i%26)}, n)...)
}

func TestKeepalive(t *testing.T) {
	t.Run("answering peer stays", func(t *testing.T) {
		ln := listen(t)
		// Without its pongs noted, the first ping would time out within
		// the 600 ms below.
		ka := &Keepalive{Interval: 30 * time.Millisecond, Timeout: 300 * time.Millisecond}
		ended := make(chan error, 1)
		var sc *Conn
		ready := make(chan struct{})
		serve(t, ln, Config{}, func(c *Conn) {
			sc = c
			ka.Add(c)
			close(ready)
			_, _, err := c.ReadMessage(nil)
			ended <- err
		})
		c := dial(t, ln, Config{})
		go func() { _, _, _ = c.ReadMessage(nil) }() // answers pings
		<-ready
		pings := 0
		for range 30 {
			time.Sleep(20 * time.Millisecond)
			p, closed := ka.Tick(time.Now())
			pings += p
			if closed != 0 {
				t.Fatal("answering peer closed by keepalive")
			}
		}
		if pings < 3 {
			t.Errorf("%d pings in 600 ms at 30 ms idle", pings)
		}
		if ka.Len() != 1 {
			t.Errorf("Len = %d", ka.Len())
		}
		_ = sc.Close()
		<-ended
	})
	t.Run("silent peer closed", func(t *testing.T) {
		ln := listen(t)
		var timedOut sync.WaitGroup
		timedOut.Add(1)
		ka := &Keepalive{Interval: 20 * time.Millisecond, Timeout: 60 * time.Millisecond,
			OnTimeout: func(*Conn) { timedOut.Done() }}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go ka.Run(ctx)
		ended := make(chan error, 1)
		serve(t, ln, Config{}, func(c *Conn) {
			ka.Add(c)
			_, _, err := c.ReadMessage(nil)
			ended <- err
		})
		// A client that does the handshake and then reads nothing.
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, _, err := ClientHandshake(nc, ClientOptions{Host: "h", Protocols: []string{"sip"}}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		select {
		case err := <-ended:
			var ce *CloseError
			if !errors.Is(err, ErrPingTimeout) || !errors.As(err, &ce) || ce.Code != CloseAbnormal {
				t.Errorf("reader ended with %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("closed after %v", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("silent peer not closed")
		}
		timedOut.Wait()
		if ka.Len() != 0 {
			t.Errorf("Len = %d after timeout", ka.Len())
		}
		// The peer saw a ping, then a close 1001, then the end.
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		seen, _ := io.ReadAll(nc)
		if !bytes.HasPrefix(seen, []byte{0x89, 0x00}) || !bytes.Contains(seen, []byte{0x88, 0x02, 0x03, 0xe9}) {
			t.Errorf("peer saw %x", seen)
		}
	})
}

// blockReader blocks until closed, as an idle socket does.
type blockReader struct{ done chan struct{} }

func (b blockReader) Read([]byte) (int, error)    { <-b.done; return 0, io.EOF }
func (b blockReader) Write(p []byte) (int, error) { return len(p), nil }

// TestIdleCost measures what 1 000 idle connections hold (the Conn and
// the goroutine blocked in ReadMessage, no buffer) and what keepalive
// ticks over them cost.
func TestIdleCost(t *testing.T) {
	const n = 1000
	done := make(chan struct{})
	var wg sync.WaitGroup
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = NewServer(blockReader{done}, nil, Config{})
		wg.Go(func() { _, _, _ = conns[i].ReadMessage(nil) })
	}
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("idle connection: Conn %d bytes, heap %d bytes, reading goroutine stack %d bytes", unsafe.Sizeof(Conn{}), heap, stack)
	if heap > 1024 {
		t.Errorf("idle connection holds %d bytes of heap", heap)
	}

	// One keepalive goroutine for all of them: a tick that pings them
	// all, one that finds every ping waiting, one that ends them all.
	ka := &Keepalive{Interval: time.Minute, Timeout: time.Minute}
	for _, c := range conns {
		ka.Add(c)
	}
	now := time.Now()
	for _, step := range []struct {
		at             time.Time
		pinged, closed int
	}{
		{now.Add(time.Minute), n, 0},
		{now.Add(90 * time.Second), 0, 0},
		{now.Add(2 * time.Minute), 0, n},
	} {
		start := time.Now()
		pinged, closed := ka.Tick(step.at)
		t.Logf("keepalive tick over %d connections: %d pinged, %d closed in %v", n, pinged, closed, time.Since(start))
		if pinged != step.pinged || closed != step.closed {
			t.Errorf("tick at +%v: %d pinged, %d closed; want %d, %d", step.at.Sub(now), pinged, closed, step.pinged, step.closed)
		}
	}
	if ka.Len() != 0 {
		t.Errorf("%d connections left in the keepalive", ka.Len())
	}
	// Ticks may run at once (Run and the caller's timer).
	for _, c := range conns[:10] {
		ka.Add(c)
	}
	var ticks sync.WaitGroup
	for range 4 {
		ticks.Go(func() { ka.Tick(now.Add(time.Hour)) })
	}
	ticks.Wait()
	close(done)
	wg.Wait()
}

// A message over the server's limit, still being sent when the server
// refuses it: CloseLingering drains it, the client reads the 1009 close,
// and the server's socket ends when the client's does.
func TestCloseLingeringTooBig(t *testing.T) {
	ln := listen(t)
	serverEnd := make(chan error, 1)
	lingered := make(chan time.Duration, 1)
	serve(t, ln, Config{MaxMessageSize: 1000}, func(c *Conn) {
		_, _, err := c.ReadMessage(nil)
		serverEnd <- err
		start := time.Now()
		_ = c.CloseLingering(5 * time.Second)
		lingered <- time.Since(start)
	})
	c := dial(t, ln, Config{})
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.WriteMessage(OpBinary, make([]byte, 4<<20)) }()
	_, _, err := c.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseMessageTooBig {
		t.Fatalf("client read %v, want the server's 1009", err)
	}
	if err := <-serverEnd; !errors.Is(err, ErrMessageTooBig) {
		t.Errorf("server ended with %v", err)
	}
	if err := <-writeErr; err != nil {
		t.Errorf("client write of the refused message: %v", err)
	}
	_ = c.rw.(net.Conn).Close()
	if d := <-lingered; d > 4*time.Second {
		t.Errorf("lingered %v after the client closed", d)
	}
}

// Close does not wait for a writer stuck on a peer that reads nothing,
// and the stuck write ends with an error.
func TestCloseWithStuckWriter(t *testing.T) {
	a, b := net.Pipe() // b never reads: a's writes block
	defer b.Close()
	c := NewServer(a, nil, Config{})
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.WriteMessage(OpBinary, make([]byte, 1000)) }()
	time.Sleep(50 * time.Millisecond) // the write is blocked by now
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("stuck write succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stuck write did not end")
	}
	if err := c.WriteMessage(OpText, []byte("x")); err == nil {
		t.Error("write after Close succeeded")
	}
}
