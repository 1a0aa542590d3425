package testlib

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The assertions end the test at the first failure, with the file:line of
// the call, what was expected and what was there.

// T.eq(actual, expected [, msg]): equal; tables are compared deeply.
func (r *runner) luaEq(L *lua.LState) int {
	actual, expected := L.Get(1), L.Get(2)
	if !deepEqual(actual, expected, 0) {
		return r.fail(&Failure{Message: msgOr(L, 3, "T.eq: values differ"), Expected: describe(expected), Actual: describe(actual), HasValues: true})
	}
	return 0
}

// T.ne(actual, unexpected [, msg]): not equal.
func (r *runner) luaNe(L *lua.LState) int {
	actual, other := L.Get(1), L.Get(2)
	if deepEqual(actual, other, 0) {
		return r.fail(&Failure{Message: msgOr(L, 3, "T.ne: values are equal"), Expected: "not " + describe(other), Actual: describe(actual), HasValues: true})
	}
	return 0
}

// T.ok(value [, msg]): neither nil nor false.
func (r *runner) luaOk(L *lua.LState) int {
	if !lua.LVAsBool(L.Get(1)) {
		return r.fail(&Failure{Message: msgOr(L, 2, "T.ok: value is "+describe(L.Get(1)))})
	}
	return 0
}

// T.no(value [, msg]): nil or false.
func (r *runner) luaNo(L *lua.LState) int {
	if lua.LVAsBool(L.Get(1)) {
		return r.fail(&Failure{Message: msgOr(L, 2, "T.no: value is "+describe(L.Get(1)))})
	}
	return 0
}

// T.match(s, pattern [, msg]): s matches the Lua pattern.
func (r *runner) luaMatch(L *lua.LState) int {
	s, pat := L.Get(1), L.CheckString(2)
	str, isStr := s.(lua.LString)
	if isStr {
		find := L.GetField(L.GetGlobal("string"), "find")
		if err := L.CallByParam(lua.P{Fn: find, NRet: 1, Protect: true}, str, lua.LString(pat)); err != nil {
			L.RaiseError("T.match: pattern %q: %v", pat, err)
		}
		ret := L.Get(-1)
		L.Pop(1)
		if ret != lua.LNil {
			return 0
		}
	}
	return r.fail(&Failure{Message: msgOr(L, 3, "T.match: no match"), Expected: "a match of " + describe(lua.LString(pat)), Actual: describe(s), HasValues: true})
}

// T.contains(haystack, needle [, msg]): a string holds needle (plainly),
// or a list holds an element equal to needle, or a string element that
// holds it.
func (r *runner) luaContains(L *lua.LState) int {
	hay, needle := L.Get(1), L.Get(2)
	if contains(hay, needle) {
		return 0
	}
	return r.fail(&Failure{Message: msgOr(L, 3, "T.contains: not found"), Expected: "something holding " + describe(needle), Actual: describe(hay), HasValues: true})
}

func contains(hay, needle lua.LValue) bool {
	switch h := hay.(type) {
	case lua.LString:
		n, ok := needle.(lua.LString)
		return ok && strings.Contains(string(h), string(n))
	case *lua.LTable:
		found := false
		h.ForEach(func(_, v lua.LValue) {
			if found {
				return
			}
			if deepEqual(v, needle, 0) {
				found = true
				return
			}
			if s, ok := v.(lua.LString); ok {
				if n, ok := needle.(lua.LString); ok && strings.Contains(string(s), string(n)) {
					found = true
				}
			}
		})
		return found
	}
	return false
}

// T.fatal(msg): fail the test.
func (r *runner) luaFatal(L *lua.LState) int {
	return r.fail(&Failure{Message: L.OptString(1, "T.fatal")})
}

func msgOr(L *lua.LState, n int, def string) string {
	if s, ok := L.Get(n).(lua.LString); ok {
		return string(s)
	}
	return def
}

// deepEqual compares Lua values; tables by their contents (functions in
// them by identity).
func deepEqual(a, b lua.LValue, depth int) bool {
	ta, okA := a.(*lua.LTable)
	tb, okB := b.(*lua.LTable)
	if !okA || !okB {
		return a == b // numbers, strings and booleans are compared by value
	}
	if ta == tb {
		return true
	}
	if depth > 20 {
		return false
	}
	equal := true
	n := 0
	ta.ForEach(func(k, v lua.LValue) {
		n++
		if equal && !deepEqual(v, tb.RawGet(k), depth+1) {
			equal = false
		}
	})
	if !equal {
		return false
	}
	m := 0
	tb.ForEach(func(lua.LValue, lua.LValue) { m++ })
	return n == m
}
