package luastr

import (
	"strings"
	"testing"
)

// The expected values are Lua 5.1.5's (TestLua51Differential checks many
// more against the real interpreter when it is installed).

func TestFind(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`string.find("hello world", "o w")`, `5 7`},
		{`string.find("hello", "l+")`, `3 4`},
		{`string.find("hello", "xyz")`, `nil`},
		{`string.find("hello", "")`, `1 0`},
		{`string.find("abc", "", 10)`, `4 3`},
		{`string.find("abc", "", -10)`, `1 0`},
		{`string.find("abc", "c", -1)`, `3 3`},
		{`string.find("abc", "b", 3)`, `nil`},
		{`string.find("abc", "b", 2.9)`, `2 2`},
		{`string.find("abc", "b", "2")`, `2 2`},
		{`string.find("a.c", ".", 1, true)`, `2 2`},
		{`string.find("a.c", ".", 1, false)`, `1 1`},
		{`string.find("a+b", "+", 1, true)`, `2 2`},
		{`string.find("a)b", ")")`, `2 2`},
		{`string.find(12345, 34)`, `3 4`},
		{`string.find(1e15, "e")`, `2 2`},
		{`string.find("abc", "b\0z")`, `nil`},
		{`string.find("sip:alice@example.com", "(%w+)@([%w%.]+)")`, `5 21 "alice" "example.com"`},
		{`string.find("  x", "()x()")`, `3 3 3 4`},
		{`string.find("abc", "(a")`, `error: t.lua:1: unfinished capture`},
		{`string.find()`, `error: t.lua:1: bad argument #1 to 'find' (string expected, got no value)`},
		{`string.find("a")`, `error: t.lua:1: bad argument #2 to 'find' (string expected, got no value)`},
		{`string.find(nil, "a")`, `error: t.lua:1: bad argument #1 to 'find' (string expected, got nil)`},
		{`string.find("a", {})`, `error: t.lua:1: bad argument #2 to 'find' (string expected, got table)`},
		{`string.find("abc", "b", "x")`, `error: t.lua:1: bad argument #3 to 'find' (number expected, got string)`},
		{`("x"):find("x")`, `1 1`},
	})
}

func TestMatch(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`string.match("sip:alice@example.com", "^sip:")`, `"sip:"`},
		{`string.match("+4930123456", "^%+?%d+$")`, `"+4930123456"`},
		{`string.match("4930x", "^%+?%d+$")`, `nil`},
		{`string.match("key = value", "(%w+)%s*=%s*(%w+)")`, `"key" "value"`},
		{`string.match("hello", ".", -2)`, `"l"`},
		{`string.match("hello", "b\0z")`, `nil`},
		{`string.match("abc", "b\0z")`, `"b"`},
		{`string.match("  trim me  ", "^%s*(.-)%s*$")`, `"trim me"`},
		{`string.match("f(a(b)c)d", "%b()")`, `"(a(b)c)"`},
		{`string.match("THE (quick) fox", "%f[%a]%a+", 5)`, `"quick"`},
		{`string.match("hello", "(l)%1")`, `"l"`},
		{`string.match("a^b", "^^")`, `nil`},
		{`string.match("^b", "^^")`, `"^"`},
		{`string.match("x$", "$$")`, `"$"`},
		{`string.match("a-b", "[a-]+")`, `"a-"`},
		{`string.match("a]b", "[]]")`, `"]"`},
		{`string.match("\0a", "%z")`, `"\x00"`},
		{`string.match("\195\169", "%a")`, `nil`},
		{`string.match("abc", "%g")`, `nil`},
		{`string.match("1.2.3.4", "(%d+)%.(%d+)%.(%d+)%.(%d+)")`, `"1" "2" "3" "4"`},
		{`string.match("abc", "a)")`, `error: t.lua:1: invalid pattern capture`},
		{`string.match("abc", "%1")`, `error: t.lua:1: invalid capture index`},
		{`string.match("abc", "(a)%2")`, `error: t.lua:1: invalid capture index`},
		{`string.match("abc", "(a%1)")`, `error: t.lua:1: invalid capture index`},
		{`string.match("abc", "%0")`, `error: t.lua:1: invalid capture index`},
		{`string.match("abc", "[a")`, `error: t.lua:1: malformed pattern (missing ']')`},
		{`string.match("abc", "[%")`, `error: t.lua:1: malformed pattern (missing ']')`},
		{`string.match("x", "x%")`, `error: t.lua:1: malformed pattern (ends with '%')`},
		{`string.match("y", "x%")`, `nil`},
		{`string.match("abc", "%b")`, `error: t.lua:1: unbalanced pattern`},
		{`string.match("abc", "%bx")`, `error: t.lua:1: unbalanced pattern`},
		{`string.match("abc", "%fa")`, `error: t.lua:1: missing '[' after '%f' in pattern`},
		{`string.match("a", string.rep("(", 33) .. "a" .. string.rep(")", 33))`, `error: t.lua:1: too many captures`},
		{`select("#", string.match("a", string.rep("(", 32) .. "a" .. string.rep(")", 32)))`, `32`},
		{`string.match(string.rep("a", 300), string.rep("a?", 250))`, `error: t.lua:1: pattern too complex`},
		{`string.match()`, `error: t.lua:1: bad argument #1 to 'match' (string expected, got no value)`},
	})
}

func TestGmatch(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`(function() local t = {} for w in string.gmatch("one two  three", "%a+") do t[#t+1] = w end return unpack(t) end)()`,
			`"one" "two" "three"`},
		{`(function() local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t+1] = k .. v end return unpack(t) end)()`,
			`"a1" "b2"`},
		{`(function() local n = 0 for w in string.gmatch("abc", "") do n = n + 1 end return n end)()`, `4`},
		{`(function() local t = {} for w in string.gmatch("^a^b", "^.") do t[#t+1] = w end return unpack(t) end)()`,
			`"^a" "^b"`},
		{`(function() local t = {} for p in string.gmatch("abc", "()") do t[#t+1] = p end return unpack(t) end)()`,
			`1 2 3 4`},
		{`(function() local t = {} for w in string.gfind("a b", "%a") do t[#t+1] = w end return unpack(t) end)()`,
			`"a" "b"`},
		{`string.gmatch("abc", "(")()`, `error: t.lua:1: unfinished capture`},
		{`string.gmatch(nil, "x")`, `error: t.lua:1: bad argument #1 to 'gmatch' (string expected, got nil)`},
	})
}

func TestGsub(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`string.gsub("hello world", "o", "0")`, `"hell0 w0rld" 2`},
		{`string.gsub("hello world", "o", "0", 1)`, `"hell0 world" 1`},
		{`string.gsub("hello world", "o", "0", 0)`, `"hello world" 0`},
		{`string.gsub("hello world", "o", "0", 1.9)`, `"hell0 world" 1`},
		{`string.gsub("hello", "", "-")`, `"-h-e-l-l-o-" 6`},
		{`string.gsub("hello", "^h", "-")`, `"-ello" 1`},
		{`string.gsub("hello", "l*", "-")`, `"-h-e--o-" 5`},
		{`string.gsub("hello", "(l)(l)", "%2%1%0%%%x")`, `"hellll%xo" 1`},
		{`string.gsub("abc", "b", "x%")`, `"ax\x00c" 1`},
		{`string.gsub("abc", "()", "%1")`, `"1a2b3c4" 4`},
		{`string.gsub("abc", "%w", "%0%0")`, `"aabbcc" 3`},
		{`string.gsub("abc", "b", "%1")`, `"abc" 1`},
		{`string.gsub("abc", "b", 5)`, `"a5c" 1`},
		{`string.gsub(123, 2, 9)`, `"193" 1`},
		{`string.gsub("abc", ".", {a = 1, b = true})`, `error: t.lua:1: invalid replacement value (a boolean)`},
		{`string.gsub("abc", ".", {a = 1, b = false})`, `"1bc" 3`},
		{`string.gsub("abc", ".", setmetatable({}, {__index = function(t, k) return k:upper() end}))`, `"ABC" 3`},
		{`string.gsub("abc", "(.)", function(c) return c:byte() end)`, `"979899" 3`},
		{`string.gsub("abc", ".", function(c) if c == "b" then return nil end return "x" end)`, `"xbx" 3`},
		{`string.gsub("abc", ".", function() return {} end)`, `error: t.lua:1: invalid replacement value (a table)`},
		{`string.gsub("abc", "(b)", "%2")`, `error: t.lua:1: invalid capture index`},
		{`string.gsub("abc", "(b", "%1")`, `error: t.lua:1: unfinished capture`},
		{`string.gsub("abc", "(b", "x")`, `"axc" 1`},
		{`string.gsub("abc", "b")`, `error: t.lua:1: bad argument #3 to 'gsub' (string/function/table expected)`},
		{`string.gsub("abc", "b", true)`, `error: t.lua:1: bad argument #3 to 'gsub' (string/function/table expected)`},
		{`string.gsub("abc", "b", "x", "y")`, `error: t.lua:1: bad argument #4 to 'gsub' (number expected, got string)`},
		{`("abc"):gsub("b", "B")`, `"aBc" 1`},
	})
}

func TestRepUpperLowerReverse(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`string.rep("ab", 3)`, `"ababab"`},
		{`string.rep("ab", 0)`, `""`},
		{`string.rep("ab", -1)`, `""`},
		{`string.rep("x", 2.9)`, `"xx"`},
		{`string.rep("x", "3")`, `"xxx"`},
		{`string.rep(12, 2)`, `"1212"`},
		{`string.rep("x", 4294967297)`, `"x"`},
		{`string.rep("x", "a")`, `error: t.lua:1: bad argument #2 to 'rep' (number expected, got string)`},
		{`string.rep()`, `error: t.lua:1: bad argument #1 to 'rep' (string expected, got no value)`},
		{`("x"):rep(3)`, `"xxx"`},
		{`string.upper("Hello, W\195\182rld 1")`, `"HELLO, WöRLD 1"`},
		{`string.lower("\195\128BC")`, `"Àbc"`},
		{`string.upper(1.5)`, `"1.5"`},
		{`string.upper(nil)`, `error: t.lua:1: bad argument #1 to 'upper' (string expected, got nil)`},
		{`string.lower()`, `error: t.lua:1: bad argument #1 to 'lower' (string expected, got no value)`},
		{`string.reverse("abc")`, `"cba"`},
		{`string.reverse("")`, `""`},
		{`string.reverse(123)`, `"321"`},
	})
}

func TestTableConcat(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`table.concat({1, 2, 3}, ", ")`, `"1, 2, 3"`},
		{`table.concat({}, "x")`, `""`},
		{`table.concat({1, 2, 3}, "", 2)`, `"23"`},
		{`table.concat({1, 2, 3}, "-", 2, 3)`, `"2-3"`},
		{`table.concat({1, 2, 3}, "-", 3, 2)`, `""`},
		{`table.concat({1.5, 1e15, 2^63, "x", 0.1}, " ")`, `"1.5 1e+15 9.2233720368548e+18 x 0.1"`},
		{`table.concat({[0] = "z", "a"}, ",", 0)`, `"z,a"`},
		{`table.concat({"a", "b"}, 3)`, `"a3b"`},
		{`table.concat({1, {}, 3})`, `error: t.lua:1: invalid value (table) at index 2 in table for 'concat'`},
		{`table.concat({1, 2}, nil, 1, 5)`, `error: t.lua:1: invalid value (nil) at index 3 in table for 'concat'`},
		{`table.concat(nil)`, `error: t.lua:1: bad argument #1 to 'concat' (table expected, got nil)`},
		{`table.concat({}, {})`, `error: t.lua:1: bad argument #2 to 'concat' (string expected, got table)`},
	})
}

func TestFormat(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`string.format("%s:%d", "10.0.0.1", 5060)`, `"10.0.0.1:5060"`},
		{`string.format("%5.2f|%#x|%#o|%e|%g|%g|%g", 3.14159, 0, 8, 12345.678, 0.0001, 1e20, 100000)`,
			`" 3.14|0|010|1.234568e+04|0.0001|1e+20|100000"`},
		{`string.format("%5s|%-5s|%.2s|%05d|%+d|% d|%.3d|%.0d|%c", "ab", "ab", "abc", 42, 5, 5, 7, 0, 65)`,
			`"   ab|ab   |ab|00042|+5| 5|007||A"`},
		{`string.format("%x %X %u", -1, 255, 42)`, `"ffffffffffffffff FF 42"`},
		{`string.format("%d", 3.7)`, `"3"`},
		{`string.format("%f %e %g", 1/0, -1/0, 0/0)`, `"inf -inf -nan"`},
		{`string.format("%q", "a\0b\r\n\"\\z")`, `"\"a\\000b\\r\\\n\\\"\\\\z\""`},
		{`string.format("%s", "a\0b")`, `"a"`},
		{`string.format("%s|", string.rep("x", 3) .. "\0" .. string.rep("y", 100))`, `"xxx\x00` + strings.Repeat("y", 100) + `|"`},
		{`string.format("%c", 0)`, `""`},
		{`string.format("%.14g", 0.1 + 0.2)`, `"0.3"`},
		{`string.format("%5%")`, `error: t.lua:1: bad argument #2 to 'format' (no value)`},
		{`string.format("%5%", 1)`, `error: t.lua:1: invalid option '%%' to 'format'`},
		{`string.format("%d")`, `error: t.lua:1: bad argument #2 to 'format' (no value)`},
		{`string.format("%d", "x")`, `error: t.lua:1: bad argument #2 to 'format' (number expected, got string)`},
		{`string.format("%s", nil)`, `error: t.lua:1: bad argument #2 to 'format' (string expected, got nil)`},
		{`string.format("%y", 1)`, `error: t.lua:1: invalid option '%y' to 'format'`},
		{`string.format("abc%", 1)`, `error: t.lua:1: invalid option '%' to 'format'`},
		{`string.format("%123d", 1)`, `error: t.lua:1: invalid format (width or precision too long)`},
		{`string.format("%1.123f", 1)`, `error: t.lua:1: invalid format (width or precision too long)`},
		{`string.format("%------d", 1)`, `error: t.lua:1: invalid format (repeated flags)`},
		{`string.format("%-----d|", 1)`, `"1|"`},
		{`string.format()`, `error: t.lua:1: bad argument #1 to 'format' (string expected, got no value)`},
	})
}

func TestConcat(t *testing.T) {
	runEvalCases(t, []evalCase{
		{`"a" .. 1 .. 2.5`, `"a12.5"`},
		{`1e15 .. "|" .. 2^63 .. "|" .. -0 .. "|" .. 1/0 .. "|" .. 0/0 .. "|" .. 0.1`, `"1e+15|9.2233720368548e+18|-0|inf|-nan|0.1"`},
		{`1 .. 2`, `"12"`},
		{`"a" .. nil`, `error: t.lua:1: attempt to concatenate a nil value`},
		{`nil .. "a"`, `error: t.lua:1: attempt to concatenate a nil value`},
		{`{} .. "x"`, `error: t.lua:1: attempt to concatenate a table value`},
		{`"x" .. true`, `error: t.lua:1: attempt to concatenate a boolean value`},
		{`"a" .. "b" .. nil .. "c"`, `error: t.lua:1: attempt to concatenate a nil value`},
	})
}
