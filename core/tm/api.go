package tm

import (
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// AfterRequestRoute releases a transaction the request route created but
// neither relayed nor answered (Kamailio: "script writer didn't release
// transaction"), and ends a t_precheck_trans mark.
func (mod *Module) AfterRequestRoute(m *kemi.Msg) {
	r := peekRef(m)
	if r == nil {
		return
	}
	if r.precheck != "" {
		mod.inflight.leave(r.precheck)
	}
	t := r.t
	if t == nil || !r.created {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inRoute = false
	if t.done || t.final || len(t.branches) > 0 {
		mod.maybeTrim(t) // the route was the last to need the request
		return
	}
	mod.met.released.Inc()
	mod.log.Warn("the script neither relayed nor answered a transaction: released", "method", t.method, "call_id", t.callID)
	mod.release(t)
}

// StatefulReply answers through the transaction of m, if it has one (sl's
// send_reply).
func (mod *Module) StatefulReply(m *kemi.Msg, code int, reason string) (bool, error) {
	r := peekRef(m)
	if r == nil || r.t == nil {
		return false, nil
	}
	unlock := lockTx(r)
	defer unlock()
	if r.t.done {
		return true, errGone
	}
	m.Handled = true
	if m.ReplyClose || m.ReplyNoConnect { // send_reply_mode for this reply on
		r.t.dst.Close = r.t.dst.Close || m.ReplyClose
		r.t.dst.NoConnect = r.t.dst.NoConnect || m.ReplyNoConnect
	}
	return true, mod.localReply(r.t, m, code, reason)
}

var errGone = errors.New("the transaction is gone")

// PrecheckTrans is tmx's t_precheck_trans.
func (mod *Module) PrecheckTrans(m *kemi.Msg) int {
	if !m.IsRequest() || m.Method() == "ACK" || m.Method() == "CANCEL" {
		return -1
	}
	key := serverKey(m, "")
	if mod.txs.get(key) != nil {
		return 1
	}
	r := refOf(m)
	if r.precheck != "" {
		return -1
	}
	if mod.inflight.enter(key) {
		return 1
	}
	r.precheck = key
	return -1
}

// FlushFlags is tmx's t_flush_flags.
func (mod *Module) FlushFlags(m *kemi.Msg) int {
	return int(onTx(m, func(r *ref) kemi.Value { r.t.flags = m.Flags; return kemi.OK }).AsInt())
}

// FlushXFlags copies the message's extended flags into its transaction
// (tmx t_flush_xflags).
func (mod *Module) FlushXFlags(m *kemi.Msg) int {
	return int(onTx(m, func(r *ref) kemi.Value { r.t.xflags = m.XFlags; return kemi.OK }).AsInt())
}

// findCall returns the transaction with that Call-ID and CSeq number (the
// INVITE one when several). It matches on callKey, which never changes, so
// that it locks no transaction: the caller's route may hold one, and
// onCall checks the match under the lock.
func (mod *Module) findCall(callID, cseq string) *tx {
	n, err := strconv.ParseUint(cseq, 10, 32)
	if err != nil {
		return nil
	}
	k := callKey(callID, uint32(n))
	var found *tx
	for _, t := range mod.txs.all() { // rare: a scan beats an index kept for every transaction
		if t.call == k && (found == nil || t.inv) {
			found = t
		}
	}
	return found
}

// callKey hashes a Call-ID and CSeq number (findCall).
func callKey(callID string, cseq uint32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(callID))
	h.Write([]byte{0, byte(cseq >> 24), byte(cseq >> 16), byte(cseq >> 8), byte(cseq)})
	return h.Sum64()
}

// lockOther locks t, a transaction found by Call-ID or a scan, for a
// function m's route called. When the route already holds its own
// transaction (failure, onreply, branch routes), t may be that one (then
// nothing is locked again), or another transaction whose route waits for
// ours: lockOther then gives up after a while instead of deadlocking, and
// reports false.
func lockOther(m *kemi.Msg, t *tx) (unlock func(), ok bool) {
	r := peekRef(m)
	if r != nil && r.t == t {
		return lockTx(r), true
	}
	if r == nil || !r.held {
		t.mu.Lock()
		return t.mu.Unlock, true
	}
	for deadline := time.Now().Add(200 * time.Millisecond); ; time.Sleep(time.Millisecond) {
		if t.mu.TryLock() {
			return t.mu.Unlock, true
		}
		if time.Now().After(deadline) {
			return nil, false
		}
	}
}

// ReplyCallID is tmx's t_reply_callid.
func (mod *Module) ReplyCallID(m *kemi.Msg, callID, cseq string, code int, reason string) int {
	return mod.onCall(m, callID, cseq, func(t *tx) int {
		if t.final || mod.localReply(t, nil, code, reason) != nil {
			return -1
		}
		return 1
	})
}

// onCall runs f on the live transaction with that Call-ID and CSeq number,
// locked (see lockOther); -1 when there is none.
func (mod *Module) onCall(m *kemi.Msg, callID, cseq string, f func(t *tx) int) int {
	t := mod.findCall(callID, cseq)
	if t == nil {
		return -1
	}
	n, _ := strconv.ParseUint(cseq, 10, 32)
	unlock, ok := lockOther(m, t)
	if !ok {
		return -1
	}
	defer unlock()
	if t.done || t.txState == nil || t.callID != callID || t.cseq != uint32(n) {
		return -1 // finished, or another call with the same hash
	}
	defer mod.maybeTrim(t)
	return f(t)
}

// CancelBranches is tmx's t_cancel_branches: "all" (but the branch
// whose final reply is being handled), "others" (all but the current
// branch) or "this"; -1 when no pending INVITE branch was left to cancel.
func (mod *Module) CancelBranches(m *kemi.Msg, which string) int {
	if which != "all" && which != "others" && which != "this" {
		m.Errorf(mod.log, "t_cancel_branches: unknown mode %q (all, others, this)", which)
		return -1
	}
	return int(onTx(m, func(r *ref) kemi.Value {
		t := r.t
		if !t.inv {
			return kemi.Fail
		}
		var n int
		switch {
		case which == "this":
			if r.b == nil || r.b.final {
				return kemi.Fail
			}
			r.b.cancel = true
			if r.b.provisonal && !r.b.cancelSent {
				mod.sendCancel(t, r.b)
			}
			return kemi.OK
		case which == "others" || (m.IsReply() && m.Response().StatusCode >= 200):
			n = mod.cancelBranches(t, r.b)
		default:
			n = mod.cancelBranches(t, nil)
		}
		return kemi.IntBool(n > 0)
	}).AsInt())
}

// CancelCallID is tmx's t_cancel_callid: cancel the pending branches of
// the transaction with that Call-ID and CSeq number, as Kamailio does: flag
// fl (1..31) is set on it, and rcode (100..699) is the cause in the Reason
// header of the CANCELs. The caller then gets the 487 of the branches.
func (mod *Module) CancelCallID(m *kemi.Msg, callID, cseq string, fl, rcode int) int {
	return mod.onCall(m, callID, cseq, func(t *tx) int {
		return mod.cancelCall(t, fl, rcode)
	})
}

// cancelCall is CancelCallID on the transaction found; t.mu held.
func (mod *Module) cancelCall(t *tx, fl, rcode int) int {
	if fl > 0 && fl < 32 {
		t.flags |= 1 << uint(fl)
	}
	if rcode >= 100 && rcode <= 699 {
		t.cancelReason = "SIP;cause=" + strconv.Itoa(rcode)
	}
	if t.inv && !t.final {
		t.canceled = true
	}
	mod.cancelBranches(t, nil)
	return 1
}

// Drop is tmx's t_drop and t_drop_rcode: the transaction ends at once
// without another reply, rcode recorded as its status; 0 stops the
// script, as in Kamailio.
func (mod *Module) Drop(m *kemi.Msg, rcode int) int {
	return int(onTx(m, func(r *ref) kemi.Value {
		r.t.uasStatus = int32(rcode)
		mod.release(r.t)
		return kemi.Int(0)
	}).AsInt())
}

// ReuseBranch is tmx's t_reuse_branch: in a branch-failure route, the
// failed branch's Request-URI and branch flags become the message's, for a
// new branch the script relays.
func (mod *Module) ReuseBranch(m *kemi.Msg) int {
	r := peekRef(m)
	if r == nil || r.t == nil || r.b == nil || m.Route != kemi.RouteBranchFailure {
		return -1
	}
	unlock := lockTx(r)
	defer unlock()
	if err := m.SetRURI(r.b.uri); err != nil {
		return -1
	}
	m.BFlags = r.b.flags
	return 1
}

var _ kemi.TransactionAPI = (*Module)(nil)
