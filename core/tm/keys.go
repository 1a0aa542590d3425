package tm

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// The keys that match a request to its transaction are read from
// whichever form the message has: the lazy one (a received request no
// code turned into sipgo's form, the usual case) or sipgo's. Both forms
// give the same key for the same message: each field is normalised the
// same way (a sent-by host in lower case without IPv6 brackets, a branch
// parameter named in any case, the RFC 2543 fields by their parts, not
// by how either parser writes them), so that a retransmission finds its
// transaction whatever form it or its first copy was in.

// keyFields are the fields of a request its server key is made of.
type keyFields struct {
	// branch is the top Via's branch parameter ("" when none)
	branch []byte
	// host is the top Via's sent-by host, in lower case, without
	// brackets; port its port (0 when none)
	host []byte
	port int
	// the RFC 2543 fields: the Request-URI's scheme, user, host and port,
	// the From tag, Call-ID and CSeq number
	ruriScheme, ruriUser, ruriHost []byte
	ruriPort                       int
	fromTag, callID                []byte
	cseq                           uint32
}

// serverKey is the key of the server transaction of the request in m
// (RFC 3261 §17.2.3): the top Via branch, sent-by and method, ACK and
// CANCEL mapped to the method given. A request without an RFC 3261
// branch uses the RFC 2543 fields: Request-URI, From tag, Call-ID, CSeq
// number and the top Via (its sent-by and branch). "" when the request
// has no Via.
func serverKey(m *kemi.Msg, method string) string {
	var kf keyFields
	var ok bool
	if lm := m.Lazy(); lm != nil {
		ok = lazyKeyFields(lm, &kf)
	} else if req := m.Request(); req != nil {
		ok = sipgoKeyFields(req, &kf)
	}
	if !ok {
		return ""
	}
	if method == "" {
		method = m.Method()
		if method == "ACK" {
			method = "INVITE"
		}
	}
	var buf [256]byte
	return string(appendServerKey(buf[:0], &kf, method))
}

// appendServerKey appends the key of kf and method to dst.
func appendServerKey(dst []byte, kf *keyFields, method string) []byte {
	sentBy := func(dst []byte) []byte {
		dst = appendLower(dst, kf.host)
		dst = append(dst, ':')
		return strconv.AppendInt(dst, int64(kf.port), 10)
	}
	if len(kf.branch) > 7 && bytes.HasPrefix(kf.branch, []byte("z9hG4bK")) {
		dst = append(dst, kf.branch...)
		dst = append(dst, '|')
		dst = sentBy(dst)
		dst = append(dst, '|')
		return append(dst, method...)
	}
	// RFC 2543 (RFC 3261 §17.2.3). The ACK of a negative reply carries the
	// INVITE's Request-URI, so it is in the ACK's key as well; the To tag
	// is in no key (the ACK's is the reply's), and an end-to-end ACK that
	// matches anyway is told apart by the final status (negativeAckOf).
	dst = append(dst, "2543|"...)
	dst = appendLower(dst, kf.ruriScheme)
	dst = append(dst, ':')
	dst = append(dst, kf.ruriUser...)
	dst = append(dst, '@')
	dst = appendLower(dst, kf.ruriHost)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(kf.ruriPort), 10)
	dst = append(dst, '|')
	dst = append(dst, kf.fromTag...)
	dst = append(dst, '|')
	dst = append(dst, kf.callID...)
	dst = append(dst, '|')
	dst = strconv.AppendUint(dst, uint64(kf.cseq), 10)
	dst = append(dst, '|')
	dst = sentBy(dst)
	dst = append(dst, ';')
	dst = append(dst, kf.branch...)
	dst = append(dst, '|')
	return append(dst, method...)
}

// lazyKeyFields reads kf from a lazy request; false when it has no Via
// that parses.
func lazyKeyFields(lm *sipmsg.Msg, kf *keyFields) bool {
	v, err := lm.TopVia()
	if err != nil {
		return false
	}
	kf.branch, kf.host, kf.port = v.Branch, trimBrackets(v.Host), v.PortNum
	if len(kf.branch) > 7 && bytes.HasPrefix(kf.branch, []byte("z9hG4bK")) {
		return true // the RFC 2543 fields are not needed
	}
	if u, err := lm.ParsedRURI(); err == nil {
		kf.ruriScheme, kf.ruriUser, kf.ruriHost, kf.ruriPort = u.Scheme, u.User, trimBrackets(u.Host), u.PortNum
	}
	if f, err := lm.From(); err == nil {
		kf.fromTag = f.Tag
	}
	kf.callID = lm.CallID()
	if cs, err := lm.CSeq(); err == nil {
		kf.cseq = cs.Num
	}
	return true
}

// sipgoKeyFields reads kf from a request in sipgo's form; false when it
// has no Via.
func sipgoKeyFields(req *sip.Request, kf *keyFields) bool {
	v := req.Via()
	if v == nil {
		return false
	}
	kf.branch = []byte(viaBranch(v))
	kf.host, kf.port = []byte(strings.Trim(v.Host, "[]")), v.Port
	if len(kf.branch) > 7 && bytes.HasPrefix(kf.branch, []byte("z9hG4bK")) {
		return true
	}
	u := &req.Recipient
	kf.ruriScheme, kf.ruriUser = []byte(u.Scheme), []byte(u.User)
	kf.ruriHost, kf.ruriPort = []byte(strings.Trim(u.Host, "[]")), u.Port
	if len(kf.ruriScheme) == 0 {
		kf.ruriScheme = []byte("sip") // as sipgo writes it
	}
	if f := req.From(); f != nil {
		kf.fromTag = []byte(f.Params.GetOr("tag", ""))
	}
	if c := req.CallID(); c != nil {
		kf.callID = []byte(c.Value())
	}
	if cs := req.CSeq(); cs != nil {
		kf.cseq = cs.SeqNo
	}
	return true
}

// viaBranch returns the branch parameter of a sipgo Via, its name in any
// case (RFC 3261 §7.3.1: parameter names are case-insensitive; sipgo's
// Get is not), as sipmsg reads it.
func viaBranch(v *sip.ViaHeader) string {
	for _, kv := range v.Params {
		if strings.EqualFold(kv.K, "branch") {
			return kv.V
		}
	}
	return ""
}

// reqCall returns the Call-ID and CSeq number of the request in m, from
// either form.
func reqCall(m *kemi.Msg) (callID string, cseq uint32) {
	if lm := m.Lazy(); lm != nil {
		if cs, err := lm.CSeq(); err == nil {
			cseq = cs.Num
		}
		return string(lm.CallID()), cseq
	}
	req := m.Request()
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	if cs := req.CSeq(); cs != nil {
		cseq = cs.SeqNo
	}
	return callID, cseq
}

// trimBrackets returns an IPv6 reference without its brackets.
func trimBrackets(h []byte) []byte {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// appendLower appends b in lower case (ASCII).
func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
