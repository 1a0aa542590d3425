package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// TestProveAlive: the watchdog's proof comes at most once per interval
// while the workers run, and ProveAlive returns when its context ends and
// when the engine stops.
func TestProveAlive(t *testing.T) {
	s := enginetest.Start(t, "function ksr_request_route() end")
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.ProveAlive(ctx, 50*time.Millisecond, func() { n.Add(1) }); close(done) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("ProveAlive did not return when its context ended")
	}
	if got := n.Load(); got < 5 || got > 11 {
		t.Errorf("%d proofs in 500ms at one per 50ms", got)
	}

	stopped := make(chan struct{})
	go func() { s.ProveAlive(context.Background(), time.Hour, func() {}); close(stopped) }()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.Stop(ctx2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(time.Second):
		t.Fatal("ProveAlive did not return when the engine stopped")
	}
}
