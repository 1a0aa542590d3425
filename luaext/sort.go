package luaext

import (
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// sortCheckEvery is how many comparisons table.sort makes between two
// looks at the run's context.
const sortCheckEvery = 1024

// openSort replaces table.sort by one that stops with the run. gopher-lua's
// sorts in Go, where no VM instruction notices a stop: a table the script
// had grown over several routes was sorted for seconds past the limit.
// Like Lua 5.1's, it sorts t[1] to t[#t].
func (st *State) openSort() {
	L := st.L
	tbl, ok := L.GetGlobal("table").(*lua.LTable)
	if !ok {
		return
	}
	tbl.RawSetString("sort", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		s := &tableSorter{L: L, t: t, n: t.Len()}
		if L.GetTop() != 1 {
			s.less = L.CheckFunction(2)
		}
		sort.Sort(s)
		return 0
	}))
}

// tableSorter sorts t[1] to t[n] in place.
type tableSorter struct {
	L      *lua.LState
	t      *lua.LTable
	n      int
	less   *lua.LFunction // nil: the < operator
	checks int
}

func (s *tableSorter) Len() int { return s.n }

func (s *tableSorter) Swap(i, j int) {
	a, b := s.t.RawGetInt(i+1), s.t.RawGetInt(j+1)
	s.t.RawSetInt(i+1, b)
	s.t.RawSetInt(j+1, a)
}

func (s *tableSorter) Less(i, j int) bool {
	L := s.L
	if s.checks++; s.checks%sortCheckEvery == 0 {
		if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
			L.RaiseError("%s", ctx.Err().Error())
		}
	}
	a, b := s.t.RawGetInt(i+1), s.t.RawGetInt(j+1)
	if s.less == nil {
		return L.LessThan(a, b)
	}
	L.Push(s.less)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	r := lua.LVAsBool(L.Get(-1))
	L.Pop(1)
	return r
}
