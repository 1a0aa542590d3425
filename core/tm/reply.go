package tm

import (
	"bytes"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// OnReply takes the replies to our branches, after ksr_reply_route ran.
// Replies to unknown branches are left to the engine, which forwards them
// statelessly on their Via (late 2xx retransmissions).
func (mod *Module) OnReply(m *kemi.Msg) bool {
	var id string
	if lm := m.Lazy(); lm != nil {
		// most replies a stateless proxy routes are not ours: tell, and
		// relay the usual ones, without turning the reply into sipgo's
		// form (see branchReplyLazy)
		v, err := lm.TopVia()
		if err != nil || !bytes.HasPrefix(v.Branch, []byte("z9hG4bKkm")) {
			return false
		}
		id = string(v.Branch)
	} else {
		v := m.Response().Via()
		if v == nil {
			return false
		}
		id, _ = v.Params.Get("branch")
		if !strings.HasPrefix(id, "z9hG4bKkm") {
			return false
		}
	}
	if strings.HasPrefix(id, uacPrefix) {
		mod.onUACReply(id, m.Response())
		m.Handled = true
		return true // replies to t_uac_send requests end here
	}
	if strings.HasPrefix(id, replicaPrefix) {
		mod.met.absorbed.Inc()
		m.Handled = true
		return true // replies to t_replicate copies are not for anybody
	}
	t, idx := mod.txs.byBranchID(mod.prefix, id)
	if t == nil {
		return false
	}
	method, ok := replyMethod(m)
	if !ok {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m.Handled = true
	if t.done {
		return true
	}
	defer mod.maybeTrim(t)
	if t.txState == nil {
		mod.lateReply(t, idx, m)
		return true
	}
	if idx >= len(t.branches) {
		return true // a branch not sent (yet)
	}
	b := t.branches[idx]
	if method == sip.CANCEL {
		if !b.cancelDone {
			b.cancelDone = true // the reply to our CANCEL: no more retransmissions
			mod.wheel.stop(&b.cretr)
		}
		mod.met.absorbed.Inc()
		return true
	}
	if method != b.method {
		return true
	}
	if lm := m.Lazy(); lm == nil || !mod.branchReplyLazy(t, b, m, lm) {
		mod.branchReply(t, b, m)
	}
	return true
}

// replyMethod returns the CSeq method of a reply, in either form of the
// message; ok is false when it has none.
func replyMethod(m *kemi.Msg) (sip.RequestMethod, bool) {
	method := m.Method()
	return sip.RequestMethod(method), method != ""
}

// branchReplyLazy is branchReply for the replies a proxy relays most, on
// a reply still in its lazy form: a provisional reply or a 2xx that ends
// a pending branch, with no onreply route armed. Our Via is taken out as
// a lump and the reply goes upstream as it came, without being parsed by
// sipgo; the branch and the transaction keep its bytes (finalRes parses
// a 2xx when something asks; the last reply is only sent again). It
// reports false, having done nothing, for any other reply; t.mu held.
func (mod *Module) branchReplyLazy(t *tx, b *branch, m *kemi.Msg, lm *sipmsg.Msg) bool {
	code := lm.StatusCode()
	if b.final || code >= 300 || t.on[cbReply] != "" && m.Run != nil {
		return false
	}
	// the client transaction, as in branchReply
	if t.inv || code >= 200 {
		mod.wheel.stop(&b.retr)
	}
	if code >= 200 {
		mod.wheel.stop(&b.fr)
		b.gotFinal = true
	}
	b.status = code
	if code < 200 && (!b.provisonal || mod.restartFrEach) && t.inv {
		mod.armFR(b, t.frInv)
	}
	lm.RemoveValue(lm.Find(sipmsg.HdrVia), 0)
	if t.dst.Proto != "udp" {
		// a datagram without Content-Length going on over a stream: the
		// caller would read its body as the next message
		lm.AddContentLength()
	}
	if code < 200 {
		b.provisonal = true
		if b.cancel && !b.cancelSent {
			mod.sendCancel(t, b)
		}
		if code > 100 && !t.final {
			_ = mod.replyUASWire(t, lm.AppendTo(nil), code, string(lm.Reason()), false)
		}
		return true
	}
	wire := lm.AppendTo(nil)
	b.final, b.reply, b.replyWire = true, nil, wire
	if !t.final {
		_ = mod.replyUASWire(t, wire, code, string(lm.Reason()), false)
	} else {
		mod.send2xxWire(t, wire, code)
	}
	if t.inv {
		mod.cancelBranches(t, b)
	}
	return true
}

// send2xxWire sends a 2xx, as received less our Via, straight upstream
// once the server transaction ended (see relay2xx); t.mu held.
func (mod *Module) send2xxWire(t *tx, wire []byte, code int) {
	if err := mod.sendReplyWire(t.dst, wire); err != nil {
		mod.met.sendErrors.Inc()
		return
	}
	mod.countRelayed(code)
}

// lateReply handles a reply for a transaction that was trimmed: a
// retransmitted final reply (a 2xx to an INVITE goes upstream, a negative
// one is acknowledged again) or the reply to a CANCEL; t.mu held.
func (mod *Module) lateReply(t *tx, idx int, m *kemi.Msg) {
	mod.met.absorbed.Inc()
	res := m.Response()
	if !t.inv || res.CSeq().MethodName != sip.INVITE {
		return
	}
	switch code := res.StatusCode; {
	case code >= 200 && code < 300:
		mod.stripVia(m)
		mod.relay2xx(t, res)
	case code >= 300:
		if t.rb == nil {
			return
		}
		for _, a := range t.rb.acks {
			if a.idx == idx {
				mod.sendRaw(a.dst, a.ack)
			}
		}
	}
}

// branchReply handles one reply of a branch; t.mu held.
func (mod *Module) branchReply(t *tx, b *branch, m *kemi.Msg) {
	res := m.Response()
	code := res.StatusCode
	if b.final {
		// a retransmission, or a reply after we gave up on the branch
		switch {
		case code >= 200 && code < 300 && t.inv:
			// a 2xx always reaches the caller (RFC 3261 §16.7)
			mod.stripVia(m)
			mod.relay2xx(t, res)
		case code >= 300 && t.inv:
			mod.sendAck(b, res)
		}
		if code >= 200 {
			b.gotFinal = true
		}
		mod.met.absorbed.Inc()
		return
	}
	// the client transaction (RFC 3261 §17.1): a reply ends the INVITE's
	// retransmissions, a final one any request's; a negative final reply
	// to an INVITE is acknowledged at once, hop by hop
	if t.inv || code >= 200 {
		mod.wheel.stop(&b.retr)
	}
	if code >= 200 {
		mod.wheel.stop(&b.fr)
		b.gotFinal = true
		if code >= 300 && t.inv {
			mod.sendAck(b, res)
		}
	}
	b.status = code
	if code < 200 && (!b.provisonal || mod.restartFrEach) && t.inv {
		mod.armFR(b, t.frInv)
	}
	if t.on[cbReply] != "" && m.Run != nil {
		m.Flags, m.XFlags = t.flags, t.xflags
		// the route sees and changes the transaction's AVPs and XAVPs, as in
		// Kamailio (the dispatcher's call load reads $xavp(_dsdst_) there)
		m.AVPs = t.avps.Clone()
		m.SetValue(refKey{}, &ref{t: t, held: true, b: b})
		t.routes++
		if _, err := m.Run.Call(t.on[cbReply], kemi.RouteTMReply, m); err != nil {
			mod.log.Debug("onreply route failed", "err", err)
		}
		t.routes--
		t.avps = m.AVPs
		if m.Drop && code < 200 {
			return // a provisional reply dropped by the onreply route
		}
	}
	mod.stripVia(m)
	if code < 200 {
		b.provisonal = true
		if b.cancel && !b.cancelSent {
			mod.sendCancel(t, b)
		}
		if code > 100 && !t.final {
			_ = mod.replyUAS(t, res, false)
		}
		return
	}
	b.final, b.reply = true, res
	if code < 300 {
		mod.relay2xx(t, res)
		if t.inv {
			mod.cancelBranches(t, b)
		}
		return
	}
	mod.branchFailure(t, b, m.Run, m.Proc)
	if code >= 600 && t.inv && !t.sw.has(swDisable6xx) {
		mod.cancelBranches(t, b)
	}
	mod.maybeFinish(t, m.Run, m.Proc)
}

// stripVia removes our Via from a reply before it goes upstream.
func (mod *Module) stripVia(m *kemi.Msg) {
	if v := m.Response().Via(); v != nil {
		m.RemoveHeaderValue(v)
	}
}

// relay2xx sends a 2xx upstream even when the transaction is done with
// (more 2xx of a forked INVITE, retransmissions, a 2xx after a timeout):
// the caller must see every 2xx.
func (mod *Module) relay2xx(t *tx, res *sip.Response) {
	if !t.final {
		_ = mod.replyUAS(t, res, false)
		return
	}
	// the server transaction ended with the first final reply: later 2xx
	// go straight out (RFC 6026's Accepted state, without a timer of its
	// own: wt_timer keeps the transaction)
	if err := mod.host.SendReply(res, t.dst); err != nil {
		mod.met.sendErrors.Inc()
		return
	}
	mod.countRelayed(res.StatusCode)
}

// branchTimeout ends a branch whose fr_timer (or fr_inv_timer) expired,
// or whose retransmission could not be sent: a local 408 (503 after a
// send failure, 487 when canceled) and a CANCEL when the branch was
// ringing; t.mu held.
func (mod *Module) branchTimeout(t *tx, b *branch, run kemi.Runner, proc *kemi.Proc) {
	if t.done || b.final || t.txState == nil {
		return
	}
	mod.met.timeouts.Inc()
	code := 408
	switch {
	case t.canceled:
		code = 487
	case b.sendFailed:
		code = 503 // a retransmission could not be sent, as Kamailio
	}
	// a send failure is no timeout for t_branch_timeout, as in Kamailio
	b.final, b.local, b.timedOut, b.status = true, true, !b.sendFailed, code
	if rm := t.replyMsg(); rm != nil {
		if wire, ok := rm.AppendLazyReply(nil, code, kemi.ReasonPhrase(code)); ok {
			b.reply, b.replyWire = nil, wire
		} else {
			b.reply = rm.NewReply(code, kemi.ReasonPhrase(code))
		}
	}
	mod.wheel.stop(&b.retr) // nothing answered, or the INVITE stopped already
	if t.inv && b.provisonal && !b.cancelSent {
		mod.sendCancel(t, b)
	}
	mod.branchFailure(t, b, run, proc)
	mod.maybeFinish(t, run, proc)
}

// branchFailure runs the branch-failure route for a branch that ended
// negatively; t.mu held.
func (mod *Module) branchFailure(t *tx, b *branch, run kemi.Runner, proc *kemi.Proc) {
	if t.on[cbBranchFailure] == "" || run == nil {
		return
	}
	fm := mod.fakeRequest(t, b, proc)
	fm.Route = kemi.RouteBranchFailure
	t.routes++
	if _, err := run.Call(t.on[cbBranchFailure], kemi.RouteBranchFailure, fm); err != nil {
		mod.log.Debug("branch failure route failed", "err", err)
	}
	t.routes--
	t.flags, t.xflags = fm.Flags, fm.XFlags
}

// maybeFinish picks the best final reply once every branch ended, runs the
// failure route (which may relay again) and relays the reply; t.mu held.
func (mod *Module) maybeFinish(t *tx, run kemi.Runner, proc *kemi.Proc) {
	if t.final || t.done || t.pendingBranches() > 0 {
		return
	}
	best := mod.pickBest(t)
	if best < 0 {
		_ = mod.localReply(t, nil, 500, "No reply")
		return
	}
	t.bestBranch = best
	if t.on[cbFailure] != "" && run != nil {
		name := t.on[cbFailure]
		t.on[cbFailure] = "" // cleared before it runs: a new relay must arm it again
		fm := mod.fakeRequest(t, t.branches[best], proc)
		t.inFailure = true
		t.routes++
		if _, err := run.Call(name, kemi.RouteFailure, fm); err != nil {
			mod.log.Debug("failure route failed", "err", err)
		}
		t.routes--
		t.inFailure = false
		t.flags, t.xflags, t.avps = fm.Flags, fm.XFlags, fm.AVPs
		if t.final || t.done || t.pendingBranches() > 0 {
			return // the failure route replied or relayed again
		}
		if b := mod.pickBest(t); b >= 0 {
			best = b
		}
	}
	b := t.branches[best]
	if b.local && b.reply == nil && b.replyWire != nil {
		// our own reply written from the lazy request: sent as it is
		_ = mod.replyUASWire(t, b.replyWire, b.status, kemi.ReasonPhrase(b.status), true)
		return
	}
	rep := b.finalRes()
	if rep == nil {
		_ = mod.localReply(t, nil, 500, "Bad reply")
		return
	}
	if rep.StatusCode == 401 || rep.StatusCode == 407 {
		rep = mod.mergeChallenges(t, rep)
	}
	_ = mod.replyUAS(t, rep, b.local)
}

// pickBest chooses the reply to send upstream among the final replies of
// the branches (RFC 3261 §16.7 step 6, with Kamailio's preferences): a 6xx
// first, then the lowest class, 401/407/415/420/484 first among the 4xx,
// replies received before replies made up here.
func (mod *Module) pickBest(t *tx) int {
	best, bestRank := -1, 1<<30
	for i, b := range t.branches {
		if !b.final || !b.hasReply() || b.dropped {
			continue
		}
		if r := rank(b, t.sw.has(swDisable6xx)); r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// rank orders final replies: lower is better.
func rank(b *branch, no6xx bool) int {
	c := b.status
	r := 0
	switch {
	case c >= 200 && c < 300:
		r = 0
	case c >= 600 && !no6xx:
		r = 100
	case c >= 300 && c < 400:
		r = 300
	case c >= 400 && c < 500:
		switch c {
		case 401, 407, 415, 420, 484:
			r = 400
		default:
			r = 450
		}
	case c >= 500 && c < 600:
		r = 500
		if c == 503 {
			r = 550
		}
	default:
		r = 600
	}
	if b.local {
		r += 40 // a reply from the network beats one we made up
	}
	return r*1000 + b.idx
}

// mergeChallenges puts the WWW-/Proxy-Authenticate headers of every 401
// and 407 branch into the reply (RFC 3261 §16.7 step 7).
func (mod *Module) mergeChallenges(t *tx, rep *sip.Response) *sip.Response {
	var extra []sip.Header
	for _, b := range t.branches {
		br := b.finalRes()
		if br == nil || br == rep || (b.status != 401 && b.status != 407) {
			continue
		}
		for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
			for _, h := range br.GetHeaders(name) {
				extra = append(extra, sip.HeaderClone(h))
			}
		}
	}
	if len(extra) == 0 {
		return rep
	}
	out := rep.Clone()
	for _, h := range extra {
		out.AppendHeader(h)
	}
	return out
}

// fakeRequest builds the message failure and branch-failure routes run
// with, as Kamailio's faked request: a copy of the transaction's request,
// with the Request-URI, $du and Path set it had when the transaction was created
// (not those of the branch the route is about: with parallel branches,
// the R-URI user is still the one called), the transaction's flags and
// AVPs. Its R-URI counts as relayed already: t_relay there makes a
// branch of it only after the script writes it again (Kamailio marks it
// consumed).
func (mod *Module) fakeRequest(t *tx, b *branch, proc *kemi.Proc) *kemi.Msg {
	fm := &kemi.Msg{
		Proto:         t.proto,
		Src:           t.src,
		Rcv:           t.rcv,
		ConnID:        t.connID,
		Route:         kemi.RouteFailure,
		OrigURI:       t.origURI,
		DstURI:        t.dstURI,
		PathVec:       t.pathVec,
		RURIUsed:      true,
		Flags:         t.flags,
		XFlags:        t.xflags,
		AVPs:          t.avps.Clone(),
		Proc:          proc,
		Host:          mod.host,
		Faked:         true,
		MaxFwdChecked: t.maxFwdChecked,
		ForceRport:    t.forceRport,
	}
	if lm := t.lazyRequest(); lm != nil {
		fm.SetLazy(lm, nil) // a t_relay there writes its branches from it too
	} else if req := t.request(); req != nil {
		fm.SetRequest(req.Clone())
	}
	if fm.Proc == nil {
		fm.Proc = kemi.NewProc(0)
	}
	if len(t.reqAdded) > 0 {
		fm.MarkAddedAt(t.reqAdded)
	}
	fm.SetValue(refKey{}, &ref{t: t, held: true, b: b})
	return fm
}
