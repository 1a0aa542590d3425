package luaext

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/yuin/gopher-lua/parse"
)

// SyntaxError is a script that does not compile.
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// syntaxError turns gopher-lua's parse error into file:line form, with a hint
// when the script uses Lua 5.3+ syntax. An error at the end of the file
// that leaves a block open says which block, in Lua 5.1's words, since
// gopher-lua only says where the file ends.
func syntaxError(name string, src []byte, err error) error {
	var perr *parse.Error
	if !errors.As(err, &perr) {
		return &SyntaxError{File: name, Msg: strings.TrimSpace(err.Error())}
	}
	msg := strings.TrimSpace(perr.Message)
	if perr.Token != "" {
		msg += " near '" + perr.Token + "'"
	}
	switch perr.Token {
	case "/", "&", "|", "~", "<", ">", "<<", ">>", "//":
		msg += " (Lua 5.3+ operators such as // & | ~ << >> are not Lua 5.1: kemi runs Lua 5.1)"
	}
	line := perr.Pos.Line
	if line != parse.EOF {
		return &SyntaxError{File: name, Line: line, Column: perr.Pos.Column, Msg: msg}
	}
	// at end of file: point at the last line
	line = bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n")) + 1
	if open, ok := openAtEOF(src); ok {
		return &SyntaxError{File: name, Line: line, Msg: open.expected(line)}
	}
	return &SyntaxError{File: name, Line: line, Column: perr.Pos.Column, Msg: "unexpected end of file: " + msg}
}

// openBlock is a block or bracket that the text opens and has not closed.
type openBlock struct {
	what  string // the token that opened it: function, if, (, ...
	close string // the token that closes it: end, until, )
	line  int
	// want is the token the block needs before its body: do after while
	// and for, then after if and elseif
	want string
}

// expected words what is missing as Lua 5.1's parser does, for an error
// reported at line.
func (b openBlock) expected(line int) string {
	if b.want != "" {
		return fmt.Sprintf("'%s' expected near '<eof>'", b.want)
	}
	if b.line == line {
		return fmt.Sprintf("'%s' expected near '<eof>'", b.close)
	}
	return fmt.Sprintf("'%s' expected (to close '%s' at line %d) near '<eof>'", b.close, b.what, b.line)
}

// openAtEOF scans the tokens of src (skipping strings, long strings and
// comments) and returns the innermost block still open at its end. It
// reports false when nothing is open or the text ends inside a string or
// comment.
func openAtEOF(src []byte) (openBlock, bool) {
	var stack []openBlock
	line := 1
	push := func(what, close, want string) {
		stack = append(stack, openBlock{what: what, close: close, line: line, want: want})
	}
	pop := func() {
		if len(stack) > 0 {
			stack = stack[:len(stack)-1]
		}
	}
	top := func() *openBlock {
		if len(stack) == 0 {
			return nil
		}
		return &stack[len(stack)-1]
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			i += 2
			if lvl, ok := longBracket(src, i); ok {
				end, nl, closed := skipLong(src, i, lvl)
				if !closed {
					return openBlock{}, false
				}
				i, line = end, line+nl
				continue
			}
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '[':
			if lvl, ok := longBracket(src, i); ok {
				end, nl, closed := skipLong(src, i, lvl)
				if !closed {
					return openBlock{}, false
				}
				i, line = end, line+nl
				continue
			}
			push("[", "]", "")
			i++
		case c == '"' || c == '\'':
			i++
			for i < len(src) && src[i] != c {
				if src[i] == '\n' {
					return openBlock{}, false // unfinished string
				}
				if src[i] == '\\' && i+1 < len(src) {
					if src[i+1] == '\n' {
						line++
					}
					i++
				}
				i++
			}
			if i >= len(src) {
				return openBlock{}, false
			}
			i++
		case c == '(':
			push("(", ")", "")
			i++
		case c == '{':
			push("{", "}", "")
			i++
		case c == ')' || c == '}' || c == ']':
			pop()
			i++
		case isIdentStart(c):
			j := i
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			switch string(src[i:j]) {
			case "function":
				push("function", "end", "")
			case "if":
				push("if", "end", "then")
			case "elseif":
				if b := top(); b != nil {
					b.want = "then"
				}
			case "then":
				if b := top(); b != nil && b.want == "then" {
					b.want = ""
				}
			case "while":
				push("while", "end", "do")
			case "for":
				push("for", "end", "do")
			case "do":
				if b := top(); b != nil && b.want == "do" {
					b.want = ""
				} else {
					push("do", "end", "")
				}
			case "repeat":
				push("repeat", "until", "")
			case "end", "until":
				pop()
			}
			i = j
		case c >= '0' && c <= '9':
			// a number, with its exponent or hex digits
			for i < len(src) && (isIdentPart(src[i]) || src[i] == '.' ||
				((src[i] == '+' || src[i] == '-') && (src[i-1] == 'e' || src[i-1] == 'E'))) {
				i++
			}
		default:
			i++
		}
	}
	if len(stack) == 0 {
		return openBlock{}, false
	}
	return stack[len(stack)-1], true
}

// longBracket reports whether src[i:] starts a long bracket [[ or [==[,
// and its level.
func longBracket(src []byte, i int) (int, bool) {
	if i >= len(src) || src[i] != '[' {
		return 0, false
	}
	j := i + 1
	for j < len(src) && src[j] == '=' {
		j++
	}
	if j < len(src) && src[j] == '[' {
		return j - i - 1, true
	}
	return 0, false
}

// skipLong skips a long string or comment of level lvl that starts at i,
// returning the index after it and the newlines it holds.
func skipLong(src []byte, i, lvl int) (end, newlines int, closed bool) {
	closing := "]" + strings.Repeat("=", lvl) + "]"
	body := src[i+lvl+2:]
	k := bytes.Index(body, []byte(closing))
	if k < 0 {
		return len(src), bytes.Count(body, []byte("\n")), false
	}
	return i + lvl + 2 + k + len(closing), bytes.Count(body[:k], []byte("\n")), true
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}
