package luaext

import (
	"bytes"
	"sort"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Ref is a use of a KSR function in the script text: KSR.<Module>.<Name>,
// or KSR.<Name> when Module is "".
type Ref struct {
	Module string
	Name   string
	Line   int
}

// RouteRef is a route name given as a string literal to a function that
// arms a callback (KSR.tm.t_on_failure("name"), KSR.route("name"), ...).
type RouteRef struct {
	// Via is the function it was passed to, "KSR.tm.t_on_failure".
	Via   string
	Route string
	Line  int
}

// UnsafeRef is a use of a function the sandbox takes away (see Unsafe):
// "io.open", "os.getenv", "dofile".
type UnsafeRef struct {
	Name string
	Line int
}

// Analysis is what a static look at the script found.
type Analysis struct {
	Refs      []Ref
	RouteRefs []RouteRef
	// Unsafe are the uses of functions that need allow_unsafe_lua, in
	// line order, once per name and line. Only the script's own text is
	// looked at (not the modules it requires), and a local that shadows
	// io or os is not told apart.
	Unsafe []UnsafeRef
	// Defined are the global functions defined by name in the text, with
	// their line.
	Defined map[string]int
}

// routeArgs lists the functions whose argument names a script function,
// and the position of that argument.
var routeArgs = map[string]int{
	"KSR.route":                  0,
	"KSR.tm.t_on_failure":        0,
	"KSR.tm.t_on_branch":         0,
	"KSR.tm.t_on_reply":          0,
	"KSR.tm.t_on_branch_failure": 0,
	"KSR.tmx.t_continue":         2,
	"KSR.async.route":            0,
	"KSR.async.ms_route":         0,
	"KSR.async.task_route":       0,
}

// Analyze parses the script again and lists its KSR references, route
// names and uses of functions that need allow_unsafe_lua.
func Analyze(s *Script) (*Analysis, error) {
	chunk, err := parse.Parse(bytes.NewReader(s.Source), s.Name)
	if err != nil {
		return nil, syntaxError(s.Name, s.Source, err)
	}
	a := &Analysis{Defined: map[string]int{}}
	w := walker{a: a}
	w.stmts(chunk, true)
	sort.Slice(a.Refs, func(i, j int) bool { return a.Refs[i].Line < a.Refs[j].Line })
	sort.SliceStable(a.Unsafe, func(i, j int) bool { return a.Unsafe[i].Line < a.Unsafe[j].Line })
	return a, nil
}

type walker struct {
	a *Analysis
}

func (w walker) stmts(list []ast.Stmt, top bool) {
	for _, s := range list {
		w.stmt(s, top)
	}
}

func (w walker) stmt(s ast.Stmt, top bool) {
	switch x := s.(type) {
	case *ast.AssignStmt:
		for i, l := range x.Lhs {
			if id, ok := l.(*ast.IdentExpr); ok && i < len(x.Rhs) {
				if _, isFn := x.Rhs[i].(*ast.FunctionExpr); isFn {
					w.a.Defined[id.Value] = x.Line()
				}
			}
		}
		for _, l := range x.Lhs {
			// io.write = f replaces a function, it does not use it
			switch target := l.(type) {
			case *ast.IdentExpr:
			case *ast.AttrGetExpr:
				w.expr(target.Object)
				w.expr(target.Key)
			default:
				w.expr(l)
			}
		}
		w.exprs(x.Rhs)
	case *ast.LocalAssignStmt:
		w.exprs(x.Exprs)
	case *ast.FuncCallStmt:
		w.expr(x.Expr)
	case *ast.DoBlockStmt:
		w.stmts(x.Stmts, false)
	case *ast.WhileStmt:
		w.expr(x.Condition)
		w.stmts(x.Stmts, false)
	case *ast.RepeatStmt:
		w.expr(x.Condition)
		w.stmts(x.Stmts, false)
	case *ast.IfStmt:
		w.expr(x.Condition)
		w.stmts(x.Then, false)
		w.stmts(x.Else, false)
	case *ast.NumberForStmt:
		w.expr(x.Init)
		w.expr(x.Limit)
		w.expr(x.Step)
		w.stmts(x.Stmts, false)
	case *ast.GenericForStmt:
		w.exprs(x.Exprs)
		w.stmts(x.Stmts, false)
	case *ast.FuncDefStmt:
		if x.Name != nil && x.Name.Receiver == nil {
			if id, ok := x.Name.Func.(*ast.IdentExpr); ok {
				w.a.Defined[id.Value] = x.Line()
			}
		}
		if x.Func != nil {
			w.stmts(x.Func.Stmts, false)
		}
	case *ast.ReturnStmt:
		w.exprs(x.Exprs)
	}
}

func (w walker) exprs(list []ast.Expr) {
	for _, e := range list {
		w.expr(e)
	}
}

func (w walker) expr(e ast.Expr) {
	switch x := e.(type) {
	case nil:
	case *ast.IdentExpr:
		w.unsafe(x.Value, x.Line())
	case *ast.AttrGetExpr:
		if obj, ok := x.Object.(*ast.IdentExpr); ok {
			if key, ok := x.Key.(*ast.StringExpr); ok {
				if w.unsafe(obj.Value+"."+key.Value, x.Line()) {
					return
				}
			}
		}
		if mod, name, ok := ksrPath(x); ok && mod != "" {
			w.a.Refs = append(w.a.Refs, Ref{Module: mod, Name: name, Line: x.Line()})
			return
		}
		w.expr(x.Object)
		w.expr(x.Key)
	case *ast.FuncCallExpr:
		if attr, ok := x.Func.(*ast.AttrGetExpr); ok {
			if mod, name, ok := ksrPath(attr); ok {
				w.a.Refs = append(w.a.Refs, Ref{Module: mod, Name: name, Line: x.Line()})
				full := "KSR." + name
				if mod != "" {
					full = "KSR." + mod + "." + name
				}
				if pos, ok := routeArgs[full]; ok && pos < len(x.Args) {
					if s, ok := x.Args[pos].(*ast.StringExpr); ok && s.Value != "" {
						w.a.RouteRefs = append(w.a.RouteRefs, RouteRef{Via: full, Route: s.Value, Line: x.Line()})
					}
				}
				w.exprs(x.Args)
				return
			}
		}
		w.expr(x.Func)
		w.expr(x.Receiver)
		w.exprs(x.Args)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			w.expr(f.Key)
			w.expr(f.Value)
		}
	case *ast.LogicalOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.StringConcatOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		w.expr(x.Lhs)
		w.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		w.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		w.expr(x.Expr)
	case *ast.FunctionExpr:
		w.stmts(x.Stmts, false)
	}
}

// unsafe notes a use of name if it needs allow_unsafe_lua.
func (w walker) unsafe(name string, line int) bool {
	if !Unsafe(name) {
		return false
	}
	for _, u := range w.a.Unsafe {
		if u.Name == name && u.Line == line {
			return true
		}
	}
	w.a.Unsafe = append(w.a.Unsafe, UnsafeRef{Name: name, Line: line})
	return true
}

// ksrPath recognises KSR.<mod>.<name> (mod set) and KSR.<name> (mod "").
func ksrPath(x *ast.AttrGetExpr) (mod, name string, ok bool) {
	key, ok := x.Key.(*ast.StringExpr)
	if !ok {
		return "", "", false
	}
	switch obj := x.Object.(type) {
	case *ast.IdentExpr:
		if obj.Value == "KSR" {
			return "", key.Value, true
		}
	case *ast.AttrGetExpr:
		inner, ok := obj.Key.(*ast.StringExpr)
		if !ok {
			return "", "", false
		}
		if id, ok := obj.Object.(*ast.IdentExpr); ok && id.Value == "KSR" {
			return inner.Value, key.Value, true
		}
	}
	return "", "", false
}
