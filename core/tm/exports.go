package tm

import (
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.tm.
func (mod *Module) Exports() []kemi.Export {
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "tm", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	S, I, II, SI := kemi.S, kemi.I, kemi.II, kemi.SI
	return []kemi.Export{
		x("t_relay", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.tRelay(m, relayOpts{}) }),
		x("t_relay_to_flags", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.tRelay(m, relayFlags(m, a.Int(0))) }),
		x("t_relay_to_proto", S, mod.relayToProto),
		x("t_relay_to_proto_addr", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, mod.relayToProtoAddr),
		x("t_relay_to_proxy", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.relayToProxy(m, a.Str(0)) }),
		x("t_relay_to_proxy_flags", SI, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			relayFlags(m, a.Int(1))
			return mod.relayToProxy(m, a.Str(0))
		}),
		x("t_on_failure", S, mod.onRoute(cbFailure)),
		x("t_on_reply", S, mod.onRoute(cbReply)),
		x("t_on_branch", S, mod.onRoute(cbBranch)),
		x("t_on_branch_failure", S, mod.onRoute(cbBranchFailure)),
		x("t_is_set", S, mod.isSet),
		x("t_check_trans", nil, mod.checkTrans),
		x("t_newtran", nil, mod.newtran),
		x("t_reply", kemi.IS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.tReply(m, a.Int(0), a.Str(1), false) }),
		x("t_send_reply", kemi.IS, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.tReply(m, a.Int(0), a.Str(1), true) }),
		x("t_reply_error", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			code, reason := 500, "Server Internal Error"
			if m.ErrCode >= 300 {
				code, reason = m.ErrCode, m.ErrReason
			}
			return mod.tReply(m, code, reason, false)
		}),
		x("t_release", nil, mod.tRelease),
		x("t_retransmit_reply", nil, mod.retransmitReply),
		x("t_is_canceled", nil, mod.txBool(func(t *tx, r *ref) bool { return t.canceled })),
		x("t_is_expired", nil, mod.txBool(func(t *tx, r *ref) bool { return time.Now().After(t.lifeEnd) })),
		x("t_branch_timeout", nil, mod.txBool(func(t *tx, r *ref) bool { b := currentBranch(t, r); return b != nil && b.timedOut })),
		x("t_branch_replied", nil, mod.txBool(func(t *tx, r *ref) bool {
			b := currentBranch(t, r)
			return b != nil && (b.provisonal || (b.final && !b.local))
		})),
		x("t_any_timeout", nil, mod.txBool(func(t *tx, r *ref) bool {
			for _, b := range t.branches {
				if b.timedOut {
					return true
				}
			}
			return false
		})),
		x("t_any_replied", nil, mod.txBool(func(t *tx, r *ref) bool {
			for _, b := range t.branches {
				if b.provisonal || (b.final && !b.local) {
					return true
				}
			}
			return false
		})),
		x("t_check_status", S, mod.checkStatus),
		x("t_grep_status", I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.txBool(func(t *tx, r *ref) bool {
				for _, b := range t.branches {
					if b.status == a.Int(0) && (b.final || b.provisonal) {
						return true
					}
				}
				return int(t.uasStatus) == a.Int(0)
			})(m, a)
		}),
		x("t_get_status_code", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			r := peekRef(m)
			if r == nil || r.t == nil {
				return kemi.Fail
			}
			return kemi.Int(statusOf(r, m))
		}),
		x("t_get_branch_index", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Int(branchIndex(m, peekRef(m))) }),
		x("t_exists", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			r := peekRef(m)
			return kemi.IntBool(r != nil && r.t != nil && !r.t.done)
		}),
		x("t_lookup_request", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if !m.IsRequest() {
				return kemi.Fail
			}
			return kemi.IntBool(mod.txs.get(serverKey(m, "")) != nil)
		}),
		x("t_lookup_cancel", nil, mod.lookupCancel),
		x("t_lookup_cancel_flags", I, mod.lookupCancel),
		x("t_set_fr", II, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setFR(m, a.Int(0), a.Int(1)) }),
		x("t_set_fr_inv", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setFR(m, a.Int(0), 0) }),
		x("t_reset_fr", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setFR(m, -1, -1) }),
		x("t_set_retr", II, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setRetr(m, a.Int(0), a.Int(1)) }),
		x("t_reset_retr", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setRetr(m, -1, -1) }),
		x("t_uac_send", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr, kemi.ParamStr},
			func(m *kemi.Msg, a kemi.Args) kemi.Value {
				return mod.uacSend(m, a.Str(0), a.Str(1), a.Str(2), a.Str(3), a.Str(4), a.Str(5))
			}),
		x("t_set_max_lifetime", II, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setLifetime(m, a.Int(0), a.Int(1)) }),
		x("t_reset_max_lifetime", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.setLifetime(m, -1, -1) }),
		x("t_set_auto_inv_100", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return setSwitch(m, swNoAuto100, a.Int(0) == 0) }),
		x("t_set_disable_6xx", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return setSwitch(m, swDisable6xx, a.Int(0) != 0) }),
		// DNS failover and tm's own reply to a failed relay are things kemi
		// does not do (see README): turning them off changes nothing
		x("t_set_disable_failover", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.OK }),
		x("t_set_disable_internal_reply", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.OK }),
		x("t_set_no_e2e_cancel_reason", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return setSwitch(m, swNoE2EReason, a.Int(0) != 0) }),
		x("t_use_uac_headers", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return setSwitch(m, swUseUACHeaders, true) }),
		x("t_drop_replies", S, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.dropReplies(m, a.Str(0)) }),
		x("t_drop_replies_all", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.dropReplies(m, "a") }),
		x("t_save_lumps", nil, mod.saveLumps),
		x("t_replicate", S, mod.replicate),
		x("t_clean", nil, mod.clean),
		x("t_is_retr_async_reply", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Fail // kemi has no asynchronous replies: never true
		}),
		x("t_load_contacts", nil, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.loadContacts(m, 0) }),
		x("ki_t_load_contacts_mode", I, func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.loadContacts(m, a.Int(0)) }),
		x("t_next_contacts", nil, mod.nextContacts),
	}
}

// onRoute is t_on_*: it only records the name, as Kamailio does (kemi check
// reports names the script does not define); "" clears it. The name goes
// on the transaction, or on the message for t_relay to copy.
func (mod *Module) onRoute(cb callback) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		r := refOf(m)
		defer lockTx(r)()
		name := a.Str(0)
		if name != "" && m.Run != nil && !m.Run.Has(name) {
			mod.log.Warn("callback set to a function the script does not define", "name", name, "at", m.Where())
		}
		if r.t != nil {
			r.t.on[cb] = name
		} else {
			r.on[cb], r.onSet[cb] = name, true
		}
		return kemi.OK
	}
}

// isSetTargets are the names t_is_set takes.
var isSetTargets = map[string]callback{
	"failure_route": cbFailure, "onreply_route": cbReply,
	"branch_route": cbBranch, "branch_failure_route": cbBranchFailure,
}

// isSet is t_is_set: whether a route of that kind is armed.
func (mod *Module) isSet(m *kemi.Msg, a kemi.Args) kemi.Value {
	cb, ok := isSetTargets[a.Str(0)]
	if !ok {
		m.Errorf(mod.log, "t_is_set: unknown target %q", a.Str(0))
		return kemi.Fail
	}
	r := peekRef(m)
	if r == nil {
		return kemi.Fail
	}
	defer lockTx(r)()
	if r.t != nil {
		return kemi.IntBool(r.t.on[cb] != "")
	}
	return kemi.IntBool(r.on[cb] != "")
}

// checkTrans is t_check_trans (KEMI-REFERENCE 3.2).
func (mod *Module) checkTrans(m *kemi.Msg, a kemi.Args) kemi.Value {
	if m.Route != kemi.RouteRequest && m.Route != kemi.RouteNone {
		return kemi.OK
	}
	if !m.IsRequest() {
		return kemi.Fail
	}
	r := refOf(m)
	switch m.Method() {
	case "CANCEL":
		if t := mod.txs.get(serverKey(m, "INVITE")); t != nil {
			r.cancelOf = t
			return kemi.OK
		}
		return kemi.Fail
	case "ACK":
		// the ACK of a negative reply has the INVITE's branch: absorbed. The
		// ACK of a 2xx is a new transaction of its own (another branch): no
		// match, as in Kamailio ("ACK no transaction found").
		if t := mod.negativeAckOf(m); t != nil {
			mod.absorb(t, m)
			return kemi.Int(0)
		}
		if mod.txs.get(serverKey(m, "INVITE")) != nil {
			return kemi.OK
		}
		return kemi.Fail
	}
	if t := mod.txs.get(serverKey(m, "")); t != nil {
		mod.absorb(t, m)
		return kemi.Int(0)
	}
	return kemi.Fail
}

// newtran is t_newtran: 1 created, 0 retransmission absorbed, -1 error.
func (mod *Module) newtran(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		return kemi.Fail
	}
	r := refOf(m)
	if r.t != nil {
		return kemi.OK
	}
	if m.Method() == "ACK" {
		if t := mod.negativeAckOf(m); t != nil {
			mod.absorb(t, m)
			return kemi.Int(0)
		}
		return kemi.Fail // no transaction for an ACK (an end-to-end one is not absorbed)
	}
	t, created, err := mod.newTx(m, true)
	if err != nil {
		mod.log.Warn("t_newtran failed", "err", err, "at", m.Where())
		return kemi.Fail
	}
	if !created {
		mod.absorb(t, m)
		return kemi.Int(0)
	}
	t.mu.Lock()
	r.t, r.created = t, true
	t.applyRef(r, m)
	t.mu.Unlock()
	return kemi.OK
}

// tReply is t_reply (the transaction must exist) and t_send_reply (it is
// created when needed).
func (mod *Module) tReply(m *kemi.Msg, code int, reason string, create bool) kemi.Value {
	if !m.IsRequest() || code < 100 || code > 699 {
		m.Errorf(mod.log, "t_reply: invalid code %d or not a request", code)
		return kemi.Fail
	}
	r := refOf(m)
	if r.t == nil {
		if !create {
			m.Errorf(mod.log, "t_reply: no transaction (call t_newtran first)")
			return kemi.Fail
		}
		if v := mod.newtran(m, kemi.Args{}); v.Int != 1 {
			return v
		}
	}
	done, err := mod.StatefulReply(m, code, reason)
	if !done || err != nil {
		return kemi.Fail
	}
	return kemi.OK
}

// onTx runs f on the transaction of m with its lock held; -1 without a
// transaction.
func onTx(m *kemi.Msg, f func(r *ref) kemi.Value) kemi.Value {
	r := peekRef(m)
	if r == nil || r.t == nil {
		return kemi.Fail
	}
	defer lockTx(r)()
	return f(r)
}

func (mod *Module) tRelease(m *kemi.Msg, a kemi.Args) kemi.Value {
	return onTx(m, func(r *ref) kemi.Value {
		mod.release(r.t)
		return kemi.OK
	})
}

func (mod *Module) retransmitReply(m *kemi.Msg, a kemi.Args) kemi.Value {
	return onTx(m, func(r *ref) kemi.Value {
		if rb := r.t.finalReply(); r.t.final && rb != nil {
			if mod.raw.SendRaw(r.t.dst, rb) != nil {
				return kemi.Fail
			}
			return kemi.OK
		}
		if r.t.txState == nil {
			return kemi.Fail
		}
		if w := r.t.lastReplyWire; w != nil {
			if mod.sendReplyWire(r.t.dst, w) != nil {
				return kemi.Fail
			}
			return kemi.OK
		}
		if r.t.lastReply == nil || mod.host.SendReply(r.t.lastReply, r.t.dst) != nil {
			return kemi.Fail
		}
		return kemi.OK
	})
}

// txBool runs test on the transaction of m: 1 true, -1 false or none.
func (mod *Module) txBool(test func(t *tx, r *ref) bool) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		return onTx(m, func(r *ref) kemi.Value { return kemi.IntBool(test(r.t, r)) })
	}
}

// currentBranch is the branch a route is about: its own, or the one whose
// reply the failure route handles.
func currentBranch(t *tx, r *ref) *branch {
	if r.b != nil {
		return r.b
	}
	if t.bestBranch >= 0 && t.bestBranch < len(t.branches) {
		return t.branches[t.bestBranch]
	}
	return nil
}

// statusOf is the reply code a route sees ($T_reply_code).
func statusOf(r *ref, m *kemi.Msg) int {
	if m.IsReply() {
		return m.Response().StatusCode
	}
	if r.held && r.b != nil && (r.b.final || r.b.provisonal) {
		return r.b.status
	}
	if r.t.bestBranch >= 0 && m.Route == kemi.RouteFailure {
		return r.t.branches[r.t.bestBranch].status
	}
	return int(r.t.uasStatus)
}

// branchIndex is t_get_branch_index and $T_branch_idx, as Kamailio
// counts: the branch's index for a reply and in branch and
// branch-failure routes; in a request route the branches appended so far;
// in a failure route the index the next branch will get (the branches
// sent plus those appended there), so that a script can count its
// attempts.
func branchIndex(m *kemi.Msg, r *ref) int {
	switch {
	case !m.IsReply() && m.Route == kemi.RouteRequest:
		return len(m.Branches)
	case !m.IsReply() && m.Route == kemi.RouteFailure:
		if r == nil || r.t == nil {
			return -1
		}
		return len(r.t.branches) + len(m.Branches)
	case r != nil && r.b != nil:
		return r.b.idx
	}
	return 0
}

// checkStatus is t_check_status: the regex (POSIX extended, case- and
// newline-insensitive, unanchored, as Kamailio's regexec) against the
// reply code the route is about.
func (mod *Module) checkStatus(m *kemi.Msg, a kemi.Args) kemi.Value {
	re, err := mod.res.Get(a.Str(0), kemi.RegexICase|kemi.RegexNewline)
	if err != nil {
		m.Errorf(mod.log, "t_check_status: bad regex %q: %v", a.Str(0), err)
		return kemi.Fail
	}
	r := peekRef(m)
	code := 0
	if m.IsReply() {
		code = m.Response().StatusCode
	} else if r != nil && r.t != nil {
		unlock := lockTx(r)
		code = statusOf(r, m)
		unlock()
	}
	if code == 0 {
		return kemi.Fail
	}
	return kemi.IntBool(re.MatchString(strconv.Itoa(code)))
}

func (mod *Module) lookupCancel(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() || m.Method() != "CANCEL" {
		return kemi.Fail
	}
	t := mod.txs.get(serverKey(m, "INVITE"))
	if t == nil {
		return kemi.Fail
	}
	refOf(m).cancelOf = t
	return kemi.OK
}

// setFR is t_set_fr / t_set_fr_inv / t_reset_fr (-1 resets to the module
// values; 0 keeps a value).
func (mod *Module) setFR(m *kemi.Msg, inv, noninv int) kemi.Value {
	r := refOf(m)
	unlock := lockTx(r)
	defer unlock()
	pick := func(ms int, def time.Duration) time.Duration {
		if ms < 0 {
			return def
		}
		return time.Duration(ms) * time.Millisecond
	}
	if r.t != nil {
		if inv != 0 {
			r.t.frInv = pick(inv, mod.frInvTimer.Load())
		}
		if noninv != 0 {
			r.t.fr = pick(noninv, mod.frTimer.Load())
		}
		return kemi.OK
	}
	if inv != 0 {
		r.frInv = pick(inv, mod.frInvTimer.Load())
	}
	if noninv != 0 {
		r.fr = pick(noninv, mod.frTimer.Load())
	}
	return kemi.OK
}

// setRetr is t_set_retr / t_reset_retr: T1 and T2 (ms) of the branches
// the transaction sends from now on and of its reply retransmissions, as
// Kamailio's (0 keeps a value, -1 resets to retr_timer1 / retr_timer2).
func (mod *Module) setRetr(m *kemi.Msg, t1, t2 int) kemi.Value {
	r := refOf(m)
	unlock := lockTx(r)
	defer unlock()
	pick := func(ms int, cur, def time.Duration) time.Duration {
		switch {
		case ms < 0:
			return def
		case ms == 0:
			return cur
		}
		return time.Duration(ms) * time.Millisecond
	}
	if r.t != nil {
		r.t.t1 = pick(t1, r.t.t1, mod.t1)
		r.t.t2 = pick(t2, r.t.t2, mod.t2)
		return kemi.OK
	}
	r.t1 = pick(t1, r.t1, mod.t1)
	r.t2 = pick(t2, r.t2, mod.t2)
	return kemi.OK
}

func (mod *Module) lifetimeOf(t *tx) time.Duration {
	if t.inv {
		return mod.maxInvLife.Load()
	}
	return mod.maxNonInvLife.Load()
}

// setLifetime is t_set_max_lifetime: restarts the lifetime timer of the
// transaction (ms; 0 keeps, -1 resets to the module value).
func (mod *Module) setLifetime(m *kemi.Msg, inv, noninv int) kemi.Value {
	r := refOf(m)
	if r.t == nil {
		m.Errorf(mod.log, "t_set_max_lifetime: no transaction")
		return kemi.Fail
	}
	unlock := lockTx(r)
	defer unlock()
	t := r.t
	v := noninv
	if t.inv {
		v = inv
	}
	switch {
	case v < 0:
		t.lifeEnd = t.created.Add(mod.lifetimeOf(t))
	case v > 0:
		t.lifeEnd = t.created.Add(time.Duration(v) * time.Millisecond)
	}
	if !t.final {
		mod.wheel.set(&t.tm, time.Until(t.lifeEnd), tkLife)
	}
	return kemi.OK
}

// setSwitch turns a per-transaction switch on or off: on the transaction,
// or on the message for t_relay to copy.
func setSwitch(m *kemi.Msg, w txSwitch, on bool) kemi.Value {
	r := refOf(m)
	defer lockTx(r)()
	if r.t != nil {
		r.t.sw.put(w, on)
	} else {
		r.sw.put(w, on) // t_relay copies it
	}
	return kemi.OK
}

// dropReplies is t_drop_replies in a failure route: the replies received so
// far ("a" all, "l" the last batch, "n" none) are no longer candidates for
// the reply sent upstream.
func (mod *Module) dropReplies(m *kemi.Msg, mode string) kemi.Value {
	r := peekRef(m)
	if r == nil || r.t == nil || !r.held {
		m.Errorf(mod.log, "t_drop_replies: only in a failure route")
		return kemi.Fail
	}
	switch mode {
	case "n":
		return kemi.OK
	case "a", "":
		for _, b := range r.t.branches {
			b.dropped = true
		}
	case "l":
		if b := currentBranch(r.t, r); b != nil {
			b.dropped = true
		}
	default:
		m.Errorf(mod.log, "t_drop_replies: unknown mode %q", mode)
		return kemi.Fail
	}
	return kemi.OK
}

// saveLumps is t_save_lumps: the transaction keeps the request as it is
// now, with the changes the script made, for its failure route and local
// requests.
func (mod *Module) saveLumps(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		return kemi.Fail
	}
	return onTx(m, func(r *ref) kemi.Value {
		if m.Lazy() != nil {
			r.t.keepRequest(m)
		} else {
			r.t.req, r.t.reqWire = m.Request().Clone(), nil
		}
		r.t.reqAdded = m.AddedAt()
		return kemi.OK
	})
}

// replicate is t_replicate(uri): a copy of the request goes to uri; the
// replies it gets are absorbed.
func (mod *Module) replicate(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() || a.Str(0) == "" {
		return kemi.Fail
	}
	dst, err := mod.resolve(a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "t_replicate: %v", err)
		return kemi.Fail
	}
	mf, setMF, exhausted := m.ProxyMaxForwards()
	if exhausted {
		mod.log.Warn("t_replicate: Max-Forwards is 0: no copy sent", "at", m.Where())
		return kemi.Fail
	}
	req := m.Request().Clone()
	if setMF {
		kemi.SetMaxForwards(req, mf)
	}
	id := replicaPrefix + mod.prefix + "." + strconv.FormatUint(mod.nextID.Add(1), 36)
	via := mod.host.Via(m, &dst, id)
	if via == nil {
		return kemi.Fail
	}
	insertVia(kemi.RequestMsg(req), via)
	if err := mod.host.SendRequest(m, req, dst); err != nil {
		return kemi.Fail
	}
	return kemi.OK
}

// clean is t_clean: end transactions that outlived their lifetime and are
// still in the tables (their timer failed to).
func (mod *Module) clean(m *kemi.Msg, a kemi.Args) kemi.Value {
	n := 0
	own := peekRef(m)
	for _, t := range mod.txs.all() {
		if own != nil && own.t == t {
			continue // the message's own transaction is live
		}
		unlock, ok := lockOther(m, t)
		if !ok {
			continue
		}
		if !t.done && t.txState != nil && time.Now().After(t.lifeEnd.Add(mod.wtTimer.Load())) {
			mod.release(t)
			n++
		}
		unlock()
	}
	return kemi.IntBool(n > 0)
}

// relayToProto is t_relay_to_proto("udp"|"tcp"|"tls").
func (mod *Module) relayToProto(m *kemi.Msg, a kemi.Args) kemi.Value {
	p := strings.ToLower(a.Str(0))
	if p != "udp" && p != "tcp" && p != "tls" {
		m.Errorf(mod.log, "t_relay_to_proto: transport %q is not supported (udp, tcp, tls)", a.Str(0))
		return kemi.Fail
	}
	return mod.tRelay(m, relayOpts{proto: p})
}

// relayToProtoAddr is t_relay_to_proto_addr(proto, host, port).
func (mod *Module) relayToProtoAddr(m *kemi.Msg, a kemi.Args) kemi.Value {
	if a.Str(1) == "" {
		m.Errorf(mod.log, "t_relay_to_proto_addr: empty host")
		return kemi.Fail
	}
	return mod.tRelay(m, relayOpts{proxy: hostPortURI(a.Str(0), a.Str(1), a.Int(2))})
}

// relayToProxy is t_relay_to_proxy("proto:host:port").
func (mod *Module) relayToProxy(m *kemi.Msg, p string) kemi.Value {
	uri, err := parseProxy(p)
	if err != nil {
		m.Errorf(mod.log, "t_relay_to_proxy: %v", err)
		return kemi.Fail
	}
	return mod.tRelay(m, relayOpts{proxy: uri})
}

// relayNo100 is Kamailio's t_relay_to_flags flag 0x01: no 100 Trying. The
// others, 0x02 (no reply of our own on a relay error) and 0x04 (no DNS
// failover), turn off what kemi never does.
const relayNo100 = 0x01

// relayFlags applies relay flags to the settings of m's transaction.
func relayFlags(m *kemi.Msg, flags int) relayOpts {
	if flags&relayNo100 != 0 {
		setSwitch(m, swNoAuto100, true)
	}
	return relayOpts{}
}
