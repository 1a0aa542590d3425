package luastr

import (
	"context"
	"errors"
)

// The matcher interprets a Lua 5.1 pattern directly, as the reference
// implementation does (no compile step, no allocation), so that malformed
// patterns are reported only when matching reaches the bad item, exactly
// when Lua 5.1 reports them.

const (
	// maxCaptures is Lua 5.1's LUA_MAXCAPTURES.
	maxCaptures = 32
	// maxMatchDepth bounds the matcher's recursion (quantifiers and
	// captures nest one level each), as Lua 5.2's MAXCCALLS does, so a long
	// pattern cannot exhaust the goroutine's stack.
	maxMatchDepth = 200
	// checkEvery is how many matcher steps pass between two looks at the
	// context.
	checkEvery = 1024

	// Results of match besides a position in the subject.
	noMatch = -1
	aborted = -2

	// Capture lengths that are not lengths.
	capUnfinished = -1
	capPosition   = -2
)

// Pattern errors, worded as Lua 5.1 words them.
var (
	errEndsWithPercent = errors.New("malformed pattern (ends with '%')")
	errMissingBracket  = errors.New("malformed pattern (missing ']')")
	errCaptureIndex    = errors.New("invalid capture index")
	errPatternCapture  = errors.New("invalid pattern capture")
	errUnfinished      = errors.New("unfinished capture")
	errTooManyCaptures = errors.New("too many captures")
	errFrontier        = errors.New("missing '[' after '%f' in pattern")
	errUnbalanced      = errors.New("unbalanced pattern")
	errTooComplex      = errors.New("pattern too complex")
)

// specials are the characters that make find use the matcher (Lua 5.1's
// SPECIALS).
const specials = "^$*+?.([%-"

type capture struct {
	init int
	len  int // or capUnfinished, capPosition
}

// matcher holds one match attempt's state. It lives on its caller's stack;
// gsub's replacement function may start another one while it is in use.
type matcher struct {
	src     string
	pat     string
	anchor  bool        // matches start at exec's init only
	start   startFilter // where an unanchored match can start, set by exec
	level   int
	depth   int
	steps   int
	ctx     context.Context
	err     error
	capture [maxCaptures]capture
}

// newMatcher prepares a match of pat against src; anchored, it is tried
// at exec's init only (the caller has removed the '^'). Lua 5.1 reads a
// pattern as a C string, so it ends at its first zero byte.
func newMatcher(ctx context.Context, src, pat string, anchor bool) matcher {
	for i := 0; i < len(pat); i++ {
		if pat[i] == 0 {
			pat = pat[:i]
			break
		}
	}
	return matcher{src: src, pat: pat, anchor: anchor, steps: checkEvery, ctx: ctx}
}

// fail records err and returns aborted, which every caller passes up as
// it would pass up a match.
func (m *matcher) fail(err error) int {
	if m.err == nil {
		m.err = err
	}
	return aborted
}

// tick counts n steps of work and reports whether the context is done.
func (m *matcher) tick(n int) bool {
	m.steps -= n
	if m.steps > 0 {
		return false
	}
	m.steps = checkEvery
	if m.ctx == nil {
		return false
	}
	if err := m.ctx.Err(); err != nil {
		m.err = err
		return true
	}
	return false
}

// reset prepares a new attempt at another subject position.
func (m *matcher) reset() {
	m.level = 0
	m.depth = 0
}

// match matches the pattern from index p against the subject from index s
// and returns the end of the match, noMatch or aborted.
func (m *matcher) match(s, p int) int {
	if m.depth >= maxMatchDepth {
		return m.fail(errTooComplex)
	}
	m.depth++
	r := m.doMatch(s, p)
	m.depth--
	return r
}

func (m *matcher) doMatch(s, p int) int {
	pat, src := m.pat, m.src
	for {
		m.steps--
		if m.steps <= 0 && m.tick(0) {
			return aborted
		}
		if p == len(pat) {
			return s
		}
		switch pat[p] {
		case '(':
			if p+1 < len(pat) && pat[p+1] == ')' {
				return m.startCapture(s, p+2, capPosition)
			}
			return m.startCapture(s, p+1, capUnfinished)
		case ')':
			return m.endCapture(s, p+1)
		case '$':
			if p+1 == len(pat) {
				if s == len(src) {
					return s
				}
				return noMatch
			}
		case '%':
			if p+1 < len(pat) {
				switch c := pat[p+1]; {
				case c == 'b':
					s = m.matchBalance(s, p+2)
					if s < 0 {
						return s
					}
					p += 4
					continue
				case c == 'f':
					p += 2
					if p == len(pat) || pat[p] != '[' {
						return m.fail(errFrontier)
					}
					ep := m.classEnd(p)
					if ep < 0 {
						return ep
					}
					var prev, cur byte
					if s > 0 {
						prev = src[s-1]
					}
					if s < len(src) {
						cur = src[s]
					}
					if matchBracket(prev, pat, p, ep-1) || !matchBracket(cur, pat, p, ep-1) {
						return noMatch
					}
					p = ep
					continue
				case c >= '0' && c <= '9':
					s = m.matchBackref(s, c)
					if s < 0 {
						return s
					}
					p += 2
					continue
				}
			}
		}
		// A single-character class, perhaps followed by a quantifier.
		ep := m.classEnd(p)
		if ep < 0 {
			return ep
		}
		ok := s < len(src) && singleMatch(src[s], pat, p, ep)
		if ep < len(pat) {
			switch pat[ep] {
			case '?':
				if ok {
					if r := m.match(s+1, ep+1); r != noMatch {
						return r
					}
				}
				p = ep + 1
				continue
			case '*':
				return m.maxExpand(s, p, ep)
			case '+':
				if !ok {
					return noMatch
				}
				return m.maxExpand(s+1, p, ep)
			case '-':
				return m.minExpand(s, p, ep)
			}
		}
		if !ok {
			return noMatch
		}
		s++
		p = ep
	}
}

// classEnd returns the index just past the single-character class at p.
func (m *matcher) classEnd(p int) int {
	ep, err := classEnd(m.pat, p)
	if err != nil {
		return m.fail(err)
	}
	return ep
}

// classEnd returns the index just past the single-character class at
// pat[p], or the error that makes it malformed.
func classEnd(pat string, p int) (int, error) {
	c := pat[p]
	p++
	switch c {
	case '%':
		if p == len(pat) {
			return 0, errEndsWithPercent
		}
		return p + 1, nil
	case '[':
		if p < len(pat) && pat[p] == '^' {
			p++
		}
		// The first character is a member even when it is ']'.
		for {
			if p >= len(pat) {
				return 0, errMissingBracket
			}
			c := pat[p]
			p++
			if c == '%' && p < len(pat) {
				p++
			}
			if p < len(pat) && pat[p] == ']' {
				return p + 1, nil
			}
		}
	}
	return p, nil
}

func (m *matcher) maxExpand(s, p, ep int) int {
	src := m.src
	n := 0
	if m.pat[p] == '.' {
		n = len(src) - s
	} else {
		for s+n < len(src) && singleMatch(src[s+n], m.pat, p, ep) {
			n++
		}
	}
	if m.tick(n / 8) {
		return aborted
	}
	for ; n >= 0; n-- {
		if r := m.match(s+n, ep+1); r != noMatch {
			return r
		}
	}
	return noMatch
}

func (m *matcher) minExpand(s, p, ep int) int {
	for {
		if r := m.match(s, ep+1); r != noMatch {
			return r
		}
		if s < len(m.src) && singleMatch(m.src[s], m.pat, p, ep) {
			s++
			continue
		}
		return noMatch
	}
}

func (m *matcher) startCapture(s, p, what int) int {
	if m.level >= maxCaptures {
		return m.fail(errTooManyCaptures)
	}
	m.capture[m.level] = capture{init: s, len: what}
	m.level++
	r := m.match(s, p)
	if r == noMatch {
		m.level--
	}
	return r
}

func (m *matcher) endCapture(s, p int) int {
	l := -1
	for i := m.level - 1; i >= 0; i-- {
		if m.capture[i].len == capUnfinished {
			l = i
			break
		}
	}
	if l < 0 {
		return m.fail(errPatternCapture)
	}
	m.capture[l].len = s - m.capture[l].init
	r := m.match(s, p)
	if r == noMatch {
		m.capture[l].len = capUnfinished
	}
	return r
}

// matchBalance matches %bxy, whose x is at p.
func (m *matcher) matchBalance(s, p int) int {
	pat, src := m.pat, m.src
	if p+1 >= len(pat) {
		return m.fail(errUnbalanced)
	}
	if s >= len(src) || src[s] != pat[p] {
		return noMatch
	}
	open, close := pat[p], pat[p+1]
	depth := 1
	for i := s + 1; i < len(src); i++ {
		switch src[i] {
		case close:
			depth--
			if depth == 0 {
				if m.tick((i - s) / 8) {
					return aborted
				}
				return i + 1
			}
		case open:
			depth++
		}
	}
	if m.tick((len(src) - s) / 8) {
		return aborted
	}
	return noMatch
}

// matchBackref matches %1..%9 (c is the digit).
func (m *matcher) matchBackref(s int, c byte) int {
	l := int(c) - '1'
	if l < 0 || l >= m.level || m.capture[l].len == capUnfinished {
		return m.fail(errCaptureIndex)
	}
	cp := m.capture[l]
	if cp.len == capPosition {
		// Lua 5.1 compares with a length of (size_t)-2: never a match.
		return noMatch
	}
	if len(m.src)-s >= cp.len && m.src[cp.init:cp.init+cp.len] == m.src[s:s+cp.len] {
		if m.tick(cp.len / 8) {
			return aborted
		}
		return s + cp.len
	}
	return noMatch
}

// singleMatch reports whether c matches the class pat[p:ep].
func singleMatch(c byte, pat string, p, ep int) bool {
	switch pat[p] {
	case '.':
		return true
	case '%':
		return matchClass(c, pat[p+1])
	case '[':
		return matchBracket(c, pat, p, ep-1)
	}
	return pat[p] == c
}

// matchBracket reports whether c is in the set pat[p:ec+1], which begins
// with '[' at p and ends with ']' at ec.
func matchBracket(c byte, pat string, p, ec int) bool {
	in := true
	if pat[p+1] == '^' {
		in = false
		p++
	}
	for p++; p < ec; p++ {
		switch {
		case pat[p] == '%':
			p++
			if matchClass(c, pat[p]) {
				return in
			}
		case pat[p+1] == '-' && p+2 < ec:
			p += 2
			if pat[p-2] <= c && c <= pat[p] {
				return in
			}
		case pat[p] == c:
			return in
		}
	}
	return !in
}

// Character class bits, for the C locale Lua runs in.
const (
	clAlpha = 1 << iota
	clCntrl
	clDigit
	clLower
	clPunct
	clSpace
	clUpper
	clXdigit
)

var classTable = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		var b uint8
		switch {
		case c >= 'a' && c <= 'z':
			b |= clAlpha | clLower
		case c >= 'A' && c <= 'Z':
			b |= clAlpha | clUpper
		case c >= '0' && c <= '9':
			b |= clDigit
		}
		if c < 32 || c == 127 {
			b |= clCntrl
		}
		if c >= 33 && c <= 126 && b&(clAlpha|clDigit) == 0 {
			b |= clPunct
		}
		if c == ' ' || (c >= '\t' && c <= '\r') {
			b |= clSpace
		}
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') {
			b |= clXdigit
		}
		t[c] = b
	}
	return t
}()

// matchClass reports whether c matches %cl.
func matchClass(c, cl byte) bool {
	var res bool
	bits := classTable[c]
	switch cl | 0x20 {
	case 'a':
		res = bits&clAlpha != 0
	case 'c':
		res = bits&clCntrl != 0
	case 'd':
		res = bits&clDigit != 0
	case 'l':
		res = bits&clLower != 0
	case 'p':
		res = bits&clPunct != 0
	case 's':
		res = bits&clSpace != 0
	case 'u':
		res = bits&clUpper != 0
	case 'w':
		res = bits&(clAlpha|clDigit) != 0
	case 'x':
		res = bits&clXdigit != 0
	case 'z':
		res = c == 0
	default:
		return cl == c
	}
	if classTable[cl]&clUpper != 0 {
		return !res
	}
	return res
}
