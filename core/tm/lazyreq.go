package tm

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// tm's request side on a request still in its lazy form (kemi/lazy.go):
// the transaction keeps the request as the bytes the script's changes
// made of it, each branch is written from the lazy message with its own
// changes as lumps (its Request-URI, our Via, Max-Forwards) into bytes it
// keeps for its retransmissions, and the CANCEL and the ACK of a negative
// reply are written from those bytes. sipgo's form of the request is
// built only for the paths that need it: a branch route, a Path set, a
// send hook or onsend route, a request too large for UDP, and the
// modules and script functions that ask for it later (t.request).

// errNoRequest is returned by what needs the transaction's request once
// it was let go.
var errNoRequest = errors.New("core/tm: the transaction's request is gone")

// keepRequest makes the request in m, with the changes the script made
// so far, the transaction's request: as bytes when m is lazy (the
// message's buffer is reused after the route), else sipgo's form.
func (t *txState) keepRequest(m *kemi.Msg) {
	if lm := m.Lazy(); lm != nil {
		t.req, t.reqWire = nil, lm.AppendTo(make([]byte, 0, len(lm.Bytes())+64))
		return
	}
	t.req, t.reqWire = m.Request(), nil
}

// request returns the transaction's request in sipgo's form, parsing the
// bytes kept of a lazy one the first time it is asked for; nil when
// there is none (or the bytes do not parse, which they did as received).
func (t *txState) request() *sip.Request {
	if t.req == nil && t.reqWire != nil {
		if msg, err := sip.ParseMessage(t.reqWire); err == nil {
			if req, ok := msg.(*sip.Request); ok {
				req.SetTransport(strings.ToUpper(t.proto))
				if t.src.IsValid() {
					req.SetSource(t.src.String())
				}
				t.req = req
			}
		}
	}
	return t.req
}

// lazyRequest returns a new lazy message holding the request kept as
// bytes, nil when it was kept in sipgo's form (or is gone). The message
// reads t.reqWire, which is never changed: its own changes are lumps.
func (t *txState) lazyRequest() *sipmsg.Msg {
	if t.req != nil || t.reqWire == nil {
		return nil
	}
	lm := new(sipmsg.Msg)
	if err := lm.Parse(t.reqWire); err != nil {
		return nil
	}
	return lm
}

// replyMsg returns a message holding the transaction's request, for
// replies of our own made without a routed message (timers): lazy when
// the request was kept as bytes. nil when it is gone.
func (t *txState) replyMsg() *kemi.Msg {
	// no Src: a reply of ours made from a timer never stamped the Via
	m := &kemi.Msg{Rcv: t.rcv, Proto: t.proto}
	if lm := t.lazyRequest(); lm != nil {
		m.SetLazy(lm, nil)
		return m
	}
	req := t.request()
	if req == nil {
		return nil
	}
	m.SetRequest(req)
	return m
}

// addBranchLazy is addBranch for a lazy request whose branch needs
// nothing of sipgo's form: no branch route to run, no Path set, no send
// hook or onsend route, not too large for UDP. It reports false, having
// done nothing, for any other; t.mu held.
func (mod *Module) addBranchLazy(t *tx, origin *kemi.Msg, tg target, o relayOpts) (bool, error) {
	lm := origin.Lazy()
	ls, ok := mod.host.(kemi.LazyRequestSender)
	if lm == nil || !ok || tg.path != "" || t.on[cbBranch] != "" && origin.Run != nil || !ls.CanSendLazy(origin) {
		return false, nil
	}
	if len(t.branches) >= mod.maxBranches {
		return true, errTooMany
	}
	if _, err := sipmsg.ParseURI([]byte(tg.uri)); err != nil {
		return true, fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	idx := len(t.branches)
	b := &branch{tx: t, idx: idx, id: branchID(mod.prefix, t.id, idx)}
	next := tg.du
	if next == "" {
		next = tg.uri
	}
	if o.proxy != "" {
		next = o.proxy
	}
	dst, err := mod.resolve(next)
	if err != nil {
		return true, fmt.Errorf("%w: %v", errUnresolvable, err)
	}
	forceProto(&dst, o.proto, next)
	sock := tg.sock
	if sock == nil {
		sock = origin.SendSock
	}
	if sock != nil && sock.Proto == dst.Proto {
		dst.Sock = sock
	}
	// the socket and the address our Via advertises, as for addBranch's
	// branch message: the origin's, but for the branch's socket
	vm := origin
	if sock != origin.SendSock {
		vm = &kemi.Msg{SendSock: sock, Rcv: origin.Rcv, AdvHost: origin.AdvHost, AdvPort: origin.AdvPort, LocalRport: origin.LocalRport}
	}
	var vb [192]byte
	via, ok := ls.AppendVia(vb[:0], vm, &dst, b.id)
	if !ok {
		return true, errNoSocket
	}
	wire := writeBranch(origin, lm, tg.uri, via, o, dst.Proto)
	if dst.Proto == "udp" && len(wire) > udpLimit {
		return false, nil // addBranch moves it to TCP (RFC 3261 §18.1.1)
	}
	b.uri, b.flags, b.wire, b.method, b.dst = tg.uri, tg.flags, wire, sip.RequestMethod(origin.Method()), dst
	return true, mod.startBranch(t, b, func() error { return ls.SendRequestBytes(dst, wire) })
}

// writeBranch writes the request of origin as a branch to uri sends it:
// the sender's Via stamped (RFC 3581), the Request-URI of the branch, our
// Via right above the first one, Max-Forwards as o says and a
// Content-Length over a stream. The changes are the branch's own: they
// are rolled back once it is written.
func writeBranch(origin *kemi.Msg, lm *sipmsg.Msg, uri string, via []byte, o relayOpts, proto string) []byte {
	mk := lm.Mark()
	defer lm.Rollback(mk)
	origin.StampSenderTopVia()
	if string(lm.RURI()) != uri {
		lm.SetRURI([]byte(uri))
	}
	lm.InsertBefore(lm.Find(sipmsg.HdrVia), []byte("Via"), via)
	if o.setMaxFwd {
		var n [8]byte
		val := strconv.AppendUint(n[:0], uint64(o.maxFwd), 10)
		if id := lm.Find(sipmsg.HdrMaxForwards); id != sipmsg.NoHeader {
			lm.SetValue(id, val)
		} else {
			lm.Append([]byte("Max-Forwards"), val)
		}
	}
	if proto != "udp" {
		lm.AddContentLength()
	}
	return lm.AppendTo(make([]byte, 0, len(lm.Bytes())+len(via)+64))
}

// hopByHopWire is hopByHop on a branch kept as bytes: the CANCEL or the
// ACK of a negative reply written from inv, the INVITE as sent on the
// branch. to replaces its To value when not empty (the reply's, for the
// ACK); reason, when not empty, is a Reason header (a CANCEL's).
func hopByHopWire(method string, inv []byte, to, reason string) ([]byte, error) {
	var lm sipmsg.Msg
	if err := lm.Parse(inv); err != nil {
		return nil, fmt.Errorf("core/tm: the branch's request does not parse: %w", err)
	}
	out := make([]byte, 0, 512)
	out = append(out, method...)
	out = append(out, ' ')
	out = append(out, lm.RURI()...)
	out = append(out, ' ')
	out = append(out, lm.Version()...)
	out = append(out, "\r\n"...)
	via, mf := false, false
	for id := range lm.Headers() {
		v := lm.Value(id)
		switch lm.Type(id) {
		case sipmsg.HdrVia:
			if via {
				continue
			}
			via = true
			// ours, on a line of its own (writeBranch): the first value
			if _, rest, err := sipmsg.ParseVia(v); err == nil && len(rest) > 0 {
				v = bytes.TrimRight(v[:bytes.LastIndexByte(v[:len(v)-len(rest)], ',')], " \t")
			}
			out = kemi.AppendHeaderLine(out, "Via", v)
		case sipmsg.HdrRoute:
			out = kemi.AppendHeaderLine(out, "Route", v)
		case sipmsg.HdrCallID:
			out = kemi.AppendHeaderLine(out, "Call-ID", v)
		case sipmsg.HdrMaxForwards:
			if !mf {
				mf = true
				out = kemi.AppendHeaderLine(out, "Max-Forwards", v)
			}
		case sipmsg.HdrFrom:
			out = kemi.AppendHeaderLine(out, "From", v)
		case sipmsg.HdrTo:
			if to != "" {
				v = []byte(to)
			}
			out = kemi.AppendHeaderLine(out, "To", v)
		case sipmsg.HdrCSeq:
			cs, err := lm.CSeq()
			if err != nil {
				return nil, fmt.Errorf("core/tm: the branch's CSeq: %w", err)
			}
			out = append(out, "CSeq: "...)
			out = strconv.AppendUint(out, uint64(cs.Num), 10)
			out = append(out, ' ')
			out = append(out, method...)
			out = append(out, "\r\n"...)
		}
	}
	if !mf {
		// every request carries one (RFC 3261 §8.1.1.6)
		out = append(out, "Max-Forwards: "...)
		out = strconv.AppendInt(out, kemi.MaxForwardsDefault, 10)
		out = append(out, "\r\n"...)
	}
	if reason != "" {
		out = kemi.AppendHeaderLine(out, "Reason", []byte(reason))
	}
	return append(out, "Content-Length: 0\r\n\r\n"...), nil
}

// sendRequestWire sends a request tm wrote (a branch, its CANCEL or ACK).
func (mod *Module) sendRequestWire(dst kemi.Dest, b []byte) error {
	if ls, ok := mod.host.(kemi.LazyRequestSender); ok {
		return ls.SendRequestBytes(dst, b)
	}
	return mod.raw.SendRaw(dst, b)
}

// sendAckWire is sendAck for a branch kept as bytes, the first time;
// t.mu held.
func (mod *Module) sendAckWire(b *branch, res *sip.Response) {
	to := ""
	if h := res.To(); h != nil {
		to = h.Value()
	}
	ack, err := hopByHopWire("ACK", b.wire, to, "")
	if err == nil {
		err = mod.sendRequestWire(b.dst, ack)
	}
	if err != nil {
		mod.met.sendErrors.Inc()
		return
	}
	if !reliable(b.dst) {
		b.ack = bytes.Clone(ack) // the reply may come again; kept at its size
	}
}
