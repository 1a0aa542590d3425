package luastr

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// FuzzMatch runs string.find, match, gmatch and gsub on the same inputs
// through this package and through gopher-lua's original pm-based
// functions. Where the two disagree, real Lua 5.1 (lua5.1, when
// installed) decides: this package must give Lua 5.1's result. Without
// lua5.1, disagreements of the kinds listed in pmDiffers are accepted and
// any other fails. A Go panic in this package fails in every case.
//
// Inputs are kept small and this package runs first under a deadline, so
// that a pattern the original would backtrack on for minutes is dropped
// before the original is run.
func FuzzMatch(f *testing.F) {
	for _, s := range []struct{ subject, pattern, repl string }{
		{"hello world", "o", "0"},
		{"sip:alice@example.com", "(%w+)@([%w%.]+)", "%2/%1"},
		{"+4930123456", "^%+?%d+$", ""},
		{"THE (quick) fox", "%f[%a]%a+", "<%0>"},
		{"f(a(b)c)d", "%b()", "%%"},
		{"abcabc", "(a)(b)%1", "%9"},
		{"  x  ", "^%s*(.-)%s*$", "%1"},
		{"a.b", "[%.%]]", "x%"},
		{"aaa", "a-", "-"},
		{"a\x00b", "%z", "0"},
		{"key=val", "()=()", "%1%2"},
		{"abc", "[^a-b]+", "%a"},
	} {
		f.Add(s.subject, s.pattern, s.repl)
	}
	lua51, _ := exec.LookPath("lua5.1")
	f.Fuzz(func(t *testing.T, subject, pattern, repl string) {
		if len(subject) > 40 || len(pattern) > 20 || len(repl) > 12 {
			return
		}
		prog := fuzzProgram(subject, pattern, repl)
		ours, timedOut := runHarness(t, prog, true)
		if timedOut {
			return
		}
		orig, _ := runHarness(t, prog, false)
		if slices.Equal(ours, orig) {
			return
		}
		var ref []string
		if lua51 != "" {
			ref = runLua51(t, lua51, prog)
		}
		for i := range ours {
			if i < len(orig) && ours[i] == orig[i] {
				continue
			}
			if ref != nil {
				if i >= len(ref) || ours[i] != ref[i] {
					t.Errorf("input %q %q %q, case %d:\n lua5.1: %s\n   ours: %s\n     pm: %s",
						subject, pattern, repl, i+1, at(ref, i), ours[i], at(orig, i))
				}
				continue
			}
			if why := pmDiffers(pattern, repl, ours[i], at(orig, i)); why == "" {
				t.Errorf("input %q %q %q, case %d:\n ours: %s\n   pm: %s", subject, pattern, repl, i+1, ours[i], at(orig, i))
			}
		}
	})
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(missing)"
}

// fuzzProgram is the differential harness with the calls for one input.
func fuzzProgram(subject, pattern, repl string) string {
	s, p, r := luaQuote(subject), luaQuote(pattern), luaQuote(repl)
	var b strings.Builder
	b.WriteString(harnessHead)
	for i, c := range []string{
		fmt.Sprintf("string.find(%s, %s)", s, p),
		fmt.Sprintf("string.find(%s, %s, 2)", s, p),
		fmt.Sprintf("string.match(%s, %s)", s, p),
		fmt.Sprintf("string.match(%s, %s, -3)", s, p),
		fmt.Sprintf("collect(string.gmatch(%s, %s))", s, p),
		fmt.Sprintf("string.gsub(%s, %s, %s)", s, p, r),
		fmt.Sprintf("string.gsub(%s, %s, %s, 1)", s, p, r),
	} {
		fmt.Fprintf(&b, "cases[%d] = function() return %s end\n", i+1, c)
	}
	b.WriteString(harnessTail)
	return b.String()
}

// runHarness runs prog in a state with this package (ours) or with
// gopher-lua's own functions and returns its lines. Ours runs under a
// deadline and reports when it ran out of it.
func runHarness(t *testing.T, prog string, ours bool) (lines []string, timedOut bool) {
	L := lua.NewState()
	defer L.Close()
	if ours {
		Open(L, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		L.SetContext(ctx)
	}
	var out bytes.Buffer
	setEmit(L, &out)
	fn, err := L.Load(strings.NewReader(prog), "harness.lua")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		if ours && strings.Contains(err.Error(), "context deadline exceeded") {
			return nil, true
		}
		t.Fatalf("harness (ours=%v): %v", ours, err)
	}
	lines = strings.Split(out.String(), "\n")
	if ours {
		for _, l := range lines {
			if strings.Contains(l, "context deadline exceeded") {
				return nil, true
			}
			if strings.Contains(l, "runtime error") || strings.Contains(l, "goroutine ") {
				t.Fatalf("Go panic in this package: %s", l)
			}
		}
	}
	return lines, false
}

// pmDiffers says why gopher-lua's original may rightly differ from this
// package (which follows Lua 5.1) on an input, or "" when it should not.
// The kinds are those FuzzMatch found with lua5.1 as the referee.
func pmDiffers(pattern, repl, ours, pm string) string {
	switch {
	case strings.Contains(ours, " false ") || strings.Contains(pm, " false "):
		return "pm checks the whole pattern before matching (an unmatched ')' is an error there), " +
			"accepts a trailing '%' and a short %b, and words its errors differently"
	case strings.ContainsRune(pattern, 0):
		return "a pattern ends at its first zero byte in Lua 5.1"
	case strings.HasPrefix(pattern, "^") || pattern == "":
		return "pm anchors gmatch at '^' and finds an empty pattern at 1 whatever init"
	case strings.Contains(repl, "%"):
		return "in a string replacement %x is x and a final % a zero byte in Lua 5.1, left as is by pm"
	case strings.Contains(pattern, "%f"):
		return "pm's frontier %f matches at the wrong places"
	case strings.HasSuffix(ours, " true nil") && pm == strings.TrimSuffix(ours, " nil"):
		return "pm's string.match returns nothing instead of nil when there is no match"
	}
	return ""
}
