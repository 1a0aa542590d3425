// Package sipmsg is a SIP message over its raw bytes, parsed lazily: one
// pass indexes the start line and where each header's name and value are,
// a header's value is parsed only when asked for (uri.go, via.go,
// nameaddr.go, values.go), and changes are recorded and applied once when
// the message is written (lumps.go), by copying slices of the original.
// See README.md for the semantics.
package sipmsg

import (
	"bytes"
	"math"
)

// Options are the limits and line-end rules of a parse. The zero value
// is a datagram parse with the defaults below.
type Options struct {
	// Stream is a parse for a stream transport (RFC 3261 §7.5, §18.3):
	// CRLFs before the start line are skipped, Content-Length locates
	// the end of the message (none is an empty body), and a body shorter
	// than it is ErrIncomplete. Otherwise (a datagram) the body is the
	// rest of buf, cut at Content-Length when that is shorter, and a
	// Content-Length larger than the rest is refused.
	Stream bool
	// AllowBareLF accepts a LF alone as a line end, as Kamailio does. By
	// default a line must end with CRLF, and a LF or CR alone in the
	// header section is refused, as the engine does today (a bare LF read
	// as a line end by the next hop would smuggle a header past us).
	AllowBareLF bool
	// AnyCSeqMethod leaves a request whose CSeq method is not its own to
	// the application (Check refuses it by default, as RFC 4475
	// mismatch01 wants): Kamailio's core routes it and its sanity module
	// answers 400, which kemi's engine keeps.
	AnyCSeqMethod bool
	// MaxSize is the largest message, 65535 when 0.
	MaxSize int
	// MaxHeaders is the most header lines (a folded header counts once),
	// 256 when 0, 32766 at most.
	MaxHeaders int
	// MaxLine is the longest header (folded lines included) and start
	// line, 16384 bytes when 0.
	MaxLine int
}

// The defaults of Options.
const (
	DefaultMaxSize    = 65535
	DefaultMaxHeaders = 256
	DefaultMaxLine    = 16384
)

// span is a range [s, e) of offsets into buf or into the scratch buffer.
// Offsets are int32: a message is far below 2 GiB, and the index entry
// stays small.
type span struct{ s, e int32 }

func (s span) of(b []byte) []byte { return b[s.s:s.e:s.e] }

// hdr is one entry of the header index. For an original header the
// offsets are into buf; for an added header (flagAdded) into scratch.
type hdr struct {
	typ     HdrType
	flags   uint8
	line    int32 // start of the line (and of the name)
	nameEnd int32
	val     int32 // start of the value, after the colon and white space
	valEnd  int32 // end of the value, trailing white space excluded
	lineEnd int32 // after the CRLF of the last (folded) line
	nv      span  // the new value in scratch, with flagReplaced
}

const (
	flagRemoved uint8 = 1 << iota
	flagAdded
	flagReplaced
)

// Msg is one SIP message. It keeps the buf given to Parse (it does not
// copy it: buf must not change while the Msg is in use). A Msg is reused:
// Parse resets it and keeps its allocated index and scratch space, so a
// Msg per worker parses without allocating. A Msg is not safe for
// concurrent use, and must not be copied once used (its index may live
// inside it).
type Msg struct {
	// Opts are the limits and rules of Parse; set them before.
	Opts Options

	buf        []byte
	start, end int32 // the message in buf
	request    bool
	method     span
	ruri       span
	version    span
	reason     span
	code       int
	firstEnd   int32 // end of the start line text, before its line end
	hdrStart   int32 // start of the first header line
	hdrEnd     int32 // start of the empty line ending the header section
	body       span
	contentLen int64 // -1 when there is no Content-Length

	hdrs   []hdr
	hdrArr [24]hdr
	nOrig  int32
	first  [numHdrTypes]int16 // 1 + index of the first original header of a type

	changes
	cache
}

// Reset empties m, keeping its allocated space for the next Parse. It
// clears field by field: zeroing the whole Msg would clear the inline
// index array too, a tenth of a parse.
func (m *Msg) Reset() {
	if m.hdrs == nil {
		m.hdrs = m.hdrArr[:0]
	}
	m.buf = nil
	m.start, m.end = 0, 0
	m.request = false
	m.method, m.ruri, m.version, m.reason, m.body = span{}, span{}, span{}, span{}, span{}
	m.code = 0
	m.firstEnd, m.hdrStart, m.hdrEnd = 0, 0, 0
	m.contentLen = -1
	m.hdrs = m.hdrs[:0]
	m.nOrig = 0
	m.first = [numHdrTypes]int16{}
	m.changes = changes{scratch: m.scratch[:0], ins: m.ins[:0], undo: m.undo[:0]}
	m.cache = cache{}
}

func (o *Options) limits() (size, headers, line int) {
	size, headers, line = o.MaxSize, o.MaxHeaders, o.MaxLine
	if size <= 0 {
		size = DefaultMaxSize
	}
	if size > math.MaxInt32 {
		size = math.MaxInt32
	}
	if headers <= 0 {
		headers = DefaultMaxHeaders
	}
	if headers > math.MaxInt16-1 {
		headers = math.MaxInt16 - 1 // the index of the first header of a type is an int16
	}
	if line <= 0 {
		line = DefaultMaxLine
	}
	return
}

// Parse indexes the message in buf: the start line, every header's name
// and value, the body. It parses no header value except Content-Length
// (needed to find the body). It refuses what cannot be indexed with a
// *ParseError saying which line and why; the values of headers are
// checked when they are asked for, or all the mandatory ones by Check.
// In a stream parse (Opts.Stream), Len tells where the next message
// starts.
func (m *Msg) Parse(buf []byte) error {
	if err := m.parse(buf); err != nil {
		// a refused message leaves an empty Msg, not half an index
		m.Reset()
		return err
	}
	return nil
}

func (m *Msg) parse(buf []byte) error {
	m.Reset()
	m.buf = buf
	maxSize, maxHeaders, maxLine := m.Opts.limits()
	stream := m.Opts.Stream
	if len(buf) > maxSize && !stream {
		return &ParseError{Reason: "message larger than the maximum size", err: ErrTooLarge}
	}
	p := 0
	if stream {
		for p < len(buf) && (buf[p] == '\r' || buf[p] == '\n') {
			p++
		}
	}
	if p == len(buf) {
		if stream {
			return &ParseError{Reason: "no message yet", err: ErrIncomplete}
		}
		return parseErr(0, nil, "empty message")
	}
	m.start = int32(p)
	lineNo := 1
	eol, next, err := m.lineEnd(p, lineNo, maxLine, maxSize)
	if err != nil {
		return err
	}
	if eol-p > maxLine {
		return &ParseError{Line: 1, Reason: "start line longer than the maximum", err: ErrTooLarge}
	}
	if err := m.parseStartLine(p, eol); err != nil {
		return err
	}
	m.firstEnd = int32(eol)
	p = next
	m.hdrStart = int32(p)
	for {
		lineNo++
		if p >= len(buf) {
			if stream {
				return &ParseError{Line: lineNo, Reason: "header section not complete", err: ErrIncomplete}
			}
			return parseErr(lineNo, nil, "no empty line after the header section")
		}
		eol, next, err = m.lineEnd(p, lineNo, maxLine, maxSize)
		if err != nil {
			return err
		}
		if next > maxSize {
			return &ParseError{Line: lineNo, Reason: "header section larger than the maximum size", err: ErrTooLarge}
		}
		if eol == p {
			m.hdrEnd = int32(p)
			p = next
			break
		}
		if buf[p] == ' ' || buf[p] == '\t' {
			return parseErr(lineNo, nil, "a line starting with white space continues no header")
		}
		if len(m.hdrs) >= maxHeaders {
			return &ParseError{Line: lineNo, Reason: "more headers than the maximum", err: ErrTooLarge}
		}
		colon := bytes.IndexByte(buf[p:eol], ':')
		if colon < 0 {
			return parseErr(lineNo, nil, "header line without a colon")
		}
		ne := p + colon
		for ne > p && (buf[ne-1] == ' ' || buf[ne-1] == '\t') {
			ne--
		}
		name := buf[p:ne]
		if !isToken(name) {
			return parseErr(lineNo, name, "header name is not a token")
		}
		startLine := lineNo
		// folded lines (LWS continuation, RFC 3261 §7.3.1) belong to
		// this header's value
		for next < len(buf) && (buf[next] == ' ' || buf[next] == '\t') {
			lineNo++
			eol, next, err = m.lineEnd(next, lineNo, maxLine, maxSize)
			if err != nil {
				return err
			}
		}
		if next-p > maxLine {
			return &ParseError{Line: startLine, Header: string(name), Reason: "header longer than the maximum", err: ErrTooLarge}
		}
		vs, ve := p+colon+1, eol
		for vs < ve && isLWS(buf[vs]) {
			vs++
		}
		for ve > vs && isLWS(buf[ve-1]) {
			ve--
		}
		h := hdr{typ: TypeOf(name), line: int32(p), nameEnd: int32(ne), val: int32(vs), valEnd: int32(ve), lineEnd: int32(next)}
		if h.typ == HdrContentLength {
			n, ok := parseDigits(buf[vs:ve])
			if !ok || n > math.MaxUint32 {
				return parseErr(startLine, name, "not a decimal number below 2^32")
			}
			if m.contentLen >= 0 && m.contentLen != int64(n) {
				return parseErr(startLine, name, "Content-Length headers disagree")
			}
			m.contentLen = int64(n)
		}
		if h.typ != HdrOther && m.first[h.typ] == 0 {
			m.first[h.typ] = int16(len(m.hdrs) + 1)
		}
		m.hdrs = append(m.hdrs, h)
		p = next
	}
	m.nOrig = int32(len(m.hdrs))
	rest := int64(len(buf) - p)
	bodyLen := rest
	switch {
	case m.contentLen < 0 && stream:
		bodyLen = 0
	case m.contentLen > rest && stream:
		if int64(p)+m.contentLen > int64(maxSize) {
			return &ParseError{Header: "Content-Length", Reason: "message larger than the maximum size", err: ErrTooLarge}
		}
		return &ParseError{Header: "Content-Length", Reason: "body not complete", err: ErrIncomplete}
	case m.contentLen > rest:
		return parseErr(0, []byte("Content-Length"), "larger than the body")
	case m.contentLen >= 0:
		bodyLen = m.contentLen
	}
	if int64(p)+bodyLen > int64(maxSize) {
		return &ParseError{Reason: "message larger than the maximum size", err: ErrTooLarge}
	}
	m.body = span{int32(p), int32(p) + int32(bodyLen)}
	m.end = m.body.e
	return nil
}

// lineEnd finds the end of the line starting at p: eol is the end of its
// text, next the start of the next line. A line must end with CRLF (or a
// LF alone with AllowBareLF), and hold no other CR or LF.
func (m *Msg) lineEnd(p, lineNo, maxLine, maxSize int) (eol, next int, err error) {
	buf := m.buf
	i := bytes.IndexByte(buf[p:], '\n')
	if i < 0 {
		switch {
		case len(buf)-p > maxLine || len(buf) > maxSize:
			return 0, 0, &ParseError{Line: lineNo, Reason: "line longer than the maximum", err: ErrTooLarge}
		case m.Opts.Stream:
			return 0, 0, &ParseError{Line: lineNo, Reason: "line not complete", err: ErrIncomplete}
		}
		return 0, 0, parseErr(lineNo, nil, "line without a line end")
	}
	next = p + i + 1
	eol = p + i
	if eol > p && buf[eol-1] == '\r' {
		eol--
	} else if !m.Opts.AllowBareLF {
		return 0, 0, parseErr(lineNo, nil, "LF without CR")
	}
	if bytes.IndexByte(buf[p:eol], '\r') >= 0 {
		return 0, 0, parseErr(lineNo, nil, "CR without LF")
	}
	return eol, next, nil
}

// parseStartLine reads a Request-Line (Method SP Request-URI SP
// SIP-Version) or a Status-Line (SIP-Version SP Status-Code SP
// Reason-Phrase), one space between the parts (RFC 3261 §7.1, §7.2).
func (m *Msg) parseStartLine(p, eol int) error {
	line := m.buf[p:eol]
	if len(line) >= 4 && equalFold(line[:4], "SIP/") {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 || !isVersion(line[:sp]) {
			return parseErr(1, nil, "status line: bad SIP version")
		}
		m.version = span{int32(p), int32(p + sp)}
		rest := line[sp+1:]
		if len(rest) < 4 || rest[3] != ' ' {
			return parseErr(1, nil, "status line: status code is not 3 digits and a space")
		}
		code := 0
		for _, c := range rest[:3] {
			if c < '0' || c > '9' {
				return parseErr(1, nil, "status line: status code is not 3 digits and a space")
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || code > 699 {
			return parseErr(1, nil, "status line: status code outside 100-699")
		}
		m.code = code
		m.reason = span{int32(p + sp + 5), int32(eol)}
		return nil
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return parseErr(1, nil, "request line: method is not a token followed by a space")
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return parseErr(1, nil, "request line: no Request-URI followed by a space")
	}
	if !isVersion(rest[sp2+1:]) {
		return parseErr(1, nil, "request line: bad SIP version")
	}
	m.request = true
	m.method = span{int32(p), int32(p + sp1)}
	m.ruri = span{int32(p + sp1 + 1), int32(p + sp1 + 1 + sp2)}
	m.version = span{int32(p + sp1 + 2 + sp2), int32(eol)}
	return nil
}

// isVersion reports "SIP" "/" 1*DIGIT "." 1*DIGIT, SIP in any case.
func isVersion(v []byte) bool {
	if len(v) < 7 || !equalFold(v[:4], "SIP/") {
		return false
	}
	dot := bytes.IndexByte(v[4:], '.')
	if dot <= 0 {
		return false
	}
	_, ok1 := parseDigits(v[4 : 4+dot])
	_, ok2 := parseDigits(v[5+dot:])
	return ok1 && ok2
}

// IsRequest reports whether the message is a request.
func (m *Msg) IsRequest() bool { return m.request }

// Method returns the request method as written (methods are case-
// sensitive, RFC 3261 §7.1), nil for a reply.
func (m *Msg) Method() []byte {
	if !m.request {
		return nil
	}
	return m.method.of(m.buf)
}

// OrigRURI returns the Request-URI as received, nil for a reply. RURI
// returns it with SetRURI applied.
func (m *Msg) OrigRURI() []byte {
	if !m.request {
		return nil
	}
	return m.ruri.of(m.buf)
}

// Version returns the SIP version of the start line ("SIP/2.0").
func (m *Msg) Version() []byte { return m.version.of(m.buf) }

// StatusCode returns the status code of a reply, 0 for a request.
func (m *Msg) StatusCode() int { return m.code }

// Reason returns the reason phrase of a reply (it may be empty).
func (m *Msg) Reason() []byte {
	if m.request {
		return nil
	}
	return m.reason.of(m.buf)
}

// Bytes returns the message as received (buf without what a stream parse
// skipped before it or left after it).
func (m *Msg) Bytes() []byte { return m.buf[m.start:m.end:m.end] }

// Len returns the length of buf the message took: in a stream, the next
// message starts there.
func (m *Msg) Len() int { return int(m.end) }

// OrigBody returns the body as received; Body returns it with SetBody
// applied.
func (m *Msg) OrigBody() []byte { return m.body.of(m.buf) }

// ContentLength returns the Content-Length of the message as received,
// -1 when it has none.
func (m *Msg) ContentLength() int64 { return m.contentLen }

// isLWS reports white space, CR and LF included: inside a value a CRLF
// is always followed by white space (a folded line).
func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tokenChars are RFC 3261's token: alphanum / "-" / "." / "!" / "%" / "*"
// / "_" / "+" / "`" / "'" / "~".
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// parseDigits reads 1*DIGIT (leading zeros allowed); ok is false on
// anything else or above 10^15, far more than any SIP number needs, so
// it cannot overflow.
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > 1e14 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
