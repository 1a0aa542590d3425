package tm

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fakeWheel is a wheel whose clock the test moves.
func fakeWheel() (*wheel, *time.Duration) {
	w := newWheel()
	var now time.Duration
	w.elapsed = func() time.Duration { return now }
	return w, &now
}

// collect advances w to the clock and returns what expired.
func collect(w *wheel, now time.Duration) []expiry {
	var got []expiry
	w.advanceTo(int64(now/wheelTick), func(x expiry) { got = append(got, x) })
	return got
}

func TestWheelSetStopReschedule(t *testing.T) {
	w, clock := fakeWheel()
	a, b, c := &tentry{}, &tentry{}, &tentry{}
	w.set(a, 180*time.Second, tkLife) // several turns of the wheel away
	w.set(b, 32*time.Second, tkLife)
	w.set(c, 3*time.Second, tkLife)
	if n := w.len(); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	w.set(a, 5*time.Second, tkWait) // the final reply: wait replaces lifetime
	if n := w.len(); n != 3 {
		t.Fatalf("%d entries after a reschedule, want 3", n)
	}
	w.stop(b)
	w.stop(b) // twice is harmless
	if k, queued := w.armed(b); queued || k != tkNone || w.len() != 2 {
		t.Fatalf("after stop: kind %d queued %v, %d entries", k, queued, w.len())
	}
	tests := []struct {
		now  time.Duration
		want []*tentry
		kind []timerKind
	}{
		{2 * time.Second, nil, nil},
		{3*time.Second - wheelTick, nil, nil}, // never early
		{3 * time.Second, []*tentry{c}, []timerKind{tkLife}},
		{200 * time.Second, []*tentry{a}, []timerKind{tkWait}},
		{300 * time.Second, nil, nil},
	}
	for _, tt := range tests {
		*clock = tt.now
		got := collect(w, tt.now)
		if len(got) != len(tt.want) {
			t.Fatalf("at %v: %d expired, want %d", tt.now, len(got), len(tt.want))
		}
		for i, x := range got {
			if x.e != tt.want[i] || x.kind != tt.kind[i] {
				t.Errorf("at %v: expiry %d is %p kind %d, want %p kind %d", tt.now, i, x.e, x.kind, tt.want[i], tt.kind[i])
			}
			if !w.current(x) {
				t.Errorf("at %v: a fresh expiry is stale", tt.now)
			}
		}
	}
	if n := w.len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

// An expiry taken from the wheel is stale once its owner re-armed or
// stopped the entry: the owner's handler then does nothing.
func TestWheelStaleExpiry(t *testing.T) {
	w, clock := fakeWheel()
	e := &tentry{}
	w.set(e, time.Second, tkFR)
	*clock = time.Second
	got := collect(w, *clock)
	if len(got) != 1 {
		t.Fatalf("%d expired, want 1", len(got))
	}
	w.set(e, time.Second, tkFR) // a reply re-armed fr_inv_timer meanwhile
	if w.current(got[0]) {
		t.Error("an expiry older than a re-arming is current")
	}
	*clock = 2 * time.Second
	again := collect(w, *clock)
	if len(again) != 1 || !w.current(again[0]) {
		t.Fatalf("the re-armed entry: %d expired", len(again))
	}
	w.stop(e)
	if w.current(again[0]) {
		t.Error("an expiry of a stopped entry is current")
	}
}

// Many entries at random delays each expire once, at the first tick at or
// after their delay, whatever order they were armed and moved in.
func TestWheelManyTimers(t *testing.T) {
	w, clock := fakeWheel()
	const n = 20000
	entries := make([]tentry, n)
	due := make([]time.Duration, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range entries {
		due[i] = time.Duration(rng.IntN(int(100*time.Second/time.Millisecond))) * time.Millisecond
		w.set(&entries[i], due[i], tkWait)
	}
	for i := 0; i < n; i += 3 { // move a third of them
		due[i] = time.Duration(rng.IntN(int(60*time.Second/time.Millisecond))) * time.Millisecond
		w.set(&entries[i], due[i], tkWait)
	}
	for i := 1; i < n; i += 7 { // stop some
		w.stop(&entries[i])
		due[i] = -1
	}
	seen := make([]int, n)
	index := make(map[*tentry]int, n)
	for i := range entries {
		index[&entries[i]] = i
	}
	idx := func(e *tentry) int { return index[e] }
	for now := time.Duration(0); now <= 101*time.Second; now += 37 * wheelTick { // a slow ticker
		*clock = now
		for _, x := range collect(w, now) {
			i := idx(x.e)
			seen[i]++
			if due[i] > now {
				t.Fatalf("entry %d due at %v expired early at %v", i, due[i], now)
			}
			if now-due[i] > 37*wheelTick+wheelTick {
				t.Fatalf("entry %d due at %v expired late at %v", i, due[i], now)
			}
		}
	}
	for i := range seen {
		want := 1
		if due[i] < 0 {
			want = 0
		}
		if seen[i] != want {
			t.Fatalf("entry %d expired %d times, want %d", i, seen[i], want)
		}
	}
	if w.len() != 0 {
		t.Fatalf("%d entries left", w.len())
	}
}

// With the real clock, a timer expires no earlier than asked and within a
// bound that a loaded machine keeps (the tick is 10 ms; the bound is
// loose on purpose).
func TestWheelTickAccuracy(t *testing.T) {
	w := newWheel()
	var mu sync.Mutex
	fired := map[*tentry]time.Time{}
	delays := []time.Duration{0, 15 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond}
	entries := make([]tentry, len(delays))
	start := time.Now()
	for i, d := range delays {
		w.set(&entries[i], d, tkRequest)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && w.len() > 0 {
		time.Sleep(wheelTick)
		w.advance(func(x expiry) {
			mu.Lock()
			fired[x.e] = time.Now()
			mu.Unlock()
		})
	}
	for i, d := range delays {
		at, ok := fired[&entries[i]]
		if !ok {
			t.Fatalf("timer %v never expired", d)
		}
		if took := at.Sub(start); took < d || took > d+time.Second {
			t.Errorf("timer %v expired after %v", d, took)
		}
	}
}

// BenchmarkWheelSetStop arms and stops a timer among 20 000 armed ones:
// what a transaction pays per timer operation.
func BenchmarkWheelSetStop(b *testing.B) {
	w, _ := fakeWheel()
	others := make([]tentry, 20000)
	for i := range others {
		w.set(&others[i], time.Duration(i)*time.Millisecond, tkWait)
	}
	var e tentry
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.set(&e, 5*time.Second, tkWait)
		w.stop(&e)
	}
}

// A wheel left empty for hours (its timer process asleep, not ticking)
// takes a new entry as if it had ticked all along: the arming signals the
// process, the entry expires on time, and catching up does not walk the
// ticks that passed while nothing was armed.
func TestWheelArmAfterIdle(t *testing.T) {
	w, clock := fakeWheel()
	select {
	case <-w.armedc:
		t.Fatal("a signal before anything was armed")
	default:
	}
	*clock = 3 * time.Hour // a million ticks nobody processed
	e := &tentry{}
	w.set(e, 500*time.Millisecond, tkRequest)
	select {
	case <-w.armedc:
	default:
		t.Fatal("arming an empty wheel sent no signal")
	}
	if w.now != int64(*clock/wheelTick) {
		t.Fatalf("wheel at tick %d after arming, want %d", w.now, *clock/wheelTick)
	}
	w.set(&tentry{}, time.Second, tkFR) // not empty: no second signal
	select {
	case <-w.armedc:
		t.Fatal("a signal for a wheel that was not empty")
	default:
	}
	if got := collect(w, *clock+500*time.Millisecond-wheelTick); len(got) != 0 {
		t.Fatalf("%d expired early", len(got))
	}
	got := collect(w, *clock+500*time.Millisecond)
	if len(got) != 1 || got[0].e != e {
		t.Fatalf("expired %v, want the entry armed after the idle hours", got)
	}
}

// The timer process sleeps while the wheel is empty and wakes for an
// entry armed later, which then fires on time.
func TestTimerProcessSleepsWhenEmpty(t *testing.T) {
	mod := &Module{wheel: newWheel()}
	fired := make(chan expiry, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		mod.runWheel(ctx, func(x expiry) { fired <- x })
	}()
	time.Sleep(50 * time.Millisecond) // asleep by now, nothing armed
	e := &tentry{}
	start := time.Now()
	mod.wheel.set(e, 30*time.Millisecond, tkRequest)
	select {
	case x := <-fired:
		if x.e != e {
			t.Fatalf("fired %p, want %p", x.e, e)
		}
		if d := time.Since(start); d < 30*time.Millisecond {
			t.Fatalf("fired after %v, before its 30ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sleeping timer process never woke for an armed entry")
	}
	cancel()
	<-done
}
