package engine

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestDispatcherKeepsKeyOrder sends numbered jobs of many keys through the
// dispatcher to workers whose routes take random time: every key's jobs
// must run one at a time and in the order sent, and every worker must get
// work.
func TestDispatcherKeepsKeyOrder(t *testing.T) {
	for _, workers := range []int{2, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			const keys, perKey = 200, 20
			d := newDispatcher(workers, 64)
			var (
				mu      sync.Mutex
				last    = map[uint32]int{} // last sequence number finished, per key
				running = map[uint32]bool{}
				ran     = make([]int, workers)
				errs    []string
			)
			quit := make(chan struct{})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rnd := rand.New(rand.NewPCG(uint64(w), 1))
					for {
						select {
						case j := <-d.queues[w]:
							j.fn(nil)
							// a route of random length, sometimes slow
							time.Sleep(time.Duration(rnd.IntN(50)) * time.Microsecond)
							if rnd.IntN(100) == 0 {
								time.Sleep(2 * time.Millisecond)
							}
							mu.Lock()
							running[j.key] = false
							ran[w]++
							mu.Unlock()
							d.done(w, j.key)
						case <-quit:
							return
						}
					}
				}()
			}
			var all sync.WaitGroup
			all.Add(keys * perKey)
			rnd := rand.New(rand.NewPCG(7, 7))
			next := make([]int, keys)
			for range keys * perKey {
				k := rnd.IntN(keys)
				for next[k] == perKey {
					k = (k + 1) % keys
				}
				key, seq := uint32(k+1), next[k]
				next[k]++
				j := job{key: key, counted: true}
				j.fn = func(*worker) {
					defer all.Done()
					mu.Lock()
					defer mu.Unlock()
					if running[key] {
						errs = append(errs, "key runs on two workers at once")
					}
					running[key] = true
					if want := last[key] + 1; seq+1 != want {
						errs = append(errs, "out of order")
					}
					last[key] = seq + 1
				}
				if !d.send(d.assign(key), j, nil) {
					t.Fatal("send refused")
				}
			}
			all.Wait()
			close(quit)
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("%d errors, first: %s", len(errs), errs[0])
			}
			for w, n := range ran {
				if n < keys*perKey/workers/4 {
					t.Errorf("worker %d ran %d of %d jobs: %v", w, n, keys*perKey, ran)
				}
			}
			for i, n := range d.load {
				if n != 0 {
					t.Errorf("worker %d: load %d after all jobs ended", i, n)
				}
			}
			for i, s := range d.slots {
				if s.pending != 0 {
					t.Fatalf("slot %d: %d pending after all jobs ended", i, s.pending)
				}
			}
		})
	}
}

// TestDispatcherIdleKeyMoves: a key is sticky only while it has work in
// flight; then it goes to the least-loaded worker.
func TestDispatcherIdleKeyMoves(t *testing.T) {
	d := newDispatcher(2, 8)
	busy := d.assign(0) // a long job on one worker
	w := d.assign(42)
	if w == busy {
		t.Fatalf("key 42 went to the busy worker %d", busy)
	}
	if again := d.assign(42); again != w {
		t.Fatalf("key 42 in flight on %d, next job went to %d", w, again)
	}
	d.done(w, 42)
	d.done(w, 42)
	d.done(busy, 0)
	d.assign(0)
	d.assign(0) // worker w is now the busier one
	if other := d.assign(42); other == w {
		t.Fatalf("idle key 42 went back to the busier worker %d", w)
	}
}

// TestDispatcherSendStops: a send waiting on a full queue gives up when
// stop closes, and the job no longer counts.
func TestDispatcherSendStops(t *testing.T) {
	d := newDispatcher(1, 1)
	if !d.send(d.assign(5), job{key: 5}, nil) {
		t.Fatal("first send refused")
	}
	stop := make(chan struct{})
	res := make(chan bool)
	go func() { res <- d.send(d.assign(5), job{key: 5}, stop) }()
	close(stop)
	if <-res {
		t.Fatal("send to a full queue succeeded")
	}
	if d.load[0] != 1 || d.slots[5].pending != 1 {
		t.Fatalf("after a dropped send: load %d, pending %d; want 1, 1", d.load[0], d.slots[5].pending)
	}
	if d.queued() != 1 {
		t.Fatalf("queued %d, want 1", d.queued())
	}
}

func TestCallID(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"full", "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: abc@h\r\nCSeq: 1 INVITE\r\n\r\n", "abc@h"},
		{"compact", "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h\r\ni: xyz\r\n\r\n", "xyz"},
		{"any case, space before colon", "BYE sip:b@x SIP/2.0\r\nCALL-id \t:  v 1 \t\r\n\r\n", "v 1"},
		{"compact upper case", "ACK sip:b@x SIP/2.0\r\nI:k\r\n\r\n", "k"},
		{"LF line ends", "ACK sip:b@x SIP/2.0\nFrom: a\nCall-ID: lf\n\n", "lf"},
		{"first of two", "ACK sip:b@x SIP/2.0\r\nCall-ID: one\r\nCall-ID: two\r\n\r\n", "one"},
		{"last line without end", "ACK sip:b@x SIP/2.0\r\nCall-ID: end", "end"},
		{"not Call-Info or Identity", "ACK sip:b@x SIP/2.0\r\nCall-Info: <x>\r\nIdentity: y\r\nCall-IDx: z\r\n\r\n", ""},
		{"not in the body", "ACK sip:b@x SIP/2.0\r\nFrom: a\r\n\r\nCall-ID: body\r\n", ""},
		{"not the start line", "Call-ID: x\r\nFrom: a\r\n\r\n", ""},
		{"empty value", "ACK sip:b@x SIP/2.0\r\nCall-ID:   \r\n\r\n", ""},
		{"no line end", "ACK sip:b@x SIP/2.0", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(callID([]byte(tt.raw))); got != tt.want {
				t.Fatalf("callID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMessageKey(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:5060")
	b := netip.MustParseAddrPort("127.0.0.1:5070")
	inv := []byte("INVITE sip:b@x SIP/2.0\r\nCall-ID: c1\r\n\r\n")
	ok200 := []byte("SIP/2.0 200 OK\r\ni: c1\r\n\r\n")
	other := []byte("INVITE sip:b@x SIP/2.0\r\nCall-ID: c2\r\n\r\n")
	noID := []byte("INVITE sip:b@x SIP/2.0\r\nFrom: a\r\n\r\n")
	key := func(j job) uint32 { return messageKey(&j) }
	if key(job{raw: inv, src: a}) != key(job{raw: ok200, src: b}) {
		t.Error("one Call-ID from two sources: different keys")
	}
	if key(job{raw: inv, src: a}) == key(job{raw: other, src: a}) {
		t.Error("two Call-IDs: same key")
	}
	if key(job{raw: noID, src: a}) != key(job{raw: []byte("x"), src: a}) {
		t.Error("no Call-ID: not keyed by source")
	}
	if key(job{raw: noID, src: a}) == key(job{raw: noID, src: b}) {
		t.Error("no Call-ID, two sources: same key")
	}
	if key(job{raw: inv, src: a, connID: 3}) != key(job{raw: other, src: a, connID: 3}) {
		t.Error("one TCP connection: different keys")
	}
	for _, j := range []job{{raw: inv}, {raw: noID}, {connID: 1}} {
		if key(j) == 0 {
			t.Errorf("key 0 for %q", j.raw)
		}
	}
}

// TestMessageKeySpread: sipp's Call-IDs differ in a few digits only; they
// must still spread over the slots about as random keys would (1000 random
// keys fill 888 of 4096 slots on average).
func TestMessageKeySpread(t *testing.T) {
	slots := map[uint32]bool{}
	for i := range 1000 {
		j := job{raw: fmt.Appendf(nil, "INVITE sip:s@h SIP/2.0\r\nCall-ID: %d-30415@127.0.0.1\r\n\r\n", i)}
		slots[messageKey(&j)%dispatchSlots] = true
	}
	if len(slots) < 820 {
		t.Fatalf("1000 Call-IDs in %d slots", len(slots))
	}
}

func TestCallIDAllocatesNothing(t *testing.T) {
	raw := []byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: 1-2345@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	j := job{raw: raw}
	if n := testing.AllocsPerRun(100, func() { messageKey(&j) }); n != 0 {
		t.Fatalf("messageKey allocates %v times", n)
	}
}

// BenchmarkMessageKey measures what dispatch adds per message: the key of
// a 180 from sipp, and the dispatcher's bookkeeping (assign and done).
func BenchmarkMessageKey(b *testing.B) {
	raw := []byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-1-0\r\nFrom: sipp <sip:sipp@127.0.0.1:5080>;tag=1\r\nTo: <sip:service@127.0.0.1:5070>;tag=2\r\nCall-ID: 1-2345@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5070;transport=UDP>\r\nContent-Length: 0\r\n\r\n")
	j := job{raw: raw}
	d := newDispatcher(2, 1)
	for b.Loop() {
		k := messageKey(&j)
		d.done(d.assign(k), k)
	}
}

// TestDispatcherDropsEverythingOnceStopped: once stop is closed no job is
// queued, even where the queue has room. A send chose at random between
// a free queue and a closed stop, so a TCP reader could drop one message
// of a stream at stop and queue the next one, which a worker then routed
// without the message before it.
func TestDispatcherDropsEverythingOnceStopped(t *testing.T) {
	d := newDispatcher(1, 8)
	stop := make(chan struct{})
	close(stop)
	for i := range 100 {
		if d.send(d.assign(5), job{key: 5}, stop) {
			t.Fatalf("job %d queued after stop", i)
		}
	}
	if d.load[0] != 0 || d.slots[5].pending != 0 || d.queued() != 0 {
		t.Fatalf("after dropped sends: load %d, pending %d, queued %d; want 0", d.load[0], d.slots[5].pending, d.queued())
	}
}

// TestDispatcherOfferNeverWaits: a datagram of a key whose worker's queue
// is full is refused at once, while another key still goes to a worker
// with room, so one flooded Call-ID cannot stall the socket's reader.
func TestDispatcherOfferNeverWaits(t *testing.T) {
	d := newDispatcher(2, 1)
	if r := d.offer(d.assign(5), job{key: 5}, nil); r != offerQueued {
		t.Fatalf("first offer: %v, want queued", r)
	}
	if r := d.offer(d.assign(5), job{key: 5}, nil); r != offerFull {
		t.Fatalf("offer to the key's full queue: %v, want full", r)
	}
	if d.slots[5].pending != 1 {
		t.Fatalf("pending %d after a refused offer, want 1", d.slots[5].pending)
	}
	w := d.assign(6)
	if w == int(d.slots[5].owner) {
		t.Fatalf("key 6 went to the busy worker %d", w)
	}
	if r := d.offer(w, job{key: 6}, nil); r != offerQueued {
		t.Fatalf("offer of another key: %v, want queued", r)
	}
	stop := make(chan struct{})
	close(stop)
	if r := d.offer(d.assign(7), job{key: 7}, stop); r != offerStopped {
		t.Fatalf("offer after stop: %v, want stopped", r)
	}
	if d.queued() != 2 || d.load[0]+d.load[1] != 2 {
		t.Fatalf("queued %d, load %v; want 2 and 2 in all", d.queued(), d.load)
	}
}
