package kemi

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/kemisip/kemi/internal/sipmsg"
)

// What tm needs to answer and relay a request that is still lazy: a reply
// of its own written from the lazy request, without sipgo's form.

// AppendLazyReply appends to dst a reply of code and reason to the lazy
// request of m, as NewReply builds it, in its order: every Via (the top
// one stamped with received and rport as RFC 3581 asks), the
// Record-Route set for a 18x or 2xx (not to a REGISTER), From, To (with
// NewReply's To-tag above 100), Call-ID, CSeq, Timestamp for a 100, and
// an empty body. Values are written as received, header names in their
// long form. ok is false, dst untouched, when m is not a lazy request or
// the reply needs more (a 3xx's Contacts, a header or body queued with
// append_to_reply or set_reply_body): NewReply builds those.
func (m *Msg) AppendLazyReply(dst []byte, code int, reason string) (out []byte, ok bool) {
	lm := m.lazy
	if lm == nil || !lm.IsRequest() || code >= 300 && code < 400 ||
		len(m.ReplyHeaders) > 0 || m.ReplyContentType != "" {
		return dst, false
	}
	// the reply copies a part of the request's headers: one allocation
	out = slices.Grow(dst, len(lm.Bytes())/2+128)
	out = append(out, "SIP/2.0 "...)
	out = strconv.AppendInt(out, int64(code), 10)
	out = append(out, ' ')
	out = append(out, reason...)
	out = append(out, "\r\n"...)
	top := true
	for id := range lm.Headers() {
		if lm.Type(id) != sipmsg.HdrVia {
			continue
		}
		v := lm.Value(id)
		if top {
			top = false
			var buf [256]byte
			if s, changed := stampViaValue(buf[:0], v, m.Src, m.ForceRport); changed {
				v = s
			}
		}
		out = AppendHeaderLine(out, "Via", v)
	}
	if code > 100 && code < 300 && !bytes.Equal(lm.Method(), []byte("REGISTER")) {
		out = appendHeaderLines(out, lm, sipmsg.HdrRecordRoute, "Record-Route")
	}
	out = appendHeaderLines(out, lm, sipmsg.HdrFrom, "From")
	for id := range lm.Headers() {
		if lm.Type(id) != sipmsg.HdrTo {
			continue
		}
		out = append(out, "To: "...)
		out = appendUnfolded(out, lm.Value(id))
		if to, err := lm.To(); code > 100 && err == nil && len(to.Tag) == 0 {
			out = append(out, ";tag="...)
			out = appendLazyReplyTag(out, lm)
		}
		out = append(out, "\r\n"...)
		break
	}
	out = appendHeaderLines(out, lm, sipmsg.HdrCallID, "Call-ID")
	out = appendHeaderLines(out, lm, sipmsg.HdrCSeq, "CSeq")
	if code == 100 {
		for id := range lm.Headers() {
			if lm.Type(id) == sipmsg.HdrOther && asciiEqualFold(lm.Name(id), "Timestamp") {
				out = AppendHeaderLine(out, "Timestamp", lm.Value(id))
			}
		}
	}
	return append(out, "Content-Length: 0\r\n\r\n"...), true
}

// appendHeaderLines appends every header of type t of lm as name: value
// lines.
func appendHeaderLines(dst []byte, lm *sipmsg.Msg, t sipmsg.HdrType, name string) []byte {
	for id := range lm.Headers() {
		if lm.Type(id) == t {
			dst = AppendHeaderLine(dst, name, lm.Value(id))
		}
	}
	return dst
}

// AppendHeaderLine appends the header line "name: v" and its CRLF to
// dst, v on one line (a folded value unfolded).
func AppendHeaderLine(dst []byte, name string, v []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = appendUnfolded(dst, v)
	return append(dst, "\r\n"...)
}

// appendLazyReplyTag appends replyTag's To-tag for the lazy request lm:
// the same hash of the same values, so that a reply written from either
// form of a request carries the same tag.
func appendLazyReplyTag(dst []byte, lm *sipmsg.Msg) []byte {
	var branch, host, fromTag []byte
	cseq := int64(-1)
	if v, err := lm.TopVia(); err == nil {
		branch = v.Branch
		host = bytes.TrimSuffix(bytes.TrimPrefix(v.Host, []byte("[")), []byte("]"))
	}
	if f, err := lm.From(); err == nil {
		fromTag = f.Tag
	}
	if cs, err := lm.CSeq(); err == nil {
		cseq = int64(cs.Num)
	}
	dst = append(dst, "km"...)
	return strconv.AppendUint(dst, replyTagHash(branch, host, lm.CallID(), fromTag, cseq), 36)
}

// appendUnfolded appends a header value on one line.
func appendUnfolded(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return append(dst, v...)
	}
	return sipmsg.Unfold(dst, v)
}

// LazyRequestSender is implemented by the engine's Host: tm sends the
// branches of a request still in its lazy form as the bytes it wrote
// from it, without sipgo's form.
type LazyRequestSender interface {
	// CanSendLazy reports whether a request built from origin, a lazy
	// message, may go out as bytes: no send hook and no onsend route
	// needs it in sipgo's form (PrepareRequest would have nothing to do
	// but pick the socket).
	CanSendLazy(origin *Msg) bool
	// SendRequestBytes sends b, a request written already, to dst (from
	// dst.Sock, or a socket it picks) and counts it as a request sent.
	SendRequestBytes(dst Dest, b []byte) error
	// AppendVia is Host.Via written as the header's value, appended to
	// buf: it picks the socket (dst.Sock); ok is false when there is
	// none.
	AppendVia(buf []byte, m *Msg, dst *Dest, branch string) (out []byte, ok bool)
}
