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

// openAtEOF reads the tokens of src with gopher-lua's scanner (the one
// its parser reads, so strings, comments and lines are as the parser saw
// them) and returns the innermost block still open at its end. It reports
// false when nothing is open or the text ends inside a string or comment.
func openAtEOF(src []byte) (openBlock, bool) {
	var stack []openBlock
	line := 0
	push := func(what, close, want string) {
		stack = append(stack, openBlock{what: what, close: close, line: line, want: want})
	}
	sc := parse.NewScanner(bytes.NewReader(src), "")
	lx := &parse.Lexer{} // the scanner notes a detail for the parser there
	for {
		tok, err := sc.Scan(lx)
		if err != nil {
			return openBlock{}, false
		}
		line = tok.Pos.Line
		var top *openBlock
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch tok.Type {
		case parse.EOF:
			if top == nil {
				return openBlock{}, false
			}
			return *top, true
		case '(':
			push("(", ")", "")
		case '{':
			push("{", "}", "")
		case '[':
			push("[", "]", "")
		case parse.TFunction:
			push("function", "end", "")
		case parse.TIf:
			push("if", "end", "then")
		case parse.TWhile:
			push("while", "end", "do")
		case parse.TFor:
			push("for", "end", "do")
		case parse.TRepeat:
			push("repeat", "until", "")
		case parse.TElseIf:
			if top != nil {
				top.want = "then"
			}
		case parse.TThen:
			if top != nil && top.want == "then" {
				top.want = ""
			}
		case parse.TDo:
			if top != nil && top.want == "do" {
				top.want = ""
			} else {
				push("do", "end", "")
			}
		case ')', '}', ']', parse.TEnd, parse.TUntil:
			if top != nil {
				stack = stack[:len(stack)-1]
			}
		}
	}
}
