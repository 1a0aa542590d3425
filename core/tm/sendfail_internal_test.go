package tm

import (
	"testing"
	"time"

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
			// the request route has not ended (no AfterRequestRoute): the
			// transaction keeps its branches for the checks below
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
			b := r.t.branches[0]
			if !b.final || b.status != 503 || b.timedOut {
				t.Errorf("branch final %v status %d timed out %v, want a 503 and no timeout", b.final, b.status, b.timedOut)
			}
			if got := int(r.t.uasStatus); got != 503 {
				t.Errorf("status upstream %d, want 503", got)
			}
		})
	}
}

// A request of a module's own (kemi.UAC) whose retransmission cannot be
// sent ends at once with 477, as the README promises and as it did over
// sipgo's client transactions, not with a 408 at its timeout.
func TestUACRetransmissionSendFailure(t *testing.T) {
	env := kemitest.Load(t, map[string]map[string]any{"tm": {"retr_timer1": 100}}, "tm")
	mod := env.Mods["tm"].(*Module)
	var got []int
	r := kemi.UACRequest{Method: "OPTIONS", RURI: "sip:bob@127.0.0.1:5080", Headers: "From: <sip:probe@127.0.0.1>\r\nTo: <sip:bob@127.0.0.1:5080>\r\n", Timeout: 30 * time.Second}
	if err := mod.SendRequest(r, func(res kemi.UACResult) { got = append(got, res.Code) }); err != nil {
		t.Fatal(err)
	}
	env.Host.FailSend = true // no timer process runs: nobody reads it meanwhile
	mod.wheel.advanceTo(int64(mod.wheel.elapsed()/wheelTick)+20, mod.fire)
	if len(got) != 1 || got[0] != 477 {
		t.Errorf("outcomes %v, want one 477", got)
	}
	if len(mod.uacs.m) != 0 {
		t.Errorf("the request is still in the table")
	}
}
