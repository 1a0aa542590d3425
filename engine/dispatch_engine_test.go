package engine_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// TestQueueLengthCountsEveryQueue holds both workers busy, then sends
// three UDP requests and two over one TCP connection: the queue length
// gauge must count all five, whichever worker they wait for.
func TestQueueLengthCountsEveryQueue(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithWorkers(2))
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 {
		s.Exec(func(kemi.Runner, *kemi.Proc) {
			started <- struct{}{}
			<-release
		})
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			close(release)
			t.Fatal("the workers did not both take a job")
		}
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	p := newPeer(t)
	for i := range 3 {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", fmt.Sprintf("queued-udp-%d", i)))
	}
	c, err := net.Dial("tcp", s.TCP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	for i := range 2 {
		fmt.Fprintf(c, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKq%d\r\n"+
			"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: queued-tcp-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, i, i)
	}
	if v := s.WaitMetric("kemi_engine_queue_length", 5, 5*time.Second); v != 5 {
		t.Fatalf("kemi_engine_queue_length = %v with 5 messages waiting", v)
	}
	close(release)
	released = true
	if v := s.WaitMetric(`kemi_core_requests_received_total{method="OPTIONS"}`, 5, 5*time.Second); v != 5 {
		t.Fatalf("%v OPTIONS routed after the workers were free, want 5", v)
	}
	if v := s.Metric("kemi_engine_queue_length"); v != 0 {
		t.Errorf("kemi_engine_queue_length = %v once all was routed", v)
	}
}
