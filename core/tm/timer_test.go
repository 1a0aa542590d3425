package tm

import (
	"testing"
	"time"
)

// The timer heap keeps one deadline per transaction: a released
// transaction leaves no entry behind to pin its memory.
func TestTimersOneDeadlinePerTransaction(t *testing.T) {
	base := time.Unix(1000, 0)
	newT := func() *tx { return &tx{timer: txTimer{idx: -1}} }
	a, b, c := newT(), newT(), newT()
	var ts timers
	ts.set(a, base.Add(180*time.Second), deadlineLife)
	ts.set(b, base.Add(32*time.Second), deadlineLife)
	ts.set(c, base.Add(3*time.Second), deadlineLife)
	if n := ts.len(); n != 3 {
		t.Fatalf("%d deadlines, want 3", n)
	}
	ts.set(a, base.Add(5*time.Second), deadlineWait) // final reply: wait replaces lifetime
	if n := ts.len(); n != 3 {
		t.Fatalf("%d deadlines after the wait timer replaced a lifetime, want 3", n)
	}
	ts.setLifetime(a, base.Add(time.Second)) // t_set_max_lifetime after the final reply
	if a.timer.kind != deadlineWait {
		t.Fatal("a lifetime replaced the wait timer")
	}
	ts.remove(b)
	if n := ts.len(); n != 2 || b.timer.idx != -1 {
		t.Fatalf("after remove: %d deadlines, idx %d", n, b.timer.idx)
	}
	ts.remove(b) // twice is harmless
	tests := []struct {
		now  time.Duration
		want []*tx
		kind []int
	}{
		{2 * time.Second, nil, nil},
		{4 * time.Second, []*tx{c}, []int{deadlineLife}},
		{200 * time.Second, []*tx{a}, []int{deadlineWait}},
		{300 * time.Second, nil, nil},
	}
	for _, tt := range tests {
		got := ts.due(base.Add(tt.now))
		if len(got) != len(tt.want) {
			t.Fatalf("at %v: %d due, want %d", tt.now, len(got), len(tt.want))
		}
		for i := range got {
			if got[i].t != tt.want[i] || got[i].kind != tt.kind[i] {
				t.Errorf("at %v: due %d is %p kind %d, want %p kind %d", tt.now, i, got[i].t, got[i].kind, tt.want[i], tt.kind[i])
			}
			if got[i].t.timer.idx != -1 {
				t.Errorf("a due transaction still has heap index %d", got[i].t.timer.idx)
			}
		}
	}
	if n := ts.len(); n != 0 {
		t.Fatalf("%d deadlines left", n)
	}
}
