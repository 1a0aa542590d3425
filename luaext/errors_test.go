package luaext_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// TestTracebackNamesTheRoute: the route called from Go is named in the
// traceback (gopher-lua says "main chunk"), whichever route it is.
func TestTracebackNamesTheRoute(t *testing.T) {
	st, _ := newState(t, `function ksr_request_route()
	helper()
end
function failure_manage()
	local s = "a" .. helper()
end
function helper()
	error("boom")
end
`, &record{})
	for route, want := range map[string][]string{
		"ksr_request_route": {"t.lua:8: in function 'helper'", "t.lua:2: in function 'ksr_request_route'"},
		"failure_manage":    {"t.lua:8: in function 'helper'", "t.lua:5: in function 'failure_manage'"},
	} {
		_, err := st.Call(route, kemi.RouteFailure, msg(t))
		var rerr *luaext.RuntimeError
		if !errors.As(err, &rerr) {
			t.Fatalf("%s: err = %v", route, err)
		}
		for _, w := range want {
			if !strings.Contains(rerr.Traceback, w) {
				t.Errorf("%s: traceback lacks %q:\n%s", route, w, rerr.Traceback)
			}
		}
		if strings.Contains(rerr.Traceback, "main chunk") || strings.Contains(rerr.Traceback, "concat") {
			t.Errorf("%s: traceback:\n%s", route, rerr.Traceback)
		}
	}
}

// TestDebugTracebackNamesTheRoute: debug.traceback writes the stack as a
// route error's traceback is written: the route by its name, no frame of
// the call `..` compiles to (gopher-lua's named it with a zero byte), a
// function without a name as Lua 5.1 writes it.
func TestDebugTracebackNamesTheRoute(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `function ksr_request_route()
	local mt = {__concat = function(a, b) return debug.traceback("in concat") end}
	KSR.t.str(("x" .. setmetatable({}, mt)) .. "|" .. debug.traceback() .. "|" .. tostring(debug.traceback(nil, 2)))
end
`, rec)
	if _, err := st.Call("ksr_request_route", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	want := "in concat\nstack traceback:\n\tt.lua:2: in function <t.lua:2>\n\tt.lua:3: in function 'ksr_request_route'" +
		"|stack traceback:\n\tt.lua:3: in function 'ksr_request_route'" +
		"|stack traceback:"
	if got := rec.args.Str(0); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestMissingEndNamesTheOpenBlock compares with what Lua 5.1 says
// (lua5.1 file.lua), except the line of the end of the file: kemi points at
// the last line of the text, Lua at the one after the final newline.
func TestMissingEndNamesTheOpenBlock(t *testing.T) {
	cases := []struct {
		src, want string
	}{
		{"function f()\n  if x then\n  y()\nend\n", "t.lua:4: 'end' expected (to close 'function' at line 1) near '<eof>'"},
		{"x = (1\n", "t.lua:1: ')' expected near '<eof>'"},
		{"f(1,\n\n2\n", "t.lua:3: ')' expected (to close '(' at line 1) near '<eof>'"},
		{"while true do\n x()\n", "t.lua:2: 'end' expected (to close 'while' at line 1) near '<eof>'"},
		{"repeat\n x()\n", "t.lua:2: 'until' expected (to close 'repeat' at line 1) near '<eof>'"},
		{"for i=1,2 do\n x()\n", "t.lua:2: 'end' expected (to close 'for' at line 1) near '<eof>'"},
		{"if x then\n y()\nelse\n z()\n", "t.lua:4: 'end' expected (to close 'if' at line 1) near '<eof>'"},
		{"do\n y()\n\n\n", "t.lua:2: 'end' expected (to close 'do' at line 1) near '<eof>'"},
		{"f(function()\n  y()\n", "t.lua:2: 'end' expected (to close 'function' at line 1) near '<eof>'"},
		{"function f() y() ", "t.lua:1: 'end' expected near '<eof>'"},
		{"t = {\n a = 1\n", "t.lua:2: '}' expected (to close '{' at line 1) near '<eof>'"},
		{"while x", "t.lua:1: 'do' expected near '<eof>'"},
		// keywords in strings, long strings and comments are no blocks
		{"function f()\n  local s = \"end\" .. 'end' .. [[\nend]] .. [==[ ]] end ]==]\n  -- end\n  --[[ end\n end ]]\n", "t.lua:6: 'end' expected (to close 'function' at line 1) near '<eof>'"},
		{"function ksr_request_route()\n  if a then\n    b()\n  end\n\nfunction other()\n  c()\nend\n", "t.lua:8: 'end' expected (to close 'function' at line 1) near '<eof>'"},
	}
	for _, c := range cases {
		_, err := luaext.Compile("t.lua", []byte(c.src))
		if err == nil || err.Error() != c.want {
			t.Errorf("Compile(%q)\n = %v\nwant %s", c.src, err, c.want)
		}
	}
}
