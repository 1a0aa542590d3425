package sipmsg

import (
	"bytes"
	"slices"
	"strconv"
)

// HeaderID names one header of a parsed message: an original one or one
// added by an Insert method. It is valid until the next Parse or Reset.
type HeaderID int

// NoHeader is the HeaderID of a header that is not there.
const NoHeader HeaderID = -1

// changes are the lumps: what was recorded to be applied by AppendTo.
// Removals and new values are flags on the header's index entry; added
// headers are index entries whose bytes are in scratch, placed by ins.
type changes struct {
	scratch []byte   // bytes of added headers and new values
	ins     []insert // added headers in output order (by anchor offset)
	newRURI span
	newLine span
	newBody span
	set     uint8  // setRURI, setLine, setBody
	dirty   uint64 // bit t: headers of type t changed (bit 0: any HdrOther)
	undo    []undo // index entries as they were before each change, for Rollback
}

// undo is an index entry before a change.
type undo struct {
	id int32
	h  hdr
}

// insert places an added header: before the original bytes at off (a
// line start in buf), after the added headers already there that come
// before it.
type insert struct {
	off int32
	id  int32
}

const (
	setRURI uint8 = 1 << iota
	setLine
	setBody
)

// Changed reports whether any change was recorded since Parse.
func (m *Msg) Changed() bool { return m.set != 0 || m.dirty != 0 }

// valid reports whether id names a header of m.
func (m *Msg) valid(id HeaderID) bool { return id >= 0 && int(id) < len(m.hdrs) }

// markDirty records that headers of type t changed, so lookups leave the
// fast index and the parsed-value caches of that type are dropped.
func (m *Msg) markDirty(t HdrType) {
	m.dirty |= 1 << t
	m.cache.drop(t)
}

// addScratch copies b into scratch and returns where it is.
func (m *Msg) addScratch(b []byte) span {
	s := int32(len(m.scratch))
	m.scratch = append(m.scratch, b...)
	return span{s, int32(len(m.scratch))}
}

// newHeader writes "name: value\r\n" into scratch and indexes it.
func (m *Msg) newHeader(name, value []byte) int32 {
	line := int32(len(m.scratch))
	m.scratch = append(m.scratch, name...)
	nameEnd := int32(len(m.scratch))
	m.scratch = append(m.scratch, ':', ' ')
	val := int32(len(m.scratch))
	m.scratch = append(m.scratch, value...)
	valEnd := int32(len(m.scratch))
	m.scratch = append(m.scratch, '\r', '\n')
	h := hdr{typ: TypeOf(name), flags: flagAdded, line: line, nameEnd: nameEnd, val: val, valEnd: valEnd, lineEnd: int32(len(m.scratch))}
	m.hdrs = append(m.hdrs, h)
	m.markDirty(h.typ)
	return int32(len(m.hdrs) - 1)
}

// insAt returns the position in ins of an added header, -1 if none.
func (m *Msg) insAt(id HeaderID) int {
	for k, in := range m.ins {
		if in.id == int32(id) {
			return k
		}
	}
	return -1
}

// place inserts a new header into ins at position k, anchored at off.
func (m *Msg) place(k int, off int32, name, value []byte) HeaderID {
	id := m.newHeader(name, value)
	m.ins = slices.Insert(m.ins, k, insert{off: off, id: id})
	return HeaderID(id)
}

// firstAt returns the first position of ins whose anchor is at off or
// after (after: strictly after).
func (m *Msg) firstAt(off int32, after bool) int {
	for k, in := range m.ins {
		if in.off > off || (!after && in.off == off) {
			return k
		}
	}
	return len(m.ins)
}

// InsertTop adds a header above all others (above those added before
// with InsertTop too) and returns its id. The caller checks name and
// value (CheckHeader): they are written as given.
func (m *Msg) InsertTop(name, value []byte) HeaderID {
	return m.place(0, m.hdrStart, name, value)
}

// Append adds a header below all others and returns its id.
func (m *Msg) Append(name, value []byte) HeaderID {
	return m.place(len(m.ins), m.hdrEnd, name, value)
}

// InsertBefore adds a header immediately before id (removed or not) and
// returns its id, NoHeader when id is not a header of m.
func (m *Msg) InsertBefore(id HeaderID, name, value []byte) HeaderID {
	if !m.valid(id) {
		return NoHeader
	}
	if h := &m.hdrs[id]; h.flags&flagAdded == 0 {
		return m.place(m.firstAt(h.line, true), h.line, name, value)
	}
	k := m.insAt(id)
	return m.place(k, m.ins[k].off, name, value)
}

// InsertAfter adds a header immediately after id and returns its id,
// NoHeader when id is not a header of m.
func (m *Msg) InsertAfter(id HeaderID, name, value []byte) HeaderID {
	if !m.valid(id) {
		return NoHeader
	}
	if h := &m.hdrs[id]; h.flags&flagAdded == 0 {
		return m.place(m.firstAt(h.lineEnd, false), h.lineEnd, name, value)
	}
	k := m.insAt(id)
	return m.place(k+1, m.ins[k].off, name, value)
}

// Remove removes a header; other changes to it are dropped. It reports
// whether id was a header still there.
func (m *Msg) Remove(id HeaderID) bool {
	if !m.valid(id) || m.hdrs[id].flags&flagRemoved != 0 {
		return false
	}
	m.undo = append(m.undo, undo{int32(id), m.hdrs[id]})
	m.hdrs[id].flags |= flagRemoved
	m.markDirty(m.hdrs[id].typ)
	return true
}

// SetValue replaces the value of a header (its name and the white space
// around the value are kept). It reports whether id was a header still
// there.
func (m *Msg) SetValue(id HeaderID, value []byte) bool {
	if !m.valid(id) || m.hdrs[id].flags&flagRemoved != 0 {
		return false
	}
	m.undo = append(m.undo, undo{int32(id), m.hdrs[id]})
	h := &m.hdrs[id]
	if h.flags&flagAdded != 0 {
		// rewrite the whole line: an added header is one scratch span
		line := int32(len(m.scratch))
		m.scratch = append(m.scratch, m.scratch[h.line:h.val]...)
		val := int32(len(m.scratch))
		m.scratch = append(m.scratch, value...)
		valEnd := int32(len(m.scratch))
		m.scratch = append(m.scratch, '\r', '\n')
		h.nameEnd = line + (h.nameEnd - h.line)
		h.line, h.val, h.valEnd, h.lineEnd = line, val, valEnd, int32(len(m.scratch))
	} else {
		h.nv = m.addScratch(value)
		h.flags |= flagReplaced
	}
	m.markDirty(h.typ)
	return true
}

// RemoveValue removes the k-th (0-based) value of a comma-separated
// header ("Via: a, b" without a is "Via: b"); the header goes when it
// was its only value. It reports whether there was such a value.
func (m *Msg) RemoveValue(id HeaderID, k int) bool {
	if !m.valid(id) || m.hdrs[id].flags&flagRemoved != 0 || k < 0 {
		return false
	}
	v := m.Value(id)
	cut := [2]int{-1, -1} // the bytes of v to drop
	prevEnd, n := 0, 0
	for p := 0; p < len(v); n++ {
		s, e, next := nextItem(v, p)
		switch {
		case n == k && k == 0:
			cut[0] = 0
		case n == k:
			cut = [2]int{prevEnd, e} // the comma before it, and it
		case n == 1 && k == 0:
			cut[1] = s // up to the second value
		}
		prevEnd, p = e, next
	}
	switch {
	case cut[0] < 0:
		return false
	case n == 1:
		return m.Remove(id)
	}
	s := m.addScratch(v[:cut[0]])
	m.scratch = append(m.scratch, v[cut[1]:]...)
	s.e = int32(len(m.scratch))
	return m.SetValue(id, s.of(m.scratch))
}

// Mark is a point in the changes of a message, to come back to with
// Rollback: tm records the changes common to every branch, then for each
// branch takes a Mark, adds the branch's own (its Via, its R-URI), writes
// and rolls back.
type Mark struct {
	hdrs, scratch, undo int
	set                 uint8
	dirty               uint64
	newRURI             span
	newLine             span
	newBody             span
}

// Mark returns the present point of the changes.
func (m *Msg) Mark() Mark {
	return Mark{hdrs: len(m.hdrs), scratch: len(m.scratch), undo: len(m.undo), set: m.set, dirty: m.dirty,
		newRURI: m.newRURI, newLine: m.newLine, newBody: m.newBody}
}

// Rollback undoes every change made since mk was taken (mk must come
// from this parse, and no Rollback to an earlier Mark may have happened
// since). HeaderIDs of headers added since are no longer valid.
func (m *Msg) Rollback(mk Mark) {
	if mk.hdrs > len(m.hdrs) || mk.scratch > len(m.scratch) || mk.undo > len(m.undo) || mk.hdrs < int(m.nOrig) {
		return // not a Mark of this state
	}
	for i := len(m.undo) - 1; i >= mk.undo; i-- {
		if u := m.undo[i]; int(u.id) < mk.hdrs {
			m.hdrs[u.id] = u.h
		}
	}
	m.undo = m.undo[:mk.undo]
	m.hdrs = m.hdrs[:mk.hdrs]
	m.ins = slices.DeleteFunc(m.ins, func(in insert) bool { return int(in.id) >= mk.hdrs })
	m.scratch = m.scratch[:mk.scratch]
	m.set, m.dirty = mk.set, mk.dirty
	m.newRURI, m.newLine, m.newBody = mk.newRURI, mk.newLine, mk.newBody
	m.cache = cache{}
}

// SetRURI replaces the Request-URI of a request.
func (m *Msg) SetRURI(uri []byte) {
	m.newRURI = m.addScratch(uri)
	m.set |= setRURI
	m.cache.ruriOK = false
}

// RURI returns the Request-URI, with SetRURI applied; nil for a reply.
func (m *Msg) RURI() []byte {
	if !m.request {
		return nil
	}
	if m.set&setRURI != 0 {
		return m.newRURI.of(m.scratch)
	}
	return m.ruri.of(m.buf)
}

// SetFirstLine replaces the whole start line (without its line end), as
// when a reply is built from a request. It overrides SetRURI. Method,
// StatusCode and the other start-line getters keep returning the parsed
// line.
func (m *Msg) SetFirstLine(line []byte) {
	m.newLine = m.addScratch(line)
	m.set |= setLine
}

// SetBody replaces the body and makes every Content-Length header say its
// length (adding one at the bottom when there is none), as the changed
// headers are visible at once.
func (m *Msg) SetBody(body []byte) {
	m.newBody = m.addScratch(body)
	m.set |= setBody
	var n [20]byte
	cl := strconv.AppendInt(n[:0], int64(len(body)), 10)
	found := false
	for id := range m.Headers() {
		if m.hdrs[id].typ == HdrContentLength {
			m.SetValue(id, cl)
			found = true
		}
	}
	if !found {
		m.Append([]byte("Content-Length"), cl)
	}
}

// Body returns the body, with SetBody applied.
func (m *Msg) Body() []byte {
	if m.set&setBody != 0 {
		return m.newBody.of(m.scratch)
	}
	return m.body.of(m.buf)
}

// AppendTo appends the message with every recorded change applied to dst
// and returns the extended slice. It copies runs of the original bytes
// between changes, and allocates nothing when dst has room. Without
// changes it appends Bytes(). The Msg is not changed: AppendTo can run
// again, and more changes can be recorded after it.
func (m *Msg) AppendTo(dst []byte) []byte {
	b := m.buf
	switch {
	case m.set&setLine != 0:
		dst = append(dst, m.newLine.of(m.scratch)...)
	case m.set&setRURI != 0 && m.request:
		dst = append(dst, b[m.start:m.ruri.s]...)
		dst = append(dst, m.newRURI.of(m.scratch)...)
		dst = append(dst, b[m.ruri.e:m.firstEnd]...)
	default:
		dst = append(dst, b[m.start:m.firstEnd]...)
	}
	run := m.firstEnd // original bytes from run on are still to copy
	if m.dirty != 0 {
		k := 0
		for i := range m.nOrig {
			h := &m.hdrs[i]
			for k < len(m.ins) && m.ins[k].off <= h.line {
				dst = append(dst, b[run:h.line]...)
				run = h.line
				dst = m.appendAdded(dst, m.ins[k].id)
				k++
			}
			if h.flags&(flagRemoved|flagReplaced) == 0 {
				continue
			}
			dst = append(dst, b[run:h.line]...)
			if h.flags&flagRemoved == 0 {
				dst = append(dst, b[h.line:h.val]...)
				dst = append(dst, h.nv.of(m.scratch)...)
				dst = append(dst, b[h.valEnd:h.lineEnd]...)
			}
			run = h.lineEnd
		}
		dst = append(dst, b[run:m.hdrEnd]...)
		run = m.hdrEnd
		for ; k < len(m.ins); k++ {
			dst = m.appendAdded(dst, m.ins[k].id)
		}
	}
	if m.set&setBody == 0 {
		return append(dst, b[run:m.end]...)
	}
	dst = append(dst, b[run:m.body.s]...)
	return append(dst, m.newBody.of(m.scratch)...)
}

func (m *Msg) appendAdded(dst []byte, id int32) []byte {
	h := &m.hdrs[id]
	if h.flags&flagRemoved != 0 {
		return dst
	}
	return append(dst, m.scratch[h.line:h.lineEnd]...)
}

// AddContentLength adds a Content-Length with the body's length when the
// message has none, and reports whether it did. A datagram may leave it
// out (RFC 3261 §18.3), a message on a stream may not: there the next
// hop would read the body as the next message.
func (m *Msg) AddContentLength() bool {
	if m.Find(HdrContentLength) != NoHeader {
		return false
	}
	var n [12]byte
	m.Append([]byte("Content-Length"), strconv.AppendInt(n[:0], int64(len(m.Body())), 10))
	return true
}

// CheckHeader reports whether name and value can be written as a header
// line: name a token, value without CR or LF (a CRLF in a value would
// end the header and start another: header injection).
func CheckHeader(name, value []byte) error {
	if !isToken(name) {
		return valueErr(string(name), "header name is not a token")
	}
	if bytes.IndexByte(value, '\r') >= 0 || bytes.IndexByte(value, '\n') >= 0 {
		return valueErr(string(name), "header value holds a CR or LF")
	}
	return nil
}
