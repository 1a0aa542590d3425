package luaext

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Some of gopher-lua's own functions build memory from their arguments
// outside luastr: error and assert copy their message behind its
// position, a failed require repeats
// the module name in its message, module makes a table for each dotted
// part of its name, and os.date writes many bytes per byte of its format.
// Repeated under pcall, each let a route keep memory its bound never saw
// (a loop of pcall(error, s) kept 300 MB under a 16 MiB bound, module of
// a long dotted name made 3 GB in 12 s). accountLibs makes them count
// what they build first. Errors gopher-lua raises itself are counted
// when a protected call gives them back.

// moduleTableCost is what module counts for each part of its name (a
// table and its key; about 700 bytes, measured).
const moduleTableCost = 1 << 10

// dateExpansion is the most bytes os.date writes for one byte of format
// ("%c" gives about 20 for 2).
const dateExpansion = 16

// coroutineCost is what creating a coroutine counts: gopher-lua gives
// each its own call stack and value stack (about 36 KB, measured).
const coroutineCost = 40 << 10

// accountLibs wraps the functions above so that each first counts, with
// the run's memory bound, what the call is about to build; and pcall and
// xpcall so that they count the message of an error they caught (see
// accountCaught).
func (st *State) accountLibs() {
	L := st.L
	wrap := func(t lua.LValue, name string, f func(L *lua.LState, orig lua.LGFunction) int) {
		tbl, ok := t.(*lua.LTable)
		if !ok {
			return
		}
		fn, ok := tbl.RawGetString(name).(*lua.LFunction)
		if !ok || !fn.IsG {
			panic("luaext: gopher-lua has no function " + name)
		}
		orig := fn.GFunction
		// orig runs in this function's frame, so the positions and the
		// caller it looks at (module sets its caller's environment) are
		// the script's, as when it is called directly
		tbl.RawSetString(name, L.NewFunction(func(L *lua.LState) int { return f(L, orig) }))
	}
	before := func(cost func(L *lua.LState) int) func(*lua.LState, lua.LGFunction) int {
		return func(L *lua.LState, orig lua.LGFunction) int {
			st.account(L, cost(L))
			return orig(L)
		}
	}
	caught := func(L *lua.LState, orig lua.LGFunction) int {
		n := orig(L)
		st.accountCaught(L, n)
		return n
	}
	str := func(L *lua.LState, n int) int {
		if s, ok := L.Get(n).(lua.LString); ok {
			return len(s)
		}
		return 0
	}
	g := L.G.Global
	wrap(g, "error", before(func(L *lua.LState) int {
		if level, ok := L.Get(2).(lua.LNumber); ok && level <= 0 {
			return 0 // no position: the message itself is raised
		}
		return str(L, 1)
	}))
	wrap(g, "assert", before(func(L *lua.LState) int {
		if L.ToBool(1) {
			return 0
		}
		return str(L, 2)
	}))
	// the name appears about three times in a failed require's message
	wrap(g, "require", before(func(L *lua.LState) int { return 4 * str(L, 1) }))
	wrap(g, "module", before(func(L *lua.LState) int {
		name, ok := L.Get(1).(lua.LString)
		if !ok {
			return 0
		}
		return (strings.Count(string(name), ".") + 1) * moduleTableCost
	}))
	wrap(L.GetGlobal("os"), "date", before(func(L *lua.LState) int { return dateExpansion * str(L, 1) }))
	wrap(g, "pcall", caught)
	wrap(g, "xpcall", caught)
}

// accountCaught counts the message of an error that a protected call
// (pcall, xpcall, coroutine.resume) caught and gives back, as false and
// the message, in its n results: the script may keep it, and gopher-lua's
// own errors copy into it what they name (indexing nil with a key copies
// the key). A message error made is counted twice, once here.
func (st *State) accountCaught(L *lua.LState, n int) {
	if n != 2 || L.Get(-2) != lua.LFalse {
		return
	}
	if s, ok := L.Get(-1).(lua.LString); ok {
		st.account(L, len(s))
	}
}

// account counts n bytes against the run's memory bound, raising the
// stop as a Lua error past it.
func (st *State) account(L *lua.LState, n int) {
	if err := (*budget)(st).Grow(n); err != nil {
		L.RaiseError("%s", err.Error())
	}
}
