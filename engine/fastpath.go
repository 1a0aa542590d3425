package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// The fast paths forward a message that is still lazy (kemi/lazy.go):
// stateless forwarding of a request and routing of a reply on its Via,
// with the changes written as lumps (our Via, Max-Forwards, the sender's
// received and rport) and the message written once into a reused buffer.
// They give the same wire as the sipgo paths next to them, which serve
// the messages some module turned into sipgo's form, and the sends that
// need it (a Path set, an onsend route, a send hook with work to do).

// wireBufs are the buffers messages are written into for a send.
var wireBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// canForwardLazy reports whether the stateless forward of m can take the
// fast path: m is lazy, and nothing needs the sipgo form on the way (a
// send hook with work to do may do it on the lazy message: forwardLazy
// calls its BeforeSendLazy).
func (e *Engine) canForwardLazy(m *kemi.Msg) bool {
	return m.PathVec == "" && e.lazySendable(m, true)
}

// CanSendLazy reports whether a request built from m, a lazy message, can
// go out as bytes: no send hook nor onsend route needs sipgo's form; see
// kemi.LazyRequestSender. A hook with work to do (a double Record-Route)
// makes it false: tm's branches do not run kemi.LazySendHook.
func (e *Engine) CanSendLazy(m *kemi.Msg) bool { return e.lazySendable(m, false) }

// lazySendable is canForwardLazy and CanSendLazy: hooksLazy says whether
// a kemi.LazySendHook with work to do is run on the lazy message.
func (e *Engine) lazySendable(m *kemi.Msg, hooksLazy bool) bool {
	if m.Lazy() == nil {
		return false
	}
	if m.Run != nil && e.cfg.OnsendRoute != "none" && m.Run.Has(e.cfg.OnsendRoute) {
		return false
	}
	for _, h := range e.sendHooks {
		if f, ok := h.(kemi.SendHookFilter); ok && !f.WantsSend(m) {
			continue
		}
		if _, ok := h.(kemi.LazySendHook); !ok || !hooksLazy {
			return false
		}
	}
	return true
}

// errNotLazy is forwardLazy's answer when a send hook could not make its
// changes on the lazy message: Forward takes the sipgo path.
var errNotLazy = errors.New("a send hook needs the sipgo form")

// forwardLazy is Forward's fast path: m is lazy (canForwardLazy), dst
// resolved; mf is the Max-Forwards to send when setMF.
func (e *Engine) forwardLazy(m *kemi.Msg, dst kemi.Dest, mf uint32, setMF bool) error {
	lm := m.Lazy()
	// replies to a request that came over TCP find the connection by
	// received/rport; over UDP rport is honoured when asked for
	m.StampSenderTopVia()
	var branch [32]byte
	var via [192]byte
	v, ok := e.viaLazy(via[:0], m, &dst, statelessBranchLazy(branch[:0], lm))
	if !ok {
		m.SetError(500, "No socket for "+dst.Proto)
		return fmt.Errorf("no %s socket to send from", dst.Proto)
	}
	// the request is the script's again after the send, as it was: it may
	// be sent twice
	mk := lm.Mark()
	defer lm.Rollback(mk)
	for _, h := range e.sendHooks {
		lh, ok := h.(kemi.LazySendHook)
		if !ok {
			continue
		}
		if f, ok := h.(kemi.SendHookFilter); ok && !f.WantsSend(m) {
			continue // and dst is not copied to the heap for it
		}
		d := dst
		ok = lh.BeforeSendLazy(m, &d)
		dst = d
		if !ok {
			return errNotLazy
		}
	}
	// Kamailio writes its Via right above the first Via, whatever headers
	// (a Record-Route, a Max-Forwards written first) come before it
	lm.InsertBefore(lm.Find(sipmsg.HdrVia), []byte("Via"), v)
	if setMF {
		var n [8]byte
		val := strconv.AppendUint(n[:0], uint64(mf), 10)
		if id := lm.Find(sipmsg.HdrMaxForwards); id != sipmsg.NoHeader {
			lm.SetValue(id, val)
		} else {
			lm.Append([]byte("Max-Forwards"), val)
		}
	}
	streamLength(lm, dst.Proto)
	bp := wireBufs.Get().(*[]byte)
	out := lm.AppendTo((*bp)[:0])
	err := e.tp.send(&dst, out)
	*bp = out[:0]
	wireBufs.Put(bp)
	if err != nil {
		e.met.sendErrs.Inc()
		m.SetError(500, "Forwarding failed")
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	e.met.sentReq.Inc()
	m.Handled = true
	return nil
}

// streamLength gives lm a Content-Length when it has none and is sent
// over a stream (RFC 3261 §18.3: there it is mandatory). A datagram may
// come without one, its body the rest of the datagram; written as it is
// to a connection, the next hop would read that body as the next message
// on it (a request smuggled past the script). sipgo's form always writes
// one, as Kamailio does for a stream.
func streamLength(lm *sipmsg.Msg, proto string) {
	if proto != "udp" {
		lm.AddContentLength()
	}
}

// viaLazy appends our Via value for a request to dst to buf, after
// picking the socket (see viaSocket); ok is false when there is none.
// The socket's address is written as it is, without the string
// Socket.Host makes of it.
func (e *Engine) viaLazy(buf []byte, m *kemi.Msg, dst *kemi.Dest, branch []byte) ([]byte, bool) {
	sock := e.pickViaSocket(m, dst)
	if sock == nil {
		return buf, false
	}
	buf = append(buf, "SIP/2.0/"...)
	for i := 0; i < len(dst.Proto); i++ {
		c := dst.Proto[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	buf = append(buf, ' ')
	host := m.AdvHost
	if host == "" {
		host = sock.AdvHost
	}
	switch {
	case host != "":
		buf = appendHost(buf, host)
	case sock.Addr.Addr().Is6():
		buf = append(buf, '[')
		buf = sock.Addr.Addr().AppendTo(buf)
		buf = append(buf, ']')
	default:
		buf = sock.Addr.Addr().AppendTo(buf)
	}
	port := sock.Port()
	if m.AdvPort != 0 {
		port = m.AdvPort
	}
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(port), 10)
	buf = append(buf, ";branch="...)
	buf = append(buf, branch...)
	if m.LocalRport {
		buf = append(buf, ";rport"...)
	}
	return buf, true
}

// appendHost appends a host name or address, an IPv6 address in
// brackets.
func appendHost(buf []byte, host string) []byte {
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		buf = append(buf, '[')
		buf = append(buf, host...)
		return append(buf, ']')
	}
	return append(buf, host...)
}

// statelessBranchLazy is statelessBranch on a lazy message, appended to
// buf: the same hash of the same values, so that a CANCEL routed the
// other way gets its INVITE's branch. Only the fallback for a request
// without an RFC 3261 branch hashes the Via as written, where the sipgo
// path hashes it as sipgo writes it.
func statelessBranchLazy(buf []byte, lm *sipmsg.Msg) []byte {
	h := fnv64Offset
	v, err := lm.TopVia()
	if err == nil && bytes.HasPrefix(v.Branch, []byte("z9hG4bK")) {
		h = fnv64(h, v.Branch)
		// sipgo reads an IPv6 sent-by without its brackets: hashed as
		// statelessBranch hashes it, or the CANCEL of an INVITE that took
		// the other path would get another branch
		h = fnv64(h, bytes.TrimSuffix(bytes.TrimPrefix(v.Host, []byte("[")), []byte("]")))
		var n [8]byte
		h = fnv64(h, strconv.AppendInt(n[:0], int64(v.PortNum), 10))
	} else {
		h = fnv64(h, lm.CallID())
		if from, err := lm.From(); err == nil {
			h = fnv64(h, from.Tag)
		}
		if cs, err := lm.CSeq(); err == nil {
			var n [12]byte
			h = fnv64(h, strconv.AppendUint(n[:0], uint64(cs.Num), 10))
		}
		h = fnv64(h, lm.Get(sipmsg.HdrVia))
		if m := lm.Method(); !bytes.Equal(m, []byte("CANCEL")) && !bytes.Equal(m, []byte("ACK")) {
			h = fnv64(h, lm.RURI())
		}
	}
	buf = append(buf, "z9hG4bKsl"...)
	return strconv.AppendUint(buf, h, 36)
}

// forwardReplyLazy is forwardReply's fast path for a lazy reply.
func (e *Engine) forwardReplyLazy(m *kemi.Msg, lm *sipmsg.Msg) error {
	top, err := lm.TopVia()
	if err != nil {
		e.met.dropped(dropMalformed).Inc()
		return fmt.Errorf("reply's top Via: %w", err)
	}
	if !e.IsMyself(string(top.Host), top.PortNum, kemi.LowerProto(top.Transport)) {
		e.met.dropped(dropNoRoute).Inc()
		return fmt.Errorf("top Via %s:%d is not ours", top.Host, top.PortNum)
	}
	lm.RemoveValue(lm.Find(sipmsg.HdrVia), 0)
	next, err := lm.TopVia()
	if err != nil {
		e.met.dropped(dropNoRoute).Inc()
		return errors.New("reply has no Via left to route it on")
	}
	dst, err := e.viaDestLazy(next)
	if err != nil {
		e.met.dropped(dropNoRoute).Inc()
		return err
	}
	streamLength(lm, dst.Proto)
	bp := wireBufs.Get().(*[]byte)
	out := lm.AppendTo((*bp)[:0])
	err = e.SendReplyBytes(dst, out)
	*bp = out[:0]
	wireBufs.Put(bp)
	if err != nil {
		return err
	}
	m.Handled = true
	return nil
}

// viaDestLazy is viaDest for a parsed Via.
func (e *Engine) viaDestLazy(v sipmsg.Via) (kemi.Dest, error) {
	host, port, proto := kemi.LazyViaTarget(v)
	return e.destFor(host, port, proto)
}

// 64-bit FNV-1a, as hash/fnv's New64a, without its allocation.
const (
	fnv64Offset uint64 = 14695981039346656037
	fnv64Prime  uint64 = 1099511628211
)

func fnv64(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnv64Prime
	}
	return h
}
