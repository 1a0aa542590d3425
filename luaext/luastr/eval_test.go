package luastr

import (
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// eval runs `return <expr>` (its `..` rewritten) in L and returns the
// results written as show writes them, or "error: <message>".
func eval(t testing.TB, L *lua.LState, expr string) string {
	t.Helper()
	got := evalString(L, expr)
	if strings.HasPrefix(got, compileError) {
		t.Fatalf("%s: %s", expr, got)
	}
	return got
}

// compileError begins evalString's result for an expression that does
// not compile.
const compileError = "compile error: "

// evalString is eval for expressions known to compile; it may run on any
// goroutine.
func evalString(L *lua.LState, expr string) string {
	fn, err := loadRewritten(L, "return "+expr, "t.lua")
	if err != nil {
		return compileError + err.Error()
	}
	top := L.GetTop()
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		if apiErr, ok := err.(*lua.ApiError); ok {
			return "error: " + lua.LVAsString(apiErr.Object)
		}
		return "error: " + err.Error()
	}
	var out []string
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, show(L.Get(i)))
	}
	L.SetTop(top)
	return strings.Join(out, " ")
}

// show writes strings quoted and numbers as Lua 5.1 does.
func show(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return strconv.Quote(string(v))
	case lua.LNumber:
		return numberString(float64(v))
	case lua.LBool:
		return v.String()
	}
	return v.Type().String()
}

type evalCase struct {
	expr string
	want string
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	L := newState(t, nil)
	for _, c := range cases {
		if got := eval(t, L, c.expr); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.expr, got, c.want)
		}
	}
}
