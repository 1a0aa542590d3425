package kemi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// PVClass is one kind of pseudo-variable, such as $ru or $hdr(Name).
type PVClass struct {
	// Name is the name after "$": "ru", "hdr", "T_reply_code".
	Name string
	// Param says the variable takes a (name): $hdr(Via), $var(x).
	Param bool
	// RawParam keeps the param text as it is instead of expanding
	// pseudo-variables inside it ($T_req($fu) takes a PV name).
	RawParam bool
	// Get returns the value; Null when unset. Index handling is the
	// class's business (see PVName.Index).
	Get func(m *Msg, p *PVName) (Value, error)
	// Set assigns a value; a Null value means "unset". nil makes the
	// variable read-only.
	Set func(m *Msg, p *PVName, v Value) error
}

// PVName is a parsed pseudo-variable reference: $name, $name(param),
// $name(param)[index] or $(name(param)[index]).
type PVName struct {
	Class *PVClass
	// Text is the reference as written.
	Text string
	// Param is the text inside the parentheses.
	Param string
	// Index is the [n] index when HasIndex; IndexAll is [*].
	Index    int
	HasIndex bool
	IndexAll bool

	dyn *Format // Param with pseudo-variables inside
}

// Key returns the param with any pseudo-variables inside it expanded.
func (p *PVName) Key(m *Msg) string {
	if p.dyn != nil {
		return p.dyn.Eval(m)
	}
	return p.Param
}

// Get returns the value of the variable for m.
func (p *PVName) Get(m *Msg) (Value, error) {
	return p.Class.Get(m, p)
}

// ErrReadOnly is returned when setting a read-only pseudo-variable.
var ErrReadOnly = errors.New("read-only pseudo-variable")

// Set assigns v (Null to unset).
func (p *PVName) Set(m *Msg, v Value) error {
	if p.Class.Set == nil {
		return fmt.Errorf("%s: %w", p.Text, ErrReadOnly)
	}
	return p.Class.Set(m, p, v)
}

// PVTable holds the pseudo-variable classes of one engine and a bounded
// cache of parsed names. It is safe for concurrent use once registration
// (at ModInit) is over.
type PVTable struct {
	classes map[string]*PVClass
	cache   sync.Map
	cached  atomic.Int64
}

// maxCachedNames bounds the parsed-name cache: scripts that build names at
// run time (Kamailio's pv_cache leak) must not grow memory without limit.
const maxCachedNames = 4096

// NewPVTable returns an empty table.
func NewPVTable() *PVTable {
	return &PVTable{classes: make(map[string]*PVClass)}
}

// Register adds a class; a duplicate name is an error.
func (t *PVTable) Register(c PVClass) error {
	if c.Name == "" || c.Get == nil {
		return fmt.Errorf("kemi: pseudo-variable class %q needs a name and a getter", c.Name)
	}
	if _, dup := t.classes[c.Name]; dup {
		return fmt.Errorf("kemi: pseudo-variable $%s registered twice", c.Name)
	}
	cc := c
	t.classes[c.Name] = &cc
	return nil
}

// Class returns the class with that name.
func (t *PVTable) Class(name string) *PVClass { return t.classes[name] }

// Names returns the registered class names.
func (t *PVTable) Names() []string {
	out := make([]string, 0, len(t.classes))
	for n := range t.classes {
		out = append(out, n)
	}
	return out
}

// Parse parses one pseudo-variable reference such as "$hdr(Via)[1]". The
// whole string must be the reference.
func (t *PVTable) Parse(s string) (*PVName, error) {
	if v, ok := t.cache.Load(s); ok {
		return v.(*PVName), nil
	}
	p, n, err := t.parseAt(s)
	if err != nil {
		return nil, err
	}
	if n != len(s) {
		return nil, fmt.Errorf("invalid pseudo-variable %q: unexpected %q", s, s[n:])
	}
	if t.cached.Load() < maxCachedNames {
		if _, loaded := t.cache.LoadOrStore(s, p); !loaded {
			t.cached.Add(1)
		}
	}
	return p, nil
}

// Get parses name and returns its value.
func (t *PVTable) Get(m *Msg, name string) (Value, error) {
	p, err := t.Parse(name)
	if err != nil {
		return Null, err
	}
	return p.Class.Get(m, p)
}

// Set parses name and assigns v (Null to unset).
func (t *PVTable) Set(m *Msg, name string, v Value) error {
	p, err := t.Parse(name)
	if err != nil {
		return err
	}
	return p.Set(m, v)
}

func isPVNameChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parseAt parses a reference at the start of s and returns how many bytes
// it used.
func (t *PVTable) parseAt(s string) (*PVName, int, error) {
	if len(s) < 2 || s[0] != '$' {
		return nil, 0, fmt.Errorf("invalid pseudo-variable %q: must start with $", s)
	}
	if s[1] == '(' {
		// $(name(param)[idx]) -- the long form
		end := matchParen(s, 1)
		if end < 0 {
			return nil, 0, fmt.Errorf("invalid pseudo-variable %q: unbalanced parentheses", s)
		}
		inner := "$" + s[2:end]
		p, n, err := t.parseAt(inner)
		if err != nil {
			return nil, 0, err
		}
		if n != len(inner) {
			return nil, 0, fmt.Errorf("invalid pseudo-variable %q: transformations are not supported", s)
		}
		p.Text = s[:end+1]
		return p, end + 1, nil
	}
	i := 1
	for i < len(s) && isPVNameChar(s[i]) {
		i++
	}
	name := s[1:i]
	if name == "" {
		return nil, 0, fmt.Errorf("invalid pseudo-variable %q", s)
	}
	c := t.classes[name]
	if c == nil {
		return nil, 0, fmt.Errorf("unknown pseudo-variable $%s", name)
	}
	p := &PVName{Class: c}
	if c.Param {
		if i >= len(s) || s[i] != '(' {
			return nil, 0, fmt.Errorf("pseudo-variable $%s needs a name in parentheses", name)
		}
		end := matchParen(s, i)
		if end < 0 {
			return nil, 0, fmt.Errorf("invalid pseudo-variable %q: unbalanced parentheses", s)
		}
		p.Param = s[i+1 : end]
		i = end + 1
		if !c.RawParam && strings.IndexByte(p.Param, '$') >= 0 {
			f, err := t.CompileFormat(p.Param)
			if err != nil {
				return nil, 0, err
			}
			p.dyn = f
		}
	}
	if i < len(s) && s[i] == '[' {
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return nil, 0, fmt.Errorf("invalid pseudo-variable %q: unclosed index", s)
		}
		idx := s[i+1 : i+end]
		if idx == "*" {
			p.IndexAll = true
		} else {
			n, err := strconv.Atoi(idx)
			if err != nil {
				return nil, 0, fmt.Errorf("invalid pseudo-variable %q: bad index %q", s, idx)
			}
			p.Index = n
		}
		p.HasIndex = true
		i += end + 1
	}
	p.Text = s[:i]
	return p, i, nil
}

// matchParen returns the index of the parenthesis closing the one at open.
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// Format is a text with pseudo-variables inside, compiled once (xlog).
type Format struct {
	parts []fmtPart
}

type fmtPart struct {
	lit string
	pv  *PVName
}

// CompileFormat parses text such as "from $fu to $ru\n". A "$" that does
// not start a known pseudo-variable is an error; "$$" is a literal "$".
func (t *PVTable) CompileFormat(s string) (*Format, error) {
	f := &Format{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		p, n, err := t.parseAt(s[i:])
		if err != nil {
			return nil, err
		}
		if lit.Len() > 0 {
			f.parts = append(f.parts, fmtPart{lit: lit.String()})
			lit.Reset()
		}
		f.parts = append(f.parts, fmtPart{pv: p})
		i += n
	}
	if lit.Len() > 0 {
		f.parts = append(f.parts, fmtPart{lit: lit.String()})
	}
	return f, nil
}

// Eval expands the format for m; unset variables print as "<null>".
func (f *Format) Eval(m *Msg) string {
	if len(f.parts) == 1 && f.parts[0].pv == nil {
		return f.parts[0].lit
	}
	var b strings.Builder
	for _, p := range f.parts {
		if p.pv == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.pv.Class.Get(m, p.pv)
		if err != nil || v.IsNull() {
			b.WriteString("<null>")
			continue
		}
		b.WriteString(v.String())
	}
	return b.String()
}
