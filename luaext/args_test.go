package luaext_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// TestCallExportConvertsAsLua checks that CallExport, which module tests
// use (kemitest.Call), gives a function the same arguments as the same
// call from Lua, and refuses the same wrong counts with the same log.
func TestCallExportConvertsAsLua(t *testing.T) {
	cases := []struct {
		fn   string
		lua  string // the Lua arguments
		args []any  // the same, as Go values
	}{
		{"si", `"404", "12"`, []any{"404", "12"}},
		{"si", `404, 12.9`, []any{404, 12.9}},
		{"si", `1.5, "0x10"`, []any{1.5, "0x10"}},
		{"si", `nil, true`, []any{nil, true}},
		{"si", `"a", 7, "extra"`, []any{"a", 7, "extra"}},
		{"si", `"only one"`, []any{"only one"}},
		{"int", `"abc"`, []any{"abc"}},
		{"int", ``, nil},
		{"yes", `"none taken"`, []any{"none taken"}},
		{"si", `1, 2, 3, 4, 5, 6, 7`, []any{1, 2, 3, 4, 5, 6, 7}},
	}
	for _, c := range cases {
		t.Run(c.fn+"("+c.lua+")", func(t *testing.T) {
			var fromLua, fromGo record
			st, luaLogs := newState(t, fmt.Sprintf("function r() KSR.t.%s(%s) end", c.fn, c.lua), &fromLua)
			if _, err := st.Call("r", kemi.RouteRequest, msg(t)); err != nil {
				t.Fatal(err)
			}
			var export kemi.Export
			for _, x := range testExports(&fromGo) {
				if x.Name == c.fn {
					export = x
				}
			}
			var goLogs bytes.Buffer
			v, err := luaext.CallExport(export, msg(t), slog.New(slog.NewTextHandler(&goLogs, nil)), c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if fromLua.args != fromGo.args || fromLua.n != fromGo.n {
				t.Errorf("from Lua %+v (ran %d), from CallExport %+v (ran %d)", fromLua.args, fromLua.n, fromGo.args, fromGo.n)
			}
			luaErr, goErr := firstMsg(luaLogs.String()), firstMsg(goLogs.String())
			if luaErr != goErr {
				t.Errorf("Lua call logged %q, CallExport %q", luaErr, goErr)
			}
			if luaErr != "" && v != kemi.False {
				t.Errorf("refused call gave %+v, want false", v)
			}
		})
	}
	if _, err := luaext.CallExport(testExports(&record{})[0], msg(t), nil, struct{}{}); err == nil {
		t.Error("an argument of no Lua type was accepted")
	}
}

// firstMsg returns the msg= part of the first log line, or "".
func firstMsg(logs string) string {
	_, rest, ok := strings.Cut(logs, "msg=")
	if !ok {
		return ""
	}
	msg, _, _ := strings.Cut(rest, " func=")
	return msg
}

// TestKSRCallsDoNotAllocate: the binding allocates nothing per KSR call of
// its own (the shared conversion built the function's Lua name on every
// call, for logs of wrong calls only); a route of 100 calls of a function
// that returns a bool allocates no more than a route of none.
func TestKSRCallsDoNotAllocate(t *testing.T) {
	st, _ := newState(t, "function none() end\nfunction many()\n"+strings.Repeat("KSR.t.yes() KSR.t.no()\n", 50)+"end\n", &record{})
	m := msg(t)
	allocs := func(route string) float64 {
		return testing.AllocsPerRun(50, func() {
			if _, err := st.Call(route, kemi.RouteRequest, m); err != nil {
				t.Fatal(err)
			}
		})
	}
	if none, many := allocs("none"), allocs("many"); many > none {
		t.Errorf("100 KSR calls made %v allocations, a route without any %v", many, none)
	}
}

// TestFormErrorIsNotABug: a KSR function that needs sipgo's form of a
// message sipgo cannot read (kemi.FormError, the peer's doing) fails as a
// call does, logged at debug without a stack; any other panic is a bug,
// logged at error with its stack.
func TestFormErrorIsNotABug(t *testing.T) {
	for _, tc := range []struct {
		name    string
		panicV  any
		level   string
		stacked bool
	}{
		{"form error", &kemi.FormError{Err: fmt.Errorf("sipgo reads a Via without its sent-by")}, "level=DEBUG", false},
		{"bug", "index out of range", "level=ERROR", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := kemi.Export{Module: "t", Name: "boom", Return: kemi.ReturnInt,
				Func: func(*kemi.Msg, kemi.Args) kemi.Value { panic(tc.panicV) }}
			v, err := luaext.CallExport(e, &kemi.Msg{}, log)
			if err != nil || v != kemi.Fail {
				t.Fatalf("CallExport = %v, %v; want the failure value", v, err)
			}
			out := logs.String()
			if !strings.Contains(out, tc.level) || strings.Contains(out, "stack=") != tc.stacked {
				t.Errorf("log %q: want %s, stack %v", out, tc.level, tc.stacked)
			}
		})
	}
}
