package luastr

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// isStringLike reports whether v concatenates without a metamethod.
func isStringLike(v lua.LValue) bool {
	switch v.(type) {
	case lua.LString, lua.LNumber:
		return true
	}
	return false
}

// stringLen is the length v has once converted to a string (v is a string
// or a number).
func stringLen(v lua.LValue) int {
	if s, ok := v.(lua.LString); ok {
		return len(s)
	}
	return numberLen(float64(v.(lua.LNumber)))
}

// addLen adds n to the length total, raising "resulting string too large"
// past maxStringLen.
func addLen(L *lua.LState, total, n int) int {
	if n > maxStringLen-total {
		raise(L, errTooLarge.Error())
	}
	return total + n
}

// appendValue appends the string or number v.
func appendValue(dst []byte, v lua.LValue) []byte {
	if s, ok := v.(lua.LString); ok {
		return append(dst, s...)
	}
	return appendNumber(dst, float64(v.(lua.LNumber)))
}

// join concatenates the strings and numbers in vs into one string, built
// in one allocation after the Budget allowed its size.
func (x *lib) join(L *lua.LState, vs []lua.LValue) lua.LString {
	total := 0
	for _, v := range vs {
		total = addLen(L, total, stringLen(v))
	}
	if err := grow(x.budget, total); err != nil {
		raise(L, err.Error())
	}
	buf := make([]byte, 0, total)
	for _, v := range vs {
		buf = appendValue(buf, v)
	}
	return lua.LString(bytesString(buf))
}

// concat is the global ConcatName: `a .. b .. c` rewritten as a call. It
// has Lua 5.1's semantics: strings and numbers concatenate, others through
// a __concat metamethod of either operand, taken pairwise from the right.
func (x *lib) concat(L *lua.LState) int {
	top := L.GetTop()
	switch top {
	case 0:
		L.Push(lua.LString(""))
		return 1
	case 1:
		return 1
	}
	// The common case: only strings and numbers, one allocation.
	total := 0
	for i := 1; i <= top; i++ {
		v := L.Get(i)
		switch s := v.(type) {
		case lua.LString:
			total = addLen(L, total, len(s))
		case lua.LNumber:
			total += numberLen(float64(s))
		default:
			return x.concatMeta(L, top)
		}
	}
	if err := grow(x.budget, total); err != nil {
		raise(L, err.Error())
	}
	// strings.Builder allocates without zeroing and hands its bytes over.
	var sb strings.Builder
	sb.Grow(total)
	for i := 1; i <= top; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			sb.WriteString(string(v))
		case lua.LNumber:
			var tmp [numberScratch]byte
			sb.Write(appendNumber(tmp[:0], float64(v)))
		}
	}
	L.Push(lua.LString(sb.String()))
	return 1
}

// concatMeta is Lua 5.1's luaV_concat for operands that are not all
// strings and numbers.
func (x *lib) concatMeta(L *lua.LState, top int) int {
	vs := make([]lua.LValue, top)
	for i := range vs {
		vs[i] = L.Get(i + 1)
	}
	for n := len(vs); n > 1; {
		a, b := vs[n-2], vs[n-1]
		if !isStringLike(a) || !isStringLike(b) {
			vs[n-2] = x.callConcat(L, a, b)
			n--
			continue
		}
		// As many strings and numbers as there are, from the right.
		k := n - 2
		for k > 0 && isStringLike(vs[k-1]) {
			k--
		}
		vs[k] = x.join(L, vs[k:n])
		n = k + 1
	}
	L.Push(vs[0])
	return 1
}

// callConcat applies the __concat metamethod of a, or else of b, or raises
// Lua 5.1's error naming the operand that is not a string or number.
func (x *lib) callConcat(L *lua.LState, a, b lua.LValue) lua.LValue {
	tm := L.GetMetaField(a, "__concat")
	if tm == lua.LNil {
		tm = L.GetMetaField(b, "__concat")
	}
	if tm == lua.LNil {
		bad := a
		if isStringLike(a) {
			bad = b
		}
		raise(L, "attempt to concatenate a "+bad.Type().String()+" value")
	}
	L.Push(tm)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	r := L.Get(-1)
	L.Pop(1)
	return r
}

// tableConcat is table.concat(t [, sep [, i [, j]]]). Every element is
// checked, and the result's size accounted, before it is built.
func (x *lib) tableConcat(L *lua.LState) int {
	sep := optString(L, 2, "")
	t, ok := L.Get(1).(*lua.LTable)
	if !ok {
		typeError(L, 1, "table")
	}
	i := optInt(L, 3, 1)
	last := 0
	if L.Get(4) == lua.LNil {
		last = t.Len()
	} else {
		last = checkInt(L, 4)
	}
	if i > last {
		L.Push(lua.LString(""))
		return 1
	}
	total := 0
	for k := i; k <= last; k++ {
		v := rawGetInt(t, k)
		if !isStringLike(v) {
			raise(L, "invalid value ("+v.Type().String()+") at index "+strconv.Itoa(k)+" in table for 'concat'")
		}
		total = addLen(L, total, stringLen(v))
	}
	if seps := last - i; len(sep) > 0 {
		if seps > maxStringLen/len(sep) {
			raise(L, errTooLarge.Error())
		}
		total = addLen(L, total, seps*len(sep))
	}
	if err := grow(x.budget, total); err != nil {
		raise(L, err.Error())
	}
	buf := make([]byte, 0, total)
	for k := i; k <= last; k++ {
		if k > i {
			buf = append(buf, sep...)
		}
		buf = appendValue(buf, rawGetInt(t, k))
	}
	L.Push(lua.LString(bytesString(buf)))
	return 1
}

// rawGetInt is lua_rawgeti: gopher-lua's RawGetInt sees the array part
// only, and an integer key can live in the hash part.
func rawGetInt(t *lua.LTable, k int) lua.LValue {
	if v := t.RawGetInt(k); v != lua.LNil {
		return v
	}
	return t.RawGet(lua.LNumber(k))
}
