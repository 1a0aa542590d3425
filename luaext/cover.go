package luaext

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// coverName is the function an instrumented script calls before each
// statement. Like luastr.ConcatName it is no Lua identifier, so no script
// can name it, and chunks reach it as ("")[coverName], from the string
// table of their state.
const coverName = "\x00cover"

// Coverage counts how many times each executable line of a script ran,
// over every Lua state built from the script. It is safe for concurrent
// use.
type Coverage struct {
	// Name is the script's chunk name (its path).
	Name string
	// Source is the script text.
	Source []byte

	lines  []int          // the executable lines, ascending
	counts []atomic.Int64 // by line number
}

// CompileCovered compiles script text as Compile does, with every
// statement preceded by a count of its line: gopher-lua has no line hook,
// so the syntax tree is rewritten before it is compiled. The script
// behaves as the one Compile gives (it only gains a hidden local in its
// main chunk); the returned Coverage counts what states built from it
// run.
func CompileCovered(name string, src []byte) (*Script, *Coverage, error) {
	cov := &Coverage{Name: name, Source: src}
	proto, err := compileChunkWith(name, src, cov.instrument)
	if err != nil {
		return nil, nil, err
	}
	return &Script{Name: name, Source: src, proto: proto, cover: cov}, cov, nil
}

// instrument rewrites chunk (see CompileCovered) and notes its executable
// lines.
func (c *Coverage) instrument(chunk []ast.Stmt) []ast.Stmt {
	seen := map[int]bool{}
	w := coverWalker{seen: seen}
	chunk = w.block(chunk)
	if len(chunk) == 0 {
		return chunk
	}
	for l := range seen {
		c.lines = append(c.lines, l)
	}
	sort.Ints(c.lines)
	maxLine := bytes.Count(c.Source, []byte("\n")) + 1
	if n := len(c.lines); n > 0 && c.lines[n-1] > maxLine {
		maxLine = c.lines[n-1]
	}
	c.counts = make([]atomic.Int64, maxLine+1)
	return withStringLocal(chunk, coverName, chunk[0].Line())
}

// install puts the counting function in the string table of L, where the
// instrumented chunk looks it up.
func (c *Coverage) install(L *lua.LState) {
	mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable)
	if !ok {
		panic("luaext: strings have no metatable")
	}
	idx, ok := mt.RawGetString("__index").(*lua.LTable)
	if !ok {
		panic("luaext: strings have no __index table")
	}
	idx.RawSetString(coverName, L.NewFunction(func(L *lua.LState) int {
		if n := int(L.ToInt(1)); n > 0 && n < len(c.counts) {
			c.counts[n].Add(1)
		}
		return 0
	}))
}

// Lines returns the executable lines of the script, ascending: those
// where a statement starts.
func (c *Coverage) Lines() []int { return append([]int(nil), c.lines...) }

// Count returns how many times the statements of line ran.
func (c *Coverage) Count(line int) int64 {
	if line <= 0 || line >= len(c.counts) {
		return 0
	}
	return c.counts[line].Load()
}

// Covered returns how many executable lines ran at least once, and how
// many there are.
func (c *Coverage) Covered() (ran, total int) {
	for _, l := range c.lines {
		if c.Count(l) > 0 {
			ran++
		}
	}
	return ran, len(c.lines)
}

// Percent returns the share of executable lines that ran, 0 to 100 (100
// for a script with none).
func (c *Coverage) Percent() float64 {
	ran, total := c.Covered()
	if total == 0 {
		return 100
	}
	return 100 * float64(ran) / float64(total)
}

// WriteListing writes the script annotated, as go tool cover's and
// luacov's reports are: each line prefixed with the times it ran, "0"
// marked with "!" for an executable line that never ran, nothing for a
// line with no statement.
func (c *Coverage) WriteListing(w io.Writer) error {
	exec := make(map[int]bool, len(c.lines))
	for _, l := range c.lines {
		exec[l] = true
	}
	ran, total := c.Covered()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s: %.1f%% of %d lines (%d ran)\n", c.Name, c.Percent(), total, ran)
	sc := bufio.NewScanner(bytes.NewReader(c.Source))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		mark := ""
		if exec[n] {
			if k := c.Count(n); k > 0 {
				mark = strconv.FormatInt(k, 10)
			} else {
				mark = "!0"
			}
		}
		fmt.Fprintf(bw, "%8s | %s\n", mark, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

// coverWalker puts a count before every statement of every block,
// functions' bodies included.
type coverWalker struct {
	seen map[int]bool
}

func (w coverWalker) hit(line int) ast.Stmt {
	fn := &ast.IdentExpr{Value: coverName}
	arg := &ast.NumberExpr{Value: strconv.Itoa(line)}
	call := &ast.FuncCallExpr{Func: fn, Args: []ast.Expr{arg}}
	for _, e := range []ast.Expr{fn, arg, call} {
		e.SetLine(line)
		e.SetLastLine(line)
	}
	s := &ast.FuncCallStmt{Expr: call}
	s.SetLine(line)
	s.SetLastLine(line)
	return s
}

func (w coverWalker) block(list []ast.Stmt) []ast.Stmt {
	out := make([]ast.Stmt, 0, 2*len(list))
	for _, s := range list {
		w.stmt(s)
		if _, label := s.(*ast.LabelStmt); !label {
			w.seen[s.Line()] = true
			out = append(out, w.hit(s.Line()))
		}
		out = append(out, s)
	}
	return out
}

func (w coverWalker) stmt(s ast.Stmt) {
	syntaxRewriter{block: w.block, expr: w.expr}.stmt(s)
}

// expr finds the function bodies inside e.
func (w coverWalker) expr(e ast.Expr) ast.Expr {
	syntaxRewriter{block: w.block, expr: w.expr}.children(e)
	return e
}
