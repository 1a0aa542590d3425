// Package luastr gives gopher-lua states Lua 5.1's pattern matching and
// string building in a form that respects a route's limits: the pattern
// functions check the state's context every so many matcher steps, so a
// cancelled route stops inside string.find as it stops between VM
// instructions, and every function that builds a string accounts its size
// with a Budget first, so one route cannot take the process's memory.
package luastr

import (
	lua "github.com/yuin/gopher-lua"
)

// ConcatName is the global that the rewritten `..` operator calls: the
// script compiler turns `a .. b .. c` into a call of this function with
// (a, b, c). It is not a Lua identifier, so no script can declare or shadow
// it by name.
const ConcatName = "\x00concat"

// Budget bounds what one route run may build.
type Budget interface {
	// Grow is told that n more bytes of string are about to be built. It
	// returns an error when that passes the route's bound; the caller then
	// raises it as a Lua error without building the string.
	Grow(n int) error
}

// Open replaces, in L's global tables, string.find, string.match,
// string.gmatch, string.gsub, string.rep, string.format, string.upper,
// string.lower, string.reverse and table.concat with versions that stop
// when L's context is done and account what they build with b, and sets
// the global ConcatName. Call it after the standard libraries are open.
func Open(L *lua.LState, b Budget) {
	panic("luastr: not written yet")
}
