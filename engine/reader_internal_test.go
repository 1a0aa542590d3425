package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// startWithHook starts an engine answering OPTIONS with 200, whose readers
// call hook.
func startWithHook(t *testing.T, hook func(site readerSite, b []byte)) (*Engine, *kemitest.LogBuffer) {
	t.Helper()
	logs := &kemitest.LogBuffer{}
	e, err := New(Config{
		Script: []byte(`function ksr_request_route()
	KSR.sl.sl_send_reply(200, "Alive")
end`),
		ScriptPath: "test.lua",
		Listen:     []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"},
		Workers:    1,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.tp.hook = hook // before Start: the readers read it unlocked
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", logs)
		}
	})
	return e, logs
}

// waitCount waits until get returns at least want.
func waitCount(get func() uint64, want uint64) uint64 {
	deadline := time.Now().Add(3 * time.Second)
	for {
		v := get()
		if v >= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func internalOptions(via, callID string) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: %s;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", via, callID, callID))
}

// TestReaderPanicsAreRecovered: a panic in a UDP reader, a TCP accept loop
// or a TCP reader is logged with its stack and counted, costs that
// datagram or connection only, and the engine goes on reading.
func TestReaderPanicsAreRecovered(t *testing.T) {
	var accepts atomic.Int64
	e, logs := startWithHook(t, func(site readerSite, b []byte) {
		if site == siteTCPAcceptor && accepts.Add(1) == 1 {
			panic("test: first accept")
		}
		if bytes.Contains(b, []byte("PANIC")) {
			panic("test: " + readerSiteNames[site])
		}
	})
	count := func(site readerSite) func() uint64 { return e.met.panics[site].Get }

	// UDP: the datagram is lost, the next one answered
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	to := net.UDPAddrFromAddrPort(e.Addr("udp"))
	uc.WriteToUDP([]byte("PANIC"), to)
	if n := waitCount(count(siteUDPReader), 1); n != 1 {
		t.Fatalf("udp reader panics = %d, want 1", n)
	}
	uc.WriteToUDP(internalOptions("SIP/2.0/UDP "+uc.LocalAddr().String(), "p-udp"), to)
	uc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := uc.ReadFromUDP(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 Alive") {
		t.Fatalf("udp after a panic: %q, %v", buf[:n], err)
	}

	// the first accept panics: that connection is closed
	closed := func(c net.Conn, what string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(buf); !errors.Is(err, io.EOF) && (err == nil || !strings.Contains(err.Error(), "reset")) {
			t.Fatalf("%s: read %q, %v; want the connection closed", what, buf[:n], err)
		}
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", e.Addr("tcp").String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closed(dial(), "first connection")
	if n := waitCount(count(siteTCPAcceptor), 1); n != 1 {
		t.Fatalf("tcp acceptor panics = %d, want 1", n)
	}

	// a message that makes the TCP reader panic closes its connection
	c := dial()
	c.Write(bytes.Replace(internalOptions("SIP/2.0/TCP "+c.LocalAddr().String(), "p-tcp"), []byte("Content-Length"), []byte("X-Test: PANIC\r\nContent-Length"), 1))
	closed(c, "connection of the panicking message")
	if n := waitCount(count(siteTCPReader), 1); n != 1 {
		t.Fatalf("tcp reader panics = %d, want 1", n)
	}

	c = dial()
	c.Write(internalOptions("SIP/2.0/TCP "+c.LocalAddr().String(), "p-tcp-2"))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 Alive") {
		t.Fatalf("tcp after the panics: %q, %v", buf[:n], err)
	}
	for _, want := range []string{"level=ERROR", "panic while reading from the network", "where=udp_reader", "where=tcp_acceptor", "where=tcp_reader", "reader_internal_test.go"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestDialOverLimitFails: a send that needs a new connection over
// TCPMaxConnections fails without dialling, and is counted.
func TestDialOverLimitFails(t *testing.T) {
	e := newEngine(Config{Workers: 1, TCPMaxConnections: 1}.withDefaults())
	defer e.tp.close()
	var lns []net.Listener
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		lns = append(lns, ln)
	}
	if _, err := e.tp.dial(nil, netip.MustParseAddrPort(lns[0].Addr().String())); err != nil {
		t.Fatalf("first dial: %v", err)
	}
	if _, err := e.tp.dial(nil, netip.MustParseAddrPort(lns[1].Addr().String())); !errors.Is(err, errTooManyConns) {
		t.Fatalf("dial over the limit = %v, want errTooManyConns", err)
	}
	if v := e.met.tcpRefused[refusedMaxConnections].Get(); v != 1 {
		t.Errorf("refused max_connections = %d, want 1", v)
	}
	e.tp.mu.Lock()
	n := len(e.tp.perIP)
	e.tp.mu.Unlock()
	if n != 0 {
		t.Errorf("a dialled connection counts against the per-address limit of accepted ones")
	}
}

func TestConnLimit(t *testing.T) {
	tests := []struct {
		want    int
		nofile  uint64
		limit   int
		clamped bool
	}{
		{2048, 20000, 2048, false},
		{2048, 2048 + fdReserve, 2048, false},
		{2048, 2048 + fdReserve - 1, 2047, true},
		{2048, 1024, 1024 - fdReserve, true},
		{2048, 256, 128, true},
		{2048, 1, 1, true},
		{2048, 0, 2048, false},              // unknown
		{2048, math.MaxUint64, 2048, false}, // unlimited
	}
	for _, tc := range tests {
		limit, clamped := connLimit(tc.want, tc.nofile)
		if limit != tc.limit || clamped != tc.clamped {
			t.Errorf("connLimit(%d, %d) = %d, %v; want %d, %v", tc.want, tc.nofile, limit, clamped, tc.limit, tc.clamped)
		}
	}
}

// TestIdleTCPConnectionsHoldLittleMemory: each TCP connection's reader
// held a 32 KiB read buffer for its whole life, so the 2048 connections
// of the default limit held 64 MiB doing nothing (and a half-open
// message's bytes came on top). An idle connection now holds a few KiB.
func TestIdleTCPConnectionsHoldLittleMemory(t *testing.T) {
	e, _ := startWithHook(t, nil)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const conns = 200
	before := heap()
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", e.Addr("tcp").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if n := waitCount(func() uint64 { return uint64(e.met.tcpConns.Load()) }, conns); n != conns {
		t.Fatalf("%d connections open, want %d", n, conns)
	}
	per := (int64(heap()) - int64(before)) / conns
	t.Logf("%d bytes of heap per idle connection", per)
	if per > 12<<10 {
		t.Errorf("an idle TCP connection holds %d KiB of heap, want at most 12", per>>10)
	}
}

// TestWorkerPanicIsLoggedWithStackAndCounted: a panic in Go code a worker
// runs for a message (the parser, a module's hook, a job) was logged with
// no stack and not counted; it costs that message only, as before.
func TestWorkerPanicIsLoggedWithStackAndCounted(t *testing.T) {
	e, logs := startWithHook(t, nil)
	e.Exec(func(kemi.Runner, *kemi.Proc) { panic("test: worker job") })
	if n := waitCount(e.met.panics[siteWorker].Get, 1); n != 1 {
		t.Fatalf("worker panics = %d, want 1", n)
	}
	for _, want := range []string{"level=ERROR", "test: worker job", "where=worker", "stack=", "reader_internal_test.go"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// the worker goes on
	ran := make(chan struct{})
	e.Exec(func(kemi.Runner, *kemi.Proc) { close(ran) })
	select {
	case <-ran:
	case <-time.After(3 * time.Second):
		t.Fatal("the worker stopped after a panic")
	}
}

// TestReaderYieldWhenDue checks when a reader that keeps the token gives
// its processor up: only once yieldEvery has passed since the last time,
// so well inside the 10 ms after which Go's runtime preempts it.
func TestReaderYieldWhenDue(t *testing.T) {
	if yieldEvery >= 10*time.Millisecond {
		t.Fatalf("yieldEvery %v: must stay under the runtime's 10 ms preemption", yieldEvery)
	}
	base := time.Unix(1000, 0)
	tests := []struct {
		name  string
		since time.Duration // since the last yield
		yield bool
	}{
		{"just yielded", 0, false},
		{"1 ms later", time.Millisecond, false},
		{"at yieldEvery", yieldEvery, false},
		{"past yieldEvery", yieldEvery + time.Microsecond, true},
		{"long after", time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &udpReader{yielded: base}
			now := base.Add(tc.since)
			r.yieldWhenDue(now)
			if got := r.yielded.Equal(now) && tc.since != 0; got != tc.yield {
				t.Errorf("after %v: yielded=%v, want %v", tc.since, got, tc.yield)
			}
		})
	}
}
