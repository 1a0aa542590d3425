package tm

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// A retransmission that cannot be sent ends its branch at once with a 503
// (Kamailio's retransmission handler fakes a 503 reply for the branch; with
// sipgo's client transactions kemi ended it with a 408): the branch does
// not wait out fr_timer retransmitting into a dead transport, and the
// failure route runs on a worker as for a timeout. kemitest runs no
// processes: the test advances the wheel itself.
func TestRetransmissionSendFailureEndsTheBranch(t *testing.T) {
	for _, method := range []string{"INVITE", "MESSAGE"} {
		t.Run(method, func(t *testing.T) {
			env := kemitest.Load(t, map[string]map[string]any{"tm": {"retr_timer1": 100, "fr_timer": 30000}}, "tm")
			mod := env.Mods["tm"].(*Module)
			m := kemitest.ParseMsg(t, reliableRequest(method, "sip:bob@127.0.0.1:5080", "sf"+method))
			if got := env.Call(t, "KSR.tm.t_relay", m); got != kemi.OK {
				t.Fatalf("t_relay = %v", got)
			}
			mod.AfterRequestRoute(m)
			// no timer process runs: nobody reads FailSend meanwhile
			env.Host.FailSend = true
			now := int64(mod.wheel.elapsed() / wheelTick)
			mod.wheel.advanceTo(now+20, mod.fire) // past T1: timer A / E fails to send
			env.Host.FailSend = false             // the caller can be answered
			mod.wheel.advanceTo(now+40, mod.fire)
			r := peekRef(m)
			r.t.mu.Lock()
			defer r.t.mu.Unlock()
			if !r.t.final {
				t.Fatalf("the transaction has no final reply after its only branch failed to send")
			}
			if r.t.txState != nil {
				b := r.t.branches[0]
				if !b.final || b.status != 503 {
					t.Errorf("branch final %v status %d, want a 503", b.final, b.status)
				}
			}
			if got := int(r.t.uasStatus); got != 503 {
				t.Errorf("status upstream %d, want 503", got)
			}
		})
	}
}
