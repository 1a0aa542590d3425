package tm

import (
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
// existing one for a retransmission (created false).
func (mod *Module) newTx(m *kemi.Msg) (t *tx, created bool, err error) {
	key := serverKey(m.Req, "")
	if old := mod.txs.get(key); old != nil {
		return old, false, nil
	}
	dst, err := m.Host.ReplyDest(m)
	if err != nil {
		return nil, false, err
	}
	t = &tx{
		mod:           mod,
		id:            mod.nextID.Add(1),
		key:           key,
		req:           m.Req,
		reqAdded:      m.AddedAt(),
		dst:           dst,
		inv:           m.Req.Method == sip.INVITE,
		flags:         m.Flags,
		avps:          m.AVPs.Clone(),
		fr:            mod.frTimer,
		frInv:         mod.frInvTimer,
		created:       time.Now(),
		bestBranch:    -1,
		callID:        m.Req.CallID().Value(),
		cseq:          m.Req.CSeq().SeqNo,
		src:           m.Src,
		rcv:           m.Rcv,
		proto:         m.Proto,
		connID:        m.ConnID,
		origURI:       m.OrigURI,
		dstURI:        m.DstURI,
		pathVec:       m.PathVec,
		maxFwdChecked: m.MaxFwdHandled(),
		forceRport:    m.ForceRport,
		timer:         txTimer{idx: -1},
	}
	t.sw.put(swNoAuto100, !mod.autoInv100)
	t.sw.put(swDisable6xx, mod.disable6xx)
	t.uas = &txConn{host: m.Host, dst: dst}
	t.stx = sip.NewServerTx(key, m.Req, t.uas, mod.sipLog)
	if err := t.stx.Init(); err != nil {
		return nil, false, err
	}
	if old := mod.txs.add(t); old != nil {
		// another worker created it meanwhile: this one is a retransmission
		t.stx.Terminate()
		return old, false, nil
	}
	mod.met.created.Inc()
	t.lifeEnd = t.created.Add(mod.lifetimeOf(t))
	mod.timers.set(t, t.lifeEnd, deadlineLife)
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
	t.sw.apply(r.sw)
	if r.contacts != nil && t.contacts == nil {
		t.contacts, r.contacts = r.contacts, nil
	}
	t.flags, t.xflags = m.Flags, m.XFlags
	t.avps = m.AVPs.Clone()
}

// replyUAS sends res upstream through the server transaction; t.mu held.
func (mod *Module) replyUAS(t *tx, res *sip.Response, local bool) error {
	if t.final {
		// late: more 2xx go through relay2xx, anything else is dropped
		return nil
	}
	if err := t.stx.Respond(res); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	t.uasStatus, t.uasReason, t.lastReply = res.StatusCode, res.Reason, res
	if local {
		mod.countLocal(res.StatusCode)
	} else {
		mod.countRelayed(res.StatusCode)
	}
	if res.StatusCode >= 200 && !t.final {
		t.final = true
		mod.txs.live.Add(-1)
		mod.scheduleWait(t)
	}
	return nil
}

// localReply builds and sends a reply of our own to the transaction's
// request; t.mu held.
func (mod *Module) localReply(t *tx, m *kemi.Msg, code int, reason string) error {
	if t.final {
		return nil // too late; t.req may be gone
	}
	if reason == "" {
		reason = kemi.ReasonPhrase(code)
	}
	var res *sip.Response
	if m != nil && m.Req != nil {
		res = m.NewReply(code, reason)
	} else {
		fake := &kemi.Msg{Req: t.req}
		res = fake.NewReply(code, reason)
	}
	return mod.replyUAS(t, res, true)
}

// scheduleWait removes the transaction wt_timer after its final reply, so
// that late retransmissions are still absorbed meanwhile; the branch
// messages are not needed any more.
func (mod *Module) scheduleWait(t *tx) {
	if t.waiting {
		return
	}
	t.waiting = true
	mod.trim(t)
	mod.timers.set(t, time.Now().Add(mod.wtTimer), deadlineWait)
}

// trim lets go what a transaction waiting for wt_timer no longer needs,
// so that the thousands kept at a high call rate cost little memory;
// t.mu held. Kept: the keys that absorb retransmissions, the replies, and
// the request of a branch whose negative reply may come again (its ACK).
func (mod *Module) trim(t *tx) {
	pending := false
	for _, b := range t.branches {
		if !b.final {
			pending = true
			continue
		}
		b.ctx = nil // terminated at the branch's final reply
		if !t.inv || b.status < 300 {
			b.req = nil
		}
	}
	if t.inv && t.uasStatus < 300 && !pending {
		// after a 2xx the ACK is end-to-end and a retransmitted INVITE is
		// absorbed without an answer: nothing needs the request any more
		t.stx.Terminate()
		t.stx, t.req = nil, nil
	}
}

// release removes the transaction from the tables and lets its sipgo
// transactions go; t.mu held.
func (mod *Module) release(t *tx) {
	if t.done {
		return
	}
	t.done = true
	if !t.final {
		t.final = true
		mod.txs.live.Add(-1)
	}
	for _, b := range t.branches {
		b.stop()
	}
	if t.stx != nil {
		t.stx.Terminate()
	}
	mod.timers.remove(t)
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

// stop lets the branch's client transactions go.
func (b *branch) stop() {
	if b.fr != nil {
		b.fr.Stop()
	}
	if b.ctx != nil {
		b.ctx.Terminate()
	}
	if b.cancelTx != nil {
		b.cancelTx.Terminate()
	}
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
