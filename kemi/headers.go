package kemi

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// compactNames maps the compact header forms of RFC 3261 and its
// extensions to their full names, in lower case.
var compactNames = map[string]string{
	"a": "accept-contact",
	"b": "referred-by",
	"c": "content-type",
	"d": "request-disposition",
	"e": "content-encoding",
	"f": "from",
	"i": "call-id",
	"j": "reject-contact",
	"k": "supported",
	"l": "content-length",
	"m": "contact",
	"n": "identity-info",
	"o": "event",
	"r": "refer-to",
	"s": "subject",
	"t": "to",
	"u": "allow-events",
	"v": "via",
	"x": "session-expires",
	"y": "identity",
}

// CanonicalHeader returns the lower-case full name of a header name, so that
// "v", "VIA" and "Via" compare equal.
func CanonicalHeader(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if full, ok := compactNames[n]; ok {
		return full
	}
	return n
}

// HeaderNameIs reports whether a header name (as found in a message)
// denotes the header name given by the script, compact forms included.
// It allocates nothing: only a one-letter name can be a compact form.
func HeaderNameIs(have, want string) bool {
	have, want = strings.TrimSpace(have), strings.TrimSpace(want)
	if strings.EqualFold(have, want) {
		return true
	}
	if len(have) != 1 && len(want) != 1 {
		return false
	}
	return CanonicalHeader(have) == CanonicalHeader(want)
}

// ValidHeaderName reports whether name is an RFC 3261 token, as header
// names must be.
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// headerSet is what sipgo's Request and Response both offer.
type headerSet interface {
	Headers() []sip.Header
	AppendHeader(sip.Header)
	PrependHeader(...sip.Header)
	RemoveHeader(string) bool
	ReplaceHeader(sip.Header)
}

func (m *Msg) hs() headerSet {
	if m.IsRequest() {
		return m.Request()
	}
	if m.IsReply() {
		return m.Response()
	}
	return nil
}

// HeaderList returns every header of the message in order.
func (m *Msg) HeaderList() []sip.Header {
	s := m.hs()
	if s == nil {
		return nil
	}
	return s.Headers()
}

// Headers returns every header called name (compact forms included), in
// order.
func (m *Msg) Headers(name string) []sip.Header {
	var out []sip.Header
	for _, h := range m.HeaderList() {
		if HeaderNameIs(h.Name(), name) {
			out = append(out, h)
		}
	}
	return out
}

// HeaderValues returns the bodies of every header called name.
func (m *Msg) HeaderValues(name string) []string {
	var out []string
	for _, h := range m.Headers(name) {
		out = append(out, h.Value())
	}
	return out
}

// HeaderValue returns the body of the first header called name.
func (m *Msg) HeaderValue(name string) (string, bool) {
	for _, h := range m.HeaderList() {
		if HeaderNameIs(h.Name(), name) {
			return h.Value(), true
		}
	}
	return "", false
}

// HeaderAt returns the body of the idx-th header called name; a negative
// idx counts from the end (-1 is the last).
func (m *Msg) HeaderAt(name string, idx int) (string, bool) {
	vals := m.HeaderValues(name)
	if idx < 0 {
		idx += len(vals)
	}
	if idx < 0 || idx >= len(vals) {
		return "", false
	}
	return vals[idx], true
}

// HasHeader reports whether a header called name is present.
func (m *Msg) HasHeader(name string) bool {
	_, ok := m.HeaderValue(name)
	return ok
}

// ParseHeaders parses header text such as "X-A: 1\r\nX-B: 2\r\n" into
// headers. Known headers (Via, Route, Contact...) get their structured
// form. The text must hold at least one "Name: value" line; a name that
// is not a token and a CR that does not end a line are refused.
func ParseHeaders(text string) ([]sip.Header, error) {
	var out []sip.Header
	parser := sip.HeadersParser(sip.DefaultHeadersParser())
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" {
			continue
		}
		// folded continuation lines belong to the previous header
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			line += " " + strings.TrimSpace(lines[i+1])
			i++
		}
		// a name that is not a token, or a CR left in the line, would
		// be written as is and end the header somewhere else for the
		// next hop
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !ValidHeaderName(strings.TrimSpace(line[:colon])) || strings.IndexByte(line, '\r') >= 0 {
			return nil, fmt.Errorf("invalid header line %q", line)
		}
		var err error
		out, err = parser.ParseHeader(out, []byte(line))
		if err != nil {
			return nil, fmt.Errorf("invalid header line %q: %w", line, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no header in %q", text)
	}
	return out, nil
}

// AppendHeaders adds headers after the last one.
func (m *Msg) AppendHeaders(hs ...sip.Header) {
	s := m.hs()
	for _, h := range hs {
		s.AppendHeader(h)
	}
	m.fixRefs(hs)
}

// InsertHeaders adds headers before the first one.
func (m *Msg) InsertHeaders(hs ...sip.Header) {
	m.hs().PrependHeader(hs...)
	// sipgo points its shortcut at the last of hs: make it the first
	m.fixRefs(hs)
}

// InsertHeadersAt puts headers at position idx of the header list.
func (m *Msg) InsertHeadersAt(idx int, hs ...sip.Header) {
	s := m.hs()
	if idx <= 0 {
		m.InsertHeaders(hs...)
		return
	}
	for i, h := range hs {
		s.AppendHeader(h)
		all := s.Headers()
		at := idx + i
		if at >= len(all)-1 {
			continue
		}
		copy(all[at+1:], all[at:len(all)-1])
		all[at] = h
	}
	m.fixRefs(hs)
}

// IndexOfHeader returns the position of the first header called name in the
// header list, or -1.
func (m *Msg) IndexOfHeader(name string) int {
	for i, h := range m.HeaderList() {
		if HeaderNameIs(h.Name(), name) {
			return i
		}
	}
	return -1
}

// fixRefs makes sipgo's shortcut to the top header of each structured kind
// among hs point at the first header of that kind again, after a
// positional insert.
func (m *Msg) fixRefs(hs []sip.Header) {
	s := m.hs()
	for _, h := range hs {
		if !structured(h) {
			continue
		}
		for _, x := range s.Headers() {
			if x.Name() == h.Name() {
				s.ReplaceHeader(x)
				break
			}
		}
	}
}

// structured reports whether sipgo keeps a shortcut to the first header of
// h's kind.
func structured(h sip.Header) bool {
	switch h.(type) {
	case *sip.ViaHeader, *sip.FromHeader, *sip.ToHeader, *sip.CallIDHeader, *sip.CSeqHeader,
		*sip.ContactHeader, *sip.RouteHeader, *sip.RecordRouteHeader, *sip.ContentLengthHeader,
		*sip.ContentTypeHeader, *sip.MaxForwardsHeader:
		return true
	}
	return false
}

// RemoveHeaders removes every header called name and returns how many.
func (m *Msg) RemoveHeaders(name string) int {
	n := 0
	for {
		idx := m.IndexOfHeader(name)
		if idx < 0 {
			return n
		}
		m.removeAt(idx)
		n++
	}
}

// RemoveHeaderValue removes the header h itself (compared by identity).
func (m *Msg) RemoveHeaderValue(h sip.Header) bool {
	for i, x := range m.HeaderList() {
		if x == h {
			m.removeAt(i)
			return true
		}
	}
	return false
}

// removeAt removes header number i. sipgo removes the first header with a
// given name (and re-points its shortcut to the next one), so the target is
// moved to the front first; the order of the others is kept.
func (m *Msg) removeAt(i int) {
	s := m.hs()
	all := s.Headers()
	h := all[i]
	copy(all[1:i+1], all[:i])
	all[0] = h
	s.RemoveHeader(h.Name())
}

// Body returns the message body (a copy on the lazy form).
func (m *Msg) Body() []byte {
	if lm := m.lazy; lm != nil {
		return bytes.Clone(lm.Body())
	}
	if s := m.SIP(); s != nil {
		return s.Body()
	}
	return nil
}

// SetBody replaces the body and Content-Type (when ctype is not ""); the
// Content-Length follows.
func (m *Msg) SetBody(body []byte, ctype string) {
	if m.lazy != nil && m.lazySetBody(body, ctype) {
		return
	}
	s := m.SIP()
	if s == nil {
		return
	}
	if ctype != "" {
		m.RemoveHeaders("Content-Type")
		ct := sip.ContentTypeHeader(ctype)
		m.AppendHeaders(&ct)
	}
	if len(body) == 0 {
		s.SetBody(nil)
		return
	}
	s.SetBody(body)
}
