package tm

import (
	"context"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// timerProcess is tm's timer process: each tick it advances the wheel,
// which sends retransmissions, ends branches at fr_timer, releases
// transactions at wt_timer and expires those that outlive their lifetime.
func (mod *Module) timerProcess(ctx context.Context, pc *kemi.ProcContext) error {
	mod.runWheel(ctx, mod.fire)
	return nil
}

// runWheel advances the wheel every tick while something is armed, and
// sleeps while nothing is, until ctx ends.
func (mod *Module) runWheel(ctx context.Context, fire func(expiry)) {
	tick := time.NewTicker(wheelTick)
	defer tick.Stop()
	for {
		if mod.wheel.len() == 0 {
			// nothing armed: sleep until something is (an arming after
			// the check leaves its signal in armedc)
			tick.Stop()
			select {
			case <-ctx.Done():
				return
			case <-mod.wheel.armedc:
			}
			tick.Reset(wheelTick)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			mod.wheel.advance(fire)
		}
	}
}

// fire acts on one expiry. fr_timer runs routes (branch-failure, failure),
// so a worker handles it; so does any expiry of a transaction a route
// holds right now, so that one slow route does not hold up every timer of
// the module.
func (mod *Module) fire(x expiry) {
	t := x.e.t
	if t == nil {
		mod.fireUAC(x)
		return
	}
	if x.kind == tkFR || !t.mu.TryLock() {
		mod.host.Exec(func(run kemi.Runner, proc *kemi.Proc) {
			t.mu.Lock()
			defer t.mu.Unlock()
			mod.expire(x, run, proc)
		})
		return
	}
	defer t.mu.Unlock()
	mod.expire(x, nil, nil)
}

// expire acts on an expiry of t's timers; t.mu held.
func (mod *Module) expire(x expiry, run kemi.Runner, proc *kemi.Proc) {
	t := x.e.t
	if t.done || !mod.wheel.current(x) {
		return // stopped or re-armed meanwhile
	}
	defer mod.maybeTrim(t)
	b := x.e.b
	switch x.kind {
	case tkLife:
		if t.txState != nil && time.Now().Before(t.lifeEnd) {
			mod.wheel.set(&t.tm, time.Until(t.lifeEnd), tkLife) // t_set_max_lifetime moved it
			return
		}
		mod.met.expired.Inc()
		if !t.final {
			_ = mod.localReply(t, nil, 408, "Request Timeout")
		}
		mod.release(t)
	case tkWait:
		mod.release(t)
	case tkReplyRetr:
		if t.acked {
			return
		}
		rb := t.rb
		if rb.hLeft <= 0 {
			mod.startWait(t) // timer H: no ACK came
			return
		}
		mod.sendRaw(t.dst, rb.reply)
		rb.retrIv = min(2*rb.retrIv, rb.t2)
		d := min(rb.retrIv, rb.hLeft)
		rb.hLeft -= d
		mod.wheel.set(&t.tm, d, tkReplyRetr)
	case tkRequest:
		if b.final || (t.inv && b.provisonal) || b.req == nil && b.wire == nil {
			return
		}
		if k, queued := mod.wheel.armed(&b.fr); k == tkFR && !queued {
			return // fr_timer expired and waits for a worker: the branch is over
		}
		if err := mod.resendBranch(b); err != nil {
			// as Kamailio's retransmission handler (a 503 for the branch):
			// no use retransmitting into a transport that fails. fr_timer
			// fires now, so that the failure route runs on a worker.
			b.sendFailed = true
			mod.armFR(b, 0)
			return
		}
		switch {
		case b.provisonal:
			b.retrIv = b.t2 // RFC 3261 §17.1.2.2: Proceeding, timer E at T2
		default:
			// timers A and E double up to T2: Kamailio caps INVITE
			// retransmissions at retr_timer2 too (RFC 3261 lets timer A
			// grow until timer B), so the wire matches its
			b.retrIv = min(2*b.retrIv, b.t2)
		}
		mod.wheel.set(&b.retr, b.retrIv, tkRequest)
	case tkCancel:
		if b.cancelDone || b.gotFinal || b.cancelReq == nil && b.cancelWire == nil || b.crLeft <= 0 {
			return
		}
		if b.cancelWire != nil {
			_ = mod.resendWire(b.cancelWire, b.dst)
		} else {
			_ = mod.resend(b.cancelReq, b.dst)
		}
		b.crIv = min(2*b.crIv, b.t2)
		d := min(b.crIv, b.crLeft)
		b.crLeft -= d
		mod.wheel.set(&b.cretr, d, tkCancel)
	case tkFR:
		mod.branchTimeout(t, b, run, proc)
	}
}

// sendRaw sends bytes tm keeps (a final reply, an ACK) again.
func (mod *Module) sendRaw(dst kemi.Dest, b []byte) {
	if b == nil {
		return
	}
	mod.met.retransmits.Inc()
	if err := mod.raw.SendRaw(dst, b); err != nil {
		mod.met.sendErrors.Inc()
	}
}

// resend sends a request again (timers A and E, a CANCEL's timer E).
func (mod *Module) resend(req *sip.Request, dst kemi.Dest) error {
	mod.met.retransmits.Inc()
	if err := mod.host.SendRequest(nil, req, dst); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	return nil
}

// resendBranch sends a branch's request again (timers A and E), as
// written when it was kept as bytes.
func (mod *Module) resendBranch(b *branch) error {
	if b.req == nil {
		return mod.resendWire(b.wire, b.dst)
	}
	return mod.resend(b.req, b.dst)
}

// resendWire sends a request kept as bytes again.
func (mod *Module) resendWire(w []byte, dst kemi.Dest) error {
	mod.met.retransmits.Inc()
	if err := mod.sendRequestWire(dst, w); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	return nil
}

// reparser sends kept bytes through a host that cannot send raw bytes
// (kemi.RawSender): it parses them again. The engine is a RawSender.
type reparser struct{ host kemi.Host }

func (r reparser) SendRaw(dst kemi.Dest, b []byte) error {
	if r.host == nil {
		return fmt.Errorf("core/tm: no host to send with")
	}
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return fmt.Errorf("core/tm: kept message does not parse: %w", err)
	}
	switch m := msg.(type) {
	case *sip.Request:
		return r.host.SendRequest(nil, m, dst)
	case *sip.Response:
		return r.host.SendReply(m, dst)
	}
	return fmt.Errorf("core/tm: cannot send %T", msg)
}
