package tm

import (
	"errors"
	"strconv"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// registerPVs declares tm's pseudo-variables: $T_reply_code,
// $T_reply_reason, $T_branch_idx, $T_reply_last, $T_req(pv), $T_rpl(pv),
// $T_inv(pv) and $T(name).
func registerPVs(t *kemi.PVTable, mod *Module) error {
	withTx := func(m *kemi.Msg, f func(r *ref) kemi.Value) kemi.Value {
		r := peekRef(m)
		if r == nil || r.t == nil {
			return kemi.Null
		}
		unlock := lockTx(r)
		defer unlock()
		return f(r)
	}
	replyCode := func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		if m.IsReply() {
			return kemi.Int(m.Response().StatusCode), nil
		}
		return withTx(m, func(r *ref) kemi.Value { return kemi.Int(statusOf(r, m)) }), nil
	}
	replyReason := func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		if m.IsReply() {
			return kemi.Str(m.Response().Reason), nil
		}
		return withTx(m, func(r *ref) kemi.Value {
			if b := currentBranch(r.t, r); b != nil && b.finalRes() != nil && (r.held || m.Route == kemi.RouteFailure) {
				return kemi.Str(b.finalRes().Reason)
			}
			if r.t.uasReason == "" {
				return kemi.Null
			}
			return kemi.Str(r.t.uasReason)
		}), nil
	}
	branchIdx := func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		return kemi.Int(branchIndex(m, peekRef(m))), nil
	}
	// evalIn evaluates the PV named in the param on another message: one
	// of m's transaction (pick runs with it locked), or the INVITE a CANCEL
	// matched.
	evalOn := func(other *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		if other == nil {
			return kemi.Null, nil
		}
		return mod.pvs.Get(other, p.Param)
	}
	evalIn := func(pick func(r *ref) *kemi.Msg) func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
		return func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			r := peekRef(m)
			if r == nil || r.t == nil {
				return kemi.Null, nil
			}
			unlock := lockTx(r)
			other := pick(r)
			unlock()
			return evalOn(other, p)
		}
	}
	classes := []kemi.PVClass{
		{Name: "T_reply_code", Get: replyCode},
		{Name: "T_reply_reason", Get: replyReason},
		{Name: "T_branch_idx", Get: branchIdx},
		{Name: "T_reply_last", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			return withTx(m, func(r *ref) kemi.Value { return kemi.Int(lastReceived(r.t)) }), nil
		}},
		{Name: "T_req", Param: true, RawParam: true, Get: evalIn(func(r *ref) *kemi.Msg {
			req := r.t.request()
			if req == nil {
				return nil // let go in the wait state
			}
			return kemi.WithRequest(&kemi.Msg{Src: r.t.src, Rcv: r.t.rcv, Proto: r.t.proto, OrigURI: r.t.origURI, Flags: r.t.flags, AVPs: r.t.avps}, req)
		})},
		{Name: "T_rpl", Param: true, RawParam: true, Get: evalIn(func(r *ref) *kemi.Msg {
			if b := currentBranch(r.t, r); b != nil && b.finalRes() != nil {
				return kemi.ReplyMsg(b.finalRes())
			}
			return nil
		})},
		{Name: "T_inv", Param: true, RawParam: true, Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			// a CANCEL has no transaction of its own here, only the INVITE's
			r := peekRef(m)
			if r == nil || r.cancelOf == nil {
				return kemi.Null, nil
			}
			inv := r.cancelOf
			inv.mu.Lock()
			var req *sip.Request
			if inv.txState != nil { // trimmed when finished
				req = inv.request()
			}
			inv.mu.Unlock()
			if req == nil {
				return kemi.Null, nil
			}
			return evalOn(kemi.RequestMsg(req), p)
		}},
		{Name: "T", Param: true, Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			switch p.Key(m) {
			case "reply_code":
				return replyCode(m, p)
			case "reply_reason":
				return replyReason(m, p)
			case "branch_index":
				return branchIdx(m, p)
			case "id_index":
				return withTx(m, func(r *ref) kemi.Value { return kemi.Int64(int64(r.t.id >> 32)) }), nil
			case "id_label":
				return withTx(m, func(r *ref) kemi.Value { return kemi.Int64(int64(r.t.id & 0xffffffff)) }), nil
			case "id_label_n":
				return withTx(m, func(r *ref) kemi.Value {
					return kemi.Str(strconv.FormatUint(r.t.id>>32, 10) + ":" + strconv.FormatUint(r.t.id&0xffffffff, 10))
				}), nil
			case "reply_type":
				return withTx(m, func(r *ref) kemi.Value {
					if b := currentBranch(r.t, r); b != nil && b.local {
						return kemi.Int(1)
					}
					return kemi.Int(0)
				}), nil
			case "ruid":
				return kemi.Null, nil
			}
			return kemi.Null, errUnknownT
		}},
	}
	for _, c := range classes {
		if err := t.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var errUnknownT = errors.New("unknown $T() field (reply_code, reply_reason, branch_index, id_index, id_label, id_label_n, reply_type)")

// lastReceived is the status of the last reply received on any branch.
func lastReceived(t *tx) int {
	code := 0
	for _, b := range t.branches {
		if !b.local && b.status > 0 {
			code = b.status
		}
	}
	return code
}
