package tm

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// refKey is the key under which a message keeps its tm state.
type refKey struct{}

// ref is what tm keeps on a message: the transaction it belongs to and the
// settings the script made before the transaction existed.
type ref struct {
	t *tx
	// held is set on the messages of routes tm runs itself (failure,
	// onreply, branch routes): their goroutine already holds t.mu.
	held bool
	// b is the branch of branch, onreply and branch-failure routes.
	b *branch
	// created marks the request route that created t (t_newtran).
	created bool
	// cancelOf is the INVITE transaction a CANCEL matched (t_check_trans).
	cancelOf *tx
	// precheck is the key t_precheck_trans marked as in flight.
	precheck string
	// contacts loaded by t_load_contacts before the transaction existed
	contacts contactGroups

	// settings made before the transaction exists; t_relay copies them
	on        [numCallbacks]string
	onSet     [numCallbacks]bool
	fr, frInv time.Duration
	t1, t2    time.Duration
	sw        switches
}

// refOf returns the tm state of m, creating it.
func refOf(m *kemi.Msg) *ref {
	if r, ok := m.Value(refKey{}).(*ref); ok {
		return r
	}
	r := &ref{}
	m.SetValue(refKey{}, r)
	return r
}

// peekRef returns the tm state of m, or nil.
func peekRef(m *kemi.Msg) *ref {
	r, _ := m.Value(refKey{}).(*ref)
	return r
}

// lockTx locks the transaction of r unless the caller's route already
// holds it; the returned function unlocks.
func lockTx(r *ref) func() {
	if r == nil || r.t == nil || r.held {
		return func() {}
	}
	r.t.mu.Lock()
	return r.t.mu.Unlock
}

var noop = func() {}

// newTx creates the transaction of the request in m, or returns the
// existing one for a retransmission (created false). inRoute: the request
// route that called goes on with the transaction (it is not trimmed
// before AfterRequestRoute).
func (mod *Module) newTx(m *kemi.Msg, inRoute bool) (t *tx, created bool, err error) {
	key := serverKey(m, "")
	if key == "" {
		return nil, false, errors.New("core/tm: request without a Via")
	}
	if old := mod.txs.get(key); old != nil {
		return old, false, nil
	}
	dst, err := m.Host.ReplyDest(m)
	if err != nil {
		return nil, false, err
	}
	now := time.Now()
	callID, cseq := reqCall(m)
	t = &tx{
		id:      mod.nextID.Add(1),
		key:     key,
		dst:     dst,
		inv:     m.Method() == "INVITE",
		inRoute: inRoute,
		call:    callKey(callID, cseq),
		txState: &txState{
			reqAdded:      m.AddedAt(),
			method:        m.Method(),
			flags:         m.Flags,
			avps:          m.AVPs.Clone(),
			fr:            mod.frTimer.Load(),
			frInv:         mod.frInvTimer.Load(),
			t1:            mod.t1,
			t2:            mod.t2,
			created:       now,
			bestBranch:    -1,
			callID:        callID,
			cseq:          cseq,
			src:           m.Src,
			rcv:           m.Rcv,
			proto:         m.Proto,
			connID:        m.ConnID,
			origURI:       m.OrigURI,
			dstURI:        m.DstURI,
			pathVec:       m.PathVec,
			maxFwdChecked: m.MaxFwdHandled(),
			forceRport:    m.ForceRport,
		},
	}
	t.keepRequest(m)
	t.tm.t = t
	t.sw.put(swNoAuto100, !mod.autoInv100)
	t.sw.put(swDisable6xx, mod.disable6xx)
	t.lifeEnd = now.Add(mod.lifetimeOf(t))
	// armed before t is in the tables: nobody else can touch its timer yet
	mod.wheel.set(&t.tm, mod.lifetimeOf(t), tkLife)
	if old := mod.txs.add(t); old != nil {
		// another worker created it meanwhile: this one is a retransmission
		mod.wheel.stop(&t.tm)
		return old, false, nil
	}
	mod.met.created.Inc()
	return t, true, nil
}

// applyRef copies the settings a script made before the transaction
// existed into it.
func (t *tx) applyRef(r *ref, m *kemi.Msg) {
	for cb, set := range r.onSet {
		if set {
			t.on[cb] = r.on[cb]
		}
	}
	if r.fr > 0 {
		t.fr = r.fr
	}
	if r.frInv > 0 {
		t.frInv = r.frInv
	}
	if r.t1 > 0 {
		t.t1 = r.t1
	}
	if r.t2 > 0 {
		t.t2 = r.t2
	}
	t.sw.apply(r.sw)
	if r.contacts != nil && t.contacts == nil {
		t.contacts, r.contacts = r.contacts, nil
	}
	t.flags, t.xflags = m.Flags, m.XFlags
	t.avps = m.AVPs.Clone()
}

// replyUAS sends res upstream: the server transaction's reply (RFC 3261
// §17.2); t.mu held. A final reply ends the live part of the transaction:
// its bytes are kept for retransmitted requests (not those of a 2xx to an
// INVITE: the proxy does not retransmit it, the UAS does), a negative reply
// to an INVITE over UDP is sent again on timer G until the ACK comes or
// timer H ends, and then wt_timer runs.
func (mod *Module) replyUAS(t *tx, res *sip.Response, local bool) error {
	if t.final {
		// late: more 2xx go through relay2xx, anything else is dropped
		return nil
	}
	if err := mod.host.SendReply(res, t.dst); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	code := res.StatusCode
	t.uasStatus, t.uasReason, t.lastReply, t.lastReplyWire = int32(code), res.Reason, res, nil
	if local {
		mod.countLocal(code)
	} else {
		mod.countRelayed(code)
	}
	if code >= 200 {
		mod.finalSent(t, code, func() []byte { return encode(res) })
	}
	return nil
}

// finalSent ends the live part of the transaction once a final reply of
// code went upstream (see replyUAS); wire gives the reply's bytes, asked
// for only when retransmitted requests will need them; t.mu held.
func (mod *Module) finalSent(t *tx, code int, wire func() []byte) {
	t.final = true
	mod.txs.live.Add(-1)
	if !t.inv || code >= 300 {
		t.rb = &retrBuf{reply: wire()}
	}
	if t.inv && code >= 300 && !reliable(t.dst) {
		t.rb.retrIv, t.rb.hLeft, t.rb.t2 = t.t1, 64*t.t1-t.t1, t.t2
		mod.wheel.set(&t.tm, t.t1, tkReplyRetr) // timer G
		return
	}
	mod.startWait(t)
}

// replyUASWire is replyUAS for a reply kept as the bytes sent: a relayed
// provisional reply or 2xx (branchReplyLazy), or one of ours written
// from a lazy request (local); t.mu held.
func (mod *Module) replyUASWire(t *tx, wire []byte, code int, reason string, local bool) error {
	if t.final {
		return nil
	}
	if err := mod.sendReplyWire(t.dst, wire); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	t.uasStatus, t.uasReason, t.lastReply, t.lastReplyWire = int32(code), reason, nil, wire
	if local {
		mod.countLocal(code)
	} else {
		mod.countRelayed(code)
	}
	if code >= 200 {
		mod.finalSent(t, code, func() []byte { return wire })
	}
	return nil
}

// sendReplyWire sends a reply written already: through the engine's
// SendReplyBytes, which counts it as a reply, or as raw bytes.
func (mod *Module) sendReplyWire(dst kemi.Dest, wire []byte) error {
	if w, ok := mod.host.(kemi.WireReplier); ok {
		return w.SendReplyBytes(dst, wire)
	}
	return mod.raw.SendRaw(dst, wire)
}

// reliable reports whether messages to d need no retransmission.
func reliable(d kemi.Dest) bool { return d.Proto != "udp" }

// encode writes m as it goes on the wire, in a slice of its own size.
func encode(m interface{ StringWrite(io.StringWriter) }) []byte {
	b := sizeBuf.Get().(*bytes.Buffer)
	b.Reset()
	m.StringWrite(b)
	out := bytes.Clone(b.Bytes())
	sizeBuf.Put(b)
	return out
}

// localReply builds and sends a reply of our own to the transaction's
// request; t.mu held.
func (mod *Module) localReply(t *tx, m *kemi.Msg, code int, reason string) error {
	if t.final || t.txState == nil {
		return nil // too late; the request is gone
	}
	if reason == "" {
		reason = kemi.ReasonPhrase(code)
	}
	if m == nil || !m.IsRequest() {
		if m = t.replyMsg(); m == nil {
			return errNoRequest
		}
	}
	if wire, ok := m.AppendLazyReply(nil, code, reason); ok {
		return mod.replyUASWire(t, wire, code, reason, true)
	}
	return mod.replyUAS(t, m.NewReply(code, reason), true)
}

// startWait arms wt_timer: the transaction stays that long to absorb
// late retransmissions, then goes; t.mu held.
func (mod *Module) startWait(t *tx) {
	if t.waiting {
		return
	}
	t.waiting = true
	mod.wheel.set(&t.tm, mod.wtTimer.Load(), tkWait)
}

// maybeTrim lets go what a finished transaction no longer needs, so that
// the thousands waiting out wt_timer at a high call rate cost little
// memory; t.mu held. It waits until the final reply went upstream, no
// branch is pending (nor a CANCEL that may still bring a 487 to
// acknowledge) and no route holds the transaction. Kept: the keys, where
// replies go, the final reply's bytes and the ACKs of negative replies.
func (mod *Module) maybeTrim(t *tx) {
	if t.txState == nil || !t.final || t.done || t.inRoute || t.routes > 0 {
		return
	}
	for _, b := range t.branches {
		if !b.final || (b.timedOut && b.cancelSent && !b.gotFinal) {
			return
		}
	}
	var acks []branchAck
	for _, b := range t.branches {
		mod.stopBranch(b)
		if b.ack != nil && !reliable(b.dst) {
			acks = append(acks, branchAck{idx: b.idx, dst: b.dst, ack: b.ack})
		}
	}
	if acks != nil {
		if t.rb == nil {
			t.rb = &retrBuf{}
		}
		t.rb.acks = slices.Clip(acks)
	}
	t.txState = nil
}

// release removes the transaction from the tables and stops its timers;
// t.mu held.
func (mod *Module) release(t *tx) {
	if t.done {
		return
	}
	t.done = true
	if !t.final {
		t.final = true
		mod.txs.live.Add(-1)
	}
	if t.txState != nil {
		for _, b := range t.branches {
			mod.stopBranch(b)
		}
	}
	mod.wheel.stop(&t.tm)
	mod.txs.remove(t)
}

// pendingBranches counts the branches without a final reply.
func (t *tx) pendingBranches() int {
	n := 0
	for _, b := range t.branches {
		if !b.final {
			n++
		}
	}
	return n
}

// stopBranch stops the timers of a branch; t.mu held.
func (mod *Module) stopBranch(b *branch) {
	mod.wheel.stop(&b.retr)
	mod.wheel.stop(&b.fr)
	mod.wheel.stop(&b.cretr)
}

// inflight is the set of request keys being routed right now, for
// t_precheck_trans.
type inflight struct {
	mu sync.Mutex
	m  map[string]struct{}
}

// enter reports whether key was already in flight, and adds it.
func (f *inflight) enter(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[key]; ok {
		return true
	}
	f.m[key] = struct{}{}
	return false
}

func (f *inflight) leave(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}
