// Package luaext binds routing scripts to kemi: it compiles a Lua script
// once, builds one gopher-lua state per worker with a KSR table made from the
// modules' export tables, converts arguments and return values the way
// Kamailio's app_lua does, and runs route functions. It is the only package
// that imports gopher-lua. gopher-lua implements Lua 5.1.
//
// Every route run is bounded: a time limit (Options.Timeout, enforced by
// the caller's watchdog through State.Overrun and checked between VM
// instructions, inside the pattern functions, table.sort and load's
// reader loop, and in coroutines) and a bound on the bytes of strings it
// builds (Options.MemoryLimit). The compiler rewrites `..` into a call of
// package luastr, which also supplies Lua 5.1's pattern functions and
// string builders, so that every string a script builds is accounted;
// what gopher-lua's own functions build from their arguments is counted
// too (accounted.go), as are code compiled at run time and coroutines.
// Code compiled at run time (loadstring, load, require) goes through the
// same compiler, which refuses chunks nested deeper than gopher-lua's
// recursive compiler can take.
//
// States are sandboxed unless Options.AllowUnsafe is set: no file,
// process or environment access (io, os.execute, os.getenv, dofile, ...);
// require loads Lua files from the script's folder only.
package luaext

import (
	"bytes"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
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
	cover *Coverage // set by CompileCovered
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
	proto, err := compileChunk(name, src)
	if err != nil {
		return nil, err
	}
	return &Script{Name: name, Source: src, proto: proto}, nil
}

// compileChunk is the one way Lua source becomes code in kemi, for the
// script and for what it compiles at run time: parsed, `..` rewritten
// (see rewriteConcat), compiled. Errors are *SyntaxError.
func compileChunk(name string, src []byte) (*lua.FunctionProto, error) {
	return compileChunkWith(name, src, nil)
}

// compileChunkWith is compileChunk with a rewrite of the parsed chunk
// before `..` is (CompileCovered's); nil means none.
func compileChunkWith(name string, src []byte, rewrite func([]ast.Stmt) []ast.Stmt) (*lua.FunctionProto, error) {
	if bytes.HasPrefix(src, []byte("\x1bLua")) {
		return nil, &SyntaxError{File: name, Msg: "precompiled Lua bytecode is not supported (kemi runs Lua 5.1 source with gopher-lua)"}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	if rewrite != nil {
		chunk = rewrite(chunk)
	}
	chunk, err = rewriteConcat(name, chunk)
	if err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, syntaxError(name, src, err)
	}
	return proto, nil
}
