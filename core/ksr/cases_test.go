package ksr_test

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// callCase is one call of an export on a fresh message.
type callCase struct {
	name  string
	msg   string            // SIP text; invite when empty
	prep  func(m *kemi.Msg) // adjusts the message before the call
	fn    string            // Lua name, "KSR." may be left out
	args  []any
	want  kemi.Value
	check func(t *testing.T, m *kemi.Msg) // extra assertions
}

// runCases runs each case as a subtest on its own message.
func runCases(t *testing.T, env *kemitest.Env, cases []callCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := c.msg
			if text == "" {
				text = invite
			}
			m := parse(t, env, text)
			if c.prep != nil {
				c.prep(m)
			}
			fn := c.fn
			if len(fn) < 4 || fn[:4] != "KSR." {
				fn = "KSR." + fn
			}
			got := env.Call(t, fn, m, c.args...)
			wantValue(t, fn, got, c.want)
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

// args is a shorthand for a list of call arguments.
func args(a ...any) []any { return a }
