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
	// Guarded is set when the script tests for the module before this
	// use, so that the use does not run when the module is missing: the
	// use is in the then-block (or the right of an and) of a test that
	// KSR.<Module> is there, or follows `if not KSR.<Module> then return
	// end` in the same block.
	Guarded bool
	// Requires are the modules the script tested for where the use is
	// (the same tests as Guarded, sorted): when none of them is there,
	// the use cannot run, whatever its own module.
	Requires []string
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
	// looked at (not the modules it requires). io, os and package are
	// followed through locals and globals that name them (`local o =
	// os`), _G, package.loaded and require("io"); a local of the script
	// called io is not the library. Values that pass through tables or
	// function calls are not followed.
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
	w := &walker{a: a, globals: map[string]string{}, guarded: map[string]int{}}
	w.block(chunk)
	sort.Slice(a.Refs, func(i, j int) bool { return a.Refs[i].Line < a.Refs[j].Line })
	sort.SliceStable(a.Unsafe, func(i, j int) bool { return a.Unsafe[i].Line < a.Unsafe[j].Line })
	return a, nil
}

// The walker follows the libraries that hold unsafe functions (io, os,
// package) through the names a script gives them, so that it sees
// `local o = os; o.getenv("X")`, `_G.io.open` and `require("io").open`,
// and tells a local of its own called io (a parameter, `local io =
// require("myio")`) from the library. A binding is the library a name
// stands for: "io", "os", "package", "package.loaded", "_G", or "" for
// none.

// libraryNames are the globals the walker follows.
var libraryNames = map[string]bool{"io": true, "os": true, "package": true, "_G": true}

type walker struct {
	a *Analysis
	// scopes are the locals in scope, innermost last, with their
	// binding
	scopes []map[string]string
	// globals are global names the script assigned, with their binding
	// ("" when it made io or os something else)
	globals map[string]string
	// guarded counts, per module name, the tests for KSR.<module> that
	// the walker is inside of (see Ref.Guarded)
	guarded map[string]int
}

// guard marks the modules as tested until the returned function runs.
func (w *walker) guard(mods []string) func() {
	for _, m := range mods {
		w.guarded[m]++
	}
	return func() {
		for _, m := range mods {
			w.guarded[m]--
		}
	}
}

// ref notes a use of KSR.<mod>.<name> (KSR.<name> when mod is "").
func (w *walker) ref(mod, name string, line int) {
	g := w.guarded[mod] > 0 || (mod == "" && w.guarded[name] > 0)
	var req []string
	for m, n := range w.guarded {
		if n > 0 {
			req = append(req, m)
		}
	}
	sort.Strings(req)
	w.a.Refs = append(w.a.Refs, Ref{Module: mod, Name: name, Line: line, Guarded: g, Requires: req})
}

// moduleTest returns M when e is KSR.M, KSR.M ~= nil or KSR.M == nil, and
// whether a true e means the module is there.
func moduleTest(e ast.Expr) (mod string, present, ok bool) {
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		if m, name, ok := ksrPath(x); ok && m == "" {
			return name, true, true
		}
	case *ast.RelationalOpExpr:
		if x.Operator != "==" && x.Operator != "~=" {
			return "", false, false
		}
		l, r := x.Lhs, x.Rhs
		if _, isNil := l.(*ast.NilExpr); isNil {
			l, r = r, l
		}
		if _, isNil := r.(*ast.NilExpr); !isNil {
			return "", false, false
		}
		if m, p, ok := moduleTest(l); ok {
			return m, p == (x.Operator == "~="), true
		}
	}
	return "", false, false
}

// tested returns the modules a condition tests for: those that are there
// when the condition is true (present) and when it is false (absent).
// The test is taken through not, and, or: `not KSR.a and not KSR.b`
// false counts as a test for both, the script having thought of their
// absence.
func tested(e ast.Expr) (present, absent []string) {
	if m, p, ok := moduleTest(e); ok {
		if p {
			return []string{m}, nil
		}
		return nil, []string{m}
	}
	switch x := e.(type) {
	case *ast.UnaryNotOpExpr:
		p, a := tested(x.Expr)
		return a, p
	case *ast.LogicalOpExpr:
		lp, la := tested(x.Lhs)
		rp, ra := tested(x.Rhs)
		return append(lp, rp...), append(la, ra...)
	}
	return nil, nil
}

// test walks a condition: module tests in it are guarded refs, and the
// right side of `KSR.m and ...` (`not KSR.m or ...`) is guarded by the
// left.
func (w *walker) test(e ast.Expr) {
	if _, _, ok := moduleTest(e); ok {
		// a feature test, no use: a missing module is nil there
		return
	}
	switch x := e.(type) {
	case *ast.UnaryNotOpExpr:
		w.test(x.Expr)
	case *ast.LogicalOpExpr:
		w.test(x.Lhs)
		p, a := tested(x.Lhs)
		if x.Operator == "or" {
			p = a
		}
		undo := w.guard(p)
		w.test(x.Rhs)
		undo()
	default:
		w.expr(e)
	}
}

// leaves reports whether a block always ends the function or the route:
// its last statement is a return, a break or KSR.x.exit() / KSR.x.drop().
func leaves(list []ast.Stmt) bool {
	if len(list) == 0 {
		return false
	}
	switch x := list[len(list)-1].(type) {
	case *ast.ReturnStmt, *ast.BreakStmt:
		return true
	case *ast.FuncCallStmt:
		if call, ok := x.Expr.(*ast.FuncCallExpr); ok {
			if attr, ok := call.Func.(*ast.AttrGetExpr); ok {
				mod, name, ok := ksrPath(attr)
				return ok && mod == "x" && (name == "exit" || name == "drop")
			}
		}
	}
	return false
}

func (w *walker) open() { w.scopes = append(w.scopes, map[string]string{}) }

func (w *walker) close() { w.scopes = w.scopes[:len(w.scopes)-1] }

// declare brings local names into the innermost scope.
func (w *walker) declare(binding string, names ...string) {
	for _, n := range names {
		w.scopes[len(w.scopes)-1][n] = binding
	}
}

// lookup returns what the name stands for where the walker is, and
// whether it is a local.
func (w *walker) lookup(name string) (binding string, local bool) {
	for i := len(w.scopes) - 1; i >= 0; i-- {
		if b, ok := w.scopes[i][name]; ok {
			return b, true
		}
	}
	if b, ok := w.globals[name]; ok {
		return b, false
	}
	if libraryNames[name] {
		return name, false
	}
	return "", false
}

// library returns the library the expression's value is, or "".
func (w *walker) library(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.IdentExpr:
		b, _ := w.lookup(x.Value)
		return b
	case *ast.AttrGetExpr:
		key, ok := x.Key.(*ast.StringExpr)
		if !ok {
			return ""
		}
		switch w.library(x.Object) {
		case "_G", "package.loaded":
			if libraryNames[key.Value] {
				return key.Value
			}
			if b, ok := w.globals[key.Value]; ok {
				return b
			}
		case "package":
			if key.Value == "loaded" {
				return "package.loaded"
			}
		}
	case *ast.FuncCallExpr:
		fn, ok := x.Func.(*ast.IdentExpr)
		if !ok || x.Receiver != nil {
			return ""
		}
		if _, local := w.lookup(fn.Value); local {
			return ""
		}
		switch fn.Value {
		case "require":
			if len(x.Args) == 1 {
				if name, ok := x.Args[0].(*ast.StringExpr); ok && libraryNames[name.Value] {
					return name.Value
				}
			}
		case "getfenv":
			return "_G"
		}
	}
	return ""
}

// member notes the use of field key of the value e when it is an unsafe
// function of a library, and reports whether it was.
func (w *walker) member(e ast.Expr, key string, line int) bool {
	switch lib := w.library(e); lib {
	case "io", "os", "package":
		return w.unsafe(lib+"."+key, line)
	case "_G", "package.loaded":
		return w.unsafe(key, line)
	}
	return false
}

func (w *walker) block(list []ast.Stmt) {
	w.open()
	defer w.close()
	var undo []func()
	for _, s := range list {
		w.stmt(s)
		// `if not KSR.m then return end`: the rest of the block has m
		if x, ok := s.(*ast.IfStmt); ok && len(x.Else) == 0 && leaves(x.Then) {
			if _, absent := tested(x.Condition); len(absent) > 0 {
				undo = append(undo, w.guard(absent))
			}
		}
	}
	for _, u := range undo {
		u()
	}
}

func (w *walker) stmt(s ast.Stmt) {
	switch x := s.(type) {
	case *ast.AssignStmt:
		for i, l := range x.Lhs {
			if id, ok := l.(*ast.IdentExpr); ok && i < len(x.Rhs) {
				if _, isFn := x.Rhs[i].(*ast.FunctionExpr); isFn {
					w.a.Defined[id.Value] = x.Line()
				}
			}
		}
		w.exprs(x.Rhs)
		for i, l := range x.Lhs {
			// io.write = f replaces a function, it does not use it
			switch target := l.(type) {
			case *ast.IdentExpr:
				b := ""
				if i < len(x.Rhs) {
					b = w.library(x.Rhs[i])
				}
				w.assign(target.Value, b)
			case *ast.AttrGetExpr:
				w.expr(target.Object)
				w.expr(target.Key)
			default:
				w.expr(l)
			}
		}
	case *ast.LocalAssignStmt:
		w.exprs(x.Exprs)
		for i, n := range x.Names {
			b := ""
			if i < len(x.Exprs) {
				b = w.library(x.Exprs[i])
			}
			w.declare(b, n)
		}
	case *ast.FuncCallStmt:
		w.expr(x.Expr)
	case *ast.DoBlockStmt:
		w.block(x.Stmts)
	case *ast.WhileStmt:
		w.test(x.Condition)
		present, _ := tested(x.Condition)
		undo := w.guard(present)
		w.block(x.Stmts)
		undo()
	case *ast.RepeatStmt:
		// the condition sees the body's locals
		w.open()
		for _, s := range x.Stmts {
			w.stmt(s)
		}
		w.expr(x.Condition)
		w.close()
	case *ast.IfStmt:
		w.test(x.Condition)
		present, absent := tested(x.Condition)
		undo := w.guard(present)
		w.block(x.Then)
		undo()
		undo = w.guard(absent)
		w.block(x.Else)
		undo()
	case *ast.NumberForStmt:
		w.expr(x.Init)
		w.expr(x.Limit)
		w.expr(x.Step)
		w.open()
		w.declare("", x.Name)
		w.block(x.Stmts)
		w.close()
	case *ast.GenericForStmt:
		w.exprs(x.Exprs)
		w.open()
		w.declare("", x.Names...)
		w.block(x.Stmts)
		w.close()
	case *ast.FuncDefStmt:
		if x.Name != nil && x.Name.Receiver == nil {
			if id, ok := x.Name.Func.(*ast.IdentExpr); ok {
				w.a.Defined[id.Value] = x.Line()
				w.assign(id.Value, "")
			}
		}
		if x.Func != nil {
			var implicit []string
			if x.Name != nil && x.Name.Method != "" {
				implicit = []string{"self"}
			}
			w.function(x.Func, implicit...)
		}
	case *ast.ReturnStmt:
		w.exprs(x.Exprs)
	}
}

// assign records that name was given a value that is the library b (or
// none): a local's binding changes, a global is remembered.
func (w *walker) assign(name, b string) {
	for i := len(w.scopes) - 1; i >= 0; i-- {
		if _, ok := w.scopes[i][name]; ok {
			w.scopes[i][name] = b
			return
		}
	}
	if b == "" && !libraryNames[name] {
		delete(w.globals, name)
		return
	}
	w.globals[name] = b
}

// function walks a function's body with its parameters in scope.
func (w *walker) function(f *ast.FunctionExpr, implicit ...string) {
	w.open()
	defer w.close()
	w.declare("", implicit...)
	if f.ParList != nil {
		w.declare("", f.ParList.Names...)
	}
	w.block(f.Stmts)
}

func (w *walker) exprs(list []ast.Expr) {
	for _, e := range list {
		w.expr(e)
	}
}

func (w *walker) expr(e ast.Expr) {
	switch x := e.(type) {
	case nil:
	case *ast.IdentExpr:
		if _, local := w.lookup(x.Value); !local {
			w.unsafe(x.Value, x.Line())
		}
	case *ast.AttrGetExpr:
		if key, ok := x.Key.(*ast.StringExpr); ok && w.member(x.Object, key.Value, x.Line()) {
			return
		}
		if mod, name, ok := ksrPath(x); ok && mod != "" {
			w.ref(mod, name, x.Line())
			return
		}
		w.expr(x.Object)
		w.expr(x.Key)
	case *ast.FuncCallExpr:
		if attr, ok := x.Func.(*ast.AttrGetExpr); ok {
			if mod, name, ok := ksrPath(attr); ok {
				w.ref(mod, name, x.Line())
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
		if x.Receiver != nil && x.Method != "" && w.member(x.Receiver, x.Method, x.Line()) {
			w.exprs(x.Args)
			return
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
		w.test(x)
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
		w.function(x)
	}
}

// unsafe notes a use of name if it needs allow_unsafe_lua.
func (w *walker) unsafe(name string, line int) bool {
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
