package textops

import (
	"regexp"
	"regexp/syntax"
	"sync"
)

// reFlags are the POSIX regcomp flags Kamailio uses.
type reFlags uint8

const (
	// reICase is REG_ICASE.
	reICase reFlags = 1 << iota
	// reNewline is REG_NEWLINE: '^' and '$' match at line breaks, and
	// neither '.' nor a non-matching list such as [^a] matches a newline.
	reNewline
)

// compileRE compiles a POSIX extended regular expression the closest way
// RE2 allows: the pattern is parsed with Go's syntax (a superset of ERE
// without back-references), the REG_* flags are mapped to parser flags,
// and matching prefers the leftmost-longest match as POSIX does.
func compileRE(pat string, fl reFlags) (*regexp.Regexp, error) {
	sf := syntax.PerlX | syntax.UnicodeGroups
	if fl&reICase != 0 {
		sf |= syntax.FoldCase
	}
	if fl&reNewline == 0 {
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

// reCache is a bounded cache of compiled expressions, safe for concurrent
// use. It keeps two generations: a lookup that hits the old one moves the
// entry to the new one, and when the new one is full the old one is
// dropped. Scripts that build expressions at run time therefore cannot
// grow memory without limit, while the expressions in steady use stay.
type reCache struct {
	mu   sync.Mutex
	cur  map[reKey]reEntry
	old  map[reKey]reEntry
	half int
}

type reKey struct {
	pat string
	fl  reFlags
}

type reEntry struct {
	re  *regexp.Regexp
	err error
}

// maxCachedRE bounds the number of cached expressions.
const maxCachedRE = 1024

func newRECache(max int) *reCache {
	if max < 2 {
		max = 2
	}
	return &reCache{cur: map[reKey]reEntry{}, old: map[reKey]reEntry{}, half: max / 2}
}

// get returns the compiled expression; invalid ones are cached too, with
// their error.
func (c *reCache) get(pat string, fl reFlags) (*regexp.Regexp, error) {
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
	re, err := compileRE(pat, fl)
	c.mu.Lock()
	c.put(k, reEntry{re, err})
	c.mu.Unlock()
	return re, err
}

// put stores an entry in the current generation; c.mu is held.
func (c *reCache) put(k reKey, e reEntry) {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[reKey]reEntry, c.half)
	}
	c.cur[k] = e
}

// len returns the number of cached expressions.
func (c *reCache) len() int {
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
