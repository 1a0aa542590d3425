package tm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// relayOpts are the variants of t_relay.
type relayOpts struct {
	proto string // force this transport
	proxy string // send every branch to this URI
	// maxFwd is the Max-Forwards every branch carries, when setMaxFwd
	// (RFC 3261 §16.6 step 3, the script did not handle it)
	maxFwd    uint32
	setMaxFwd bool
}

// target is one destination of the destination set.
type target struct {
	uri   string
	du    string
	flags uint32
	sock  *kemi.Socket
	// path is its Path set (RFC 3327), sent as Route headers
	path string
}

// Errors a branch can end with before it is sent; their reply codes follow
// Kamailio's internal error replies.
var (
	errUnresolvable = errors.New("unresolvable destination")
	errNoSocket     = errors.New("no socket for the destination's transport")
	errTooMany      = errors.New("too many branches")
)

// tRelay is t_relay and its variants.
func (mod *Module) tRelay(m *kemi.Msg, o relayOpts) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "t_relay: not a request")
		return kemi.Fail
	}
	r := refOf(m)
	switch m.Method() {
	case "ACK":
		return mod.relayACK(m)
	case "CANCEL":
		return mod.relayCancel(m, r)
	}
	t := r.t
	unlock := noop
	justCreated := false
	if t == nil {
		nt, created, err := mod.newTx(m, true)
		if err != nil {
			m.SetError(500, "Server Internal Error")
			mod.log.Warn("t_relay: cannot create the transaction", "err", err, "at", m.Where())
			return kemi.Fail
		}
		if !created {
			mod.absorb(nt, m)
			return kemi.Int(0)
		}
		t, justCreated = nt, true
		r.t, r.created = t, true
		t.mu.Lock()
		unlock = t.mu.Unlock
		t.applyRef(r, m)
	} else {
		unlock = lockTx(r)
		if !r.held {
			t.flags, t.avps = m.Flags, m.AVPs.Clone()
		}
	}
	defer unlock()
	if t.done {
		m.Errorf(mod.log, "t_relay: the transaction is gone")
		return kemi.Fail
	}
	if t.final && !t.inFailure {
		m.Errorf(mod.log, "t_relay: the transaction already has a final reply")
		return kemi.Fail
	}
	if t.canceled {
		// as Kamailio (E_CANCELED): no new branch nothing would cancel
		m.SetError(487, "Request Terminated")
		m.Errorf(mod.log, "t_relay: the transaction was canceled")
		return kemi.Fail
	}
	mf, setMF, exhausted := m.ProxyMaxForwards()
	if !r.held {
		if !justCreated {
			t.keepRequest(m) // newTx kept it just now
		}
		t.reqAdded = m.AddedAt()
		t.maxFwdChecked = !setMF
	}
	if exhausted {
		// RFC 3261 §16.3 step 3: a proxy must not forward it
		_ = mod.localReply(t, m, 483, "Too Many Hops")
		m.Handled = true
		mod.log.Warn("t_relay: Max-Forwards is 0: not relayed, 483 Too Many Hops sent", "at", m.Where())
		return kemi.Int(0)
	}
	o.maxFwd, o.setMaxFwd = mf, setMF
	targets := mod.destinationSet(m)
	if len(targets) == 0 {
		// Kamailio's t_forward_nonack: "no branches for forwarding"
		m.SetError(500, "No branches for forwarding")
		mod.log.Warn("t_relay: no branches for forwarding: the Request-URI was relayed already "+
			"(or this is a failure route) and was not set again, and no branch was appended; "+
			"KSR.setdsturi alone adds no branch: set $ru (KSR.seturi) or append a branch", "at", m.Where())
		return kemi.Fail
	}
	if t.inv && !t.sw.has(swNoAuto100) && !t.sent100 && !t.final {
		t.sent100 = true
		_ = mod.localReply(t, m, 100, "Trying")
	}
	sent := 0
	var lastErr error
	for _, tg := range targets {
		if err := mod.addBranch(t, m, tg, o); err != nil {
			lastErr = err
			continue
		}
		sent++
	}
	m.Handled = true
	if sent == 0 {
		switch {
		case errors.Is(lastErr, kemi.ErrDropped):
			m.SetError(500, "No branch to relay to")
		case errors.Is(lastErr, errUnresolvable):
			m.SetError(478, "Unresolvable destination")
		case errors.Is(lastErr, errTooMany):
			m.SetError(500, "Too many branches")
		default:
			m.SetError(477, "Unfortunately error on sending to next hop occurred")
		}
		mod.log.Warn("t_relay: no branch could be sent", "err", lastErr, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}

// destinationSet takes the branches t_relay sends and consumes them, as
// Kamailio's t_forward_nonack does: the Request-URI (with $du) unless it
// was relayed already and not written since (RURIUsed), then every
// appended branch.
func (mod *Module) destinationSet(m *kemi.Msg) []target {
	var targets []target
	if !m.RURIUsed {
		targets = append(targets, ruriTarget(m))
	}
	for _, b := range m.Branches {
		targets = append(targets, branchTarget(b))
	}
	m.Branches = nil
	m.RURIUsed = true
	return targets
}

// ruriTarget is branch 0 of the destination set: the Request-URI, $du,
// the branch flags, the forced socket and the Path set lookup gave it.
func ruriTarget(m *kemi.Msg) target {
	return target{uri: m.RURI(), du: m.DstURI, flags: m.BFlags, sock: m.SendSock, path: m.PathVec}
}

// branchTarget is an appended branch of the destination set.
func branchTarget(b kemi.Branch) target {
	return target{uri: b.URI, du: b.DstURI, flags: b.Flags, sock: b.Sock, path: b.Path}
}

// absorb answers a retransmitted request from its transaction (RFC 3261
// §17.2.1, §17.2.2): the last reply sent goes again (none before the
// first; none after a 2xx to an INVITE, which the UAS retransmits
// itself), and the ACK of a negative reply to an INVITE stops timer G and
// starts wt_timer.
func (mod *Module) absorb(t *tx, m *kemi.Msg) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mod.met.absorbed.Inc()
	m.Handled = true
	switch {
	case t.done:
	case m.Method() == "ACK":
		if t.inv && t.final && t.uasStatus >= 300 && !t.acked {
			t.acked = true
			mod.startWait(t) // replaces timer G
		}
	case t.final:
		mod.sendRaw(t.dst, t.finalReply())
	case t.lastReplyWire != nil:
		mod.met.retransmits.Inc()
		if err := mod.sendReplyWire(t.dst, t.lastReplyWire); err != nil {
			mod.met.sendErrors.Inc()
		}
	case t.lastReply != nil:
		mod.met.retransmits.Inc()
		if err := mod.host.SendReply(t.lastReply, t.dst); err != nil {
			mod.met.sendErrors.Inc()
		}
	}
}

// addBranch creates and sends one branch of t; t.mu held.
func (mod *Module) addBranch(t *tx, origin *kemi.Msg, tg target, o relayOpts) error {
	if len(t.branches) >= mod.maxBranches {
		return errTooMany
	}
	if ok, err := mod.addBranchLazy(t, origin, tg, o); ok {
		return err
	}
	idx := len(t.branches)
	req := origin.Request().Clone()
	if v := req.Via(); v != nil {
		// RFC 3581: the callee's replies come back to us, but the Via
		// below ours must say where the caller really is
		origin.StampSenderVia(v)
	}
	var ru sip.Uri
	if err := sip.ParseUri(tg.uri, &ru); err != nil {
		return fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	req.Recipient = ru
	if o.setMaxFwd {
		kemi.SetMaxForwards(req, o.maxFwd)
	}
	b := &branch{tx: t, idx: idx, id: branchID(mod.prefix, t.id, idx)}
	bm := &kemi.Msg{
		Proto:         origin.Proto,
		Src:           origin.Src,
		Rcv:           origin.Rcv,
		ConnID:        origin.ConnID,
		Received:      origin.Received,
		Route:         kemi.RouteBranch,
		OrigURI:       origin.OrigURI,
		DstURI:        tg.du,
		PathVec:       tg.path,
		Flags:         t.flags,
		BFlags:        tg.flags,
		SendSock:      tg.sock,
		AVPs:          origin.AVPs,
		Proc:          origin.Proc,
		Host:          origin.Host,
		Run:           origin.Run,
		AdvHost:       origin.AdvHost,
		AdvPort:       origin.AdvPort,
		MaxFwdChecked: origin.MaxFwdChecked,
		LocalRport:    origin.LocalRport,
	}
	bm.SetRequest(req)
	if bm.SendSock == nil {
		bm.SendSock = origin.SendSock
	}
	bm.MarkAddedAt(origin.AddedAt()) // the branch route's go below them
	bm.SetValue(refKey{}, &ref{t: t, held: true, b: b})
	if t.on[cbBranch] != "" && origin.Run != nil {
		if _, err := origin.Run.Call(t.on[cbBranch], kemi.RouteBranch, bm); err != nil {
			mod.log.Debug("branch route failed", "err", err)
		}
		if bm.Drop {
			return kemi.ErrDropped
		}
	}
	b.uri, b.flags = req.Recipient.String(), bm.BFlags
	next, err := nextHop(bm)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	if o.proxy != "" {
		next = o.proxy
	}
	dst, err := mod.resolve(next)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	forceProto(&dst, o.proto, next)
	if bm.SendSock != nil && bm.SendSock.Proto == dst.Proto {
		dst.Sock = bm.SendSock
	}
	via := mod.host.Via(bm, &dst, b.id)
	if via == nil {
		return errNoSocket
	}
	insertVia(bm, via)
	if _, err := bm.InsertPathRoutes(bm.PathVec); err != nil {
		return fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	if dst.Proto == "udp" && tooBigForUDP(origin, req, len(bm.PathVec)) {
		// RFC 3261 §18.1.1: a large request goes over a congestion
		// controlled transport
		tcp := dst
		tcp.Proto, tcp.Sock = "tcp", nil
		if v := mod.host.Via(bm, &tcp, b.id); v != nil {
			req.ReplaceHeader(v) // our Via is the top one
			dst = tcp
		}
	}
	if err := mod.host.PrepareRequest(origin, req, &dst); err != nil {
		return err
	}
	req.SetTransport(strings.ToUpper(dst.Proto))
	req.SetDestination(dst.Addr.String())
	b.req, b.method, b.dst = req, req.Method, dst
	return mod.startBranch(t, b, func() error { return mod.host.SendRequest(nil, req, dst) })
}

// startBranch sends the first copy of b, a new branch of t, with send,
// and then arms its timers: retransmission over an unreliable transport
// (timer A / E) and fr_timer.
func (mod *Module) startBranch(t *tx, b *branch, send func() error) error {
	b.retr.t, b.retr.b = t, b
	b.fr.t, b.fr.b = t, b
	b.cretr.t, b.cretr.b = t, b
	b.t1, b.t2 = t.t1, t.t2
	if err := send(); err != nil {
		mod.met.sendErrors.Inc()
		return err
	}
	t.branches = append(t.branches, b)
	mod.met.branches.Inc()
	if !reliable(b.dst) {
		b.retrIv = b.t1 // timer A / E
		mod.wheel.set(&b.retr, b.retrIv, tkRequest)
	}
	mod.armFR(b, t.fr)
	return nil
}

// nextHop is where a branch goes: $du, else the first hop of its Path
// set, else its Request-URI. Kamailio's registrar sets $du to the first
// Path hop itself; going there when $du is empty as well keeps a request
// with a Path set on the path RFC 3327 §5 gives it.
func nextHop(m *kemi.Msg) (string, error) {
	if m.DstURI != "" || m.PathVec == "" {
		return m.NextHop(), nil
	}
	return kemi.PathFirstHop(m.PathVec)
}

// resolveTimeout bounds a DNS lookup made while a transaction is locked.
const resolveTimeout = 5 * time.Second

// resolve finds where uri goes, within resolveTimeout.
func (mod *Module) resolve(uri string) (kemi.Dest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	return mod.host.Resolve(ctx, uri)
}

// armFR (re)starts the final-reply timer of a branch; t.mu held.
func (mod *Module) armFR(b *branch, d time.Duration) {
	mod.wheel.set(&b.fr, d, tkFR)
}

// insertVia puts our Via right above the first Via of the request in m,
// where Kamailio writes it: the headers above it (a Record-Route, a
// Max-Forwards written first by the caller) stay where they are.
func insertVia(m *kemi.Msg, via *sip.ViaHeader) {
	m.InsertHeadersAt(m.IndexOfHeader("Via"), via)
}

// tooBigForUDP: RFC 3261 §18.1.1 asks for a congestion controlled
// transport when a request is larger than 1300 bytes and the path MTU is
// unknown. The size received (and added, the bytes of the Path set the
// branch adds) tells most requests apart without writing the branch out.
func tooBigForUDP(origin *kemi.Msg, req *sip.Request, added int) bool {
	const limit = udpLimit
	if origin.Raw != nil && len(origin.Raw)+300+added < limit {
		return false
	}
	b := sizeBuf.Get().(*bytes.Buffer)
	b.Reset()
	req.StringWrite(b)
	n := b.Len()
	sizeBuf.Put(b)
	return n > limit
}

// udpLimit is the size above which a request leaves over TCP rather
// than UDP, when it can (RFC 3261 §18.1.1).
const udpLimit = 1300

var sizeBuf = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// relayACK absorbs the ACK of a negative reply we sent and forwards any
// other ACK statelessly: the end-to-end ACK of a 2xx, also when it matches
// the INVITE's transaction (an RFC 2543 ACK, or one that reuses the
// INVITE's branch), as Kamailio's t_relay does.
func (mod *Module) relayACK(m *kemi.Msg) kemi.Value {
	if t := mod.negativeAckOf(m); t != nil {
		mod.absorb(t, m)
		return kemi.Int(0)
	}
	if err := m.Host.Forward(m, ""); err != nil {
		mod.log.Warn("t_relay: ACK not forwarded", "err", err, "at", m.Where())
		return kemi.Fail
	}
	return kemi.OK
}

// negativeAckOf returns the INVITE transaction whose negative final reply
// the ACK in m acknowledges (hop by hop: tm absorbs it), or nil: no match,
// or the INVITE's final reply was a 2xx (or none yet) and the ACK is end
// to end.
func (mod *Module) negativeAckOf(m *kemi.Msg) *tx {
	t := mod.txs.get(serverKey(m, "INVITE"))
	if t == nil {
		return nil
	}
	t.mu.Lock()
	negative := t.inv && t.final && t.uasStatus >= 300
	t.mu.Unlock()
	if !negative {
		return nil
	}
	return t
}

// relayCancel answers a CANCEL with 200 and cancels every pending branch of
// the INVITE transaction it matches; the caller gets the 487 of the
// branches.
func (mod *Module) relayCancel(m *kemi.Msg, r *ref) kemi.Value {
	inv := r.cancelOf
	if inv == nil {
		inv = mod.txs.get(serverKey(m, "INVITE"))
	}
	if inv == nil {
		m.Errorf(mod.log, "t_relay: CANCEL matches no INVITE transaction")
		m.SetError(481, "Call/Transaction Does Not Exist")
		return kemi.Fail
	}
	ct, created, err := mod.newTx(m, false)
	if err != nil {
		return kemi.Fail
	}
	if !created {
		mod.absorb(ct, m)
		return kemi.Int(0)
	}
	ct.mu.Lock()
	_ = mod.localReply(ct, m, 200, "canceling")
	mod.maybeTrim(ct)
	ct.mu.Unlock()
	m.Handled = true
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.final || inv.done {
		return kemi.OK
	}
	inv.canceled = true
	if !inv.sw.has(swNoE2EReason) {
		inv.cancelReason, _ = m.HeaderBody("Reason")
	}
	mod.cancelBranches(inv, nil)
	return kemi.OK
}

// cancelBranches cancels every pending branch but except and says how
// many; t.mu held. A branch that had no provisional reply yet gets its
// CANCEL when one comes, or ends at its timer.
func (mod *Module) cancelBranches(t *tx, except *branch) int {
	n := 0
	for _, b := range t.branches {
		if b == except || b.final || !t.inv {
			continue
		}
		n++
		b.cancel = true
		if b.provisonal && !b.cancelSent {
			mod.sendCancel(t, b)
		}
	}
	return n
}

// sendCancel sends the CANCEL of a branch (RFC 3261 §9.1), built as
// hopByHop says; From and To are the caller's unless t_use_uac_headers.
func (mod *Module) sendCancel(t *tx, b *branch) {
	b.cancelSent = true
	var (
		c   *sip.Request
		cw  []byte // the CANCEL written from the branch's bytes (b.wire)
		err error
	)
	if b.req == nil && b.wire != nil {
		if cw, err = hopByHopWire("CANCEL", b.wire, "", t.cancelReason); err == nil {
			err = mod.sendRequestWire(b.dst, cw)
		}
	} else {
		var from *sip.FromHeader
		var to *sip.ToHeader
		if req := t.request(); !t.sw.has(swUseUACHeaders) && req != nil {
			from, to = req.From(), req.To()
		}
		c = hopByHop(sip.CANCEL, b.req, from, to)
		if t.cancelReason != "" {
			c.AppendHeader(sip.NewHeader("Reason", t.cancelReason))
		}
		err = mod.host.SendRequest(nil, c, b.dst)
	}
	if err != nil {
		mod.met.sendErrors.Inc()
		mod.log.Warn("CANCEL not sent", "err", err, "branch", b.id)
		return
	}
	mod.met.cancels.Inc()
	if !reliable(b.dst) {
		// a non-INVITE transaction of its own: timer E until a reply, 64*T1 at most
		b.cancelReq, b.cancelWire, b.crIv, b.crLeft = c, cw, b.t1, 64*b.t1-b.t1
		mod.wheel.set(&b.cretr, b.crIv, tkCancel)
	}
}

// sendAck acknowledges a negative final reply of a branch (RFC 3261
// §17.1.1.3), built once and sent again for each retransmission of the
// reply; t.mu held.
func (mod *Module) sendAck(b *branch, res *sip.Response) {
	if b.ack != nil {
		mod.sendRaw(b.dst, b.ack)
		return
	}
	if b.req == nil && b.wire != nil {
		mod.sendAckWire(b, res)
		return
	}
	if b.req == nil {
		return
	}
	ack := negativeAck(b.req, res.To())
	if err := mod.host.SendRequest(nil, ack, b.dst); err != nil {
		mod.met.sendErrors.Inc()
		return
	}
	if !reliable(b.dst) {
		b.ack = encode(ack) // the reply may come again
	}
}

// negativeAck builds the ACK of a non-2xx final reply to inv, an INVITE as
// we sent it (RFC 3261 §17.1.1.3), with the To of the reply (its tag).
func negativeAck(inv *sip.Request, to *sip.ToHeader) *sip.Request {
	return hopByHop(sip.ACK, inv, nil, to)
}

// hopByHop builds a request tm sends on a branch by itself, the ACK of a
// negative reply (RFC 3261 §17.1.1.3) or a CANCEL (§9.1), from inv, the
// INVITE as we sent it on that branch: its Request-URI, one Via (its top
// one, ours, with the same branch), its Route headers, Max-Forwards,
// Call-ID and CSeq number (with method), From and To (from and to when
// not nil), no Contact and no body. The headers keep the order they have
// in the INVITE, as Kamailio writes them.
func hopByHop(method sip.RequestMethod, inv *sip.Request, from *sip.FromHeader, to *sip.ToHeader) *sip.Request {
	r := sip.NewRequest(method, inv.Recipient)
	r.SipVersion = inv.SipVersion
	via, mf := false, false
	for _, h := range inv.Headers() {
		switch h := h.(type) {
		case *sip.ViaHeader:
			if via {
				continue
			}
			via = true
			r.AppendHeader(sip.HeaderClone(h))
		case *sip.RouteHeader, *sip.CallIDHeader:
			r.AppendHeader(sip.HeaderClone(h))
		case *sip.MaxForwardsHeader:
			if !mf {
				mf = true
				r.AppendHeader(sip.HeaderClone(h))
			}
		case *sip.FromHeader:
			if from == nil {
				from = h
			}
			r.AppendHeader(sip.HeaderClone(from))
		case *sip.ToHeader:
			if to == nil {
				to = h
			}
			r.AppendHeader(sip.HeaderClone(to))
		case *sip.CSeqHeader:
			r.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: method})
		}
	}
	if !mf {
		// every request carries one (RFC 3261 §8.1.1.6)
		v := sip.MaxForwardsHeader(kemi.MaxForwardsDefault)
		r.AppendHeader(&v)
	}
	r.SetBody(nil)
	r.SetTransport(inv.Transport())
	return r
}

// parseProxy turns "proto:host:port" (t_relay_to_proxy) into a SIP URI.
func parseProxy(s string) (string, error) {
	proto := ""
	rest := s
	if i := strings.IndexByte(s, ':'); i > 0 {
		switch p := strings.ToLower(s[:i]); p {
		case "udp", "tcp", "tls", "sctp", "ws", "wss":
			proto, rest = p, s[i+1:]
		}
	}
	if rest == "" {
		return "", fmt.Errorf("invalid proxy %q", s)
	}
	uri := proxyURI(proto, rest)
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return "", fmt.Errorf("invalid proxy %q: %w", s, err)
	}
	return uri, nil
}

// hostPortURI builds sip:host:port;transport=proto (no port when 0).
func hostPortURI(proto, host string, port int) string {
	hp := host
	if port > 0 {
		hp = kemi.HostPort(host, port)
	} else if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		hp = "[" + host + "]"
	}
	return proxyURI(proto, hp)
}

// proxyURI builds sip:hostport with the transport parameter of proto
// (none for UDP).
func proxyURI(proto, hostport string) string {
	uri := "sip:" + hostport
	if p, ok := kemi.URIProto(proto); ok && p != "udp" {
		uri += ";transport=" + p
	}
	return uri
}

// forceProto makes proto (t_relay_to_proto's) the transport of dst,
// resolved from the next hop next. A next hop without a port then goes to
// the transport's default port, 5061 for TLS and 5060 for the others, as
// with Kamailio's forced protocol.
func forceProto(dst *kemi.Dest, proto, next string) {
	if proto == "" || proto == dst.Proto {
		return
	}
	if tls := proto == "tls"; tls != (dst.Proto == "tls") {
		if u, err := sipmsg.ParseURI([]byte(next)); err == nil && u.PortNum == 0 {
			dst.Addr = netip.AddrPortFrom(dst.Addr.Addr(), uint16(kemi.DefaultPort(proto)))
		}
	}
	dst.Proto = proto
}
