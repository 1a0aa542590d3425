package luaext_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
	lua "github.com/yuin/gopher-lua"
)

// TestConcatRewriteKeepsLuaSemantics runs snippets through kemi's compiler
// (.. rewritten) and through gopher-lua's own (OP_CONCAT): results must be
// the same, metamethods, evaluation order and multiple results included.
func TestConcatRewriteKeepsLuaSemantics(t *testing.T) {
	cases := []struct{ name, src string }{
		{"chain", `return "a" .. "b" .. "c"`},
		{"numbers", `return 1 .. 2 .. 3.5`},
		{"parenthesised left", `return ("a" .. "b") .. ("c" .. "d") .. "e"`},
		{"in a table", `local t = {"x" .. 1, k = "y" .. 2} return t[1] .. t.k`},
		{"as a method receiver", `return ("ab" .. "c"):upper()`},
		{"in a condition", `if "a" .. "b" == "ab" then return "yes" end return "no"`},
		{"in a for limit", `local n = 0 for i = 1, tonumber("1" .. "0") do n = n + 1 end return n`},
		{"in repeat until", `local s = "" repeat s = s .. "x" until s == "x" .. "x" .. "x" return s`},
		{"in a closure", `local p = "<" local function f(x) return p .. x .. ">" end return f("a") .. f("b")`},
		{"evaluation order", `local log = {} local function v(x) log[#log + 1] = x return x end
			local r = v("a") .. v("b") .. v("c") return table.concat(log, ",") .. "=" .. r`},
		{"last operand is one value", `local function two() return "x", "y" end return select("#", "a" .. two()), "a" .. two()`},
		{"vararg operand", `local function f(...) return "a" .. ... end return f("b", "c")`},
		{"one result", `local function f() return "a" .. "b" end return select("#", f())`},
		{"__concat right to left", `local log = {}
			local mt = {}
			mt.__concat = function(a, b)
				local x = type(a) == "table" and a.n or a
				local y = type(b) == "table" and b.n or b
				log[#log + 1] = x .. "+" .. y
				return setmetatable({n = "(" .. x .. y .. ")"}, mt)
			end
			local A, B = setmetatable({n = "A"}, mt), setmetatable({n = "B"}, mt)
			local r = A .. "s" .. B .. "t"
			local r2 = (A .. B) .. "u"
			return r.n .. " " .. r2.n .. " " .. table.concat(log, ",")`},
		{"under setfenv", `local f = function() return "a" .. "b" end setfenv(f, {}) return f()`},
		{"under module-style environment", `local env = setmetatable({}, {__index = _G})
			local f = loadstring("return tostring(1) .. 'x'") setfenv(f, env) return f()`},
		{"loadstring", `return loadstring("return 'a' .. 'b' .. 1")()`},
		{"loadstring under an empty environment", `local f = loadstring("return 'a' .. 'b'") setfenv(f, {}) return f()`},
		{"function defined under an empty environment", `local env = {}
			local f = loadstring("function g(x) return x .. '!' end") setfenv(f, env) f() return env.g("hi")`},
		{"nested chains", `local a, b = "1", "2" return a .. (b .. (a .. b)) .. ((a .. b) .. a)`},
	}
	compareWithGopherLua(t, cases)
}

// TestStringLibraryKeepsLuaSemantics: the bounded string functions give
// what gopher-lua's give where gopher-lua follows Lua 5.1 (luastr's own
// tests compare with Lua 5.1 itself, which wins where the two differ).
func TestStringLibraryKeepsLuaSemantics(t *testing.T) {
	compareWithGopherLua(t, []struct{ name, src string }{
		{"gmatch", `local out = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do out[#out + 1] = k .. v end return table.concat(out, ",")`},
		{"gsub with a function", `return string.gsub("hello world", "%w+", function(w) return w:upper() end)`},
		{"gsub with a table", `return string.gsub("$a $b", "%$(%w+)", {a = "1", b = false})`},
		{"find", `return string.find("sip:alice@example.com", "@(.-)%.", 1)`},
		{"plain find", `return ("a.b"):find(".", 1, true)`},
		{"match", `return string.match("To: <sip:bob@x>;tag=9", "<(.-)>;tag=(%d+)")`},
		{"rep", `return string.rep("ab", 3), string.rep("x", 0), string.rep("x", -1)`},
		{"format", `return string.format("%s=%d %5.2f %q", "n", 42, 3.14159, 'a"b')`},
		{"upper lower reverse", `return ("Ab"):upper(), ("Ab"):lower(), ("abc"):reverse()`},
		{"table.concat", `return table.concat({1, "b", 3}, "-"), table.concat({}, "x"), table.concat({"a", "b", "c"}, "", 2, 3)`},
	})
}

func compareWithGopherLua(t *testing.T, cases []struct{ name, src string }) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := runPlain(t, c.src)
			rec := &record{}
			st, _ := newState(t, "function f()\n"+c.src+"\nend\nfunction r() KSR.t.str(join(f())) end\n"+joinLua, rec)
			if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
				t.Fatal(err)
			}
			if got := rec.args.Str(0); got != want {
				t.Errorf("kemi gives %q, gopher-lua %q", got, want)
			}
		})
	}
}

// joinLua joins a function's results as text, so they compare as one
// string.
const joinLua = `function join(...)
	local out = {}
	for i = 1, select("#", ...) do out[i] = tostring((select(i, ...))) end
	return select("#", ...) .. ":" .. table.concat(out, "|")
end
`

// runPlain runs src on a plain gopher-lua state, .. compiled to OP_CONCAT.
func runPlain(t *testing.T, src string) string {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	// the chunk name kemi's test states use, so that positions compare
	fn, err := L.Load(strings.NewReader("function f()\n"+src+"\nend\n"+joinLua+"result = join(f())"), "t.lua")
	if err == nil {
		L.Push(fn)
		err = L.PCall(0, 0, nil)
	}
	if err != nil {
		t.Fatalf("plain gopher-lua: %v", err)
	}
	return L.GetGlobal("result").String()
}

// TestConcatErrors checks that a failed .. points at its line, the line
// where it ends as in Lua 5.1, and names no internal function, in the
// message or the traceback.
func TestConcatErrors(t *testing.T) {
	st, _ := newState(t, `function r()
	local t = {}

	local s = "a" ..
		t.missing
end
function meta()
	local bad = setmetatable({}, {__concat = function(a, b) error("no concat here") end})
	return "x" .. bad
end
function chain()
	local x
	return x
		.. "a"
		.. "b"
end
`, &record{})
	for fn, want := range map[string]string{"r": "t.lua:5:", "meta": "t.lua:8: no concat here", "chain": "t.lua:15:"} {
		_, err := st.Call(fn, kemi.RouteRequest, msg(t))
		var rerr *luaext.RuntimeError
		if !errors.As(err, &rerr) || !strings.HasPrefix(rerr.Msg, want) {
			t.Fatalf("%s: err = %v, want %q", fn, err, want)
		}
		if strings.Contains(rerr.Msg+rerr.Traceback, "\x00") || strings.Contains(rerr.Traceback, "concat") {
			t.Errorf("%s: internal name shows: %q\n%s", fn, rerr.Msg, rerr.Traceback)
		}
	}
}
