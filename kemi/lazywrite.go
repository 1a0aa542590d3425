package kemi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
)

// The changes modules make to the message (headers added, removed or
// given a new value, the Request-URI and the body replaced), on either
// form: on the lazy message as lumps, written once when the message is
// sent, on sipgo's form as before. Every change is checked the same way
// on both forms, so a script gets the same answer, and the lazy form
// writes a header as sipgo's form would (the name and value sipgo gives
// it), so both forms put the same header lines on the wire. A change the
// lazy form cannot record (a value sipmsg would not read back) turns the
// message into sipgo's form and is made there.

// HeaderPlace says where AddHeaders puts new headers.
type HeaderPlace uint8

// The places of AddHeaders. Headers added at one place keep the order
// they were added in, as Kamailio's lumps at one anchor do.
const (
	// PlaceLast is below every header (KSR.hdr.append).
	PlaceLast HeaderPlace = iota
	// PlaceFirst is above the headers the message came with, below
	// those added there before (KSR.hdr.insert, record_route).
	PlaceFirst
	// PlaceAfter is right after the first header called anchor, below
	// the headers added after it before; PlaceLast when there is none.
	PlaceAfter
	// PlaceBefore is right before the first header called anchor;
	// PlaceFirst when there is none.
	PlaceBefore
)

// lazyAdded is a header added to the lazy message: its id there and the
// sipgo header it was written from, which becomes the header of sipgo's
// form when the message gets it (see adoptAdded), so that a module
// keeping it (rr's Record-Route) finds it in either form; h is nil for a
// header MarkAddedAt marked.
type lazyAdded struct {
	id sipmsg.HeaderID
	h  sip.Header
}

// HasMessage reports whether m holds a message in either form.
func (m *Msg) HasMessage() bool { return m.lazy != nil || m.req != nil || m.res != nil }

// AddHeaderText parses header text ("Name: value\r\n", several lines
// allowed, see ParseHeaders) and adds the headers at place (anchor names
// the header of PlaceAfter and PlaceBefore).
func (m *Msg) AddHeaderText(text string, place HeaderPlace, anchor string) error {
	if !m.HasMessage() {
		return fmt.Errorf("no message")
	}
	hs, err := ParseHeaders(text)
	if err != nil {
		return err
	}
	m.AddHeaders(place, anchor, hs...)
	return nil
}

// AddHeaders adds hs at place and marks them added (see MarkAdded). On
// the lazy form each is written as "Name: Value" of the sipgo header.
func (m *Msg) AddHeaders(place HeaderPlace, anchor string, hs ...sip.Header) {
	if len(hs) == 0 || !m.HasMessage() {
		return
	}
	if lm := m.lazy; lm != nil {
		if lines, ok := headerLines(hs); ok {
			m.addLazy(lm, place, anchor, hs, lines)
			return
		}
	}
	switch place {
	case PlaceFirst:
		m.AddHeadersFirst(hs...)
	case PlaceAfter:
		if i := m.IndexOfHeader(anchor); i >= 0 {
			m.AddHeadersAfter(i, hs...)
			return
		}
		m.AppendHeaders(hs...)
		m.MarkAdded(hs...)
	case PlaceBefore:
		if i := m.IndexOfHeader(anchor); i >= 0 {
			m.InsertHeadersAt(i, hs...)
			m.MarkAdded(hs...)
			return
		}
		m.AddHeadersFirst(hs...)
	default:
		m.AppendHeaders(hs...)
		m.MarkAdded(hs...)
	}
}

// headerLine is a header as the lazy form writes it.
type headerLine struct{ name, value []byte }

// headerLines returns hs as header lines, sipgo's name and value of
// each, and whether all can be written: names tokens, values without CR
// or LF.
func headerLines(hs []sip.Header) ([]headerLine, bool) {
	lines := make([]headerLine, len(hs))
	for i, h := range hs {
		lines[i] = headerLine{[]byte(h.Name()), []byte(h.Value())}
		if sipmsg.CheckHeader(lines[i].name, lines[i].value) != nil {
			return nil, false
		}
	}
	return lines, true
}

// addLazy is AddHeaders on the lazy form.
func (m *Msg) addLazy(lm *sipmsg.Msg, place HeaderPlace, anchor string, hs []sip.Header, lines []headerLine) {
	at := sipmsg.NoHeader // the header the first of hs goes after
	before := sipmsg.NoHeader
	switch place {
	case PlaceAfter:
		if id := lazyHeader(lm, anchor, 0); id != sipmsg.NoHeader {
			at = m.lastAddedFrom(lm, id, true)
			break
		}
		place = PlaceLast
	case PlaceBefore:
		if before = lazyHeader(lm, anchor, 0); before == sipmsg.NoHeader {
			place = PlaceFirst
		}
	}
	if place == PlaceFirst {
		for id := range lm.Headers() {
			if at = m.lastAddedFrom(lm, id, false); at == sipmsg.NoHeader {
				before = id
			}
			break
		}
	}
	for i, h := range hs {
		name, value := lines[i].name, lines[i].value
		var id sipmsg.HeaderID
		switch {
		case place == PlaceLast:
			id = lm.Append(name, value)
		case at != sipmsg.NoHeader:
			id = lm.InsertAfter(at, name, value)
		case before != sipmsg.NoHeader:
			id = lm.InsertBefore(before, name, value)
		default: // a message without headers
			id = lm.Append(name, value)
		}
		at, before = id, sipmsg.NoHeader
		if place == PlaceLast {
			at = sipmsg.NoHeader
		}
		m.lazyAdded = append(m.lazyAdded, lazyAdded{id, h})
	}
}

// lastAddedFrom returns the last of the run of headers added by AddHeaders
// that starts at from (after: that starts right after from), from itself
// when after and the run is empty, NoHeader when not after and from is
// not an added one.
func (m *Msg) lastAddedFrom(lm *sipmsg.Msg, from sipmsg.HeaderID, after bool) sipmsg.HeaderID {
	last, started := sipmsg.NoHeader, false
	if after {
		last = from
	}
	for id := range lm.Headers() {
		if !started {
			if id != from {
				continue
			}
			started = true
			if after {
				continue
			}
		}
		if !m.addedLazy(id) {
			break
		}
		last = id
	}
	return last
}

// addedLazy reports whether id is a header AddHeaders put in the lazy
// message.
func (m *Msg) addedLazy(id sipmsg.HeaderID) bool {
	for _, a := range m.lazyAdded {
		if a.id == id {
			return true
		}
	}
	return false
}

// RemoveHeaderNamed removes every header called name (compact forms
// match) and returns how many: header lines on the lazy form, the values
// sipgo split them into on sipgo's form (as HeaderCount counts).
func (m *Msg) RemoveHeaderNamed(name string) int {
	lm := m.lazy
	if lm == nil {
		if !m.HasMessage() {
			return 0
		}
		return m.RemoveHeaders(name)
	}
	name = strings.TrimSpace(name)
	t := headerType(name)
	n := 0
	for id := range lm.Headers() {
		if lazyHeaderIs(lm, id, t, name) && lm.Remove(id) {
			n++
		}
	}
	m.keepVia()
	return n
}

// keepVia gives a lazy message left without a Via header sipgo's form:
// the engine's lazy paths place their own Via above the first one and
// take it off the top one (engine/fastpath.go), which such a message
// does not have; sipgo's paths cope with it (a route may remove the Via
// before a forward: Kamailio then sends its own only).
func (m *Msg) keepVia() {
	if lm := m.lazy; lm != nil && lm.Find(sipmsg.HdrVia) == sipmsg.NoHeader {
		m.materialize()
	}
}

// EachHeaderName calls f with the name of each header in order until it
// returns false: the name as written on the lazy form (Kamailio's), as
// sipgo gives it on its form (a compact one in full).
func (m *Msg) EachHeaderName(f func(name string) bool) {
	if lm := m.lazy; lm != nil {
		for id := range lm.Headers() {
			if !f(string(lm.Name(id))) {
				return
			}
		}
		return
	}
	for _, h := range m.HeaderList() {
		if !f(h.Name()) {
			return
		}
	}
}

// RemoveHeadersWhere removes every header whose name and body keep says
// and returns how many. The body is what HeaderBodies gives in each form.
func (m *Msg) RemoveHeadersWhere(keep func(name, body string) bool) int {
	lm := m.lazy
	if lm == nil {
		var drop []sip.Header
		for _, h := range m.HeaderList() {
			if !keep(h.Name(), h.Value()) {
				drop = append(drop, h)
			}
		}
		n := 0
		for _, h := range drop {
			if m.RemoveHeaderValue(h) {
				n++
			}
		}
		return n
	}
	n := 0
	for id := range lm.Headers() {
		if !keep(string(lm.Name(id)), headerText(lm.Value(id))) && lm.Remove(id) {
			n++
		}
	}
	m.keepVia()
	return n
}

// RemoveHeaderAt removes the idx-th header called name (0 is the first,
// a negative idx counts from the end; header lines on the lazy form,
// sipgo's values on its form) and reports whether there was one.
func (m *Msg) RemoveHeaderAt(name string, idx int) bool {
	lm := m.lazy
	if lm == nil {
		hs := m.Headers(name)
		if idx < 0 {
			idx += len(hs)
		}
		if idx < 0 || idx >= len(hs) {
			return false
		}
		return m.RemoveHeaderValue(hs[idx])
	}
	if idx < 0 {
		if idx += m.HeaderCount(name); idx < 0 {
			return false
		}
	}
	ok := lm.Remove(lazyHeader(lm, name, idx))
	m.keepVia()
	return ok
}

// RemoveFirstValue removes the first value of the first header called
// name, a comma list ("Route: <a>, <b>" becomes "Route: <b>"), and
// reports whether there was one. sipgo's form splits such lists into
// one header per value: there it removes the first header.
func (m *Msg) RemoveFirstValue(name string) bool {
	lm := m.lazy
	if lm == nil {
		return m.RemoveHeaderAt(name, 0)
	}
	ok := lm.RemoveValue(lazyHeader(lm, name, 0), 0)
	m.keepVia()
	return ok
}

// SetHeaderValue gives the first header called name the value value (one
// is added at the bottom when there is none): on the lazy form the first
// header line, a comma list whole, on sipgo's form the first of the values
// it split the line into. It refuses a name that is not a token, a value
// holding CR or LF and one sipgo cannot parse, on both forms; the lazy
// form writes the value as sipgo does.
func (m *Msg) SetHeaderValue(name, value string) error {
	if !m.HasMessage() {
		return fmt.Errorf("no message")
	}
	if err := sipmsg.CheckHeader([]byte(name), []byte(value)); err != nil {
		return err
	}
	hs, err := ParseHeaders(name + ": " + value)
	if err != nil {
		return err
	}
	if lm := m.lazy; lm != nil {
		id := lazyHeader(lm, name, 0)
		if id == sipmsg.NoHeader {
			m.AddHeaders(PlaceLast, "", hs...)
			return nil
		}
		if len(hs) == 1 {
			value = hs[0].Value()
		}
		lm.SetValue(id, []byte(value))
		return nil
	}
	i := m.IndexOfHeader(name)
	if i < 0 {
		m.AppendHeaders(hs...)
		return nil
	}
	m.removeAt(i)
	m.InsertHeadersAt(i, hs...)
	return nil
}

// HeaderChanged writes again a header that AddHeaders added and its
// caller changed since (rr's add_rr_param gives its Record-Route more
// parameters): on the lazy form the line is rewritten from h, on sipgo's
// form h is the header already. It reports whether h is in the message.
func (m *Msg) HeaderChanged(h sip.Header) bool {
	lm := m.lazy
	if lm == nil {
		return m.Holds(h)
	}
	id, ok := m.addedID(h)
	if !ok {
		return false
	}
	v := []byte(h.Value())
	if sipmsg.CheckHeader([]byte(h.Name()), v) != nil {
		m.materialize()
		return m.HeaderChanged(h)
	}
	return lm.SetValue(id, v)
}

// addedID returns the id in the lazy message of h, a header AddHeaders
// added, and whether it is one (removed since or not).
func (m *Msg) addedID(h sip.Header) (sipmsg.HeaderID, bool) {
	for _, a := range m.lazyAdded {
		if a.h == h {
			return a.id, true
		}
	}
	return sipmsg.NoHeader, false
}

// Holds reports whether h is a header of the message: on the lazy form
// one AddHeaders added and nothing removed since, on sipgo's form any.
func (m *Msg) Holds(h sip.Header) bool {
	lm := m.lazy
	if lm == nil {
		for _, x := range m.HeaderList() {
			if x == h {
				return true
			}
		}
		return false
	}
	if added, ok := m.addedID(h); ok {
		for id := range lm.Headers() {
			if id == added {
				return true
			}
		}
	}
	return false
}

// RemoveAddedHeader removes h, a header AddHeaders added (or, on sipgo's
// form, any header of the message, see RemoveHeaderValue), and reports
// whether it was there.
func (m *Msg) RemoveAddedHeader(h sip.Header) bool {
	lm := m.lazy
	if lm == nil {
		return m.RemoveHeaderValue(h)
	}
	id, ok := m.addedID(h)
	if !ok {
		return false
	}
	ok = lm.Remove(id)
	m.keepVia()
	return ok
}

// RURIValue returns the Request-URI parsed by sipgo's URI parser, for
// code that changes a part of it (setuser, sethost): a copy on the lazy
// form, the request's own on sipgo's form. false for a reply or a URI
// sipgo cannot parse.
func (m *Msg) RURIValue() (sip.Uri, bool) {
	lm := m.lazy
	if lm == nil {
		if req := m.Request(); req != nil {
			return req.Recipient, true
		}
		return sip.Uri{}, false
	}
	if !lm.IsRequest() {
		return sip.Uri{}, false
	}
	var u sip.Uri
	if err := sip.ParseUri(string(lm.RURI()), &u); err != nil {
		// what sipgo's form of the message holds then
		m.materialize()
		return m.RURIValue()
	}
	return u, true
}

// setLazyRURI writes u as the Request-URI of the lazy message, as
// sipgo's form would write it, and reports whether it could: sipmsg
// must read the text back, so that $rU and the rest see it.
func (m *Msg) setLazyRURI(u *sip.Uri) bool {
	lm := m.lazy
	if lm == nil || !lm.IsRequest() {
		return false
	}
	s := u.String()
	if _, err := sipmsg.ParseURI([]byte(s)); err != nil {
		return false
	}
	lm.SetRURI([]byte(s))
	return true
}

// lazySetBody is SetBody on the lazy form; false when the Content-Type
// cannot be written as a header line.
func (m *Msg) lazySetBody(body []byte, ctype string) bool {
	lm := m.lazy
	if ctype != "" {
		ct := sip.ContentTypeHeader(ctype)
		if sipmsg.CheckHeader([]byte(ct.Name()), []byte(ctype)) != nil {
			return false
		}
		m.RemoveHeaderNamed("Content-Type")
		m.AddHeaders(PlaceLast, "", &ct)
	}
	lm.SetBody(body)
	return true
}

// adoptAdded makes the sipgo headers the lazy ones were written from the
// headers of sipgo's form, just parsed from lm, and marks them added: a
// module keeping one (rr's Record-Route) finds it in the message, and
// AddedAt is what it would be had they been added to sipgo's form. It
// leaves the parsed headers when the two lists do not line up.
func (m *Msg) adoptAdded(lm *sipmsg.Msg, added []lazyAdded) {
	if len(added) == 0 {
		return
	}
	all := m.HeaderList()
	var adopted []sip.Header
	ok := walkSipgo(lm, len(all), func(id sipmsg.HeaderID, pos, n int) bool {
		if !HeaderNameIs(all[pos].Name(), string(lm.Name(id))) {
			return false
		}
		for _, a := range added {
			switch {
			case a.id != id || n != 1:
			case a.h == nil: // marked by MarkAddedAt: sipgo's is the one
				adopted = append(adopted, all[pos])
			case reflect.TypeOf(all[pos]) == reflect.TypeOf(a.h):
				all[pos] = a.h
				adopted = append(adopted, a.h)
			}
		}
		return true
	})
	if !ok {
		return
	}
	m.fixRefs(adopted)
	m.MarkAdded(adopted...)
}

// walkSipgo calls f for each header of lm with where its first header is
// in sipgo's form of lm (pos) and how many it makes there (n), up to
// total headers, until f returns false. It reports whether every header
// was walked.
func walkSipgo(lm *sipmsg.Msg, total int, f func(id sipmsg.HeaderID, pos, n int) bool) bool {
	pos := 0
	for id := range lm.Headers() {
		n := sipgoCount(lm, id)
		if pos+n > total || !f(id, pos, n) {
			return false
		}
		pos += n
	}
	return true
}

// lazyMarkAddedAt is MarkAddedAt on the lazy form: the headers at those
// positions of sipgo's form are marked added, without a sipgo header of
// their own (adoptAdded marks the one sipgo parses).
func (m *Msg) lazyMarkAddedAt(at []int) {
	walkSipgo(m.lazy, int(^uint(0)>>1), func(id sipmsg.HeaderID, pos, n int) bool {
		if n == 1 && slices.Contains(at, pos) && !m.addedLazy(id) {
			m.lazyAdded = append(m.lazyAdded, lazyAdded{id: id})
		}
		return true
	})
}

// lazyAddedAt is AddedAt on the lazy form: where the headers AddHeaders
// added will be in sipgo's form of the message.
func (m *Msg) lazyAddedAt() []int {
	var at []int
	walkSipgo(m.lazy, int(^uint(0)>>1), func(id sipmsg.HeaderID, pos, _ int) bool {
		if m.addedLazy(id) {
			at = append(at, pos)
		}
		return true
	})
	return at
}

// sipgoCount returns how many headers sipgo's form makes of header id of
// lm: one, or one per value of the comma lists sipgo splits (Via,
// Contact, Route, Record-Route).
func sipgoCount(lm *sipmsg.Msg, id sipmsg.HeaderID) int {
	switch lm.Type(id) {
	case sipmsg.HdrVia, sipmsg.HdrContact, sipmsg.HdrRoute, sipmsg.HdrRecordRoute:
	default:
		return 1
	}
	v := lm.Value(id)
	if strings.IndexByte(string(v), ',') < 0 {
		return 1
	}
	hs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte(string(lm.Name(id))+": "+headerText(v)))
	if err != nil || len(hs) == 0 {
		return 1
	}
	return len(hs)
}

// LazySendHook is a SendHook that can make its changes to a request still
// in its lazy form, so that a stateless forward does not give it sipgo's
// form for them. The engine's fast path calls BeforeSendLazy once it has
// picked dst.Sock and taken a Mark of the lazy message: the changes are
// written with the request and rolled back after the send (the request
// is the script's again, as BeforeSend leaves origin's). It reports
// false, having changed nothing, when it cannot: the engine then sends
// the request in sipgo's form with BeforeSend.
type LazySendHook interface {
	BeforeSendLazy(origin *Msg, dst *Dest) bool
}

// FirstOfName reports whether h is the first header of its name in the
// message: on the lazy form h must be one AddHeaders added.
func (m *Msg) FirstOfName(h sip.Header) bool {
	lm := m.lazy
	if lm == nil {
		for _, x := range m.HeaderList() {
			if HeaderNameIs(x.Name(), h.Name()) {
				return x == h
			}
		}
		return false
	}
	id, ok := m.addedID(h)
	return ok && id == lazyHeader(lm, h.Name(), 0)
}

// ReplaceAddedForSend puts with in place of h, a header AddHeaders added
// to the lazy message, for one send (LazySendHook): the headers of with
// take h's place in order, and are not remembered as added (the
// engine's Rollback after the send takes them out again). Each must have
// h's name. It reports false, changing nothing, when the message is not
// lazy, h is not in it or a header cannot be written.
func (m *Msg) ReplaceAddedForSend(h sip.Header, with ...sip.Header) bool {
	lm := m.lazy
	if lm == nil || len(with) == 0 || !m.Holds(h) {
		return false
	}
	lines, ok := headerLines(with)
	if !ok {
		return false
	}
	for _, w := range with {
		if !HeaderNameIs(w.Name(), h.Name()) {
			return false
		}
	}
	id, _ := m.addedID(h)
	last := len(lines) - 1
	for _, l := range lines[:last] {
		lm.InsertBefore(id, l.name, l.value)
	}
	return lm.SetValue(id, lines[last].value)
}
