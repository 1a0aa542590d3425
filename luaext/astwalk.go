package luaext

import "github.com/yuin/gopher-lua/ast"

// syntaxRewriter visits the children of one node of a chunk's syntax
// tree: each block through block and each expression through expr, each
// replaced by what they return. The rewrites of a chunk (concatenation,
// coverage) give their own block and expr, which recurse through it.
type syntaxRewriter struct {
	block func([]ast.Stmt) []ast.Stmt
	expr  func(ast.Expr) ast.Expr // called with nil for an absent part
}

func (r syntaxRewriter) exprs(list []ast.Expr) {
	for i, e := range list {
		list[i] = r.expr(e)
	}
}

// stmt rewrites the blocks and expressions directly inside s.
func (r syntaxRewriter) stmt(s ast.Stmt) {
	switch x := s.(type) {
	case *ast.AssignStmt:
		r.exprs(x.Lhs)
		r.exprs(x.Rhs)
	case *ast.LocalAssignStmt:
		r.exprs(x.Exprs)
	case *ast.FuncCallStmt:
		x.Expr = r.expr(x.Expr)
	case *ast.DoBlockStmt:
		x.Stmts = r.block(x.Stmts)
	case *ast.WhileStmt:
		x.Condition = r.expr(x.Condition)
		x.Stmts = r.block(x.Stmts)
	case *ast.RepeatStmt:
		x.Stmts = r.block(x.Stmts)
		x.Condition = r.expr(x.Condition)
	case *ast.IfStmt:
		x.Condition = r.expr(x.Condition)
		x.Then = r.block(x.Then)
		x.Else = r.block(x.Else)
	case *ast.NumberForStmt:
		x.Init = r.expr(x.Init)
		x.Limit = r.expr(x.Limit)
		x.Step = r.expr(x.Step)
		x.Stmts = r.block(x.Stmts)
	case *ast.GenericForStmt:
		r.exprs(x.Exprs)
		x.Stmts = r.block(x.Stmts)
	case *ast.FuncDefStmt:
		if x.Name != nil {
			x.Name.Func = r.expr(x.Name.Func)
			x.Name.Receiver = r.expr(x.Name.Receiver)
		}
		if x.Func != nil {
			x.Func.Stmts = r.block(x.Func.Stmts)
		}
	case *ast.ReturnStmt:
		r.exprs(x.Exprs)
	}
}

// children rewrites the expressions (and a function's body) directly
// inside e.
func (r syntaxRewriter) children(e ast.Expr) {
	switch x := e.(type) {
	case *ast.AttrGetExpr:
		x.Object = r.expr(x.Object)
		x.Key = r.expr(x.Key)
	case *ast.FuncCallExpr:
		x.Func = r.expr(x.Func)
		x.Receiver = r.expr(x.Receiver)
		r.exprs(x.Args)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			f.Key = r.expr(f.Key)
			f.Value = r.expr(f.Value)
		}
	case *ast.LogicalOpExpr:
		x.Lhs = r.expr(x.Lhs)
		x.Rhs = r.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		x.Lhs = r.expr(x.Lhs)
		x.Rhs = r.expr(x.Rhs)
	case *ast.StringConcatOpExpr:
		x.Lhs = r.expr(x.Lhs)
		x.Rhs = r.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		x.Lhs = r.expr(x.Lhs)
		x.Rhs = r.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		x.Expr = r.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		x.Expr = r.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		x.Expr = r.expr(x.Expr)
	case *ast.FunctionExpr:
		x.Stmts = r.block(x.Stmts)
	}
}
