package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
)

// gate is a test module whose KSR.gate.wait() holds a route until the test
// releases it.
type gate struct {
	entered   chan struct{}
	release   chan struct{}
	destroyed chan struct{}
}

// gates hands each engine's gate instance to its test.
var gates = make(chan *gate, 1)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-gate", New: func() kemi.Module {
		g := &gate{entered: make(chan struct{}, 1), release: make(chan struct{}), destroyed: make(chan struct{})}
		gates <- g
		return g
	}})
}

func (g *gate) Exports() []kemi.Export {
	return []kemi.Export{{Module: "gate", Name: "wait", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value {
		g.entered <- struct{}{}
		<-g.release
		return kemi.OK
	}}}
}

func (g *gate) Destroy() { close(g.destroyed) }

const gateScript = `
function ksr_request_route()
	KSR.gate.wait()
	KSR.sl.sl_send_reply(200, "Late")
end`

// startGated starts an engine with one worker whose routes wait at the
// gate; the test stops it.
func startGated(t *testing.T) (*engine.Engine, *gate) {
	t.Helper()
	e, err := engine.New(engine.Config{
		Script:     []byte(gateScript),
		ScriptPath: "gate.lua",
		Listen:     []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"},
		Workers:    1,
		Modules:    []string{"core", "sl", "enginetest-gate"},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := <-gates
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, g
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// TestStopLetsWorkersAnswerBeforeClosing: a route still running when Stop
// begins can answer on its TCP connection; connections close after the
// workers finish.
func TestStopLetsWorkersAnswerBeforeClosing(t *testing.T) {
	e, g := startGated(t)
	addr := e.Addr("tcp").String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	fmt.Fprintf(c, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKstop\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: stop-tcp\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port)
	waitClosed(t, g.entered, "the route reaching the gate")

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- e.Stop(ctx)
	}()
	// the stop has begun once the listener refuses connections
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the TCP listener still accepts after Stop began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(g.release)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 Late") {
		t.Fatalf("reply on the connection = %q, %v", buf[:n], err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitClosed(t, g.destroyed, "module destroy")
	// the connection is closed once the engine has stopped
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("connection still open after Stop, read %q", buf[:n])
	}
}

// TestStopReturnsAtDeadline: Stop returns an error when ctx ends while a
// route runs, with the sockets closed; modules are destroyed only once the
// route has ended.
func TestStopReturnsAtDeadline(t *testing.T) {
	e, g := startGated(t)
	udp := e.Addr("udp").String()
	c, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	fmt.Fprintf(c, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKdeadline\r\n"+
		"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: stop-deadline\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port)
	waitClosed(t, g.entered, "the route reaching the gate")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(ctx) }()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		close(g.release)
		t.Fatal("Stop did not return when its context ended")
	}
	if again := e.Stop(context.Background()); !errors.Is(again, context.Canceled) {
		t.Errorf("second Stop = %v, want the first result", again)
	}
	select {
	case <-g.destroyed:
		t.Fatal("modules destroyed while a route still runs")
	default:
	}
	// the socket is free for a new server
	pc, err := net.ListenPacket("udp4", udp)
	if err != nil {
		t.Fatalf("the UDP socket is still bound after Stop: %v", err)
	}
	pc.Close()
	close(g.release)
	waitClosed(t, g.destroyed, "module destroy after the route ended")
}

// TestBindFailureUndoesStart: when a listener cannot be bound, Start
// destroys the modules and closes the /metrics socket it was handed.
func TestBindFailureUndoesStart(t *testing.T) {
	taken, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mln.Close()
	e, err := engine.New(engine.Config{
		Script:          []byte(gateScript),
		ScriptPath:      "gate.lua",
		Listen:          []string{"udp:" + taken.LocalAddr().String()},
		Workers:         1,
		Modules:         []string{"core", "sl", "enginetest-gate"},
		MetricsListener: mln,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := <-gates
	if err := e.Start(context.Background()); err == nil {
		t.Fatal("Start bound a port that is taken")
	}
	select {
	case <-g.destroyed:
	default:
		t.Error("modules not destroyed after a failed start")
	}
	mln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Second)) // no hang if open
	if _, err := mln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("metrics listener still open after a failed start: %v", err)
	}
}

// TestInheritedSocketsClosedOnBindError: inherited sockets belong to the
// engine, also when one of them does not match its spec.
func TestInheritedSocketsClosedOnBindError(t *testing.T) {
	good, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	e, err := engine.New(engine.Config{
		Script:     []byte("function ksr_request_route() end"),
		ScriptPath: "t.lua",
		Workers:    1,
		Modules:    []string{"core"},
		Inherited: []engine.InheritedSocket{
			{Spec: "udp:" + good.LocalAddr().String(), Packet: good},
			{Spec: "tcp:" + bad.LocalAddr().String(), Packet: bad}, // a UDP socket for a TCP spec
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Start = %v, want a spec mismatch", err)
	}
	for _, pc := range []net.PacketConn{good, bad} {
		pc.SetReadDeadline(time.Now().Add(time.Second)) // no hang if open
		if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("inherited socket %s still open: %v", pc.LocalAddr(), err)
		}
	}
}
