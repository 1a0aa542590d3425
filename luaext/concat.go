package luaext

import (
	"fmt"

	"github.com/kemisip/kemi/luaext/luastr"
	"github.com/yuin/gopher-lua/ast"
)

// rewriteConcat turns every `..` of chunk into a call of luastr.ConcatName,
// so that string concatenation is accounted against the route's memory
// bound like the string library's functions.
//
// A chain a .. b .. c (right associative) becomes one call with the
// operands in order, which Lua evaluates left to right as it does the
// operands of OP_CONCAT; a parenthesised left operand, (a .. b) .. c,
// stays a call of its own, as it is a concatenation of its own in Lua. The
// call carries the line where the expression ends, so errors point where
// Lua 5.1 points them.
//
// The chunk gets a first statement `local <ConcatName> =
// ("")[<ConcatName>]`: every function of the chunk reaches the function
// as an upvalue, faster than a global lookup, and the string table (which
// strings index through their metatable) has it whatever the chunk's
// environment, so a chunk run under setfenv, even with an empty table, or
// under module() still concatenates. It is added only when the chunk
// concatenates at all.
//
// As it walks every node before gopher-lua's compiler does, it also
// refuses a chunk nested deeper than maxSyntaxDepth.
func rewriteConcat(name string, chunk []ast.Stmt) ([]ast.Stmt, error) {
	r := concatRewriter{}
	r.stmts(chunk)
	if r.tooDeep > 0 {
		return nil, &SyntaxError{File: name, Line: r.tooDeep,
			Msg: fmt.Sprintf("chunk has too many syntax levels (blocks and expressions nest more than %d deep)", maxSyntaxDepth)}
	}
	if !r.used {
		return chunk, nil
	}
	line := 0
	if len(chunk) > 0 {
		line = chunk[0].Line()
	}
	return withStringLocal(chunk, luastr.ConcatName, line), nil
}

// withStringLocal prepends `local NAME = ("")[NAME]` to chunk, on line:
// the chunk's code reaches a function kemi put in the string table as a
// local, which no script can shadow or reassign by a global of the name.
func withStringLocal(chunk []ast.Stmt, name string, line int) []ast.Stmt {
	empty := &ast.StringExpr{Value: ""}
	key := &ast.StringExpr{Value: name}
	lookup := &ast.AttrGetExpr{Object: empty, Key: key}
	for _, e := range []ast.Expr{empty, key, lookup} {
		e.SetLine(line)
		e.SetLastLine(line)
	}
	local := &ast.LocalAssignStmt{Names: []string{name}, Exprs: []ast.Expr{lookup}}
	local.SetLine(line)
	local.SetLastLine(line)
	return append([]ast.Stmt{local}, chunk...)
}

// maxSyntaxDepth bounds how deeply a chunk's blocks and expressions nest.
// gopher-lua's compiler recurses once per level on the goroutine's stack,
// and Go ends the whole process when a stack passes 1 GB: loadstring of
// 4 MB of "{" and "}" in a route did. Lua 5.1 refuses more than 200
// levels; on gopher-lua's syntax tree an elseif and each operator of
// 1 + 2 + 3 nest one level more, so kemi allows more.
const maxSyntaxDepth = 1000

type concatRewriter struct {
	used    bool
	depth   int
	tooDeep int // the line where nesting first passed maxSyntaxDepth
}

// enter goes one level deeper, at a node of line; it reports false, and
// notes the line, past maxSyntaxDepth. Every enter needs a leave.
func (r *concatRewriter) enter(line int) bool {
	r.depth++
	if r.depth <= maxSyntaxDepth {
		return true
	}
	if r.tooDeep == 0 {
		r.tooDeep = max(line, 1)
	}
	return false
}

func (r *concatRewriter) leave() { r.depth-- }

// walker is the shared visitor, recursing through r's stmts and expr.
func (r *concatRewriter) walker() syntaxRewriter {
	return syntaxRewriter{block: r.stmts, expr: r.expr}
}

func (r *concatRewriter) stmts(list []ast.Stmt) []ast.Stmt {
	for _, s := range list {
		r.stmt(s)
	}
	return list
}

func (r *concatRewriter) stmt(s ast.Stmt) {
	defer r.leave()
	if !r.enter(s.Line()) {
		return
	}
	r.walker().stmt(s)
}

func (r *concatRewriter) expr(e ast.Expr) ast.Expr {
	if e == nil {
		return nil
	}
	defer r.leave()
	if !r.enter(e.Line()) {
		return e
	}
	if x, ok := e.(*ast.StringConcatOpExpr); ok {
		return r.concat(x)
	}
	r.walker().children(e)
	return e
}

// concat rewrites one chain: the right operands that are themselves
// concatenations (a .. (b .. c), which is what a .. b .. c parses to) join
// the chain; anything else is an operand.
func (r *concatRewriter) concat(x *ast.StringConcatOpExpr) ast.Expr {
	r.used = true
	var operands []ast.Expr
	cur := x
	for {
		operands = append(operands, r.expr(cur.Lhs))
		next, ok := cur.Rhs.(*ast.StringConcatOpExpr)
		if !ok {
			operands = append(operands, r.expr(cur.Rhs))
			break
		}
		cur = next
	}
	// an operand is one value, even a call or ... in last place
	switch last := operands[len(operands)-1].(type) {
	case *ast.FuncCallExpr:
		last.AdjustRet = true
	case *ast.Comma3Expr:
		last.AdjustRet = true
	}
	// Lua 5.1 gives a concatenation the line where it ends, that of
	// its last operand; gopher-lua's own OP_CONCAT, the line where it
	// starts
	last := operands[len(operands)-1]
	line := max(x.Line(), last.Line(), last.LastLine())
	fn := &ast.IdentExpr{Value: luastr.ConcatName}
	fn.SetLine(line)
	fn.SetLastLine(line)
	// AdjustRet: one value, and never a tail call, so the caller's frame
	// stays for error positions and tracebacks
	call := &ast.FuncCallExpr{Func: fn, Args: operands, AdjustRet: true}
	call.SetLine(line)
	call.SetLastLine(line)
	return call
}
