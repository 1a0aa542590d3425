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

// deadline is one entry of the timer heap.
type deadline struct {
	at   time.Time
	t    *tx
	kind int
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = deadline{}
	*h = old[:len(old)-1]
	return d
}

// timers is tm's transaction timer: one heap of deadlines served by the tm
// timer process, instead of two runtime timers per transaction.
type timers struct {
	mu sync.Mutex
	h  deadlineHeap
}

func (ts *timers) add(at time.Time, t *tx, kind int) {
	ts.mu.Lock()
	heap.Push(&ts.h, deadline{at: at, t: t, kind: kind})
	ts.mu.Unlock()
}

// due pops the deadlines that passed.
func (ts *timers) due(now time.Time) []deadline {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []deadline
	for len(ts.h) > 0 && !ts.h[0].at.After(now) {
		out = append(out, heap.Pop(&ts.h).(deadline))
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
			mod.timers.add(t.lifeEnd, t, deadlineLife) // t_set_max_lifetime moved it
			return
		}
		mod.met.expired.Inc()
		if !t.final && !t.noIntReply {
			_ = mod.localReply(t, nil, 408, "Request Timeout")
		}
		mod.release(t)
	}
}
