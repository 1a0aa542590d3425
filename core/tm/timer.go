package tm

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// Deadline kinds of the transaction timer.
const (
	deadlineWait = iota // wt_timer after the final reply: release
	deadlineLife        // max_*_lifetime: expire
)

// deadlineHeap orders transactions by their next deadline; each
// transaction is in it at most once (tx.timer), so a released one is
// removed at once instead of lingering until its lifetime ends.
type deadlineHeap []*tx

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].timer.at.Before(h[j].timer.at) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].timer.idx, h[j].timer.idx = i, j
}
func (h *deadlineHeap) Push(x any) {
	t := x.(*tx)
	t.timer.idx = len(*h)
	*h = append(*h, t)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.timer.idx = -1
	return t
}

// txTimer is a transaction's place in the timer heap; guarded by
// timers.mu, not tx.mu.
type txTimer struct {
	idx  int // index in the heap, -1 when not in it
	at   time.Time
	kind int
}

// deadline is a due timer handed to the timer process.
type deadline struct {
	t    *tx
	kind int
}

// timers is tm's transaction timer: one heap of deadlines served by the tm
// timer process, instead of runtime timers per transaction.
type timers struct {
	mu sync.Mutex
	h  deadlineHeap
}

// set gives t its next deadline, replacing the one it had.
func (ts *timers) set(t *tx, at time.Time, kind int) {
	ts.mu.Lock()
	t.timer.at, t.timer.kind = at, kind
	if t.timer.idx >= 0 {
		heap.Fix(&ts.h, t.timer.idx)
	} else {
		heap.Push(&ts.h, t)
	}
	ts.mu.Unlock()
}

// setLifetime moves t's lifetime deadline unless it already waits for
// release.
func (ts *timers) setLifetime(t *tx, at time.Time) {
	ts.mu.Lock()
	waiting := t.timer.idx >= 0 && t.timer.kind == deadlineWait
	ts.mu.Unlock()
	if !waiting {
		ts.set(t, at, deadlineLife)
	}
}

// remove takes t out of the heap.
func (ts *timers) remove(t *tx) {
	ts.mu.Lock()
	if t.timer.idx >= 0 {
		heap.Remove(&ts.h, t.timer.idx)
	}
	ts.mu.Unlock()
}

// len is the number of transactions with a deadline.
func (ts *timers) len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.h)
}

// due pops the deadlines that passed.
func (ts *timers) due(now time.Time) []deadline {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []deadline
	for len(ts.h) > 0 && !ts.h[0].timer.at.After(now) {
		kind := ts.h[0].timer.kind
		out = append(out, deadline{t: heap.Pop(&ts.h).(*tx), kind: kind})
	}
	return out
}

// timerProcess is tm's timer process: it releases transactions wt_timer
// after their final reply and expires those that outlive their lifetime.
func (mod *Module) timerProcess(ctx context.Context, pc *kemi.ProcContext) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			for _, d := range mod.timers.due(now) {
				mod.fire(d, now)
			}
		}
	}
}

func (mod *Module) fire(d deadline, now time.Time) {
	t := d.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	switch d.kind {
	case deadlineWait:
		mod.release(t)
	case deadlineLife:
		if now.Before(t.lifeEnd) {
			mod.timers.setLifetime(t, t.lifeEnd) // t_set_max_lifetime moved it
			return
		}
		mod.met.expired.Inc()
		if !t.final {
			_ = mod.localReply(t, nil, 408, "Request Timeout")
		}
		mod.release(t)
	}
}
