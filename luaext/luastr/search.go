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

// firstLiteral returns the byte every match of the (unanchored) pattern
// must start with, or -1 when the first item is not one plain character
// that must be there.
func firstLiteral(pat string) int {
	if pat == "" {
		return -1
	}
	switch c := pat[0]; c {
	case '(', ')', '%', '[', '.':
		return -1
	case '$':
		if len(pat) == 1 {
			return -1
		}
	}
	if len(pat) > 1 {
		switch pat[1] {
		case '?', '*', '-':
			return -1
		}
	}
	return int(pat[0])
}

// exec looks for the first match that starts at init or after (only at
// init when anchored) and returns its start and end; end is noMatch or
// aborted when there is none.
func (m *matcher) exec(init int, anchor bool) (start, end int) {
	if anchor {
		m.reset()
		return init, m.match(init, 0)
	}
	if !strings.ContainsAny(m.pat, matcherSpecials) {
		// A plain string: the same result, found by strings.Index.
		if i := strings.Index(m.src[init:], m.pat); i >= 0 {
			return init + i, init + i + len(m.pat)
		}
		return -1, noMatch
	}
	first := firstLiteral(m.pat)
	for s := init; s <= len(m.src); s++ {
		if first >= 0 {
			i := strings.IndexByte(m.src[s:], byte(first))
			if i < 0 {
				return -1, noMatch
			}
			s += i
		}
		m.reset()
		if e := m.match(s, 0); e != noMatch {
			return s, e
		}
	}
	return -1, noMatch
}
