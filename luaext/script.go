// Package luaext binds routing scripts to kemi: it compiles a Lua script
// once, builds one gopher-lua state per worker with a KSR table made from the
// modules' export tables, converts arguments and return values the way
// Kamailio's app_lua does, and runs route functions. It is the only package
// that imports gopher-lua. gopher-lua implements Lua 5.1.
package luaext

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// ExitString is the error value KSR.x.exit() and KSR.x.drop() raise; a run
// that ends with exactly this error ended normally, as in Kamailio.
const ExitString = "~~ksr~exit~~"

// Script is a routing script compiled once and shared, read-only, by every
// Lua state built from it.
type Script struct {
	// Name is the chunk name used in error positions (the file path).
	Name string
	// Source is the script text.
	Source []byte

	proto *lua.FunctionProto
}

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

// CompileFile reads and compiles a script file.
func CompileFile(path string) (*Script, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("luaext: %w", err)
	}
	return Compile(path, src)
}

// Compile compiles script text; name is used in error positions.
func Compile(name string, src []byte) (*Script, error) {
	if bytes.HasPrefix(src, []byte("\x1bLua")) {
		return nil, &SyntaxError{File: name, Msg: "precompiled Lua bytecode is not supported (kemi runs Lua 5.1 source with gopher-lua)"}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	return &Script{Name: name, Source: src, proto: proto}, nil
}

// syntaxError turns gopher-lua's parse error into file:line form, with a hint
// when the script uses Lua 5.3+ syntax.
func syntaxError(name string, src []byte, err error) error {
	var perr *parse.Error
	if errors.As(err, &perr) {
		msg := strings.TrimSpace(perr.Message)
		if perr.Token != "" {
			msg += " near '" + perr.Token + "'"
		}
		switch perr.Token {
		case "/", "&", "|", "~", "<", ">", "<<", ">>", "//":
			msg += " (Lua 5.3+ operators such as // & | ~ << >> are not Lua 5.1: kemi runs Lua 5.1)"
		}
		line := perr.Pos.Line
		if line < 0 {
			// at end of file: point at the last line
			line = bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n")) + 1
			msg = "unexpected end of file: " + msg
		}
		return &SyntaxError{File: name, Line: line, Column: perr.Pos.Column, Msg: msg}
	}
	return &SyntaxError{File: name, Msg: strings.TrimSpace(err.Error())}
}
