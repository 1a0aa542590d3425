package kemi

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
)

// A received message starts lazy: the engine parses it with sipmsg (one
// index pass, values parsed when asked for, changes kept as lumps and
// applied when it is written). The methods here and the fast paths of
// the engine and modules (maxfwd, stateless forwarding, reply routing)
// read and change it in that form. Code that needs sipgo's structured
// form asks for Request or Response: the message, with the changes made
// so far, is then parsed by sipgo once, and from then on that form is
// the message (the lazy one is dropped). So every module keeps working
// on sip.Request, and the messages that only lazy-aware code touches are
// never parsed twice.

// msgForms are the two forms of the message on a Msg.
type msgForms struct {
	// req or res, once built or parsed by sipgo
	req *sip.Request
	res *sip.Response
	// lazy is the message while no code asked for the sipgo form
	lazy *sipmsg.Msg
	// parser turns the lazy message into the sipgo form (nil: sipgo's
	// default parser)
	parser *sip.Parser
	// lazyAdded are the headers AddHeaders put into the lazy message
	// (see lazywrite.go)
	lazyAdded []lazyAdded
}

// RequestMsg returns a message holding req.
func RequestMsg(req *sip.Request) *Msg { return &Msg{msgForms: msgForms{req: req}} }

// ReplyMsg returns a message holding res.
func ReplyMsg(res *sip.Response) *Msg { return &Msg{msgForms: msgForms{res: res}} }

// WithRequest makes req the message of m and returns m, for composite
// literals: kemi.WithRequest(&kemi.Msg{Proto: "udp"}, req).
func WithRequest(m *Msg, req *sip.Request) *Msg {
	m.SetRequest(req)
	return m
}

// SetRequest makes req the message of m (replacing any other form).
func (m *Msg) SetRequest(req *sip.Request) { m.msgForms = msgForms{req: req} }

// SetReply makes res the message of m (replacing any other form).
func (m *Msg) SetReply(res *sip.Response) { m.msgForms = msgForms{res: res} }

// SetLazy makes lm, a parsed and checked message, the message of m;
// parser is what turns it into sipgo's form when some code asks for it
// (nil for sipgo's default). m keeps lm: it must not be parsed again
// while m is in use.
func (m *Msg) SetLazy(lm *sipmsg.Msg, parser *sip.Parser) {
	m.msgForms = msgForms{lazy: lm, parser: parser}
}

// Lazy returns the message in its lazy form, or nil when it has its sipgo
// form (it was built, or some code asked for Request or Response). Fast
// paths use it when it is not nil and fall back to the sipgo form.
func (m *Msg) Lazy() *sipmsg.Msg { return m.lazy }

// Request returns the request in sipgo's form, parsing the lazy message
// (with its changes so far) first when needed; nil for a reply or no
// message. Once asked for, the sipgo form is the message.
func (m *Msg) Request() *sip.Request {
	m.materialize()
	return m.req
}

// Response returns the reply in sipgo's form (see Request); nil for a
// request or no message.
func (m *Msg) Response() *sip.Response {
	m.materialize()
	return m.res
}

// FormError is what a Msg panics with when code asks for sipgo's form of
// a message that sipgo cannot read (see materialize). It comes from the
// message as received, not from a bug: whoever recovers it counts the
// message as malformed rather than reporting a panic.
type FormError struct {
	Err error
}

func (e *FormError) Error() string {
	return "kemi: the message has a form sipgo refuses, needed here: " + e.Err.Error()
}

// Unwrap returns sipgo's error.
func (e *FormError) Unwrap() error { return e.Err }

// materialize turns the lazy message into sipgo's form. sipmsg accepts
// a few things sipgo refuses (a URI scheme with digits, a lower-case
// "sip/2.0"): such a message cannot reach code that needs sipgo's form,
// and the KSR call or module asking for it fails with a panic (a
// *FormError) that the route's recovery turns into an error for this
// message only.
func (m *Msg) materialize() {
	lm := m.lazy
	if lm == nil {
		return
	}
	buf := lm.AppendTo(make([]byte, 0, len(lm.Bytes())+256))
	var (
		msg sip.Message
		err error
	)
	if m.parser != nil {
		msg, err = m.parser.ParseSIP(buf)
	} else {
		msg, err = sip.ParseMessage(buf)
	}
	if err == nil {
		err = sipgoLosesVia(msg)
	}
	if err != nil {
		panic(&FormError{Err: err})
	}
	if m.Proto != "" {
		msg.SetTransport(strings.ToUpper(m.Proto))
	}
	if m.Src.IsValid() {
		msg.SetSource(m.Src.String())
	}
	added := m.lazyAdded
	m.lazy, m.parser, m.lazyAdded = nil, nil, nil
	switch x := msg.(type) {
	case *sip.Request:
		m.req = x
	case *sip.Response:
		m.res = x
	}
	m.adoptAdded(lm, added)
}

// sipgoLosesVia reports a Via that sipgo's parser read without its
// sent-by: it does so with white space before the first ';'
// ("SIP/2.0/UDP 10.2.2.2:5060 ;branch=..."), which sipmsg takes, and the
// message would be sent on with a broken Via.
func sipgoLosesVia(msg sip.Message) error {
	hs, ok := msg.(interface{ GetHeaders(string) []sip.Header })
	if !ok {
		return nil
	}
	for _, h := range hs.GetHeaders("Via") {
		if v, ok := h.(*sip.ViaHeader); ok && v.Host == "" {
			return fmt.Errorf("sipgo reads a Via without its sent-by: %q", h.Value())
		}
	}
	return nil
}

// IsRequest reports whether the message is a request.
func (m *Msg) IsRequest() bool {
	if m.lazy != nil {
		return m.lazy.IsRequest()
	}
	return m.req != nil
}

// IsReply reports whether the message is a reply.
func (m *Msg) IsReply() bool {
	if m.lazy != nil {
		return !m.lazy.IsRequest()
	}
	return m.res != nil
}

// Method returns the request method, or the CSeq method of a reply.
func (m *Msg) Method() string {
	if lm := m.lazy; lm != nil {
		if lm.IsRequest() {
			return methodString(lm.Method())
		}
		if cs, err := lm.CSeq(); err == nil {
			return methodString(cs.Method)
		}
		return ""
	}
	if m.req != nil {
		return string(m.req.Method)
	}
	if m.res != nil {
		if cs := m.res.CSeq(); cs != nil {
			return string(cs.MethodName)
		}
	}
	return ""
}

// knownMethods are the method names Method returns without allocating.
var knownMethods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS",
	"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "INFO", "PRACK", "UPDATE", "REFER"}

// methodString returns b as a string, one of knownMethods when it is.
func methodString(b []byte) string {
	for _, s := range knownMethods {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// RURI returns the Request-URI as text ("" for replies).
func (m *Msg) RURI() string {
	if lm := m.lazy; lm != nil {
		if !lm.IsRequest() {
			return ""
		}
		return string(lm.RURI())
	}
	if m.req == nil {
		return ""
	}
	return m.req.Recipient.String()
}

// StatusCode returns the status code of a reply, 0 for a request.
func (m *Msg) StatusCode() int {
	if lm := m.lazy; lm != nil {
		if lm.IsRequest() {
			return 0
		}
		return lm.StatusCode()
	}
	if m.res == nil {
		return 0
	}
	return m.res.StatusCode
}

// ToTag returns the tag of the To header, "" when it has none (or there
// is no To header).
func (m *Msg) ToTag() string {
	if lm := m.lazy; lm != nil {
		to, err := lm.To()
		if err != nil || len(to.Tag) == 0 {
			return ""
		}
		return string(to.Tag)
	}
	s := m.SIP()
	if s == nil {
		return ""
	}
	if to := s.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}

// StampSenderTopVia stamps the top Via of a request m is relaying, in
// whichever form the message is (see StampSenderVia).
func (m *Msg) StampSenderTopVia() {
	lm := m.lazy
	if lm == nil {
		if m.req != nil {
			if v := m.req.Via(); v != nil {
				m.StampSenderVia(v)
			}
		}
		return
	}
	id := lm.Find(sipmsg.HdrVia)
	if id == sipmsg.NoHeader {
		return
	}
	var buf [256]byte
	if v, changed := stampViaValue(buf[:0], lm.Value(id), m.Src, m.ForceRport || m.Proto != "udp"); changed {
		lm.SetValue(id, v)
	}
}

// stampViaValue is StampVia on the text of a Via header: v with its first
// via-parm stamped, appended to dst, and whether anything changed. As
// StampVia (sipgo's params), a parameter it sets is removed from its
// place and written last: received, then rport.
func stampViaValue(dst, v []byte, src netip.AddrPort, force bool) ([]byte, bool) {
	if !src.IsValid() {
		return dst, false
	}
	via, rest, err := sipmsg.ParseVia(v)
	if err != nil {
		return dst, false
	}
	item := v[:len(v)-len(rest)]
	if len(rest) > 0 {
		// the first via-parm without the comma and white space after it
		item = bytes.TrimRight(item[:bytes.LastIndexByte(item, ',')], " \t\r\n")
	}
	var ipBuf [64]byte
	ip := src.Addr().Unmap().AppendTo(ipBuf[:0])
	rportAsked := via.HasRport && len(via.Rport) == 0
	host := bytes.Trim(via.Host, "[]")
	setReceived := (!bytes.Equal(host, ip) || rportAsked || force) && !bytes.Equal(via.Received, ip)
	setRport := rportAsked || force
	if !setReceived && !setRport {
		return dst, false
	}
	semi := bytes.IndexByte(item, ';')
	if semi < 0 {
		semi = len(item)
	}
	dst = append(dst, item[:semi]...)
	for params := via.Params; len(params) > 0; {
		var name, value []byte
		name, value, params, _ = sipmsg.NextParam(params)
		if len(name) == 0 ||
			setReceived && bytes.EqualFold(name, []byte("received")) ||
			setRport && bytes.EqualFold(name, []byte("rport")) {
			continue
		}
		dst = append(dst, ';')
		dst = append(dst, name...)
		if value != nil {
			dst = append(dst, '=')
			dst = append(dst, value...)
		}
	}
	if setReceived {
		dst = append(dst, ";received="...)
		dst = append(dst, ip...)
	}
	if setRport {
		dst = append(dst, ";rport="...)
		dst = strconv.AppendUint(dst, uint64(src.Port()), 10)
	}
	return append(dst, v[len(item):]...), true
}

// CallID returns the Call-ID, "" when there is none.
func (m *Msg) CallID() string {
	if lm := m.lazy; lm != nil {
		return string(lm.CallID())
	}
	if s := m.SIP(); s != nil {
		if c := s.CallID(); c != nil {
			return c.Value()
		}
	}
	return ""
}
