package kemi

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// NewReply builds a reply to the request in m (RFC 3261 §8.2.6): Via,
// From, To (with a To-tag for codes above 100), Call-ID, CSeq, the
// Record-Route set for 18x/2xx, the headers queued with append_to_reply,
// the destination set as Contacts for a 3xx, the body queued with
// set_reply_body, and Content-Length. The top Via gets received/rport as
// RFC 3581 asks.
// The To-tag is derived from the request, so a retransmitted request gets
// the same tag.
func (m *Msg) NewReply(code int, reason string) *sip.Response {
	req := m.Request()
	res := sip.NewResponse(code, reason)
	for _, h := range req.Headers() {
		switch h.(type) {
		case *sip.ViaHeader:
			res.AppendHeader(sip.HeaderClone(h))
		}
	}
	if v := res.Via(); v != nil {
		StampVia(v, m.Src, m.ForceRport)
	}
	if code > 100 && code < 300 && req.Method != sip.REGISTER {
		for _, h := range req.Headers() {
			if _, ok := h.(*sip.RecordRouteHeader); ok {
				res.AppendHeader(sip.HeaderClone(h))
			}
		}
	}
	if h := req.From(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if h := req.To(); h != nil {
		to := sip.HeaderClone(h).(*sip.ToHeader)
		if code > 100 && !to.Params.Has("tag") {
			if to.Params == nil {
				to.Params = sip.NewParams()
			}
			to.Params.Add("tag", replyTag(req))
		}
		res.AppendHeader(to)
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if code == 100 {
		for _, h := range req.GetHeaders("Timestamp") {
			res.AppendHeader(sip.HeaderClone(h))
		}
	}
	if code >= 300 && code < 400 {
		for _, b := range m.DestinationSet() {
			var uri sip.Uri
			if err := sip.ParseUri(b.URI, &uri); err != nil {
				continue
			}
			c := &sip.ContactHeader{Address: uri, Params: sip.NewParams()}
			if b.Q >= 0 {
				c.Params.Add("q", QValue(b.Q))
			}
			res.AppendHeader(c)
		}
	}
	for _, h := range m.ReplyHeaders {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if m.ReplyContentType != "" && code > 100 {
		ct := sip.ContentTypeHeader(m.ReplyContentType)
		res.AppendHeader(&ct)
		res.SetBody(m.ReplyBody)
		return res
	}
	res.SetBody(nil)
	return res
}

// replyTag returns a To-tag for our replies to req, the same for every
// retransmission of req.
func replyTag(req *sip.Request) string {
	var branch, host, callID, fromTag string
	cseq := int64(-1)
	if v := req.Via(); v != nil {
		branch, _ = v.Params.Get("branch")
		host = v.Host
	}
	if c := req.CallID(); c != nil {
		callID = c.Value()
	}
	if f := req.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	if cs := req.CSeq(); cs != nil {
		cseq = int64(cs.SeqNo)
	}
	return "km" + strconv.FormatUint(replyTagHash(branch, host, callID, fromTag, cseq), 36)
}

// replyTagHash is the FNV-1a hash behind kemi's To-tags: over the top
// Via's branch and host (no IPv6 brackets), the Call-ID, the From tag and
// the CSeq number (left out when cseq < 0). Both forms of a request hash
// through it, so a reply written from either carries the same tag.
func replyTagHash[T string | []byte](branch, host, callID, fromTag T, cseq int64) uint64 {
	h := uint64(14695981039346656037) // FNV-1a offset basis
	for _, s := range [...]T{branch, host, callID, fromTag} {
		h = fnvAdd(h, s)
	}
	if cseq >= 0 {
		var n [20]byte
		h = fnvAdd(h, strconv.AppendInt(n[:0], cseq, 10))
	}
	return h
}

// fnvAdd folds s into the FNV-1a hash h.
func fnvAdd[T string | []byte](h uint64, s T) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211 // FNV-1a 64-bit prime
	}
	return h
}

// StampVia adds what a server learns about the sender to its Via (RFC 3261
// §18.2.1, RFC 3581): received when the sent-by host is not the source IP,
// and the source port in rport when rport was asked for or force is set.
func StampVia(v *sip.ViaHeader, src netip.AddrPort, force bool) {
	if !src.IsValid() {
		return
	}
	ip := src.Addr().Unmap().String()
	if v.Params == nil {
		v.Params = sip.NewParams()
	}
	rport, hasRport := ViaParam(v, "rport")
	if strings.Trim(v.Host, "[]") != ip || (hasRport && rport == "") || force {
		if r, ok := ViaParam(v, "received"); !ok || r != ip {
			setParam(&v.Params, "received", ip)
		}
	}
	if (hasRport && rport == "") || force {
		setParam(&v.Params, "rport", strconv.Itoa(int(src.Port())))
	}
}

// ViaParam returns the value of a parameter of v and whether it is
// there. Parameter names are case-insensitive (RFC 3261 §7.3.1), as
// sipmsg, which the lazy message is read with, and Kamailio take them:
// sipgo's Params.Get is not, and a Via with ";RPORT" would be stamped or
// routed one way in one form and another in the other.
func ViaParam(v *sip.ViaHeader, name string) (string, bool) {
	if v == nil {
		return "", false
	}
	for _, kv := range v.Params {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// StampSenderVia stamps the top Via of a request m is relaying (RFC 3581):
// rport when asked for or forced, and always for a request that came over
// a connection, so that replies find the connection.
func (m *Msg) StampSenderVia(v *sip.ViaHeader) {
	StampVia(v, m.Src, m.ForceRport || m.Proto != "udp")
}

// ViaTarget is where a reply to a Via goes (RFC 3261 §18.2.2, RFC 3581):
// received and rport when present, else the sent-by, with the default
// port of the transport; proto is lower case.
func ViaTarget(v *sip.ViaHeader) (host string, port int, proto string) {
	proto = strings.ToLower(v.Transport)
	host = v.Host
	if r, ok := ViaParam(v, "received"); ok && r != "" {
		host = r
	}
	port = v.Port
	if rp, ok := ViaParam(v, "rport"); ok && rp != "" {
		if n, err := strconv.Atoi(rp); err == nil {
			port = n
		}
	}
	if port == 0 {
		port = DefaultPort(proto)
	}
	return host, port, proto
}

// setParam sets key to val, written last: the parameter is removed from
// where it was, whatever the case of its name.
func setParam(p *sip.HeaderParams, key, val string) {
	*p = slices.DeleteFunc(*p, func(kv sip.HeaderKV) bool { return strings.EqualFold(kv.K, key) })
	p.Add(key, val)
}

// ReasonPhrase gives the RFC 3261 reason phrase of a status code.
func ReasonPhrase(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	switch code / 100 {
	case 1:
		return "Trying"
	case 2:
		return "OK"
	case 3:
		return "Redirect"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	}
	return "Global Failure"
}

var reasons = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
	200: "OK", 202: "Accepted", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
	305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
	403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone", 413: "Request Entity Too Large",
	414: "Request-URI Too Long", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
	421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete",
	485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
	493: "Undecipherable", 500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported", 513: "Message Too Large",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}
