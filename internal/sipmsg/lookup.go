package sipmsg

import "iter"

// Lookups see the recorded changes: a removed header is not found, a
// replaced value is returned new, an added header is found in its place.
// While no header of a type changed, finding it is one array read.

// cursor walks the headers in their current order: the original ones
// merged with the added ones by anchor offset.
type cursor struct{ h, k int }

func (m *Msg) step(c *cursor) HeaderID {
	for {
		if c.k < len(m.ins) && (c.h >= int(m.nOrig) || m.ins[c.k].off <= m.hdrs[c.h].line) {
			id := m.ins[c.k].id
			c.k++
			if m.hdrs[id].flags&flagRemoved == 0 {
				return HeaderID(id)
			}
			continue
		}
		if c.h >= int(m.nOrig) {
			return NoHeader
		}
		id := c.h
		c.h++
		if m.hdrs[id].flags&flagRemoved == 0 {
			return HeaderID(id)
		}
	}
}

// Headers yields the id of every header in its current order.
func (m *Msg) Headers() iter.Seq[HeaderID] {
	return func(yield func(HeaderID) bool) {
		var c cursor
		for id := m.step(&c); id != NoHeader; id = m.step(&c) {
			if !yield(id) {
				return
			}
		}
	}
}

// Type returns the type of a header (HdrOther for an unknown id).
func (m *Msg) Type(id HeaderID) HdrType {
	if !m.valid(id) {
		return HdrOther
	}
	return m.hdrs[id].typ
}

// Name returns a header's name as written (compact or not), nil for an
// unknown id.
func (m *Msg) Name(id HeaderID) []byte {
	if !m.valid(id) {
		return nil
	}
	h := &m.hdrs[id]
	if h.flags&flagAdded != 0 {
		return m.scratch[h.line:h.nameEnd:h.nameEnd]
	}
	return m.buf[h.line:h.nameEnd:h.nameEnd]
}

// Value returns a header's current value without the white space around
// it, nil for an unknown id. A folded value keeps its line breaks (CRLF
// and white space, which the value parsers take as white space); Unfold
// joins them.
func (m *Msg) Value(id HeaderID) []byte {
	if !m.valid(id) {
		return nil
	}
	h := &m.hdrs[id]
	switch {
	case h.flags&flagReplaced != 0:
		return h.nv.of(m.scratch)
	case h.flags&flagAdded != 0:
		return m.scratch[h.val:h.valEnd:h.valEnd]
	}
	return m.buf[h.val:h.valEnd:h.valEnd]
}

// Find returns the first current header of type t, NoHeader if none.
// t must not be HdrOther: use FindName.
func (m *Msg) Find(t HdrType) HeaderID {
	if t == HdrOther || t >= numHdrTypes {
		return NoHeader
	}
	if m.dirty&(1<<t) == 0 {
		return HeaderID(m.first[t]) - 1
	}
	var c cursor
	for id := m.step(&c); id != NoHeader; id = m.step(&c) {
		if m.hdrs[id].typ == t {
			return id
		}
	}
	return NoHeader
}

// FindName returns the first current header called name (case-
// insensitive; a well-known header also by its compact form), NoHeader
// if none.
func (m *Msg) FindName(name []byte) HeaderID {
	if t := TypeOf(name); t != HdrOther {
		return m.Find(t)
	}
	var c cursor
	for id := m.step(&c); id != NoHeader; id = m.step(&c) {
		if m.hdrs[id].typ == HdrOther && equalFoldBytes(m.Name(id), name) {
			return id
		}
	}
	return NoHeader
}

// Get returns the value of the first current header of type t, nil if
// none (an empty value is empty, not nil).
func (m *Msg) Get(t HdrType) []byte {
	id := m.Find(t)
	if id == NoHeader {
		return nil
	}
	if v := m.Value(id); v != nil {
		return v
	}
	return []byte{}
}

// GetName is Get by name.
func (m *Msg) GetName(name []byte) []byte {
	id := m.FindName(name)
	if id == NoHeader {
		return nil
	}
	if v := m.Value(id); v != nil {
		return v
	}
	return []byte{}
}

// OrigGet returns the value of the first header of type t as received,
// whatever was changed since, nil if none.
func (m *Msg) OrigGet(t HdrType) []byte {
	if t == HdrOther || t >= numHdrTypes || m.first[t] == 0 {
		return nil
	}
	h := &m.hdrs[m.first[t]-1]
	return m.buf[h.val:h.valEnd:h.valEnd]
}

// Values yields every current value of the headers of type t in order;
// the value of a list header (t.IsList(): Via, Route, Contact...) is cut
// at its commas, outside quotes and angle brackets, so "Route: <a>, <b>"
// gives two values.
func (m *Msg) Values(t HdrType) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if t == HdrOther {
			return
		}
		var c cursor
		for id := m.step(&c); id != NoHeader; id = m.step(&c) {
			if m.hdrs[id].typ != t {
				continue
			}
			if !yieldItems(m.Value(id), t.IsList(), yield) {
				return
			}
		}
	}
}

// ValuesName yields the value of every current header called name, as
// Values does for its type when it is a well-known one, uncut otherwise.
func (m *Msg) ValuesName(name []byte) iter.Seq[[]byte] {
	if t := TypeOf(name); t != HdrOther {
		return m.Values(t)
	}
	return func(yield func([]byte) bool) {
		var c cursor
		for id := m.step(&c); id != NoHeader; id = m.step(&c) {
			if m.hdrs[id].typ == HdrOther && equalFoldBytes(m.Name(id), name) && !yield(m.Value(id)) {
				return
			}
		}
	}
}

func yieldItems(v []byte, list bool, yield func([]byte) bool) bool {
	if !list {
		return yield(v)
	}
	for p := 0; p < len(v); {
		s, e, next := nextItem(v, p)
		if !yield(v[s:e:e]) {
			return false
		}
		p = next
	}
	return true
}

// nextItem finds the value of a comma-separated list that starts at p:
// [s, e) without the white space around it, next after its comma. Commas
// inside a quoted string or <...> do not cut.
func nextItem(v []byte, p int) (s, e, next int) {
	for p < len(v) && isLWS(v[p]) {
		p++
	}
	s = p
	quoted, angle := false, false
	for ; p < len(v); p++ {
		c := v[p]
		switch {
		case quoted && c == '\\':
			p++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ',' && !angle:
			e = p
			for e > s && isLWS(v[e-1]) {
				e--
			}
			return s, e, p + 1
		}
	}
	e = min(p, len(v))
	for e > s && isLWS(v[e-1]) {
		e--
	}
	return s, e, len(v)
}

// Unfold appends v to dst with each folded line break (CR LF and the
// white space around it) made one space.
func Unfold(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\r' && c != '\n' {
			dst = append(dst, c)
			continue
		}
		for len(dst) > 0 && (dst[len(dst)-1] == ' ' || dst[len(dst)-1] == '\t') {
			dst = dst[:len(dst)-1]
		}
		for i+1 < len(v) && isLWS(v[i+1]) {
			i++
		}
		dst = append(dst, ' ')
	}
	return dst
}
