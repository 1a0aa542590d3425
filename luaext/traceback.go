package luaext

import (
	"strconv"
	"strings"

	"github.com/kemisip/kemi/luaext/luastr"
	lua "github.com/yuin/gopher-lua"
)

// errorHandler runs where the error happened, with the stack still there:
// it keeps the traceback of a real error and passes the error on as is.
func (st *State) errorHandler(L *lua.LState) int {
	obj := L.Get(1)
	if s, ok := obj.(lua.LString); !ok || string(s) != ExitString {
		st.traceback = st.stackTraceback(1)
	} else {
		// KSR.x.exit and drop are traced here, where the stack is still
		// whole: a call in the functions themselves made every exit's
		// unwinding measurably slower, traced or not
		if st.traced() {
			st.traceExit()
		}
	}
	L.Push(obj)
	return 1
}

// stackTraceback describes the Lua stack from level from (1: the caller
// of the running Go function), innermost first. The routes called from
// Go, nested ones too, are named as the routes (gopher-lua calls a
// function with no Lua caller "main chunk"), and the calls of
// luastr.ConcatName that `..` compiles to are left out: the script wrote
// no such call.
func (st *State) stackTraceback(from int) string {
	L := st.L
	var b strings.Builder
	b.WriteString("stack traceback:")
	for level := from; level < from+31; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		fn, err := L.GetInfo("Snlf", dbg, lua.LNil)
		if err != nil || dbg.Name == luastr.ConcatName {
			continue
		}
		name := dbg.Name
		// a route called from Go has no Lua caller to name it (gopher-lua
		// says "main chunk" or "<file:line>"): a route is the global
		// function of its name, so that name is right wherever it runs
		if lf, ok := fn.(*lua.LFunction); ok {
			if route := st.routeName(lf); route != "" {
				name = route
			}
		}
		b.WriteString("\n\t")
		if dbg.CurrentLine > 0 {
			b.WriteString(dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ":")
		} else {
			b.WriteString("[G]:")
		}
		if strings.HasPrefix(name, "<") {
			b.WriteString(" in function " + name) // <file:line>, as Lua 5.1 writes it
		} else if name != "" {
			b.WriteString(" in function '" + name + "'")
		} else {
			b.WriteString(" in " + dbg.What)
		}
	}
	return b.String()
}

// hideInternal words a message without the name of luastr.ConcatName,
// which the script never wrote: it wrote `..`.
func hideInternal(msg string) string {
	if !strings.Contains(msg, luastr.ConcatName) {
		return msg
	}
	return strings.ReplaceAll(msg, luastr.ConcatName, "..")
}

// openTraceback makes debug.traceback([msg [, level]]) write the stack
// as route errors' tracebacks are written, rather than with gopher-lua's
// names (the route as "main chunk", the call `..` compiles to under its
// internal name); a message that is not a string is given back as it is,
// as in Lua 5.1. A coroutine's stack (debug.traceback(co)) is left to
// gopher-lua. The text counts against the run's memory bound.
func (st *State) openTraceback() {
	L := st.L
	dbg, ok := L.GetGlobal("debug").(*lua.LTable)
	if !ok {
		return
	}
	orig, ok := dbg.RawGetString("traceback").(*lua.LFunction)
	if !ok || !orig.IsG {
		panic("luaext: gopher-lua has no debug.traceback")
	}
	dbg.RawSetString("traceback", L.NewFunction(func(L *lua.LState) int {
		if _, ok := L.Get(1).(*lua.LState); ok {
			return orig.GFunction(L)
		}
		msg := L.Get(1)
		if msg != lua.LNil && !lua.LVCanConvToString(msg) {
			L.Push(msg)
			return 1
		}
		tb := st.stackTraceback(L.OptInt(2, 1))
		if msg != lua.LNil {
			tb = lua.LVAsString(msg) + "\n" + tb
		}
		st.account(L, len(tb))
		L.Push(lua.LString(tb))
		return 1
	}))
}
