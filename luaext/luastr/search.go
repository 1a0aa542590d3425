package luastr

import (
	"strings"
)

// matcherSpecials are the characters the matcher treats specially: Lua's
// specials and ')', which find's plain-search test leaves out.
const matcherSpecials = specials + ")"

// hasSpecials reports whether find must use the matcher for p. Lua 5.1
// looks for specials with strpbrk, which stops at the first zero byte.
func hasSpecials(p string) bool {
	if i := strings.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return strings.ContainsAny(p, specials)
}

// startFilter finds the subject positions where a match can start, from
// the pattern's first item when that item must match one character: a
// plain character (found with IndexByte) or a class or set. It lets exec
// skip the positions where the matcher would fail at once. A pattern
// without specials is found whole by strings.Index.
type startFilter struct {
	kind int  // filterUnset, filterNone, filterByte, filterClass or filterPlain
	lit  byte // filterByte's character
	ep   int  // end of filterClass's class in the pattern
}

const (
	filterUnset = iota // not looked at yet
	filterNone
	filterByte
	filterClass
	filterPlain
)

// newStartFilter looks at the first item of the (unanchored) pattern.
func newStartFilter(pat string) startFilter {
	if !strings.ContainsAny(pat, matcherSpecials) {
		return startFilter{kind: filterPlain}
	}
	switch c := pat[0]; c {
	case '(', ')', '.':
		return startFilter{kind: filterNone}
	case '$':
		if len(pat) == 1 {
			return startFilter{kind: filterNone}
		}
	case '%':
		if len(pat) > 1 {
			if c := pat[1]; c == 'b' || c == 'f' || (c >= '0' && c <= '9') {
				return startFilter{kind: filterNone}
			}
		}
	}
	ep, err := classEnd(pat, 0)
	if err != nil {
		return startFilter{kind: filterNone} // the matcher raises the error
	}
	if ep < len(pat) {
		switch pat[ep] {
		case '?', '*', '-':
			return startFilter{kind: filterNone}
		}
	}
	if ep == 1 {
		return startFilter{kind: filterByte, lit: pat[0]}
	}
	return startFilter{kind: filterClass, ep: ep}
}

// next returns the first position at s or after where a match can start,
// or -1 when there is none.
func (f startFilter) next(src, pat string, s int) int {
	switch f.kind {
	case filterByte:
		i := strings.IndexByte(src[s:], f.lit)
		if i < 0 {
			return -1
		}
		return s + i
	case filterClass:
		for ; s < len(src); s++ {
			if singleMatch(src[s], pat, 0, f.ep) {
				return s
			}
		}
		return -1
	}
	return s
}

// exec looks for the first match that starts at init or after (only at
// init when anchored) and returns its start and end; end is noMatch or
// aborted when there is none. find, match, gmatch and gsub all search
// with it.
func (m *matcher) exec(init int) (start, end int) {
	if m.anchor {
		m.reset()
		return init, m.match(init, 0)
	}
	if m.start.kind == filterUnset {
		m.start = newStartFilter(m.pat)
	}
	if m.start.kind == filterPlain {
		// The same result as the matcher's, found by strings.Index.
		if i := strings.Index(m.src[init:], m.pat); i >= 0 {
			return init + i, init + i + len(m.pat)
		}
		return -1, noMatch
	}
	for s := init; s <= len(m.src); s++ {
		if s = m.start.next(m.src, m.pat, s); s < 0 {
			return -1, noMatch
		}
		m.reset()
		if e := m.match(s, 0); e != noMatch {
			return s, e
		}
	}
	return -1, noMatch
}
