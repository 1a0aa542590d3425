package kemi

import (
	"regexp"
	"regexp/syntax"
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

// RegexCache is a bounded cache of compiled expressions, safe for
// concurrent use (see Cache).
type RegexCache struct {
	c *Cache[reKey, reEntry]
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
	return &RegexCache{NewCache[reKey, reEntry](max)}
}

// Get returns the compiled expression; invalid ones are cached too, with
// their error.
func (c *RegexCache) Get(pat string, fl RegexFlags) (*regexp.Regexp, error) {
	e := c.c.Get(reKey{pat, fl}, func() reEntry {
		re, err := CompileRegex(pat, fl)
		return reEntry{re, err}
	})
	return e.re, e.err
}

// Len returns the number of cached expressions.
func (c *RegexCache) Len() int { return c.c.Len() }
