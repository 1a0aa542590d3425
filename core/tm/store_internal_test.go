package tm

import (
	"runtime"
	"strconv"
	"testing"
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
