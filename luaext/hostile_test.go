package luaext_test

import (
	"errors"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// TestDeepNestingIsRefused: gopher-lua's compiler recurses once per
// nesting level and Go ends the process when a goroutine's stack passes
// 1 GB, which loadstring of a few MB of "{" in a route did. Such a chunk is
// refused, in the script and at run time; nesting as deep as real scripts
// go still compiles.
func TestDeepNestingIsRefused(t *testing.T) {
	for _, src := range []string{
		"return " + strings.Repeat("{", 1200) + strings.Repeat("}", 1200),
		"return " + strings.Repeat("not ", 1200) + "x",
		"return 1" + strings.Repeat(" + 1", 1200),
		strings.Repeat("do ", 1200) + strings.Repeat("end ", 1200),
		"if x then " + strings.Repeat("elseif x then ", 1200) + "end",
	} {
		_, err := luaext.Compile("t.lua", []byte("local x = 1\n"+src))
		var serr *luaext.SyntaxError
		if !errors.As(err, &serr) || serr.Line != 2 || !strings.Contains(serr.Msg, "chunk has too many syntax levels") {
			t.Errorf("%.30s...: err = %v, want too many syntax levels at line 2", src, err)
		}
	}
	ordinary := "local a = " + strings.Repeat("-(", 150) + "1" + strings.Repeat(")", 150) + "\n" +
		"if x then " + strings.Repeat("elseif x then ", 300) + "end\n" +
		"return " + strings.Repeat("{", 150) + strings.Repeat("}", 150)
	if _, err := luaext.Compile("t.lua", []byte("local function f()\n"+ordinary+"\nend\n")); err != nil {
		t.Errorf("ordinary nesting: %v", err)
	}

	rec := &record{}
	st, _ := newState(t, `function r()
	local f, err = loadstring("return " .. string.rep("{", 1e5) .. string.rep("}", 1e5))
	KSR.t.str(tostring(f) .. " " .. err)
end`, rec)
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.args.Str(0), "nil <string>:1: chunk has too many syntax levels"; !strings.HasPrefix(got, want) {
		t.Errorf("loadstring gives %q, want %q", got, want)
	}
}

// allocatedBy returns the bytes the process allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestManyValuesOnTheStack: unpack and string.byte push their values from
// Go, where no time limit reaches; the stack grows in a few large steps
// (it grew 256 slots at a time, copying itself each time: unpack of 200
// 000 values copied over a gigabyte), and past its maximum the call fails.
func TestManyValuesOnTheStack(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `big = {} for i = 1, 200000 do big[i] = i end
function r()
	local n = select("#", unpack(big)) + select("#", string.byte(string.rep("x", 200000), 1, -1))
	local ok, err = pcall(unpack, {}, 1, 1e8)
	KSR.t.str(n .. " " .. tostring(ok) .. " " .. err)
end`, rec)
	n := allocatedBy(func() {
		if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
			t.Fatal(err)
		}
	})
	if got, want := rec.args.Str(0), "400000 false t.lua:4: registry overflow"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if n > 256<<20 {
		t.Errorf("the route allocated %d MiB to push 200 000 values", n>>20)
	}
}

// TestLargeIntegerKey: gopher-lua fills a table's array part with nils up
// to a new integer key, inside the one assignment; a large key goes to the
// hash part instead, and reads back as any key does.
func TestLargeIntegerKey(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `function r()
	local t = {}
	t[67108863] = "far"
	t[100000] = "near"
	local n = 0 for _ in pairs(t) do n = n + 1 end
	KSR.t.str(t[67108863] .. " " .. t[100000] .. " " .. n)
end`, rec)
	n := allocatedBy(func() {
		if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
			t.Fatal(err)
		}
	})
	if got, want := rec.args.Str(0), "far near 2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if n > 256<<20 {
		t.Errorf("two assignments allocated %d MiB", n>>20)
	}
}

// TestLoadWithAGoReader: load calls its reader until it returns nothing;
// a Go function as the reader (os.date never does) runs no VM instruction,
// where a stop would be noticed, so load looks for the stop itself.
func TestLoadWithAGoReader(t *testing.T) {
	st, _ := newState(t, "function r()\n\tload(os.date)\nend\n", &record{}, func(o *luaext.Options) {
		o.Timeout, o.MemoryLimit = 50*time.Millisecond, 0
	})
	err := callWatched(t, st, "r")
	var rerr *luaext.RuntimeError
	if !errors.As(err, &rerr) || !rerr.Timeout || rerr.Msg != "t.lua:2: route r stopped: ran longer than 50ms" {
		t.Fatalf("err = %v, want the time stop", err)
	}
}

// TestAccountedFunctionsKeepLuaSemantics: the functions that count what
// they build (see accountLibs) give what gopher-lua's give, positions
// included.
func TestAccountedFunctionsKeepLuaSemantics(t *testing.T) {
	compareWithGopherLua(t, []struct{ name, src string }{
		{"error levels", `local function f(l) error("x", l) end
			local function g(l) f(l) end
			return select(2, pcall(g, 1)), select(2, pcall(g, 2)), select(2, pcall(g, 0)), select(2, pcall(error, {})) ~= nil`},
		{"assert", `return select(2, pcall(assert, false, "m")), select(2, pcall(assert, nil)), assert(1, "unused")`},
		{"debug.traceback", `return (debug.traceback("msg"):gsub("\n.*", ""))`},
		{"require from package.preload", `package.preload.pm = function(name) return name .. "!" end return require("pm"), require("pm")`},
		{"module", `package.preload.m2 = function() module("m2.sub", package.seeall) function hello() return _NAME .. " " .. _PACKAGE end end
			require("m2") return m2.sub.hello()`},
		{"os.date", `return os.date("!%Y-%m-%d %H:%M:%S", 86400 * 365), type(os.date())`},
	})
}

// TestLongChunkName: every error of a chunk starts with its name; a long
// name given to loadstring or load is cut, as Lua 5.1 cuts it in messages.
func TestLongChunkName(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `function r()
	local name = string.rep("n", 1048576)
	local _, e1 = pcall(loadstring("error('x')", name))
	local _, e2 = pcall(load(function() local s = src src = nil return s end, name))
	KSR.t.str(e1 .. "|" .. e2)
end
src = "local t = nil return t.x"`, rec)
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("n", 57) + "..."
	if got, want := rec.args.Str(0), name+":1: x|"+name+":1: attempt to index a non-table object(nil) with key 'x'"; got != want {
		t.Errorf("got  %.200q\nwant %q", got, want)
	}
}

// TestSortStops: table.sort compares in Go, where no VM instruction
// notices a stop; it looks for one itself, so a large sort ends with the
// route, not after it.
func TestSortStops(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `big = {} for i = 1, 300000 do big[i] = (i * 7919) % 300007 end
function r()
	table.sort(big)
	sorted = true
	while true do end
end
function check() KSR.t.str(tostring(sorted)) end`, rec, func(o *luaext.Options) { o.Timeout = 10 * time.Millisecond })
	err := callWatched(t, st, "r")
	var rerr *luaext.RuntimeError
	if !errors.As(err, &rerr) || !rerr.Timeout || !strings.HasPrefix(rerr.Msg, "t.lua:3: ") {
		t.Fatalf("err = %v, want the time stop at line 3, in table.sort", err)
	}
	if err := callWatched(t, st, "check"); err != nil || rec.args.Str(0) != "nil" {
		t.Errorf("the sort went on after the stop: err=%v sorted=%q", err, rec.args.Str(0))
	}
}

// TestSortKeepsLuaSemantics: kemi's table.sort orders as gopher-lua's.
func TestSortKeepsLuaSemantics(t *testing.T) {
	compareWithGopherLua(t, []struct{ name, src string }{
		{"numbers", `local t = {5, 3, 9, 1, 1, 7, -2, 0.5} table.sort(t) return table.concat(t, " ")`},
		{"strings", `local t = {"b", "a", "B", "aa", "", "z"} table.sort(t) return table.concat(t, " ")`},
		{"comparator", `local t = {5, 3, 9, 1, 7} table.sort(t, function(a, b) return a > b end) return table.concat(t, " ")`},
		{"records", `local t = {} for i = 1, 50 do t[i] = {k = (i * 37) % 11, i = i} end
			table.sort(t, function(a, b) return a.k < b.k end)
			local out = {} for i, v in ipairs(t) do out[i] = v.k end return table.concat(out, ",")`},
		{"__lt", `local mt = {__lt = function(a, b) return a.v < b.v end}
			local t = {} for i = 1, 20 do t[i] = setmetatable({v = (i * 7) % 13}, mt) end table.sort(t)
			local out = {} for i, v in ipairs(t) do out[i] = v.v end return table.concat(out, ",")`},
		{"mixed types", `return pcall(table.sort, {1, "x", 2})`},
		{"empty and one", `local a, b = {}, {1} table.sort(a) table.sort(b) return #a, b[1]`},
		{"not a table", `return pcall(table.sort, 1)`},
		{"error in comparator", `return pcall(table.sort, {1, 2, 3}, function() error("cmp") end)`},
	})
}

// TestCollectGarbage: collectgarbage forces no collection of the whole
// process (gopher-lua's ran runtime.GC for any option, stalling every
// worker), and answers Lua 5.1's options.
func TestCollectGarbage(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `function r()
	local out = {}
	for i = 1, 20 do out[1] = collectgarbage() end
	out[2] = collectgarbage("step")
	out[3] = collectgarbage("count") > 0
	out[4] = collectgarbage("setpause", 150)
	out[5] = collectgarbage("setpause")
	out[6] = select(2, pcall(function() return collectgarbage("nosuch") end))
	for i = 1, 6 do out[i] = tostring(out[i]) end
	KSR.t.str(table.concat(out, " "))
end`, rec)
	forced := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(forced)
	before := forced[0].Value.Uint64()
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatal(err)
	}
	metrics.Read(forced)
	if n := forced[0].Value.Uint64() - before; n != 0 {
		t.Errorf("the route forced %d collections", n)
	}
	if got, want := rec.args.Str(0), "0 true true 200 150 t.lua:8: bad argument #1 to collectgarbage (invalid option 'nosuch')"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestGuardedGlobals: a script may guard its globals with metamethods
// (strict.lua raises on a name it does not define; a hostile one loops):
// looking up a route, which happens outside any route run, does not run
// them.
func TestGuardedGlobals(t *testing.T) {
	for _, guard := range []string{
		`function(t, k) error("undefined global " .. tostring(k), 2) end`,
		`function() while true do end end`,
	} {
		rec := &record{}
		st, _ := newState(t, `function ksr_request_route() KSR.t.str("ran") end
setmetatable(_G, {__index = `+guard+`})`, rec, func(o *luaext.Options) { o.Timeout = 50 * time.Millisecond })
		if st.Has("ksr_reply_route") {
			t.Error("Has: a route the script does not define")
		}
		if res, err := st.Call("ksr_onsend_route", kemi.RouteRequest, msg(t)); res.Ran || err != nil {
			t.Errorf("a route the script does not define: %+v %v", res, err)
		}
		if err := callWatched(t, st, "ksr_request_route"); err != nil || rec.args.Str(0) != "ran" {
			t.Errorf("the route: %v %q", err, rec.args.Str(0))
		}
	}
}
