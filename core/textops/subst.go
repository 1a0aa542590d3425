package textops

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// substExpr is a parsed sed-like expression "/re/replacement/flags".
type substExpr struct {
	re     *regexp.Regexp
	repl   []replTok
	global bool
}

type replKind uint8

const (
	replLit   replKind = iota // literal text
	replGroup                 // \0 .. \9
	replURI                   // \u: the Request-URI
	replPV                    // text with pseudo-variables
)

type replTok struct {
	kind  replKind
	lit   string
	group int
	pv    *kemi.Format
}

// parsedSubst is a cached result of compileSubst.
type parsedSubst struct {
	se  *substExpr
	err error
}

// parseSubst returns the parsed form of a sed-like expression, from the
// cache when the same text was parsed before (see compileSubst).
func (mod *Module) parseSubst(s string) (*substExpr, error) {
	p := mod.substs.Get(s, func() parsedSubst {
		se, err := mod.compileSubst(s)
		return parsedSubst{se, err}
	})
	return p.se, p.err
}

// compileSubst parses "/re/replacement/flags". The first character is the
// separator (any but '\'); the regular expression ends at the first
// separator not preceded by '\'. In the replacement \1..\9 are the
// groups, \0 the whole match, \u the Request-URI, \n \r \t \\ \$ those
// characters and any other \c the character c; pseudo-variables ($rU,
// $avp(x), ...) are replaced by their value. Flags: i (ignore case), g
// (replace every match), s (let '.' match newlines and '^' '$' only the
// ends of the text).
func (mod *Module) compileSubst(s string) (*substExpr, error) {
	if len(s) < 3 {
		return nil, fmt.Errorf("expression %q is too short", s)
	}
	sep := s[0]
	if sep == '\\' {
		return nil, fmt.Errorf("invalid separator '\\' in %q", s)
	}
	i := 1
	for ; i < len(s); i++ {
		if s[i] == sep && s[i-1] != '\\' {
			break
		}
	}
	if i >= len(s) {
		return nil, fmt.Errorf("no separator found in %q", s)
	}
	pat := s[1:i]
	if i+2 > len(s) {
		return nil, fmt.Errorf("expression %q is too short", s)
	}
	if !isPunct(sep) {
		// "\x" for a letter or digit separator means the separator itself;
		// RE2 would read it as an escape sequence
		pat = strings.ReplaceAll(pat, `\`+string(sep), string(sep))
	}

	se := &substExpr{}
	var lit strings.Builder
	flush := func() error {
		if lit.Len() == 0 {
			return nil
		}
		text := lit.String()
		lit.Reset()
		if strings.IndexByte(text, '$') < 0 {
			se.repl = append(se.repl, replTok{kind: replLit, lit: text})
			return nil
		}
		f, err := mod.pvs.CompileFormat(text)
		if err != nil {
			return fmt.Errorf("bad pseudo-variable in replacement %q: %w", text, err)
		}
		se.repl = append(se.repl, replTok{kind: replPV, pv: f})
		return nil
	}
	j := i + 1
	closed := false
	for ; j < len(s); j++ {
		c := s[j]
		if c == sep {
			closed = true
			break
		}
		if c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		j++
		if j >= len(s) {
			break
		}
		switch e := s[j]; e {
		case 'n':
			se.repl = append(se.repl, replTok{kind: replLit, lit: "\n"})
		case 'r':
			se.repl = append(se.repl, replTok{kind: replLit, lit: "\r"})
		case 't':
			se.repl = append(se.repl, replTok{kind: replLit, lit: "\t"})
		case 'u':
			se.repl = append(se.repl, replTok{kind: replURI})
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			se.repl = append(se.repl, replTok{kind: replGroup, group: int(e - '0')})
		default:
			se.repl = append(se.repl, replTok{kind: replLit, lit: string(e)})
		}
	}
	if !closed {
		return nil, fmt.Errorf("missing separator after the replacement in %q", s)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	fl := kemi.RegexNewline
	for _, f := range []byte(s[j+1:]) {
		switch f {
		case 'i':
			fl |= kemi.RegexICase
		case 's':
			fl &^= kemi.RegexNewline
		case 'g':
			se.global = true
		default:
			return nil, fmt.Errorf("unknown flag %q in %q", f, s)
		}
	}
	re, err := mod.cache.Get(pat, fl)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %w", pat, err)
	}
	se.re = re
	return se, nil
}

func isPunct(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')
}

// run applies the expression to in. It returns the result and the number
// of replacements; an empty match is an error, as in Kamailio.
func (se *substExpr) run(m *kemi.Msg, in string) (string, int, error) {
	n := 1
	if se.global {
		n = -1
	}
	matches := se.re.FindAllStringSubmatchIndex(in, n)
	if len(matches) == 0 {
		return in, 0, nil
	}
	var b strings.Builder
	last := 0
	for _, loc := range matches {
		if loc[0] == loc[1] {
			return in, 0, fmt.Errorf("the expression matched an empty string")
		}
		b.WriteString(in[last:loc[0]])
		for _, t := range se.repl {
			switch t.kind {
			case replLit:
				b.WriteString(t.lit)
			case replGroup:
				if 2*t.group+1 < len(loc) && loc[2*t.group] >= 0 {
					b.WriteString(in[loc[2*t.group]:loc[2*t.group+1]])
				}
			case replURI:
				b.WriteString(m.RURI())
			case replPV:
				b.WriteString(t.pv.Eval(m))
			}
		}
		last = loc[1]
	}
	b.WriteString(in[last:])
	return b.String(), len(matches), nil
}

// substitute parses expr and applies it to in, logging errors as fn.
// ok is false after an error; n is the number of replacements.
func (mod *Module) substitute(m *kemi.Msg, fn, expr, in string) (out string, n int, ok bool) {
	se, err := mod.parseSubst(expr)
	if err != nil {
		mod.reErrors.Inc()
		m.Errorf(mod.log, "%s: %v", fn, err)
		return in, 0, false
	}
	out, n, err = se.run(m, in)
	if err != nil {
		m.Errorf(mod.log, "%s: %q: %v", fn, expr, err)
		return in, 0, false
	}
	return out, n, true
}
