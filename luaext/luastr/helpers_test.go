package luastr

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// newState returns a state with the standard libraries and this package's
// functions, closed when the test ends.
func newState(t testing.TB, b Budget) *lua.LState {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	Open(L, b)
	return L
}

// loadRewritten compiles src with every `..` chain turned into a call of
// ConcatName, as kemi's script compiler does. The call carries the line of
// the chain's last operand, where Lua 5.1 reports a concatenation error
// (gopher-lua's own OP_CONCAT reports the first operand's).
func loadRewritten(L *lua.LState, src, name string) (*lua.LFunction, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	rewriteConcat(reflect.ValueOf(chunk))
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, err
	}
	return L.NewFunctionFromProto(proto), nil
}

// doRewritten runs src rewritten by loadRewritten.
func doRewritten(L *lua.LState, src string) error {
	fn, err := loadRewritten(L, src, "<string>")
	if err != nil {
		return err
	}
	L.Push(fn)
	return L.PCall(0, lua.MultRet, nil)
}

var exprType = reflect.TypeOf((*ast.Expr)(nil)).Elem()

// rewriteConcat walks an AST and replaces each StringConcatOpExpr chain.
func rewriteConcat(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			rewriteConcat(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !f.CanSet() {
				continue
			}
			if f.Type() == exprType && !f.IsNil() {
				if c, ok := f.Interface().(*ast.StringConcatOpExpr); ok {
					f.Set(reflect.ValueOf(concatCall(c)))
					continue
				}
			}
			rewriteConcat(f)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if e.Type() == exprType && !e.IsNil() {
				if c, ok := e.Interface().(*ast.StringConcatOpExpr); ok {
					e.Set(reflect.ValueOf(concatCall(c)))
					continue
				}
			}
			rewriteConcat(e)
		}
	}
}

// concatCall turns a .. (b .. c) into ConcatName(a, b, c).
func concatCall(c *ast.StringConcatOpExpr) ast.Expr {
	var args []ast.Expr
	var cur ast.Expr = c
	for {
		cc, ok := cur.(*ast.StringConcatOpExpr)
		if !ok {
			args = append(args, cur)
			break
		}
		args = append(args, cc.Lhs)
		cur = cc.Rhs
	}
	for i := range args {
		args[i] = rewriteExpr(args[i])
	}
	line := args[len(args)-1].Line()
	fn := &ast.IdentExpr{Value: ConcatName}
	fn.SetLine(line)
	call := &ast.FuncCallExpr{Func: fn, Args: args, AdjustRet: true}
	call.SetLine(line)
	call.SetLastLine(line)
	return call
}

func rewriteExpr(e ast.Expr) ast.Expr {
	if c, ok := e.(*ast.StringConcatOpExpr); ok {
		return concatCall(c)
	}
	rewriteConcat(reflect.ValueOf(e))
	return e
}

// errBudget is what testBudget refuses with.
var errBudget = errors.New("route memory limit exceeded")

// testBudget allows limit bytes in all and records each request.
type testBudget struct {
	limit int
	used  int
	calls []int
}

func (b *testBudget) Grow(n int) error {
	b.calls = append(b.calls, n)
	if n > b.limit-b.used {
		return errBudget
	}
	b.used += n
	return nil
}
