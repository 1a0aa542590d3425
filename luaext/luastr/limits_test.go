package luastr

import (
	"context"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestContextStopsMatcher runs catastrophic backtracking patterns, which
// take minutes in gopher-lua's matcher, under a context cancelled after
// 100 ms: each must stop with the context's error, and the call return.
func TestContextStopsMatcher(t *testing.T) {
	cases := []string{
		`string.find(string.rep("a", 5000), ".-.-.-.-.-b")`,
		`string.match(string.rep("a", 5000), "(.*)(.*)(.*)(.*)(.*)b")`,
		`string.gsub(string.rep("a", 5000), ".-.-.-.-.-b", "x")`,
		`(function() for w in string.gmatch(string.rep("a", 5000), ".-.-.-.-.-b") do end end)()`,
		`string.find(string.rep("a", 5000), "a*a*a*a*a*a*b")`,
		`string.gsub(string.rep("a", 5000), "a-a-a-a-a-a-b", "")`,
		`string.find(string.rep("a", 5000), "(a-)(a-)(a-)(a-)%1%2%3%4b")`,
	}
	for _, expr := range cases {
		t.Run(expr, func(t *testing.T) {
			L := newState(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			L.SetContext(ctx)
			done := make(chan string, 1)
			start := time.Now()
			go func() { done <- evalString(L, expr) }()
			select {
			case got := <-done:
				if !strings.Contains(got, "context deadline exceeded") {
					t.Fatalf("got %s, want the context's error", got)
				}
				if !strings.HasPrefix(got, "error: t.lua:1: ") {
					t.Errorf("got %q, want the error at the caller's line", got)
				}
				t.Logf("stopped after %v", time.Since(start))
			case <-time.After(30 * time.Second):
				t.Fatal("the pattern was not stopped")
			}
		})
	}
}

// TestContextCancel stops a match when the context is cancelled.
func TestContextCancel(t *testing.T) {
	L := newState(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	L.SetContext(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	got := eval(t, L, `string.find(string.rep("a", 5000), ".-.-.-.-.-b")`)
	if got != "error: t.lua:1: context canceled" {
		t.Fatalf("got %s", got)
	}
}

// TestNoContext: without a context the matcher still runs to the end, and
// its recursion is bounded so that no pattern overflows the stack.
func TestNoContext(t *testing.T) {
	L := newState(t, nil)
	if got := eval(t, L, `string.find(string.rep("a", 20), ".-.-b")`); got != "nil" {
		t.Errorf("got %s", got)
	}
	deep := []string{
		`string.match(string.rep("a", 100000), string.rep("a?", 100000))`,
		`string.match(string.rep("a", 100000), string.rep("a-", 50000) .. "b")`,
		`string.match(string.rep("a", 100000), string.rep("()", 50000))`,
	}
	for _, expr := range deep {
		if got := eval(t, L, expr); got != "error: t.lua:1: pattern too complex" && got != "error: t.lua:1: too many captures" {
			t.Errorf("%s: got %s", expr, got)
		}
	}
	if got := eval(t, L, `string.match(string.rep("a", 300), string.rep("a?", 199))`); got != `"`+strings.Repeat("a", 199)+`"` {
		t.Errorf("199 levels: got %s", got)
	}
}

// TestBudget checks that each function asks the Budget for what it builds
// before building it, and raises its refusal.
func TestBudget(t *testing.T) {
	cases := []struct {
		expr  string
		limit int
		want  string
		grows []int // the Grow calls, when checked
	}{
		{`string.rep("ab", 3)`, 100, `"ababab"`, []int{6}},
		{`string.rep("ab", 3)`, 5, "error: t.lua:1: route memory limit exceeded", []int{6}},
		{`string.rep("ab", 2^29)`, 1 << 20, "error: t.lua:1: route memory limit exceeded", []int{1 << 30}},
		{`string.rep("ab", 2^31 - 1)`, 1 << 40, "error: t.lua:1: resulting string too large", []int{}},
		{`string.rep(string.rep("x", 2^20), 2^31 - 1)`, 1 << 40, "error: t.lua:1: resulting string too large", []int{1 << 20}},
		{`string.rep("ab", 0)`, 0, `""`, nil},
		{`"ab" .. "cd" .. 12`, 100, `"abcd12"`, []int{6}},
		{`"ab" .. "cd" .. 12`, 5, "error: t.lua:1: route memory limit exceeded", []int{6}},
		{`table.concat({"a", "bc", 1.5}, ", ")`, 100, `"a, bc, 1.5"`, []int{10}},
		{`table.concat({"a", "bc", 1.5}, ", ")`, 9, "error: t.lua:1: route memory limit exceeded", []int{10}},
		{`string.upper("abc")`, 100, `"ABC"`, []int{3}},
		{`string.upper("ABC")`, 0, `"ABC"`, nil},
		{`string.lower("ABC")`, 2, "error: t.lua:1: route memory limit exceeded", []int{3}},
		{`string.reverse("abc")`, 2, "error: t.lua:1: route memory limit exceeded", []int{3}},
		{`string.char(104, 105)`, 100, `"hi"`, []int{2}},
		{`string.char(104, 105, 33)`, 2, "error: t.lua:1: route memory limit exceeded", []int{3}},
		{`string.format("%s-%s", "abc", "def")`, 100, `"abc-def"`, nil},
		{`string.format("%s", ("x"):rep(50))`, 70, "error: t.lua:1: route memory limit exceeded", nil},
		{`string.gsub("hello", "l", "L")`, 100, `"heLLo" 2`, []int{5}},
		{`string.gsub(("a"):rep(1000), "a", ("b"):rep(1000))`, 100000, "error: t.lua:1: route memory limit exceeded", nil},
	}
	for _, c := range cases {
		b := &testBudget{limit: c.limit}
		L := newState(t, b)
		got := eval(t, L, c.expr)
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.expr, got, c.want)
		}
		if c.grows != nil && !slices.Equal(b.calls, c.grows) {
			t.Errorf("%s: Grow calls %v, want %v", c.expr, b.calls, c.grows)
		}
		if b.used > c.limit {
			t.Errorf("%s: used %d of %d", c.expr, b.used, c.limit)
		}
	}
}

// TestBudgetRefusesBeforeBuilding: a refused string.rep of a gigabyte and
// a gsub whose result would pass the bound allocate nothing like it.
func TestBudgetRefusesBeforeBuilding(t *testing.T) {
	for _, expr := range []string{
		`string.rep("x", 2^30)`,
		`string.gsub(("a"):rep(10000), "a", ("b"):rep(100000))`,
		`table.concat({("x"):rep(1000)}, ("y"):rep(1000), 1, 1) .. ("z"):rep(2^30)`,
		`("x"):rep(2^15) .. ("x"):rep(2^15) .. ("y"):rep(2^29)`,
	} {
		b := &testBudget{limit: 1 << 20}
		L := newState(t, b)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := eval(t, L, expr)
		runtime.ReadMemStats(&after)
		if got != "error: t.lua:1: route memory limit exceeded" {
			t.Errorf("%s: got %.80s", expr, got)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
			t.Errorf("%s: allocated %d bytes", expr, grew)
		}
	}
}

// TestGsubAccountsInChunks: a large result is accounted as it grows, and
// the accounted total stays close to its size.
func TestGsubAccountsInChunks(t *testing.T) {
	b := &testBudget{limit: 1 << 30}
	L := newState(t, b)
	if err := L.DoString(`s = ("a"):rep(100000)`); err != nil {
		t.Fatal(err)
	}
	b.calls, b.used = nil, 0
	got := eval(t, L, `#string.gsub(s, "a", "bb")`)
	if got != "200000" {
		t.Fatalf("got %s", got)
	}
	if len(b.calls) < 2 || b.used > 200000*5/4+64 {
		t.Errorf("Grow calls %v, accounted %d for a 200000-byte result", b.calls, b.used)
	}
}

// TestNilBudget: no Budget, no bound; sizes that do not fit still fail
// cleanly.
func TestNilBudget(t *testing.T) {
	L := newState(t, nil)
	if got := eval(t, L, `#string.rep("ab", 100000)`); got != "200000" {
		t.Errorf("got %s", got)
	}
	if got := eval(t, L, `string.rep(("x"):rep(2^20), 2^31-1):rep(2^31-1)`); got != "error: t.lua:1: resulting string too large" {
		t.Errorf("got %.80s", got)
	}
}

// TestConcatErrorLine: an error in a rewritten `..` is reported at the line
// that holds the `..`, as it is for any other error.
func TestConcatErrorLine(t *testing.T) {
	L := newState(t, nil)
	src := "local t = {}\nlocal x = 'a'\n\nlocal s = x .. 'b' .. t.missing\nreturn s\n"
	err := doRewritten(L, src)
	if err == nil || !strings.Contains(err.Error(), "<string>:4: attempt to concatenate a nil value") {
		t.Fatalf("got %v", err)
	}
	// Over several lines, Lua 5.1 reports the last operand's line.
	src = "local function f(v)\n  return 'x' ..\n    'y' ..\n    v\nend\nreturn f({})\n"
	err = doRewritten(L, src)
	if err == nil || !strings.Contains(err.Error(), "<string>:4: attempt to concatenate a table value") {
		t.Fatalf("got %v", err)
	}
}

// TestLibraryErrorLine: library errors carry the line of the Lua call,
// tail calls included, and none when Go code (pcall) calls the function,
// as in Lua 5.1.
func TestLibraryErrorLine(t *testing.T) {
	L := newState(t, nil)
	src := "local function f(s)\n  return string.find(s, '(')\nend\nlocal ok, err = pcall(f, 'a')\nlocal ok2, err2 = pcall(string.rep)\nreturn err, err2\n"
	fn, err := loadRewritten(L, src, "r.lua")
	if err != nil {
		t.Fatal(err)
	}
	L.Push(fn)
	if err := L.PCall(0, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := L.Get(-2).String(); got != "r.lua:2: unfinished capture" {
		t.Errorf("got %q", got)
	}
	if got := L.Get(-1).String(); got != "bad argument #1 to '?' (string expected, got no value)" {
		t.Errorf("got %q", got)
	}
}

// TestConcatMetamethods: __concat of either operand, pairwise from the
// right, as Lua 5.1 applies it.
func TestConcatMetamethods(t *testing.T) {
	L := newState(t, nil)
	if err := L.DoString(`M = setmetatable({}, {__concat = function(a, b)
		return "M(" .. type(a) .. "," .. type(b) .. ")" end})`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []evalCase{
		{`M .. "x"`, `"M(table,string)"`},
		{`1 .. M`, `"M(number,table)"`},
		{`"a" .. "b" .. M`, `"aM(string,table)"`},
		{`"a" .. M .. "b" .. "c"`, `"aM(table,string)"`},
		{`M .. M`, `"M(table,table)"`},
	} {
		if got := eval(t, L, c.expr); got != c.want {
			t.Errorf("%s: got %s, want %s", c.expr, got, c.want)
		}
	}
}

// TestOpenReplaces checks that Open replaced the functions in the string
// table, in the table strings' methods come from, and gfind.
func TestOpenReplaces(t *testing.T) {
	L := newState(t, &testBudget{limit: 0})
	for _, expr := range []string{`("ab"):rep(3)`, `("ab"):upper()`, `("ab"):reverse()`, `("a"):gsub("a", "bb")`, `("%s"):format("xy")`} {
		if got := eval(t, L, expr); got != "error: t.lua:1: route memory limit exceeded" {
			t.Errorf("%s: got %s, want the Budget's refusal", expr, got)
		}
	}
	str := L.GetGlobal("string").(*lua.LTable)
	if str.RawGetString("gfind") != str.RawGetString("gmatch") {
		t.Error("string.gfind is not the new gmatch")
	}
	mt := L.GetMetatable(lua.LString("")).(*lua.LTable)
	if idx := mt.RawGetString("__index").(*lua.LTable); idx.RawGetString("find") != str.RawGetString("find") {
		t.Error("strings' find method is not string.find")
	}
	if L.GetGlobal(ConcatName).Type() != lua.LTFunction {
		t.Error("ConcatName is not set")
	}
}

// TestNumberLen: the size accounted for a number is the size written, so
// a result is built in the buffer accounted for it (-0 is written "-0").
func TestNumberLen(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 9, -1, 10, 0.5, -0.5, 1e15, 1e100, -1e-100,
		math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, -(1 << 63)} {
		if got, want := numberLen(f), len(appendNumber(nil, f)); got != want {
			t.Errorf("numberLen(%v) = %d, %q has %d bytes", f, got, appendNumber(nil, f), want)
		}
	}
	b := &testBudget{limit: 100}
	L := newState(t, b)
	if got := eval(t, L, `table.concat({-0, -0, -0}, "") .. -0`); got != `"-0-0-0-0"` || b.used != 14 {
		t.Errorf("got %s, accounted %d bytes, want 6 + 8", got, b.used)
	}
}
