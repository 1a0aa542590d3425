package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// startRx starts an engine with workers workers on a UDP socket, running
// script, logging at info level into the returned buffer.
func startRx(t *testing.T, workers int, script string) (*Engine, *kemitest.LogBuffer) {
	t.Helper()
	logs := &kemitest.LogBuffer{}
	e, err := New(Config{
		Script:     []byte(script),
		ScriptPath: "rx.lua",
		Listen:     []string{"udp:127.0.0.1:0"},
		Workers:    workers,
		Modules:    []string{"core", "sl"},
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return e, logs
}

// rxRequest is a MESSAGE of call callID with CSeq seq, from the peer
// whose name is in From.
func rxRequest(c *net.UDPConn, from, callID string, seq int) []byte {
	return fmt.Appendf(nil, "MESSAGE sip:kemi@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%s-%d;rport\r\n"+
		"From: <sip:%s@127.0.0.1>;tag=%s\r\nTo: <sip:kemi@127.0.0.1>\r\n"+
		"Call-ID: %s\r\nCSeq: %d MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		c.LocalAddr(), from, callID, seq, from, from, callID, seq)
}

// TestCallOrderWithTwoSources: two peers send the messages of the same
// calls at once, as a caller and a callee do, while other calls keep both
// workers busy. The messages of one call must never be routed at the same
// time, and each peer's messages of a call in the order it sent them
// (one socket to one socket keeps the order on loopback); the route logs
// its start and end, so the log is the order in which routes ran.
func TestCallOrderWithTwoSources(t *testing.T) {
	e, logs := startRx(t, 2, `
function ksr_request_route()
	local id = KSR.pv.get("$ci") .. " " .. KSR.pv.get("$fU") .. " " .. KSR.pv.get("$cs")
	KSR.info("enter " .. id .. "\n")
	local x = 0
	for i = 1, 3000 do x = x + i end -- long enough for routes to overlap
	KSR.info("leave " .. id .. "\n")
	KSR.sl.sl_send_reply(200, "OK")
end`)
	const calls, perPeer = 4, 60
	to := net.UDPAddrFromAddrPort(e.Addr("udp"))
	var wg sync.WaitGroup
	for _, peer := range []string{"alice", "bob", "carol"} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() { // replies: read and forget
			buf := make([]byte, 4096)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= perPeer; seq++ {
				for call := range calls {
					id := fmt.Sprintf("order-%d", call)
					if peer == "carol" {
						id = fmt.Sprintf("other-%d-%d", call, seq) // a new call each time
					}
					if _, err := c.WriteToUDP(rxRequest(c, peer, id, seq), to); err != nil {
						t.Error(err)
						return
					}
				}
				// 12 datagrams a millisecond from the three peers, routes
				// overlapping; at most about two rounds of all peers
				// unanswered, so that neither the queues nor the kernel's
				// socket buffer (the reader routes what it reads, so a
				// burst waits there) overflow however slow the machine
				// (-race on a busy one answered a third of them)
				time.Sleep(time.Millisecond)
				behind := uint64(max(0, 3*calls*(seq-2)))
				for until := time.Now().Add(5 * time.Second); e.met.sentRpl.Get() < behind && time.Now().Before(until); {
					time.Sleep(200 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	const total = 3 * calls * perPeer
	if n := waitCount(func() uint64 { return e.met.sentRpl.Get() }, total); n != total {
		t.Fatalf("%d of %d requests answered", n, total)
	}
	line := regexp.MustCompile(`(enter|leave) (order-\d+) (alice|bob) (\d+)`)
	running := map[string]string{} // call -> the message being routed
	last := map[string]int{}       // call and peer -> last CSeq routed
	routed := 0
	for _, m := range line.FindAllStringSubmatch(logs.String(), -1) {
		what, call, peer := m[1], m[2], m[3]
		seq, _ := strconv.Atoi(m[4])
		msg := peer + " " + m[4]
		if what == "leave" {
			delete(running, call)
			continue
		}
		routed++
		if other, busy := running[call]; busy {
			t.Errorf("call %s: %s routed while %s still was", call, msg, other)
		}
		running[call] = msg
		if prev := last[call+peer]; seq != prev+1 {
			t.Errorf("call %s: %s's CSeq %d routed after %d", call, peer, seq, prev)
		}
		last[call+peer] = seq
	}
	if routed != 2*calls*perPeer {
		t.Errorf("%d messages of the ordered calls routed, want %d", routed, 2*calls*perPeer)
	}
	if v := e.met.dropped(dropOverload).Get(); v != 0 {
		t.Errorf("%d datagrams dropped for overload", v)
	}
}

// TestDatagramOfBusyKeyQueuesBehind: a datagram whose key is in flight on
// a worker goes to that worker's queue, behind the job in flight, even
// when another worker is idle; the claimer of an idle worker runs it, and
// the runner gets the queued job next, then stops being the runner.
func TestDatagramOfBusyKeyQueuesBehind(t *testing.T) {
	d := newDispatcher(2, 8)
	quit := make(chan struct{})
	steps := []struct {
		name    string
		key     uint32
		prefer  int
		wantW   int
		wantRun bool
	}{
		{"idle worker: run it", 7, 0, 0, true},
		{"same key: queued behind, though worker 1 is idle", 7, 1, 0, false},
		{"other key: the idle worker it prefers", 9, 1, 1, true},
		{"other key, its worker busy: the least loaded, queued", 11, 1, 1, false},
	}
	for _, s := range steps {
		w, run := d.claim(s.key, s.prefer)
		if w != s.wantW || run != s.wantRun {
			t.Fatalf("%s: claim = %d, %v; want %d, %v", s.name, w, run, s.wantW, s.wantRun)
		}
		if !run && d.offer(w, job{key: s.key, counted: true}, nil) != offerQueued {
			t.Fatalf("%s: not queued", s.name)
		}
	}
	// worker 0's runner ends the job it claimed: next comes key 7's
	// second job, then nothing
	key := uint32(7)
	for _, want := range []uint32{7} {
		j, ok := d.nextJob(0, key, true, quit)
		if !ok || j.key != want {
			t.Fatalf("next job of worker 0 = key %d, %v; want key %d", j.key, ok, want)
		}
		key = j.key
	}
	if j, ok := d.nextJob(0, key, true, quit); ok {
		t.Fatalf("worker 0 still has a job: key %d", j.key)
	}
	if d.running[0] || d.load[0] != 0 || d.slots[7].pending != 0 {
		t.Fatalf("worker 0: running %v, load %d, key 7 pending %d; want idle", d.running[0], d.load[0], d.slots[7].pending)
	}
	// key 7 is free: it goes where there is room, worker 0 (1 runs key 9
	// and has key 11 queued)
	if w, run := d.claim(7, 1); w != 0 || !run {
		t.Fatalf("key 7 once done: claim = %d, %v; want 0, true", w, run)
	}
}

// TestOverloadDropsAndNeverBlocksTheReader: with the only worker busy, a
// flood of one call fills its queue; the rest is dropped and counted
// ("overload") instead of stopping the socket's reader, and once the
// worker is free the next request is answered.
func TestOverloadDropsAndNeverBlocksTheReader(t *testing.T) {
	e, _ := startRx(t, 1, answerScriptInternal)
	release := make(chan struct{})
	started := make(chan struct{})
	e.Exec(func(kemi.Runner, *kemi.Proc) {
		close(started)
		<-release
	})
	<-started
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := net.UDPAddrFromAddrPort(e.Addr("udp"))
	capacity := cap(e.disp.queues[0])
	sent := capacity + 200
	for i := range sent {
		c.WriteToUDP(rxRequest(c, "flood", "flood-1", i+1), to)
		if i%100 == 99 {
			time.Sleep(2 * time.Millisecond) // no loss in the kernel's buffer
		}
	}
	want := uint64(sent - capacity)
	if n := waitCount(e.met.dropped(dropOverload).Get, want); n != want {
		t.Fatalf("overload drops = %d, want %d (%d sent, queue of %d)", n, want, sent, capacity)
	}
	// the reader read everything while the worker was blocked; once free,
	// the worker routes what was queued, then the next request
	answered := make(chan struct{})
	go func() { // the replies, read at once so that none is lost
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "Call-ID: after-flood") {
				close(answered)
				return
			}
		}
	}()
	close(release)
	released = true
	for deadline := time.Now().Add(30 * time.Second); e.disp.queued() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still queued", e.disp.queued())
		}
	}
	c.WriteToUDP(internalOptions("SIP/2.0/UDP "+c.LocalAddr().String(), "after-flood"), to)
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after the flood")
	}
}

const answerScriptInternal = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "Alive")
end`

// gcPercent returns GOGC as the runtime has it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestMemoryLimitApplied: an engine with MemoryLimit raises GOGC while it
// runs (the live heap of a test is small next to 300 MiB) and puts the
// previous one back at Stop; 0 leaves it alone, a negative value is 100.
func TestMemoryLimitApplied(t *testing.T) {
	t.Setenv("GOGC", "")
	before := gcPercent()
	for _, tc := range []struct {
		limit int64
		want  func(int) bool
	}{
		{300 << 20, func(p int) bool { return p > 1000 }},
		{0, func(p int) bool { return p == before }},
		{-1, func(p int) bool { return p == 100 }},
	} {
		e, err := New(Config{Script: []byte(answerScriptInternal), Listen: []string{"udp:127.0.0.1:0"}, Workers: 1,
			Modules: []string{"core", "sl"}, MemoryLimit: tc.limit, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := gcPercent()
		if err := e.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !tc.want(got) {
			t.Errorf("MemoryLimit %d: GOGC %d while running", tc.limit, got)
		}
		if after := gcPercent(); after != before {
			t.Errorf("MemoryLimit %d: GOGC %d after Stop, want %d back", tc.limit, after, before)
		}
	}
}

// TestGCTunerFollowsTheLiveHeap: with live data beyond half the setting,
// GOGC goes back to 100 after a collection; once the data are gone it
// rises again so that the heap may grow to the setting.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	const floor = 64 << 20
	g := startGCTuner(floor)
	defer g.stop()
	waitPercent := func(ok func(int) bool) int {
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.GC()
			p := gcPercent()
			if ok(p) || time.Now().After(deadline) {
				return p
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if p := gcPercent(); p < 1000 {
		t.Fatalf("GOGC %d at start, want the heap to reach 64 MiB", p)
	}
	live := make([][]byte, 48)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	if p := waitPercent(func(p int) bool { return p == 100 }); p != 100 {
		t.Fatalf("GOGC %d with 48 MiB live, want 100", p)
	}
	runtime.KeepAlive(live)
	live = nil
	if p := waitPercent(func(p int) bool { return p > 200 }); p <= 200 {
		t.Fatalf("GOGC %d once the data are gone, want the heap to reach 64 MiB again", p)
	}
}

func TestPercentFor(t *testing.T) {
	g := &gcTuner{floor: 256 << 20}
	for _, tc := range []struct {
		live int64
		want int
	}{
		{0, 6300},              // as for 4 MiB, the runtime's smallest goal
		{16 << 20, 1500},       // 16 MiB may grow to 256
		{128 << 20, 100},       // half: Go's default
		{1 << 30, 100},         // beyond
		{100 << 10, 6300},      // tiny: as 4 MiB
		{(256 << 20) / 3, 200}, // a third: grows to the setting
	} {
		if got := g.percentFor(tc.live); got != tc.want {
			t.Errorf("percentFor(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// TestMemoryLimitTwoEngines: GOGC is one setting of the process; two
// engines with a MemoryLimit, stopped in the order they started, leave
// the setting as it was before either started, and while both run the
// smaller limit holds.
func TestMemoryLimitTwoEngines(t *testing.T) {
	t.Setenv("GOGC", "")
	before := gcPercent()
	a := startGCTuner(300 << 20)
	b := startGCTuner(64 << 20)
	if p, want := gcPercent(), b.percentFor(0); p != want {
		t.Errorf("GOGC %d with both running, want %d (the smaller limit)", p, want)
	}
	a.tune() // a collection while both run
	if p, want := gcPercent(), b.percentFor(heapLive()); p > want {
		t.Errorf("GOGC %d after a's tune, want at most %d (the smaller limit)", p, want)
	}
	a.stop()
	if p := gcPercent(); p == before {
		t.Errorf("GOGC %d back to the original while b still runs", p)
	}
	b.stop()
	if p := gcPercent(); p != before {
		t.Errorf("GOGC %d after both stopped, want %d back", p, before)
	}
}

// heapLive is the live heap the last collection left.
func heapLive() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestExecWhileReadersIdle: module jobs (Exec, tm's timers) do not wait
// for network traffic: with every UDP reader idle in the kernel, before
// and after traffic, a job queued on each worker runs at once.
func TestExecWhileReadersIdle(t *testing.T) {
	const workers = 3
	e, _ := startRx(t, workers, answerScriptInternal)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := range 2 {
		if round == 1 {
			// traffic first: readers route, then go back to the kernel
			addr := e.Addr("udp")
			for i := range 10 {
				if _, err := c.WriteToUDPAddrPort(rxRequest(c, "a", fmt.Sprint("idle-", i), 1), addr); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 2048)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			for range 10 {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(3 * blockingWake) // every reader idle in recvfrom
		ran := make(chan struct{}, 4*workers)
		start := time.Now()
		for range 4 * workers {
			e.Exec(func(kemi.Runner, *kemi.Proc) { ran <- struct{}{} })
		}
		for i := range 4 * workers {
			select {
			case <-ran:
			case <-time.After(2 * time.Second):
				t.Fatalf("round %d: %d of %d jobs ran while the readers were idle", round, i, 4*workers)
			}
		}
		if d := time.Since(start); d > blockingWake {
			t.Errorf("round %d: jobs took %v with idle readers", round, d)
		}
	}
}

// TestReloadReachesBusyWorker: a worker busy when a script is reloaded
// takes the new one once its job ends, without waiting for another job
// (as before the readers routed: a no-op job was queued for it).
func TestReloadReachesBusyWorker(t *testing.T) {
	e, _ := startRx(t, 1, answerScriptInternal)
	release, busy := make(chan struct{}), make(chan struct{})
	e.Exec(func(kemi.Runner, *kemi.Proc) { close(busy); <-release })
	<-busy
	if _, err := e.Reload("rx.lua", []byte(answerScriptInternal)); err != nil {
		t.Fatal(err)
	}
	close(release)
	pending := func() int {
		e.reload.mu.Lock()
		defer e.reload.mu.Unlock()
		return len(e.reload.pending)
	}
	deadline := time.Now().Add(2 * time.Second)
	for pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker busy at the reload still has not taken the new script")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
