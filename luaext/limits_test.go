package luaext_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// callWatched runs the route name as the engine does: a watchdog calls
// Overrun until the route returns. It fails the test if the route is not
// stopped within a generous bound.
func callWatched(t *testing.T, st *luaext.State, name string) error {
	t.Helper()
	done := make(chan error, 1)
	m := msg(t)
	go func() {
		_, err := st.Call(name, kemi.RouteRequest, m)
		done <- err
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			return err
		case now := <-tick.C:
			st.Overrun(now)
		case <-deadline:
			t.Fatalf("route %s was never stopped", name)
		}
	}
}

// TestLimitsStopRoutes runs routes that would run forever or take the
// process's memory: each is stopped with an error that says why, and the
// state serves the next route.
func TestLimitsStopRoutes(t *testing.T) {
	const limit = 4 << 20
	cases := []struct {
		name   string
		body   string
		memory bool   // stopped by the memory bound, else by the time limit
		want   string // in the error
	}{
		{"loop", `while true do end`, false, "t.lua:2: route r stopped: ran longer than 100ms"},
		{"loop in pcall", `while true do pcall(function() while true do end end) end`, false, "route r stopped: ran longer than 100ms"},
		{"backtracking string.find", `string.find(string.rep("a", 3000), ".-.-.-.-.-b")`, false, "route r stopped: ran longer than 100ms"},
		{"backtracking string.match", `string.match(string.rep("a", 3000), ".-.-.-.-.-b")`, false, "route r stopped: ran longer than 100ms"},
		{"loop in a coroutine", `coroutine.wrap(function() while true do end end)()`, false, "route r stopped: ran longer than 100ms"},
		{"loop in a resumed coroutine", `local co = coroutine.create(function() while true do end end)
			local ok, err = coroutine.resume(co)
			while true do end`, false, "route r stopped: ran longer than 100ms"},
		{"string.rep loop", `local t = {}
			for i = 1, 1e9 do t[#t + 1] = string.rep("x", 65536) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"one huge string.rep", `local s = string.rep("x", 2^30)`, true, "route r built more than 4 MiB of strings: stopped"},
		{"s = s .. s", `local s = "x"
			while true do s = s .. s end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{".. in a chain", `local s = "x"
			while true do s = "<" .. s .. ">" .. s end`, true, "route r built more than 4 MiB of strings: stopped"},
		{"table.concat", `local t = {string.rep("x", 1024)}
			while true do t[#t + 1] = table.concat(t) end`, true, "route r built more than 4 MiB of strings: stopped"},
		{"string.upper", `local s = string.rep("x", 1048576)
			while true do s = s:upper():lower() end`, true, "route r built more than 4 MiB of strings: stopped"},
		{"pcall does not catch the stop", `while true do pcall(string.rep, "x", 1048576) end`, true, "route r built more than 4 MiB of strings: stopped"},
		{".. in loadstring's code", `loadstring("local s = 'x' while true do s = s .. s end")()`, true, "built more than 4 MiB of strings: stopped"},
		{".. in a coroutine", `coroutine.wrap(function() local s = "x" while true do s = s .. s end end)()`, true, "route r built more than 4 MiB of strings: stopped"},
		{"error messages kept", `local s, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, pcall(error, s)) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"error messages kept, raised from Lua", `local s, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, pcall(function() error(s) end)) end`, true, "route r built more than 4 MiB of strings: stopped"},
		{"assert messages kept", `local s, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, pcall(assert, false, s)) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"debug.traceback messages kept", `local s, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = debug.traceback(s) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"require messages kept", `local s, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, pcall(require, s)) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"messages of gopher-lua's errors kept", `local k, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, pcall(function() local n return n[k] end)) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"messages kept by xpcall", `local k, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, xpcall(function() local n return n[k] end, function(e) return e end)) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"messages kept by coroutine.resume", `local k, t = string.rep("x", 1048576), {}
			for i = 1, 64 do t[i] = select(2, coroutine.resume(coroutine.create(function() local n return n[k] end))) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"module of a long dotted name", `module(string.rep("a.", 100000) .. "a")`, true, "t.lua:2: route r built more than 4 MiB of strings: stopped"},
		{"os.date of a long format", `local f, t = string.rep("%c", 65536), {}
			for i = 1, 64 do t[i] = os.date(f) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"coroutines kept", `local t = {}
			for i = 1, 1000 do t[i] = coroutine.create(function() end) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"coroutine.wrap kept", `local t = {}
			for i = 1, 1000 do t[i] = coroutine.wrap(function() end) end`, true, "t.lua:3: route r built more than 4 MiB of strings: stopped"},
		{"loadstring of a large chunk", `local f = loadstring(string.rep("x = 1 ", 1000))`, true, "t.lua:2: route r built more than 4 MiB of strings: stopped"},
		{"load of a large chunk", `local i = 0 local f = load(function() i = i + 1 if i <= 1000 then return "x = 1 " end end)`, true, "t.lua:2: route r built more than 4 MiB of strings: stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &record{}
			st, _ := newState(t, "function r()\n\t"+c.body+"\nend\n"+
				"function ok() local s = string.rep('y', 1572864) .. 'z' KSR.t.str(#s) end\n"+
				"function light() KSR.t.str('fine') end\n", rec,
				func(o *luaext.Options) {
					// a memory case has all the time it needs
					o.Timeout, o.MemoryLimit = 100*time.Millisecond, limit
					if c.memory {
						o.Timeout = 10 * time.Second
					}
				})
			err := callWatched(t, st, "r")
			var rerr *luaext.RuntimeError
			if !errors.As(err, &rerr) {
				t.Fatalf("err = %v, want a RuntimeError", err)
			}
			if rerr.Memory != c.memory || rerr.Timeout == c.memory {
				t.Errorf("memory=%v timeout=%v, want memory=%v", rerr.Memory, rerr.Timeout, c.memory)
			}
			if !strings.Contains(rerr.Msg, c.want) {
				t.Errorf("err = %q, want %q", rerr.Msg, c.want)
			}
			if !c.memory {
				if err := callWatched(t, st, "light"); err != nil || rec.args.Str(0) != "fine" {
					t.Fatalf("after the stop: err=%v got %q", err, rec.args.Str(0))
				}
				return
			}
			// the next run has its whole budget again: 3 MiB each
			for i := 0; i < 2; i++ {
				if err := callWatched(t, st, "ok"); err != nil || rec.args.Str(0) != "1572865" {
					t.Fatalf("run %d after the stop: err=%v got %q", i, err, rec.args.Str(0))
				}
			}
		})
	}
}

// TestCoroutineOutlivesItsRun checks that a coroutine created at the top
// level or in an earlier (even stopped) run still works: gopher-lua ties a
// coroutine to the context of its creation.
func TestCoroutineOutlivesItsRun(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `
gen = coroutine.wrap(function() local i = 0 while true do i = i + 1 coroutine.yield(i) end end)
co = coroutine.create(function() for i = 1, 1e9 do coroutine.yield(i) end end)
function next_value()
	local ok, v = coroutine.resume(co)
	KSR.t.str(tostring(ok) .. " " .. tostring(v) .. " " .. gen())
end
function spin() while true do end end
function later() later_co = coroutine.create(function() coroutine.yield(1) coroutine.yield(2) end) coroutine.resume(later_co) spin() end
function resume_later() local ok, v = coroutine.resume(later_co) KSR.t.str(tostring(ok) .. " " .. tostring(v)) end
`, rec, func(o *luaext.Options) { o.Timeout = 50 * time.Millisecond; o.MemoryLimit = 1 << 20 })
	for i, want := range []string{"true 1 1", "true 2 2"} {
		if err := callWatched(t, st, "next_value"); err != nil || rec.args.Str(0) != want {
			t.Fatalf("run %d: err=%v got %q, want %q", i, err, rec.args.Str(0), want)
		}
	}
	if err := callWatched(t, st, "later"); err == nil {
		t.Fatal("spin was not stopped")
	}
	if err := callWatched(t, st, "resume_later"); err != nil || rec.args.Str(0) != "true 2" {
		t.Fatalf("coroutine of a stopped run: err=%v got %q", err, rec.args.Str(0))
	}
	if err := callWatched(t, st, "next_value"); err != nil || rec.args.Str(0) != "true 3 3" {
		t.Fatalf("after a stop: err=%v got %q", err, rec.args.Str(0))
	}
}

func TestTopLevelLimits(t *testing.T) {
	compile := func(src string) *luaext.Script {
		sc, err := luaext.Compile("t.lua", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	// the top level has the memory bound too
	_, err := luaext.NewState(compile("local s = 'x'\nwhile true do s = s .. s end\n"), luaext.Options{MemoryLimit: 1 << 20})
	var rerr *luaext.RuntimeError
	if !errors.As(err, &rerr) || !rerr.Memory || rerr.Msg != "t.lua:2: script top level built more than 1 MiB of strings: stopped" {
		t.Fatalf("err = %v, want the memory stop at line 2", err)
	}
	// and keeps DefaultTopLevelTimeout when routes have a shorter limit
	st, err := luaext.NewState(compile("local t0 = os.clock()\nwhile os.clock() - t0 < 0.2 do end\nfunction r() end\n"),
		luaext.Options{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("a 200ms top level with a 20ms route limit: %v", err)
	}
	st.Close()
}

// TestTopLevelKSRCallsAreRecorded: a KSR function at the top level has no
// message; the state remembers where it was called, for kemi check.
func TestTopLevelKSRCallsAreRecorded(t *testing.T) {
	st, _ := newState(t, "KSR.t.str('x')\nfor i = 1, 3 do KSR.x.modf('str', 'y') end\nfunction r() KSR.t.str('in a route') end\n", &record{})
	want := []luaext.TopLevelCall{{Func: "KSR.t.str", Where: "t.lua:1"}, {Func: "KSR.x.modf", Where: "t.lua:2"}}
	got := st.TopLevelCalls()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("top-level calls = %v, want %v", got, want)
	}
	if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil || len(st.TopLevelCalls()) != 2 {
		t.Fatalf("a route's call counted: %v %v", err, st.TopLevelCalls())
	}
}
