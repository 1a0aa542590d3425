// Package luastr gives gopher-lua states Lua 5.1's pattern matching and
// string building in a form that respects a route's limits: the pattern
// functions check the state's context every so many matcher steps, so a
// cancelled route stops inside string.find as it stops between VM
// instructions, and every function that builds a string accounts its size
// with a Budget first, so one route cannot take the process's memory.
package luastr

// STAND-IN: this file is a minimal stand-in written by the luaext work so
// that its tests run; the real package replaces it. It delegates to
// gopher-lua's own functions, accounts what they build, and runs string.find
// and string.match on a separate state in a goroutine it can stop waiting
// for (the abandoned match runs to its end in the background).

import (
	"context"
	"strings"

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
	str, _ := L.GetGlobal("string").(*lua.LTable)
	tbl, _ := L.GetGlobal("table").(*lua.LTable)
	grow := func(L *lua.LState, n int) {
		if err := b.Grow(n); err != nil {
			L.RaiseError("%s", err.Error())
		}
	}
	replace := func(t *lua.LTable, name string, f func(orig lua.LGFunction) lua.LGFunction) {
		if t == nil {
			return
		}
		orig, ok := t.RawGetString(name).(*lua.LFunction)
		if !ok || !orig.IsG {
			return
		}
		t.RawSetString(name, L.NewFunction(f(orig.GFunction)))
	}
	sizeOfArg := func(orig lua.LGFunction) lua.LGFunction {
		return func(L *lua.LState) int {
			grow(L, len(L.CheckString(1)))
			return orig(L)
		}
	}
	sizeOfResult := func(orig lua.LGFunction) lua.LGFunction {
		return func(L *lua.LState) int {
			n := orig(L)
			if n > 0 {
				if s, ok := L.Get(-n).(lua.LString); ok {
					grow(L, len(s))
				}
			}
			return n
		}
	}
	replace(str, "upper", sizeOfArg)
	replace(str, "lower", sizeOfArg)
	replace(str, "reverse", sizeOfArg)
	replace(str, "format", sizeOfResult)
	replace(str, "gsub", sizeOfResult)
	// gmatch stays gopher-lua's: its iterator is an upvalue of the closure
	replace(tbl, "concat", sizeOfResult)
	replace(str, "rep", func(orig lua.LGFunction) lua.LGFunction {
		return func(L *lua.LState) int {
			s, n := L.CheckString(1), L.CheckInt(2)
			if n > 0 && len(s) > 0 {
				total := int64(len(s)) * int64(n)
				if total/int64(n) != int64(len(s)) || total > int64(^uint(0)>>1) {
					total = int64(^uint(0) >> 1)
				}
				grow(L, int(total))
			}
			return orig(L)
		}
	})
	replace(str, "find", stoppable)
	replace(str, "match", stoppable)
	L.SetGlobal(ConcatName, L.NewFunction(func(L *lua.LState) int { return concat(L, grow) }))
}

// stoppable runs a matcher without callbacks on its own state, so that the
// route can stop waiting for it when its context is done.
func stoppable(orig lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		ctx := L.Context()
		if ctx == nil {
			return orig(L)
		}
		args := make([]lua.LValue, L.GetTop())
		for i := range args {
			args[i] = L.Get(i + 1)
		}
		type result struct {
			vals []lua.LValue
			err  error
		}
		done := make(chan result, 1)
		go func() {
			ls := lua.NewState(lua.Options{SkipOpenLibs: true})
			defer ls.Close()
			err := ls.CallByParam(lua.P{Fn: ls.NewFunction(orig), NRet: lua.MultRet, Protect: true}, args...)
			var vals []lua.LValue
			for i := 1; i <= ls.GetTop(); i++ {
				vals = append(vals, ls.Get(i))
			}
			done <- result{vals, err}
		}()
		select {
		case r := <-done:
			if r.err != nil {
				msg := r.err.Error()
				if aerr, ok := r.err.(*lua.ApiError); ok {
					msg = aerr.Object.String()
				}
				L.RaiseError("%s", strings.TrimSpace(msg))
			}
			for _, v := range r.vals {
				L.Push(v)
			}
			return len(r.vals)
		case <-ctx.Done():
			L.RaiseError("%s", context.Cause(ctx).Error())
			return 0
		}
	}
}

// concat is `..` over its arguments, right to left as Lua's OP_CONCAT:
// each run of strings and numbers is joined at once.
func concat(L *lua.LState, grow func(*lua.LState, int)) int {
	n := L.GetTop()
	if n == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	rhs := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if lua.LVCanConvToString(lhs) && lua.LVCanConvToString(rhs) {
			j := i
			for j >= 1 && lua.LVCanConvToString(L.Get(j)) {
				j--
			}
			parts := make([]string, 0, i-j+1)
			size := 0
			for k := j + 1; k <= i; k++ {
				s := lua.LVAsString(L.Get(k))
				parts = append(parts, s)
				size += len(s)
			}
			last := lua.LVAsString(rhs)
			parts = append(parts, last)
			grow(L, size+len(last))
			rhs = lua.LString(strings.Join(parts, ""))
			i = j
			continue
		}
		op := L.GetMetaField(lhs, "__concat")
		if op == lua.LNil {
			op = L.GetMetaField(rhs, "__concat")
		}
		if op.Type() != lua.LTFunction {
			L.RaiseError("cannot perform concat operation between %v and %v", lhs.Type().String(), rhs.Type().String())
			return 0
		}
		L.Push(op)
		L.Push(lhs)
		L.Push(rhs)
		L.Call(2, 1)
		rhs = L.Get(-1)
		L.Pop(1)
		i--
	}
	L.Push(rhs)
	return 1
}
