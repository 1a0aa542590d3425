package luastr

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// lib holds the Budget that the functions building strings account with.
type lib struct {
	budget Budget
}

// raiseMatch raises the error that stopped m.
func raiseMatch(L *lua.LState, m *matcher) {
	raise(L, m.err.Error())
}

// posrelat turns a relative string position (negative counts from the
// end) into an absolute one, as Lua 5.1 does.
func posrelat(pos int64, n int) int64 {
	if pos < 0 {
		pos += int64(n) + 1
	}
	if pos < 0 {
		return 0
	}
	return pos
}

// captureValue is capture i of m's last match [s, e): the whole match when
// the pattern has no captures and i is 0.
func captureValue(L *lua.LState, m *matcher, i, s, e int) lua.LValue {
	if i >= m.level {
		if i != 0 {
			raise(L, errCaptureIndex.Error())
		}
		return lua.LString(m.src[s:e])
	}
	c := m.capture[i]
	switch c.len {
	case capUnfinished:
		raise(L, errUnfinished.Error())
	case capPosition:
		return lua.LNumber(c.init + 1)
	}
	return lua.LString(m.src[c.init : c.init+c.len])
}

// pushCaptures pushes m's captures, or the whole match [s, e) when there
// are none and whole is set, and returns how many it pushed.
func pushCaptures(L *lua.LState, m *matcher, s, e int, whole bool) int {
	n := m.level
	if n == 0 && whole {
		L.Push(lua.LString(m.src[s:e]))
		return 1
	}
	for i := 0; i < n; i++ {
		L.Push(captureValue(L, m, i, s, e))
	}
	return n
}

// findArgs reads the subject, pattern and init arguments of find and
// match; init is an index into s.
func findArgs(L *lua.LState) (s, p string, init int) {
	s = checkString(L, 1)
	p = checkString(L, 2)
	i := posrelat(optInteger(L, 3, 1), len(s)) - 1
	if i < 0 {
		i = 0
	} else if i > int64(len(s)) {
		i = int64(len(s))
	}
	return s, p, int(i)
}

// strFind is string.find(s, pattern [, init [, plain]]).
func strFind(L *lua.LState) int {
	s, p, init := findArgs(L)
	if lua.LVAsBool(L.Get(4)) || !hasSpecials(p) {
		i := strings.Index(s[init:], p)
		if i < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + i + 1))
		L.Push(lua.LNumber(init + i + len(p)))
		return 2
	}
	return findPattern(L, s, p, init, true)
}

// strMatch is string.match(s, pattern [, init]).
func strMatch(L *lua.LState) int {
	s, p, init := findArgs(L)
	return findPattern(L, s, p, init, false)
}

// findPattern is the matching part of find and match.
func findPattern(L *lua.LState, s, p string, init int, find bool) int {
	p, anchor := strings.CutPrefix(p, "^")
	m := newMatcher(L.Context(), s, p, anchor)
	start, end := m.exec(init)
	switch end {
	case aborted:
		raiseMatch(L, &m)
	case noMatch:
		L.Push(lua.LNil)
		return 1
	}
	if find {
		L.Push(lua.LNumber(start + 1))
		L.Push(lua.LNumber(end))
		return 2 + pushCaptures(L, &m, start, end, false)
	}
	return pushCaptures(L, &m, start, end, true)
}

// strGmatch is string.gmatch(s, pattern): an iterator over the matches. A
// '^' there is an ordinary character, as in Lua 5.1.
func strGmatch(L *lua.LState) int {
	s := checkString(L, 1)
	p := checkString(L, 2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if pos > len(s) {
			return 0
		}
		m := newMatcher(L.Context(), s, p, false)
		start, end := m.exec(pos)
		switch end {
		case aborted:
			raiseMatch(L, &m)
		case noMatch:
			pos = len(s) + 1
			return 0
		}
		pos = end
		if end == start {
			pos++ // an empty match: go on at the next character
		}
		return pushCaptures(L, &m, start, end, true)
	}))
	return 1
}

// gsub is string.gsub(s, pattern, repl [, n]).
func (x *lib) gsub(L *lua.LState) int {
	src := checkString(L, 1)
	p := checkString(L, 2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTNumber, lua.LTString, lua.LTFunction, lua.LTTable:
	default:
		argError(L, 3, "string/function/table expected")
	}
	maxN := optInt(L, 4, len(src)+1)
	p, anchor := strings.CutPrefix(p, "^")
	m := newMatcher(L.Context(), src, p, anchor)
	b := builder{budget: x.budget}
	if err := b.reserve(len(src)); err != nil {
		raise(L, err.Error())
	}
	var rs string // a string or number repl, converted once
	switch r := repl.(type) {
	case lua.LString:
		rs = string(r)
	case lua.LNumber:
		rs = numberString(float64(r))
	}
	n, s := 0, 0
	for n < maxN {
		start, e := m.exec(s)
		if e == aborted {
			raiseMatch(L, &m)
		}
		if e == noMatch {
			break
		}
		n++
		x.add(L, &b, src[s:start])
		x.addValue(L, &b, &m, start, e, repl, rs)
		switch {
		case e > start:
			s = e
		case start < len(src):
			// An empty match: the character after it is kept.
			x.add(L, &b, src[start:start+1])
			s = start + 1
		default:
			s = len(src) + 1
		}
		if s > len(src) || anchor {
			break
		}
	}
	if s < len(src) {
		x.add(L, &b, src[s:])
	}
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(n))
	return 2
}

// add appends s to b or raises the Budget's refusal.
func (x *lib) add(L *lua.LState, b *builder, s string) {
	if err := b.appendString(s); err != nil {
		raise(L, err.Error())
	}
}

// addStringLike appends the string or number v, a number as Lua 5.1
// writes it.
func (x *lib) addStringLike(L *lua.LState, b *builder, v lua.LValue) {
	if err := b.reserve(stringLen(v)); err != nil {
		raise(L, err.Error())
	}
	b.buf = appendValue(b.buf, v)
}

// addValue appends the replacement of the match [s, e) as Lua 5.1's
// add_value does.
func (x *lib) addValue(L *lua.LState, b *builder, m *matcher, s, e int, repl lua.LValue, rs string) {
	var v lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		x.addString(L, b, m, s, e, rs)
		return
	case *lua.LTable:
		v = L.GetTable(r, captureValue(L, m, 0, s, e))
	case *lua.LFunction:
		L.Push(r)
		n := pushCaptures(L, m, s, e, true)
		L.Call(n, 1)
		v = L.Get(-1)
		L.Pop(1)
	}
	switch r := v.(type) {
	case lua.LString, lua.LNumber:
		x.addStringLike(L, b, r)
	case *lua.LNilType:
		x.add(L, b, m.src[s:e])
	case lua.LBool:
		if !r {
			x.add(L, b, m.src[s:e])
			return
		}
		raise(L, "invalid replacement value (a boolean)")
	default:
		raise(L, "invalid replacement value (a "+v.Type().String()+")")
	}
}

// addString appends a string replacement: %0-%9 are captures, %% and any
// other %x are x. A final lone % adds a zero byte, as Lua 5.1 (which reads
// the string's terminator there) does.
func (x *lib) addString(L *lua.LState, b *builder, m *matcher, s, e int, rs string) {
	for len(rs) > 0 {
		i := strings.IndexByte(rs, '%')
		if i < 0 {
			x.add(L, b, rs)
			return
		}
		x.add(L, b, rs[:i])
		var c byte
		if i+1 < len(rs) {
			c = rs[i+1]
			rs = rs[i+2:]
		} else {
			rs = ""
		}
		switch {
		case c == '0':
			x.add(L, b, m.src[s:e])
		case c >= '1' && c <= '9':
			x.addStringLike(L, b, captureValue(L, m, int(c-'1'), s, e))
		default:
			if err := b.appendByte(c); err != nil {
				raise(L, err.Error())
			}
		}
	}
}
