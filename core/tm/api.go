package tm

import (
	"strconv"

	"github.com/emiago/sipgo/sip"
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
	if t.done || t.final || len(t.branches) > 0 {
		return
	}
	mod.met.released.Inc()
	mod.log.Warn("the script neither relayed nor answered a transaction: released", "method", t.req.Method, "call_id", t.callID)
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
	return true, mod.localReply(r.t, m, code, reason)
}

var errGone = errString("the transaction is gone")

type errString string

func (e errString) Error() string { return string(e) }

// PrecheckTrans is tmx's t_precheck_trans.
func (mod *Module) PrecheckTrans(m *kemi.Msg) int {
	if m.Req == nil || m.Req.Method == sip.ACK || m.Req.Method == sip.CANCEL {
		return -1
	}
	key := serverKey(m.Req, "")
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
	return withOwnTx(m, func(t *tx) { t.flags = m.Flags })
}

// FlushXFlags copies the message's extended flags into its transaction
// (tmx t_flush_xflags).
func (mod *Module) FlushXFlags(m *kemi.Msg) int {
	return withOwnTx(m, func(t *tx) { t.xflags = m.XFlags })
}

// withOwnTx runs f on the transaction of m, locked: 1, or -1 without one.
func withOwnTx(m *kemi.Msg, f func(t *tx)) int {
	r := peekRef(m)
	if r == nil || r.t == nil {
		return -1
	}
	defer lockTx(r)()
	f(r.t)
	return 1
}

// findCall returns the transaction with that Call-ID and CSeq number (the
// INVITE one when several).
func (mod *Module) findCall(callID, cseq string) *tx {
	n, err := strconv.ParseUint(cseq, 10, 32)
	if err != nil {
		return nil
	}
	var found *tx
	for _, t := range mod.txs.byCall(callID) {
		if t.cseq == uint32(n) && (found == nil || t.inv) {
			found = t
		}
	}
	return found
}

// lockFound locks t, found by Call-ID, unless it is the transaction
// whose route m runs in and that route already holds it.
func lockFound(m *kemi.Msg, t *tx) func() {
	if r := peekRef(m); r != nil && r.t == t {
		return lockTx(r)
	}
	t.mu.Lock()
	return t.mu.Unlock
}

// ReplyCallID is tmx's t_reply_callid.
func (mod *Module) ReplyCallID(m *kemi.Msg, callID, cseq string, code int, reason string) int {
	t := mod.findCall(callID, cseq)
	if t == nil {
		return -1
	}
	defer lockFound(m, t)()
	if t.done || t.final {
		return -1
	}
	if err := mod.localReply(t, nil, code, reason); err != nil {
		return -1
	}
	return 1
}

// CancelBranches is tmx's t_cancel_branches.
func (mod *Module) CancelBranches(m *kemi.Msg, which string) int {
	r := peekRef(m)
	if r == nil || r.t == nil {
		return -1
	}
	unlock := lockTx(r)
	defer unlock()
	t := r.t
	switch which {
	case "all":
		mod.cancelBranches(t, nil)
	case "others":
		mod.cancelBranches(t, r.b)
	case "this":
		if r.b == nil || r.b.final {
			return -1
		}
		r.b.cancel = true
		if r.b.provisonal && !r.b.cancelSent {
			mod.sendCancel(t, r.b)
		}
	default:
		m.Errorf(mod.log, "t_cancel_branches: unknown mode %q (all, others, this)", which)
		return -1
	}
	return 1
}

// CancelCallID is tmx's t_cancel_callid: cancel the INVITE transaction with
// that Call-ID and CSeq number, as if a CANCEL came.
func (mod *Module) CancelCallID(m *kemi.Msg, callID, cseq string, flags, rcode int) int {
	t := mod.findCall(callID, cseq)
	if t == nil || !t.inv {
		return -1
	}
	defer lockFound(m, t)()
	if t.final || t.done {
		return -1
	}
	t.canceled = true
	mod.cancelBranches(t, nil)
	if rcode > 0 {
		_ = mod.localReply(t, nil, rcode, "")
	}
	return 1
}

// Drop is tmx's t_drop: the transaction ends without more replies.
func (mod *Module) Drop(m *kemi.Msg, rcode int) int {
	r := peekRef(m)
	if r == nil || r.t == nil {
		return -1
	}
	unlock := lockTx(r)
	defer unlock()
	if rcode > 0 {
		r.t.uasStatus = rcode
	}
	mod.release(r.t)
	return 1
}

// ReuseBranch is tmx's t_reuse_branch: in a failure route, relay again to
// the Contacts of the winning 3xx reply.
func (mod *Module) ReuseBranch(m *kemi.Msg) int {
	r := peekRef(m)
	if r == nil || r.t == nil || !r.held || r.t.bestBranch < 0 {
		return -1
	}
	t := r.t
	b := t.branches[t.bestBranch]
	if b.reply == nil || b.status < 300 || b.status >= 400 {
		return -1
	}
	var contacts []string
	for _, h := range b.reply.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			contacts = append(contacts, c.Address.String())
		}
	}
	if len(contacts) == 0 {
		return -1
	}
	if err := m.SetRURI(contacts[0]); err != nil {
		return -1
	}
	for _, c := range contacts[1:] {
		m.Branches = append(m.Branches, kemi.Branch{URI: c, Q: -1})
	}
	return int(mod.tRelay(m, relayOpts{}).AsInt())
}

var _ kemi.TransactionAPI = (*Module)(nil)
