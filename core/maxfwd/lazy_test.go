package maxfwd_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestProcessMaxfwdLazyMatchesSipgo: process_maxfwd gives the same result
// and the same Max-Forwards on the wire on the lazy form of a received
// request (the engine's) and on sipgo's form.
func TestProcessMaxfwdLazyMatchesSipgo(t *testing.T) {
	tests := []struct {
		name     string
		maxLimit int
		lines    []string
		// want is Kamailio 5.6's result (mf_funcs.c: str2s, at most five
		// digits), but for a value over 65535, which str2s wraps round
		// (70000 counts as 4464) and kemi refuses
		want int64
	}{
		{"plain", 0, []string{"Max-Forwards: 70"}, 1},
		{"spaces around", 0, []string{"Max-Forwards:    70   "}, 1},
		{"tab", 0, []string{"Max-Forwards:\t7"}, 1},
		{"no space", 0, []string{"Max-Forwards:5"}, 1},
		{"lower-case name", 0, []string{"max-forwards: 5"}, 1},
		{"over max_limit", 20, []string{"Max-Forwards: 100"}, 1},
		{"over 65535", 0, []string{"Max-Forwards: 70000"}, -2},
		{"leading zeros", 0, []string{"Max-Forwards: 00010"}, 1},
		{"six digits", 0, []string{"Max-Forwards: 000010"}, -2},
		{"zero", 0, []string{"Max-Forwards: 0"}, -1},
		{"one", 0, []string{"Max-Forwards: 1"}, 1},
		{"two headers", 0, []string{"Max-Forwards: 10", "Subject: x", "Max-Forwards: 3"}, 1},
		{"two headers first zero", 0, []string{"Max-Forwards: 0", "Max-Forwards: 3"}, -1},
		{"folded", 0, []string{"Max-Forwards:\r\n 12"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]any{}
			if tc.maxLimit > 0 {
				params["max_limit"] = tc.maxLimit
			}
			env := kemitest.LoadOpts(t, kemitest.Options{Params: map[string]map[string]any{"maxfwd": params}}, "maxfwd")
			text := head + strings.Join(tc.lines, "\n") + "\n\n"
			sm := kemitest.ParseMsg(t, text)
			lm, err := kemitest.ParseLazy(text)
			if err != nil {
				t.Skipf("the engine refuses it: %v", err)
			}
			if lm.Lazy() == nil {
				t.Fatal("not lazy")
			}
			got := env.Call(t, "KSR.maxfwd.process_maxfwd", lm, 10)
			if lm.Lazy() == nil {
				t.Errorf("process_maxfwd turned the message into sipgo's form")
			}
			if got.Int != tc.want {
				t.Errorf("lazy: %v, want %d", got, tc.want)
			}
			if tc.name == "six digits" {
				return // sipgo keeps the number, not its text: 10 (see the report)
			}
			if want := env.Call(t, "KSR.maxfwd.process_maxfwd", sm, 10); got != want {
				t.Errorf("lazy: %v, sipgo: %v", got, want)
			}
			if g, w := mfValues(lm), mfValues(sm); strings.Join(g, "|") != strings.Join(w, "|") {
				t.Errorf("Max-Forwards lazy %q, sipgo %q", g, w)
			}
			if lm.MaxFwdChecked != sm.MaxFwdChecked {
				t.Errorf("MaxFwdChecked lazy %v, sipgo %v", lm.MaxFwdChecked, sm.MaxFwdChecked)
			}
		})
	}
}
