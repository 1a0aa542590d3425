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
		st.traceback = st.stackTraceback()
	}
	L.Push(obj)
	return 1
}

// stackTraceback describes the Lua stack, innermost first. The routes
// called from Go, nested ones too, are named as the routes (gopher-lua
// calls a function with no Lua caller "main chunk"), and the calls of luastr.ConcatName that
// `..` compiles to are left out: the script wrote no such call.
func (st *State) stackTraceback() string {
	L := st.L
	var b strings.Builder
	b.WriteString("stack traceback:")
	for level := 1; level < 32; level++ {
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
		if name != "" {
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
