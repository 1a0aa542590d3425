package luastr

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// rep is string.rep(s, n). The size is checked, and accounted, before
// anything is built.
func (x *lib) rep(L *lua.LState) int {
	s := checkString(L, 1)
	n := checkInt(L, 2)
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	// n < 2^31: the product cannot overflow once len(s) is below 2^31.
	if len(s) > maxStringLen {
		raise(L, errTooLarge.Error())
	}
	if err := grow(x.budget, len(s)*n); err != nil {
		raise(L, err.Error())
	}
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// upper is string.upper(s): ASCII letters only, as in the C locale Lua
// runs in (gopher-lua's changes any Unicode letter, and so the length).
func (x *lib) upper(L *lua.LState) int {
	return x.mapBytes(L, 'a', 'z')
}

// lower is string.lower(s), ASCII only.
func (x *lib) lower(L *lua.LState) int {
	return x.mapBytes(L, 'A', 'Z')
}

// mapBytes flips the case of the bytes in [lo, hi].
func (x *lib) mapBytes(L *lua.LState, lo, hi byte) int {
	s := checkString(L, 1)
	i := 0
	for i < len(s) && (s[i] < lo || s[i] > hi) {
		i++
	}
	if i == len(s) {
		// Nothing changes: the string itself is the result.
		L.Push(lua.LString(s))
		return 1
	}
	if err := grow(x.budget, len(s)); err != nil {
		raise(L, err.Error())
	}
	buf := make([]byte, len(s))
	copy(buf, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c >= lo && c <= hi {
			c ^= 0x20
		}
		buf[i] = c
	}
	L.Push(lua.LString(bytesString(buf)))
	return 1
}

// reverse is string.reverse(s).
func (x *lib) reverse(L *lua.LState) int {
	s := checkString(L, 1)
	if len(s) < 2 {
		L.Push(lua.LString(s))
		return 1
	}
	if err := grow(x.budget, len(s)); err != nil {
		raise(L, err.Error())
	}
	buf := make([]byte, len(s))
	for i := range len(s) {
		buf[len(s)-1-i] = s[i]
	}
	L.Push(lua.LString(bytesString(buf)))
	return 1
}

// char is string.char(...): a string of the argument bytes, each checked
// as Lua 5.1 checks it (0 to 255, "invalid value" otherwise; gopher-lua
// keeps the low byte of any number). The result is accounted first.
func (x *lib) char(L *lua.LState) int {
	n := L.GetTop()
	if err := grow(x.budget, n); err != nil {
		raise(L, err.Error())
	}
	buf := make([]byte, n)
	for i := range n {
		c := checkInt(L, i+1)
		if c < 0 || c > 255 {
			argError(L, i+1, "invalid value")
		}
		buf[i] = byte(c)
	}
	L.Push(lua.LString(bytesString(buf)))
	return 1
}
