package testlib

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestTimeout bounds one test function, the routes it runs included.
const TestTimeout = 60 * time.Second

// FileResult is what running one test file gave.
type FileResult struct {
	// Path is the test file as given.
	Path string
	// Script is the routing script it named ("" if none).
	Script string
	// Err is an error of the file itself: it does not compile, its top
	// level raised an error, it names no script. Its tests did not run.
	Err *Failure
	// Tests are the tests it declared, in order.
	Tests    []TestResult
	Duration time.Duration
}

// Failed reports whether the file or one of its tests failed.
func (f *FileResult) Failed() bool {
	if f.Err != nil {
		return true
	}
	for _, t := range f.Tests {
		if t.Failure != nil {
			return true
		}
	}
	return false
}

// TestResult is one test's result.
type TestResult struct {
	Name string
	// Where is the file:line of its T.test.
	Where    string
	Duration time.Duration
	// Failure is nil when the test passed.
	Failure *Failure
}

// Failure is a failed assertion or an error.
type Failure struct {
	// Where is the file:line of the assertion or the error.
	Where string
	// Message says what failed.
	Message string
	// Expected and Actual are set for comparisons, as Lua writes them.
	Expected, Actual string
	// HasValues tells that Expected and Actual are set.
	HasValues bool
	// LuaError is set for a Lua error, as opposed to a failed assertion.
	LuaError bool
	// Trace are the KSR calls of the last message the test handled.
	Trace []string
	// Route is that message's route, and RouteErr its Lua error.
	Route, RouteErr string
	// Traceback is the Lua stack of an error.
	Traceback string
}

// Error returns "where: message".
func (f *Failure) Error() string {
	if f.Where == "" {
		return f.Message
	}
	return f.Where + ": " + f.Message
}

// syntaxErr reads gopher-lua's syntax errors: "file line:3(column:8)
// near '=':   syntax error".
var syntaxErr = regexp.MustCompile(`line:(\d+)\(column:\d+\) near '(.*?)':\s*(.*)`)

// runner runs one test file.
type runner struct {
	b    Backend
	path string
	dir  string
	L    *lua.LState

	script string
	cfg    Config
	tests  []pending

	cur *testCtx
}

type pending struct {
	name  string
	where string
	fn    *lua.LFunction
}

// testCtx is the state of the test running.
type testCtx struct {
	cfg     Config
	eng     Engine
	last    *Outcome
	failure *Failure
	relays  map[int]bool
}

// Options change how RunFile runs a file.
type Options struct {
	// Match picks the tests to run by name; nil runs them all.
	Match func(name string) bool
}

// RunFile runs the tests of one test file, each in a fresh engine built
// by b.
func RunFile(path string, b Backend, opts Options) *FileResult {
	start := time.Now()
	res := &FileResult{Path: path}
	defer func() { res.Duration = time.Since(start) }()
	src, err := os.ReadFile(path)
	if err != nil {
		res.Err = &Failure{Where: path, Message: err.Error(), LuaError: true}
		return res
	}
	L := lua.NewState()
	defer L.Close()
	r := &runner{b: b, path: path, dir: filepath.Dir(path), L: L}
	L.PreloadModule("kemi.test", r.loader)
	if pkg, ok := L.GetGlobal("package").(*lua.LTable); ok {
		pkg.RawSetString("path", lua.LString(filepath.Join(r.dir, "?.lua")))
	}
	fn, err := L.Load(strings.NewReader(string(src)), path)
	if err != nil {
		res.Err = &Failure{Where: path, Message: "error: " + err.Error(), LuaError: true}
		if m := syntaxErr.FindStringSubmatch(err.Error()); m != nil {
			res.Err.Where, res.Err.Message = path+":"+m[1], "error: "+strings.TrimSpace(m[3])+" near '"+m[2]+"'"
		}
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), TestTimeout)
	L.SetContext(ctx)
	L.Push(fn)
	err = L.PCall(0, 0, nil)
	cancel()
	L.RemoveContext()
	if err != nil {
		res.Err = r.errorFailure(err)
		return res
	}
	res.Script = r.script
	if r.script == "" && len(r.tests) > 0 {
		res.Err = &Failure{Where: path, Message: `no script: call T.script("path/to/routing.lua") first`}
		return res
	}
	for _, t := range r.tests {
		if opts.Match == nil || opts.Match(t.name) {
			res.Tests = append(res.Tests, r.runTest(t))
		}
	}
	return res
}

func (r *runner) runTest(t pending) TestResult {
	start := time.Now()
	r.cur = &testCtx{cfg: r.cfg, relays: map[int]bool{}}
	defer func() {
		if r.cur.eng != nil {
			r.cur.eng.Close()
		}
		r.cur = nil
	}()
	ctx, cancel := context.WithTimeout(context.Background(), TestTimeout)
	defer cancel()
	L := r.L
	L.SetContext(ctx)
	defer L.RemoveContext()
	L.Push(t.fn)
	err := L.PCall(0, 0, nil)
	tr := TestResult{Name: t.name, Where: t.where, Duration: time.Since(start)}
	// a failed assertion fails the test even when the test caught its
	// error with pcall
	if f := r.cur.failure; err != nil || f != nil {
		if f == nil {
			f = r.errorFailure(err)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				f.Message = fmt.Sprintf("test ran longer than %s: %s", TestTimeout, f.Message)
			}
		}
		if last := r.cur.last; last != nil {
			f.Trace, f.Route, f.RouteErr = last.Trace, last.Route, last.Err
		}
		tr.Failure = f
	}
	return tr
}

// errorFailure describes a Lua error.
func (r *runner) errorFailure(err error) *Failure {
	f := &Failure{Message: err.Error(), LuaError: true}
	var aerr *lua.ApiError
	if errors.As(err, &aerr) {
		if aerr.Object != nil {
			f.Message = aerr.Object.String()
		}
		f.Traceback = aerr.StackTrace
	}
	if w, msg, ok := splitWhere(f.Message); ok {
		f.Where, f.Message = w, msg
	}
	f.Message = "error: " + f.Message
	return f
}

// splitWhere splits "file:12: message".
func splitWhere(s string) (where, msg string, ok bool) {
	first := strings.SplitN(s, "\n", 2)[0]
	parts := strings.SplitN(first, ":", 3)
	if len(parts) < 3 {
		return "", s, false
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return "", s, false
	}
	return parts[0] + ":" + parts[1], strings.TrimSpace(s[len(parts[0])+len(parts[1])+2:]), true
}

// where is the file:line of the Lua code that called the running Go
// function.
func (r *runner) where() string {
	return strings.TrimSuffix(r.L.Where(1), ":")
}

// fail ends the running test with a failed assertion.
func (r *runner) fail(f *Failure) int {
	if f.Where == "" {
		f.Where = r.where()
	}
	if r.cur != nil {
		r.cur.failure = f
	}
	r.L.Error(lua.LString(f.Error()), 0)
	return 0
}

// engine returns the running test's engine, started on first use.
func (r *runner) engine() Engine {
	if r.cur == nil {
		r.L.RaiseError("kemi.test: this function runs inside T.test only")
	}
	if r.cur.eng == nil {
		cfg := r.cur.cfg
		cfg.Script = r.script
		if cfg.Script == "" {
			r.L.RaiseError(`kemi.test: no script: call T.script("path/to/routing.lua") first`)
		}
		eng, err := r.b.Start(cfg)
		if err != nil {
			r.L.RaiseError("kemi.test: engine: %v", err)
		}
		r.cur.eng = eng
	}
	return r.cur.eng
}

func (r *runner) loader(L *lua.LState) int {
	t := L.NewTable()
	fns := map[string]lua.LGFunction{
		"script":     r.luaScript,
		"config":     r.luaConfig,
		"test":       r.luaTest,
		"request":    r.luaRequest,
		"message":    r.luaMessage,
		"run":        r.luaRun,
		"route":      r.luaRoute,
		"reply":      r.luaReply,
		"answer":     r.luaAnswer,
		"failure":    r.luaFailure,
		"call":       r.luaCall,
		"rpc":        r.luaRPC,
		"contact":    r.luaContact,
		"contacts":   r.luaContacts,
		"subscriber": r.luaSubscriber,
		"authorize":  r.luaAuthorize,
		"eq":         r.luaEq,
		"ne":         r.luaNe,
		"ok":         r.luaOk,
		"no":         r.luaNo,
		"match":      r.luaMatch,
		"contains":   r.luaContains,
		"fatal":      r.luaFatal,
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	ht := L.NewTable()
	ht.RawSetString("set", L.NewFunction(r.luaHtableSet))
	ht.RawSetString("get", L.NewFunction(r.luaHtableGet))
	t.RawSetString("htable", ht)
	ds := L.NewTable()
	ds.RawSetString("set_state", L.NewFunction(r.luaDsSetState))
	t.RawSetString("dispatcher", ds)
	L.Push(t)
	return 1
}

// T.script(path): the routing script, relative to the test file.
func (r *runner) luaScript(L *lua.LState) int {
	p := L.CheckString(1)
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.dir, p)
	}
	if _, err := os.Stat(p); err != nil {
		L.RaiseError("kemi.test: script: %v", err)
	}
	r.script = p
	return 0
}

// T.config{...}: defines, aliases, modules, and module parameters (a
// table per module, at the top or under params), for the whole file at
// its top level, for one test inside it (before its first message).
func (r *runner) luaConfig(L *lua.LState) int {
	tbl := L.CheckTable(1)
	cfg := &r.cfg
	if r.cur != nil {
		if r.cur.eng != nil {
			L.RaiseError("kemi.test: T.config after the test's engine started (call it before the first message)")
		}
		cfg = &r.cur.cfg
	}
	merged := cloneConfig(*cfg)
	var bad error
	tbl.ForEach(func(k, v lua.LValue) {
		key := k.String()
		switch key {
		case "defines":
			if merged.Defines == nil {
				merged.Defines = map[string]string{}
			}
			if vt, ok := v.(*lua.LTable); ok {
				vt.ForEach(func(dk, dv lua.LValue) {
					if _, isNum := dk.(lua.LNumber); isNum {
						merged.Defines[dv.String()] = "" // a list of names
					} else if dv == lua.LTrue {
						merged.Defines[dk.String()] = ""
					} else {
						merged.Defines[dk.String()] = dv.String()
					}
				})
			}
		case "aliases":
			merged.Aliases = append(merged.Aliases, stringList(v)...)
		case "modules":
			merged.Modules = stringList(v)
		case "params":
			vt, ok := v.(*lua.LTable)
			if !ok {
				bad = errors.New("params: want a table of module tables")
				return
			}
			vt.ForEach(func(mk, mv lua.LValue) {
				if err := setParams(&merged, r.dir, mk.String(), mv); err != nil {
					bad = err
				}
			})
		default:
			if err := setParams(&merged, r.dir, key, v); err != nil {
				bad = err
			}
		}
	})
	if bad != nil {
		L.RaiseError("kemi.test: config: %v", bad)
	}
	*cfg = merged
	return 0
}

// setParams sets a module's parameters. Paths are relative to the test
// file's folder, as kemi.toml's are to its own: a parameter ending in
// _file, and a db_url naming a SQLite file.
func setParams(cfg *Config, dir, module string, v lua.LValue) error {
	t, ok := v.(*lua.LTable)
	if !ok {
		return fmt.Errorf("%s: want a table of parameters", module)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]map[string]any{}
	}
	ps := map[string]any{}
	for k, x := range cfg.Params[module] {
		ps[k] = x
	}
	t.ForEach(func(k, x lua.LValue) {
		name, val := k.String(), toGo(x)
		if str, ok := val.(string); ok && str != "" {
			if p, isSQLite := strings.CutPrefix(str, "sqlite://"); isSQLite && name == "db_url" && !filepath.IsAbs(p) {
				val = "sqlite://" + filepath.Join(dir, p)
			} else if strings.HasSuffix(name, "_file") && !filepath.IsAbs(str) {
				val = filepath.Join(dir, str)
			}
		}
		ps[name] = val
	})
	cfg.Params[module] = ps
	return nil
}

func cloneConfig(c Config) Config {
	out := Config{Script: c.Script, Modules: append([]string(nil), c.Modules...), Aliases: append([]string(nil), c.Aliases...)}
	if c.Modules == nil {
		out.Modules = nil
	}
	if c.Defines != nil {
		out.Defines = map[string]string{}
		for k, v := range c.Defines {
			out.Defines[k] = v
		}
	}
	if c.Params != nil {
		out.Params = map[string]map[string]any{}
		for m, ps := range c.Params {
			out.Params[m] = ps
		}
	}
	return out
}

func stringList(v lua.LValue) []string {
	t, ok := v.(*lua.LTable)
	if !ok {
		if v == lua.LNil {
			return nil
		}
		return []string{v.String()}
	}
	out := []string{}
	for i := 1; i <= t.Len(); i++ {
		out = append(out, t.RawGetInt(i).String())
	}
	return out
}

// T.test(name, fn)
func (r *runner) luaTest(L *lua.LState) int {
	name := L.CheckString(1)
	fn := L.CheckFunction(2)
	if r.cur != nil {
		L.RaiseError("kemi.test: T.test inside a test")
	}
	r.tests = append(r.tests, pending{name: name, where: r.where(), fn: fn})
	return 0
}

// toGo converts a Lua value for Go: string, int64 or float64, bool, nil,
// []any for a sequence, map[string]any for another table.
func toGo(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		if f := float64(x); f == float64(int64(f)) {
			return int64(f)
		}
		return float64(x)
	case lua.LBool:
		return bool(x)
	case *lua.LTable:
		if n := x.Len(); n > 0 {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				out = append(out, toGo(x.RawGetInt(i)))
			}
			return out
		}
		out := map[string]any{}
		x.ForEach(func(k, e lua.LValue) { out[k.String()] = toGo(e) })
		return out
	}
	return nil
}

// toLua converts a Go value for Lua.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
