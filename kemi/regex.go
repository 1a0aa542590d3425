package kemi

import (
	"regexp"
	"regexp/syntax"
	"sync"
)

// RegexFlags are the POSIX regcomp flags Kamailio uses.
type RegexFlags uint8

const (
	// RegexICase is REG_ICASE.
	RegexICase RegexFlags = 1 << iota
	// RegexNewline is REG_NEWLINE: '^' and '$' match at line breaks, and
	// neither '.' nor a non-matching list such as [^a] matches a newline.
	RegexNewline
)

// CompileRegex compiles a POSIX extended regular expression the closest way
// RE2 allows: the pattern is parsed with Go's syntax (a superset of ERE
// without back-references), the REG_* flags are mapped to parser flags,
// and matching prefers the leftmost-longest match as POSIX does.
func CompileRegex(pat string, fl RegexFlags) (*regexp.Regexp, error) {
	sf := syntax.PerlX | syntax.UnicodeGroups
	if fl&RegexICase != 0 {
		sf |= syntax.FoldCase
	}
	if fl&RegexNewline == 0 {
		sf |= syntax.OneLine | syntax.DotNL | syntax.ClassNL
	}
	tree, err := syntax.Parse(pat, sf)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return nil, err
	}
	re.Longest()
	return re, nil
}

// RegexCache is a bounded cache of compiled expressions, safe for concurrent
// use. It keeps two generations: a lookup that hits the old one moves the
// entry to the new one, and when the new one is full the old one is
// dropped. Scripts that build expressions at run time therefore cannot
// grow memory without limit, while the expressions in steady use stay.
type RegexCache struct {
	mu   sync.Mutex
	cur  map[reKey]reEntry
	old  map[reKey]reEntry
	half int
}

type reKey struct {
	pat string
	fl  RegexFlags
}

type reEntry struct {
	re  *regexp.Regexp
	err error
}

// NewRegexCache returns a cache of at most max expressions.
func NewRegexCache(max int) *RegexCache {
	if max < 2 {
		max = 2
	}
	return &RegexCache{cur: map[reKey]reEntry{}, old: map[reKey]reEntry{}, half: max / 2}
}

// Get returns the compiled expression; invalid ones are cached too, with
// their error.
func (c *RegexCache) Get(pat string, fl RegexFlags) (*regexp.Regexp, error) {
	k := reKey{pat, fl}
	c.mu.Lock()
	if e, ok := c.cur[k]; ok {
		c.mu.Unlock()
		return e.re, e.err
	}
	if e, ok := c.old[k]; ok {
		c.put(k, e)
		c.mu.Unlock()
		return e.re, e.err
	}
	c.mu.Unlock()
	re, err := CompileRegex(pat, fl)
	c.mu.Lock()
	c.put(k, reEntry{re, err})
	c.mu.Unlock()
	return re, err
}

// put stores an entry in the current generation; c.mu is held.
func (c *RegexCache) put(k reKey, e reEntry) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[reKey]reEntry, c.half)
	}
	c.cur[k] = e
}

// Len returns the number of cached expressions.
func (c *RegexCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.cur)
	for k := range c.old {
		if _, dup := c.cur[k]; !dup {
			n++
		}
	}
	return n
}
