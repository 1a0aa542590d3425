package tm

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// After a burst the store's maps give back their memory: Go maps keep
// their size when entries are deleted (60 bytes for each transaction of
// the peak, 3 MB after 50 000), so the store makes them again once they
// hold few; a few transactions left stay findable.
func TestStoreShrinksAfterABurst(t *testing.T) {
	const burst, kept = 50000, 10
	s := newStore()
	txs := make([]*tx, burst)
	for i := range txs {
		txs[i] = &tx{id: uint64(i + 1), key: "z9hG4bKburst" + strconv.Itoa(i) + "|127.0.0.1:5070|INVITE"}
	}
	before := liveHeap()
	for _, x := range txs {
		if s.add(x) != nil {
			t.Fatal("duplicate key")
		}
	}
	for _, x := range txs[kept:] {
		s.remove(x)
	}
	txs = txs[:kept]
	after := liveHeap()
	if grown := int64(after) - int64(before); grown > 512<<10 {
		t.Errorf("the store holds %d KB more after the burst ended", grown>>10)
	}
	for _, x := range txs {
		if s.get(x.key) != x {
			t.Errorf("transaction %d lost by key", x.id)
		}
		if got, _ := s.byBranchID("p", branchID("p", x.id, 0)); got != x {
			t.Errorf("transaction %d lost by id", x.id)
		}
	}
	if n := s.count.Load(); n != kept {
		t.Errorf("count %d, want %d", n, kept)
	}
}

// t_set_max_lifetime moves the lifetime of a transaction still waiting
// for its final reply, and leaves a finished one's wt_timer alone (the old
// timer heap's test covered the same).
func TestSetMaxLifetimeKeepsTheWaitTimer(t *testing.T) {
	env := kemitest.Load(t, nil, "tm")
	mod := env.Mods["tm"].(*Module)
	tests := []struct {
		reply int // 0: no reply yet
		want  timerKind
	}{
		{0, tkLife},
		{200, tkWait},
	}
	for i, tt := range tests {
		m := kemitest.ParseMsg(t, reliableRequest("MESSAGE", "sip:bob@127.0.0.1", "ml"+strconv.Itoa(i)))
		if got := env.Call(t, "KSR.tm.t_newtran", m); got != kemi.OK {
			t.Fatalf("t_newtran = %v", got)
		}
		if tt.reply > 0 {
			if got := env.Call(t, "KSR.tm.t_reply", m, tt.reply, "OK"); got != kemi.OK {
				t.Fatalf("t_reply = %v", got)
			}
		}
		if got := env.Call(t, "KSR.tm.t_set_max_lifetime", m, 1000, 1000); got != kemi.OK {
			t.Fatalf("t_set_max_lifetime = %v", got)
		}
		r := peekRef(m)
		r.t.mu.Lock()
		kind, queued := mod.wheel.armed(&r.t.tm)
		at := r.t.tm.expires
		r.t.mu.Unlock()
		if !queued || kind != tt.want {
			t.Errorf("reply %d: timer %d (armed %v), want %d", tt.reply, kind, queued, tt.want)
		}
		if tt.want == tkLife {
			// the default is 32 s; 1 s from creation, a tick rounded up
			if d := time.Duration(at)*wheelTick - mod.wheel.elapsed(); d > time.Second+wheelTick {
				t.Errorf("lifetime ends in %v, want 1 s at most", d)
			}
		}
	}
}
