package sipmsg

import "bytes"

// CSeq is a parsed CSeq header.
type CSeq struct {
	Num    uint32 // below 2^31 (RFC 3261 §8.1.1.5)
	Method []byte
}

// ParseCSeq parses "1*DIGIT LWS Method".
func ParseCSeq(v []byte) (CSeq, error) {
	v = trimLWS(v)
	p := 0
	for p < len(v) && v[p] >= '0' && v[p] <= '9' {
		p++
	}
	n, ok := parseDigits(v[:p])
	if !ok || n > 1<<31-1 {
		return CSeq{}, valueErr("CSeq", "number is not 0 to 2^31-1")
	}
	q := skipLWS(v, p)
	if q == p {
		return CSeq{}, valueErr("CSeq", "no white space after the number")
	}
	if !isToken(v[q:]) {
		return CSeq{}, valueErr("CSeq", "method is not a token")
	}
	return CSeq{Num: uint32(n), Method: v[q:]}, nil
}

// CSeq returns the parsed CSeq header, kept until CSeq changes.
func (m *Msg) CSeq() (CSeq, error) {
	if m.cseqOK {
		return m.cseq, nil
	}
	v := m.Get(HdrCSeq)
	if v == nil {
		return CSeq{}, valueErr("CSeq", "missing")
	}
	c, err := ParseCSeq(v)
	if err == nil {
		m.cseq, m.cseqOK = c, true
	}
	return c, err
}

// CallID returns the Call-ID, nil when there is none; Check refuses an
// empty one or one holding white space.
func (m *Msg) CallID() []byte { return m.Get(HdrCallID) }

// MaxForwards returns the Max-Forwards value, -1 when there is none. It
// refuses a value that is not 1*DIGIT below 2^32.
func (m *Msg) MaxForwards() (int64, error) {
	v := m.Get(HdrMaxForwards)
	if v == nil {
		return -1, nil
	}
	n, ok := parseDigits(v)
	if !ok || n > 1<<32-1 {
		return -1, valueErr("Max-Forwards", "not a decimal number below 2^32")
	}
	return int64(n), nil
}

// ParsedRURI returns the Request-URI (with SetRURI applied) cut into its
// parts, kept until SetRURI.
func (m *Msg) ParsedRURI() (URI, error) {
	if m.ruriOK {
		return m.ruri2, nil
	}
	if !m.request {
		return URI{}, valueErr("Request-URI", "a reply has none")
	}
	u, err := ParseURI(m.RURI())
	if err != nil {
		return u, valueErr("Request-URI", err.(*ParseError).Reason)
	}
	m.ruri2, m.ruriOK = u, true
	return u, nil
}

// callIDChars are RFC 3261's word characters and the '@' of a Call-ID.
var callIDChars = func() (t [256]bool) {
	t = tokenChars
	for _, c := range "()<>:\\\"/[]?{}@" {
		t[c] = true
	}
	return t
}()

// Check parses what every message must have right (RFC 3261 §8.1.1):
// the Request-URI of a request, every Via, From and To (a To tag of a
// request is optional), a Call-ID of word characters, a CSeq whose
// method is the request's, a numeric Max-Forwards for each one there is
// (the first counts, as in Kamailio, which lets a proxy loop with two be
// stopped); From, To, Call-ID and CSeq once at most; a Request-URI
// without headers; every Route and Record-Route value. Contact is not
// checked: as in Kamailio, what reads it (the registrar) refuses a bad
// one. The first problem is returned. Parse alone checks none of these.
func (m *Msg) Check() error {
	if m.request {
		u, err := m.ParsedRURI()
		if err != nil {
			return err
		}
		if u.Headers != nil {
			return valueErr("Request-URI", "holds headers ('?'), which only a URI in a header may")
		}
	}
	// int, not uint8: with Opts.MaxHeaders above 255, 256 more copies of
	// a header would wrap a byte count back to one
	var count [numHdrTypes]int
	for id := range m.Headers() {
		count[m.hdrs[id].typ]++
	}
	for _, t := range [...]HdrType{HdrFrom, HdrTo, HdrCallID, HdrCSeq} {
		if count[t] > 1 {
			return valueErr(t.String(), "more than one header")
		}
	}
	n := 0
	for via, err := range m.Vias() {
		if err != nil {
			return err
		}
		if n == 0 && !m.viaOK && !m.Changed() {
			// the top Via, which routing reads next: kept as TopVia keeps it
			m.via, m.viaOK = via, true
		}
		n++
	}
	if n == 0 {
		return valueErr("Via", "missing")
	}
	if _, err := m.From(); err != nil {
		return err
	}
	if _, err := m.To(); err != nil {
		return err
	}
	for _, t := range [...]HdrType{HdrRoute, HdrRecordRoute} {
		for v := range m.Values(t) {
			if _, err := ParseNameAddr(v); err != nil {
				return valueErr(t.String(), err.(*ParseError).Reason)
			}
		}
	}
	cid := m.CallID()
	if len(cid) == 0 {
		return valueErr("Call-ID", "missing or empty")
	}
	if bytes.ContainsAny(cid, " \t\r\n") {
		return valueErr("Call-ID", "holds white space")
	}
	if !allIn(cid, &callIDChars) {
		return valueErr("Call-ID", "character not allowed (RFC 3261 word)")
	}
	cs, err := m.CSeq()
	if err != nil {
		return err
	}
	if m.request && !m.Opts.AnyCSeqMethod && !bytes.Equal(cs.Method, m.Method()) {
		return valueErr("CSeq", "method is not the request's")
	}
	for v := range m.Values(HdrMaxForwards) {
		if n, ok := parseDigits(v); !ok || n > 1<<32-1 {
			return valueErr("Max-Forwards", "not a decimal number below 2^32")
		}
	}
	return nil
}
