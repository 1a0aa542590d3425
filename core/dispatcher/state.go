package dispatcher

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// Runtime state bits of a destination (Kamailio's DS_*_DST).
const (
	stInactive = flagInactive
	stTrying   = flagTrying
	stDisabled = flagDisabled
	stProbing  = flagProbing
	stAll      = stInactive | stTrying | stDisabled | stProbing
)

// skipped reports whether a destination in state st is out of rotation
// (Kamailio's ds_skip_dst): inactive or disabled.
func skipped(st int32) bool { return st&(stInactive|stDisabled) != 0 }

// runtime is what changes while a destination is used: its state flags,
// the counter of the probing and inactive thresholds, and the latency of
// its probes. Workers read the state without a lock; changes are made
// under mu.
type runtime struct {
	st atomic.Int32

	mu sync.Mutex
	// count is Kamailio's message_count: failures while trying, or
	// successes while inactive.
	count int
	lat   latency
}

func newRuntime(st int32) *runtime {
	rt := &runtime{}
	rt.st.Store(st)
	return rt
}

// replyCtx is what the dispatcher:dst-down / dst-up events see as $dsv:
// the code and reason of the reply that changed the state, and flags 1
// when they come from a real reply.
type replyCtx struct {
	code   int
	reason string
	flags  int
}

// stateTable applies state changes as Kamailio's ds_update_state does
// (thresholds, events) and counts them. Workers share it.
type stateTable struct {
	// probingThreshold failures take a destination from trying to
	// inactive; inactiveThreshold successes bring an inactive one back.
	probingThreshold, inactiveThreshold int
	// event runs dispatcher:dst-down / dst-up; nil runs nothing.
	event   func(m *kemi.Msg, d *dest, evname string, rc replyCtx)
	changes *metrics.Counter
}

// usable reports whether d may be selected: neither inactive nor disabled.
func (t *stateTable) usable(d *dest) bool { return !skipped(d.rt.st.Load()) }

// mark marks d with st from the script (ds_mark_dst and friends), as
// Kamailio's ds_mark_dst does: through the thresholds, with the events
// run on m, and in $dsv the reply's code (820 when m is a request).
func (t *stateTable) mark(m *kemi.Msg, d *dest, st int32) {
	rc := replyCtx{code: 820}
	if m != nil && m.IsReply() {
		rc = replyCtx{code: m.Response().StatusCode, reason: m.Response().Reason, flags: 1}
	}
	t.update(m, d, st, rc)
}

// update changes the state of d to st, as Kamailio's ds_update_state: a
// trying destination turns inactive after probingThreshold failures; an
// inactive one that answers stays inactive until inactiveThreshold
// successes. Leaving or joining the rotation runs dispatcher:dst-down or
// dispatcher:dst-up, on m when the script caused it.
func (t *stateTable) update(m *kemi.Msg, d *dest, st int32, rc replyCtx) {
	rt := d.rt
	rt.mu.Lock()
	old := rt.st.Load()
	asked := st
	if st&stTrying != 0 && old&stInactive != 0 {
		// inactive goes back to active before it can be trying again
		st = st&^stTrying | stInactive
	}
	next := old &^ stAll
	if st&stDisabled != 0 {
		next |= stDisabled
	} else {
		next |= st
	}
	switch {
	case st&stTrying != 0:
		rt.count++
		if rt.count >= t.probingThreshold {
			next = next&^stTrying | stInactive
			rt.count = 0
		}
	case asked&stTrying == 0 && old&stInactive != 0:
		rt.count++
		if rt.count < t.inactiveThreshold {
			next |= stInactive | old&stProbing
		} else {
			rt.count = 0
		}
	default:
		rt.count = 0
	}
	rt.st.Store(next)
	rt.mu.Unlock()
	if next != old && t.changes != nil {
		t.changes.Inc()
	}
	if t.event == nil {
		return
	}
	switch {
	case !skipped(old) && skipped(next):
		t.event(m, d, evDown, rc)
	case skipped(old) && !skipped(next):
		t.event(m, d, evUp, rc)
	}
}

// reinit sets the state of d as it is asked, without thresholds or
// events (Kamailio's ds_reinit_state, the RPC's way).
func (t *stateTable) reinit(d *dest, st int32) {
	d.rt.mu.Lock()
	old := d.rt.st.Swap(st)
	d.rt.mu.Unlock()
	if old != st && t.changes != nil {
		t.changes.Inc()
	}
}

func randN(n int) int { return rand.IntN(n) }
