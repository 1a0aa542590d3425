package luastr

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// Argument checks as Lua 5.1's lauxlib does them, with its messages
// ("bad argument #1 to 'find' (string expected, got nil)"): gopher-lua's
// own omit the quotes, say nil for a missing argument, and do not convert
// numbers the way Lua 5.1 does.

// raise raises msg as a Lua error with the position of the calling
// function, as Lua 5.1's luaL_error does (luaL_where(L, 1)): "file:line: "
// when a Lua function called the library function, nothing when Go code
// (pcall, say) did. gopher-lua's RaiseError would look past Go frames.
func raise(L *lua.LState, msg string) {
	L.Error(lua.LString(where(L)+msg), 0)
}

// where is luaL_where(L, 1).
func where(L *lua.LState) string {
	dbg, ok := L.GetStack(1)
	if !ok {
		return ""
	}
	if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil || dbg.What == "G" || dbg.CurrentLine <= 0 {
		return ""
	}
	return dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ": "
}

// funcName is the name the calling Lua code used for the running
// function, or "?" as Lua says when there is none.
func funcName(L *lua.LState) string {
	dbg, ok := L.GetStack(0)
	if !ok {
		return "?"
	}
	if _, err := L.GetInfo("n", dbg, lua.LNil); err != nil {
		return "?"
	}
	switch dbg.Name {
	case "", "(anonymous)", "main chunk", "corountine":
		return "?"
	}
	return dbg.Name
}

// argError raises "bad argument #n to 'name' (msg)".
func argError(L *lua.LState, n int, msg string) {
	raise(L, "bad argument #"+strconv.Itoa(n)+" to '"+funcName(L)+"' ("+msg+")")
}

// typeError raises "bad argument #n to 'name' (want expected, got type)".
func typeError(L *lua.LState, n int, want string) {
	got := "no value"
	if n <= L.GetTop() {
		got = L.Get(n).Type().String()
	}
	argError(L, n, want+" expected, got "+got)
}

// checkString is luaL_checklstring: a string, or a number converted as
// Lua 5.1 converts it.
func checkString(L *lua.LState, n int) string {
	if s, ok := L.Get(n).(lua.LString); ok {
		return string(s)
	}
	return checkStringSlow(L, n)
}

func checkStringSlow(L *lua.LState, n int) string {
	if v, ok := L.Get(n).(lua.LNumber); ok {
		return numberString(float64(v))
	}
	typeError(L, n, "string")
	return ""
}

// optString is luaL_optlstring.
func optString(L *lua.LState, n int, def string) string {
	if L.Get(n) == lua.LNil {
		return def
	}
	return checkString(L, n)
}

// checkNumber is luaL_checknumber: a number, or a string that converts to
// one.
func checkNumber(L *lua.LState, n int) float64 {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if f, ok := str2number(string(v)); ok {
			return f
		}
	}
	typeError(L, n, "number")
	return 0
}

// checkInteger is luaL_checkinteger (a C cast of the number).
func checkInteger(L *lua.LState, n int) int64 {
	if v, ok := L.Get(n).(lua.LNumber); ok {
		return toInteger(float64(v))
	}
	return checkIntegerSlow(L, n)
}

func checkIntegerSlow(L *lua.LState, n int) int64 {
	return toInteger(checkNumber(L, n))
}

// optInteger is luaL_optinteger.
func optInteger(L *lua.LState, n int, def int64) int64 {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return toInteger(float64(v))
	case *lua.LNilType:
		return def
	}
	return checkInteger(L, n)
}

// checkInt is luaL_checkint: luaL_checkinteger cast to a C int.
func checkInt(L *lua.LState, n int) int {
	return int(int32(checkInteger(L, n)))
}

// optInt is luaL_optint.
func optInt(L *lua.LState, n int, def int) int {
	if L.Get(n) == lua.LNil {
		return def
	}
	return checkInt(L, n)
}
