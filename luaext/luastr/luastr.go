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

// ConcatName is the name of the function that the rewritten `..` operator
// calls: the script compiler turns `a .. b .. c` into a call of this
// function with (a, b, c). Open sets it as a global and in the string
// table, where a chunk finds it as ("")[ConcatName] whatever its
// environment. It is not a Lua identifier, so no script can declare or
// shadow it by name.
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
// string.lower, string.reverse, string.char and table.concat with
// versions that stop
// when L's context is done and account what they build with b, and sets
// ConcatName in the string table and as a global. Call it after the
// standard libraries are open.
//
// The string table is changed in place, so method calls on strings
// (`s:find(p)`), which look the functions up through the string
// metatable's __index (the same table in gopher-lua), get them too;
// string.gfind, gopher-lua's alias of gmatch, is replaced as well.
func Open(L *lua.LState, b Budget) {
	x := &lib{budget: b}
	gmatch := L.NewFunction(strGmatch)
	concat := L.NewFunction(x.concat)
	strFuncs := []struct {
		name string
		fn   lua.LValue
	}{
		{ConcatName, concat},
		{"find", L.NewFunction(strFind)},
		{"match", L.NewFunction(strMatch)},
		{"gmatch", gmatch},
		{"gfind", gmatch},
		{"gsub", L.NewFunction(x.gsub)},
		{"rep", L.NewFunction(x.rep)},
		{"format", L.NewFunction(x.format)},
		{"upper", L.NewFunction(x.upper)},
		{"lower", L.NewFunction(x.lower)},
		{"reverse", L.NewFunction(x.reverse)},
		{"char", L.NewFunction(x.char)},
	}
	for _, t := range stringTables(L) {
		for _, f := range strFuncs {
			t.RawSetString(f.name, f.fn)
		}
	}
	if t, ok := L.GetGlobal("table").(*lua.LTable); ok {
		t.RawSetString("concat", L.NewFunction(x.tableConcat))
	}
	L.SetGlobal(ConcatName, concat)
}

// stringTables returns the global string table and, when it is another
// table, the one strings' methods come from.
func stringTables(L *lua.LState) []*lua.LTable {
	var ts []*lua.LTable
	g, ok := L.GetGlobal("string").(*lua.LTable)
	if ok {
		ts = append(ts, g)
	}
	if mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok && idx != g {
			ts = append(ts, idx)
		}
	}
	return ts
}
