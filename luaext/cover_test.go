package luaext_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// coverScript has every kind of line: statements, an elseif, a function
// in a table, a loop, comments, blank lines and lines inside a statement.
const coverScript = `-- a comment
local n = 0
function sign(a)
	a = tonumber(a)
	if a > 0 then
		return "pos"
	elseif a < 0 then
		return "neg"
	else
		return "zero"
	end
end

local t = {
	g = function() return 1 end,
}
function loop()
	for i = 1, 3 do
		n = n + i
	end
	return n
end
`

func TestCoverCountsExecutableLines(t *testing.T) {
	sc, cov, err := luaext.CompileCovered("cover.lua", []byte(coverScript))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{2, 3, 4, 5, 6, 7, 8, 10, 14, 15, 17, 18, 19, 21}
	if got := cov.Lines(); !equalInts(got, want) {
		t.Fatalf("executable lines %v, want %v", got, want)
	}
	st, err := luaext.NewState(sc, luaext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range []string{"5", "-1"} {
		if _, err := st.Call("sign", kemi.RouteNone, nil, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Call("loop", kemi.RouteNone, nil); err != nil {
		t.Fatal(err)
	}
	// ran: 2 3 14 17 (top level), 4 5 twice, 6, 7 8, 18 19 (x3) 21; not:
	// 10 (zero), 15 (g never called)
	ran, total := cov.Covered()
	if ran != 12 || total != 14 {
		t.Errorf("covered %d of %d, want 12 of 14", ran, total)
	}
	if p := cov.Percent(); p < 85.71 || p > 85.72 {
		t.Errorf("percent %.4f, want 85.71", p)
	}
	for line, n := range map[int]int64{2: 1, 4: 2, 5: 2, 6: 1, 7: 1, 8: 1, 10: 0, 15: 0, 18: 1, 19: 3, 21: 1} {
		if got := cov.Count(line); got != n {
			t.Errorf("line %d ran %d times, want %d", line, got, n)
		}
	}
	var b strings.Builder
	if err := cov.WriteListing(&b); err != nil {
		t.Fatal(err)
	}
	wantListing := `cover.lua: 85.7% of 14 lines (12 ran)
         | -- a comment
       1 | local n = 0
       1 | function sign(a)
       2 | 	a = tonumber(a)
       2 | 	if a > 0 then
       1 | 		return "pos"
       1 | 	elseif a < 0 then
       1 | 		return "neg"
         | 	else
      !0 | 		return "zero"
         | 	end
         | end
         | 
       1 | local t = {
      !0 | 	g = function() return 1 end,
         | }
       1 | function loop()
       1 | 	for i = 1, 3 do
       3 | 		n = n + i
         | 	end
       1 | 	return n
         | end
`
	if b.String() != wantListing {
		t.Errorf("listing:\n%s\nwant:\n%s", b.String(), wantListing)
	}
}

// TestCoverKeepsBehaviour: a script compiled with counts gives what it
// gives without, errors and their positions included.
func TestCoverKeepsBehaviour(t *testing.T) {
	cases := []struct{ name, src string }{
		{"values", `local a, b = 1, "x" return a .. b`},
		{"tail call", `local function f(n) if n == 0 then return "done" end return f(n - 1) end return f(100000)`},
		{"varargs", `local function f(...) return select("#", ...), ... end return table.concat({f("a", "b")}, ",")`},
		{"closures", `local fs = {} for i = 1, 3 do fs[i] = function() return i end end return fs[1]() + fs[3]()`},
		{"repeat", `local i = 0 repeat i = i + 1 until i >= 3 return i`},
		{"while break", `local i = 0 while true do i = i + 1 if i > 4 then break end end return i`},
		{"runtime error position", "local x = nil\nreturn x + 1"},
		{"error call position", "local function f()\n\terror(\"boom\")\nend\nf()"},
		{"pcall", `local ok, err = pcall(function() error({code = 7}) end) return tostring(ok) .. err.code`},
		{"debug line", "return debug.getinfo(1, 'l').currentline"},
		{"multi-line call", "return string.format(\n\"%s-%s\",\n\"a\",\n\"b\")"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := []byte("function r()\n" + c.src + "\nend\n")
			plain, err := luaext.Compile("t.lua", src)
			if err != nil {
				t.Fatal(err)
			}
			covered, _, err := luaext.CompileCovered("t.lua", src)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := runR(t, covered), runR(t, plain); got != want {
				t.Errorf("with counts %q, without %q", got, want)
			}
		})
	}
}

// runR runs r() and gives its result or its error as text.
func runR(t *testing.T, sc *luaext.Script) string {
	t.Helper()
	st, err := luaext.NewState(sc, luaext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.L.DoString(`function run() local ok, v = pcall(r) result = tostring(ok) .. ":" .. tostring(v) end`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Call("run", kemi.RouteNone, nil); err != nil {
		return "error: " + err.Error()
	}
	return st.L.GetGlobal("result").String()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
