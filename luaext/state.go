package luaext

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
	lua "github.com/yuin/gopher-lua"
)

// Catalog tells the binding what exists beyond the enabled modules, so that
// a script touching a missing module or function gets a clear message.
type Catalog interface {
	// Kamailio reports whether Kamailio exports KSR.<module>.<name>; with
	// name "" it asks about the module. Module "" is the core KSR table.
	Kamailio(module, name string) bool
	// Available reports whether kemi has the module at all (it may be
	// disabled in the config).
	Available(module string) bool
}

// Options configure a Lua state.
type Options struct {
	// Exports are the functions of the enabled modules.
	Exports []kemi.Export
	// Catalog explains missing modules and functions; may be nil.
	Catalog Catalog
	// Logger logs binding errors (bad KSR calls, Lua errors).
	Logger *slog.Logger
	// AllowUnsafe keeps os.exit, os.execute and io.popen.
	AllowUnsafe bool
	// Timeout stops a route that runs longer; 0 means no limit. It also
	// bounds the script's top level, which gets DefaultTopLevelTimeout
	// when Timeout is 0.
	Timeout time.Duration
	// MemoryLimit bounds the bytes of strings one route run may build;
	// 0 means no limit.
	MemoryLimit int64
}

// DefaultTopLevelTimeout bounds a script's top level when routes have no
// time limit: a loop there would hang start-up, reload and kemi check.
const DefaultTopLevelTimeout = 10 * time.Second

// State is one Lua state with its KSR table. It is owned by one goroutine
// at a time.
type State struct {
	// L is the gopher-lua state.
	L *lua.LState

	script    *Script
	opts      Options
	log       *slog.Logger
	cur       *kemi.Msg
	depth     int
	missing   string // the last KSR name that was nil
	missingAt string // and the file:line that looked it up
	modf      map[string]kemi.Export

	// onError is the PCall error handler: it leaves KSR.x.exit alone and
	// records a traceback for real errors (gopher-lua would build one for
	// every error, exit included, without a handler).
	onError   *lua.LFunction
	traceback string

	mu     sync.Mutex // guards ctx, cancel, gen, busy against the watchdog
	ctx    context.Context
	cancel context.CancelFunc
	gen    uint64
	busy   time.Time
}

// RuntimeError is a Lua error raised while running a script function.
type RuntimeError struct {
	// Func is the script function that was running.
	Func string
	// Msg is the error, normally starting with "file:line:".
	Msg string
	// Traceback is the Lua stack traceback.
	Traceback string
	// Timeout is set when the route ran past the time limit.
	Timeout bool
}

func (e *RuntimeError) Error() string {
	return e.Msg
}

// Where returns the file:line the error points at, or "".
func (e *RuntimeError) Where() string {
	if i := strings.Index(e.Msg, ": "); i > 0 && strings.Contains(e.Msg[:i], ":") {
		return e.Msg[:i]
	}
	return ""
}

// NewState builds a state for script: standard libraries (with the sandbox
// applied), the KSR table, KSRVERSION, then the script's top level once. A
// top-level error is returned as a *RuntimeError.
func NewState(script *Script, opts Options) (*State, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       200,
		RegistrySize:        1024,
		RegistryMaxSize:     1024 * 1024,
		RegistryGrowStep:    256,
		IncludeGoStackTrace: false,
	})
	st := &State{L: L, script: script, opts: opts, log: log, modf: map[string]kemi.Export{}}
	st.onError = L.NewFunction(st.errorHandler)
	st.openLibs()
	if err := st.buildKSR(); err != nil {
		L.Close()
		return nil, err
	}
	L.SetGlobal("KSRVERSION", lua.LString("2.0"))
	if script != nil {
		if err := st.runTop(); err != nil {
			L.Close()
			return nil, err
		}
	}
	if opts.Timeout > 0 {
		st.ctx, st.cancel = context.WithCancel(context.Background())
		L.SetContext(st.ctx)
	}
	return st, nil
}

// Close releases the state.
func (st *State) Close() {
	if st.cancel != nil {
		st.cancel()
	}
	st.L.Close()
}

func (st *State) openLibs() {
	L := st.L
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.IoLibName, lua.OpenIo},
		{lua.OsLibName, lua.OpenOs},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.DebugLibName, lua.OpenDebug},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	}
	for _, lib := range libs {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	if st.opts.AllowUnsafe {
		return
	}
	// os.exit would stop the whole server, os.execute and io.popen run
	// programs from inside a SIP worker: off unless allowed.
	for _, f := range []struct{ lib, fn string }{{"os", "exit"}, {"os", "execute"}, {"io", "popen"}} {
		tbl, ok := L.GetGlobal(f.lib).(*lua.LTable)
		if !ok {
			continue
		}
		name := f.lib + "." + f.fn
		L.SetField(tbl, f.fn, L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s is disabled in kemi (set allow_unsafe_lua = true in the [core] section of the config to allow it)", name)
			return 0
		}))
	}
}

// buildKSR creates the KSR table and its module sub-tables.
func (st *State) buildKSR() error {
	L := st.L
	ksr := L.NewTable()
	subs := map[string]*lua.LTable{}
	for _, e := range st.opts.Exports {
		if err := e.Validate(); err != nil {
			return err
		}
		tbl := ksr
		if e.Module != "" {
			if e.Module == "x" {
				return fmt.Errorf("luaext: module name x is reserved for KSR.x")
			}
			tbl = subs[e.Module]
			if tbl == nil {
				tbl = L.NewTable()
				subs[e.Module] = tbl
				L.SetField(ksr, e.Module, tbl)
			}
		}
		L.SetField(tbl, e.Name, L.NewFunction(st.wrap(e)))
		if _, dup := st.modf[e.Name]; !dup {
			st.modf[e.Name] = e
		}
	}
	x := L.NewTable()
	for _, b := range builtins {
		L.SetField(x, b.name, L.NewFunction(func(L *lua.LState) int { return b.fn(st, L) }))
	}
	L.SetField(ksr, "x", x)

	L.SetMetatable(ksr, st.missingIndex(""))
	for mod, tbl := range subs {
		L.SetMetatable(tbl, st.missingIndex(mod))
	}
	L.SetGlobal("KSR", ksr)
	return nil
}

// builtins are the KSR.x functions the binding itself defines.
var builtins = []struct {
	name string
	fn   func(*State, *lua.LState) int
}{
	{"exit", (*State).exit},
	{"drop", (*State).drop},
	{"modf", (*State).callModf},
	{"probe", func(*State, *lua.LState) int { return 0 }},
}

// Builtins returns the Lua names of the functions every state has without
// a module: KSR.x.exit, KSR.x.drop, KSR.x.modf and KSR.x.probe.
func Builtins() []string {
	out := make([]string, len(builtins))
	for i, b := range builtins {
		out[i] = "KSR.x." + b.name
	}
	return out
}

// WhyMissing explains why KSR.<module>.<name> (KSR.<name> when module is
// "") is not there, for run-time errors and kemi check alike. enabled
// reports the modules the KSR table has; cat may be nil. A one-part name
// that is a module in kemi or Kamailio is explained as that module. It
// reports whether the reason is about the module rather than the function.
func WhyMissing(cat Catalog, enabled func(module string) bool, module, name string) (why string, aboutModule bool) {
	if cat == nil {
		cat = noCatalog{}
	}
	if module == "" && (cat.Available(name) || cat.Kamailio(name, "")) {
		module = name // KSR.tm where tm is not enabled
	} else if module == "" || enabled(module) {
		path := "KSR." + name
		if module != "" {
			path = "KSR." + module + "." + name
		}
		if cat.Kamailio(module, name) {
			return path + " is not implemented in kemi (Kamailio has it)", false
		}
		return "Kamailio has no " + path + " either", false
	}
	switch {
	case cat.Available(module):
		return "module " + module + " is not enabled: add it to modules in the config file", true
	case cat.Kamailio(module, ""):
		return "module " + module + " is not implemented in kemi", true
	}
	return "there is no module " + module + " in kemi or in Kamailio", true
}

// noCatalog knows nothing beyond the enabled modules.
type noCatalog struct{}

func (noCatalog) Kamailio(string, string) bool { return false }
func (noCatalog) Available(string) bool        { return false }

// missingIndex returns a metatable whose __index notes the missing key (for
// a clearer error message) and, for functions that Kamailio has but kemi
// lacks, returns a function that fails loudly.
func (st *State) missingIndex(mod string) *lua.LTable {
	L := st.L
	mt := L.NewTable()
	L.SetField(mt, "__index", L.NewFunction(func(L *lua.LState) int {
		key := L.OptString(2, "")
		path := "KSR." + key
		if mod != "" {
			path = "KSR." + mod + "." + key
		}
		// remembered with its position, so that only an error raised
		// there is explained by it (a feature test such as
		// `if KSR.auth then` is no error)
		st.missing, st.missingAt = path, st.Where()
		cat := st.opts.Catalog
		if mod != "" && cat != nil && cat.Kamailio(mod, key) {
			L.Push(L.NewFunction(func(L *lua.LState) int {
				L.RaiseError("%s is not implemented in kemi (Kamailio has it; `kemi functions --missing` lists what is missing)", path)
				return 0
			}))
			return 1
		}
		L.Push(lua.LNil)
		return 1
	}))
	return mt
}

// explainMissing adds why a KSR name is nil to a Lua error message raised
// where the name was looked up.
func (st *State) explainMissing(msg string) string {
	if st.missing == "" || st.missingAt == "" || !strings.HasPrefix(msg, st.missingAt+":") ||
		!(strings.Contains(msg, "nil") || strings.Contains(msg, "non-function") || strings.Contains(msg, "non-table")) {
		return msg
	}
	module, name, ok := strings.Cut(strings.TrimPrefix(st.missing, "KSR."), ".")
	if !ok {
		module, name = "", module
	}
	// a two-part name was looked up in a module table, so that module is enabled
	why, _ := WhyMissing(st.opts.Catalog, func(string) bool { return true }, module, name)
	return fmt.Sprintf("%s (%s is nil: %s)", msg, st.missing, why)
}

// wrap turns an export into a Lua function with Kamailio's argument
// conversion and return conventions.
func (st *State) wrap(e kemi.Export) lua.LGFunction {
	nparams := len(e.Params)
	name := e.LuaName()
	return func(L *lua.LState) int {
		m := st.cur
		if m == nil {
			st.log.Error("invalid Lua environment attributes or parameters: no SIP message (KSR functions cannot run at script top level)",
				"func", name, "at", st.Where())
			L.Push(lua.LFalse)
			return 1
		}
		argc := L.GetTop()
		switch {
		case nparams == 0 && argc > 0:
			st.log.Error("invalid parameters: function takes none", "func", name, "given", argc, "at", st.Where())
			L.Push(lua.LFalse)
			return 1
		case argc < nparams:
			st.log.Error("not enough parameters", "func", name, "want", nparams, "given", argc, "at", st.Where())
			L.Push(lua.LFalse)
			return 1
		case argc > kemi.MaxParams:
			st.log.Error("too many parameters", "func", name, "given", argc, "at", st.Where())
			L.Push(lua.LFalse)
			return 1
		}
		var a kemi.Args
		a.N = nparams
		for i, k := range e.Params {
			v := L.Get(i + 1)
			if k == kemi.ParamStr {
				a.V[i].S = argStr(v)
			} else {
				a.V[i].I = argInt(v)
			}
		}
		res := st.invoke(&e, m, a)
		return pushResult(L, e.Return, res)
	}
}

// invoke calls the Go function; a panic becomes an error log and the
// failure value of the return kind, so nothing crosses the Lua boundary.
func (st *State) invoke(e *kemi.Export, m *kemi.Msg, a kemi.Args) (res kemi.Value) {
	defer func() {
		if r := recover(); r != nil {
			if aerr, ok := r.(*lua.ApiError); ok {
				panic(aerr) // a Lua error raised on purpose: let it unwind
			}
			st.log.Error("panic in KSR function", "func", e.LuaName(), "panic", r, "at", st.Where(), "stack", string(debug.Stack()))
			switch e.Return {
			case kemi.ReturnInt:
				res = kemi.Fail
			case kemi.ReturnXval:
				res = kemi.Null
			default:
				res = kemi.False
			}
		}
	}()
	return e.Func(m, a)
}

func pushResult(L *lua.LState, kind kemi.ReturnKind, v kemi.Value) int {
	switch kind {
	case kemi.ReturnInt:
		L.Push(lua.LNumber(v.AsInt()))
	case kemi.ReturnBool:
		L.Push(lua.LBool(v.AsInt() != 0))
	case kemi.ReturnXval:
		switch v.Kind {
		case kemi.KindInt:
			L.Push(lua.LNumber(v.Int))
		case kemi.KindStr:
			L.Push(lua.LString(v.Str))
		default:
			L.Push(lua.LNil)
		}
	default:
		// void: app_lua gives false
		L.Push(lua.LFalse)
	}
	return 1
}

// argStr converts like lua_tostring: strings as they are, numbers
// formatted, anything else empty.
func argStr(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return x.String()
	}
	return ""
}

// argInt converts like lua_tointeger: numbers truncated, numeric strings
// parsed, anything else 0.
func argInt(v lua.LValue) int64 {
	switch x := v.(type) {
	case lua.LNumber:
		return int64(x)
	case lua.LString:
		return kemi.ParseIntLenient(string(x))
	}
	return 0
}

func (st *State) exit(L *lua.LState) int {
	L.Error(lua.LString(ExitString), 0)
	return 0
}

func (st *State) drop(L *lua.LState) int {
	if st.cur != nil {
		st.cur.Drop = true
	}
	L.Error(lua.LString(ExitString), 0)
	return 0
}

// callModf is KSR.x.modf(name, ...): call a function by its native name
// with string arguments; gives its int result, or -1.
func (st *State) callModf(L *lua.LState) int {
	name := L.OptString(1, "")
	e, ok := st.modf[name]
	if !ok || st.cur == nil {
		st.log.Error("KSR.x.modf: function is not available", "func", name, "at", st.Where())
		L.Push(lua.LNumber(-1))
		return 1
	}
	vals := make([]string, 0, L.GetTop())
	for i := 2; i <= L.GetTop(); i++ {
		vals = append(vals, argStr(L.Get(i)))
	}
	if len(vals) < len(e.Params) {
		st.log.Error("KSR.x.modf: not enough parameters", "func", name, "at", st.Where())
		L.Push(lua.LNumber(-1))
		return 1
	}
	res := st.invoke(&e, st.cur, kemi.MakeArgs(vals[:len(e.Params)]...))
	n := int64(1)
	switch e.Return {
	case kemi.ReturnInt:
		n = res.AsInt()
	case kemi.ReturnBool:
		if res.AsInt() == 0 {
			n = -1
		}
	}
	L.Push(lua.LNumber(n))
	return 1
}

// Where returns "file:line" of the innermost Lua function on the stack.
func (st *State) Where() string {
	L := st.L
	for level := 1; level < 8; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return ""
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			continue
		}
		if dbg.CurrentLine > 0 {
			return dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine)
		}
	}
	return ""
}

// Has reports whether the script defines the global function name.
func (st *State) Has(name string) bool {
	_, ok := st.L.GetGlobal(name).(*lua.LFunction)
	return ok
}

// Functions returns the names of the global functions the script defines.
func (st *State) Functions() []string {
	var out []string
	st.L.G.Global.ForEach(func(k, v lua.LValue) {
		if fn, ok := v.(*lua.LFunction); ok && !fn.IsG {
			if s, ok := k.(lua.LString); ok {
				out = append(out, string(s))
			}
		}
	})
	sort.Strings(out)
	return out
}

// runTop runs the script's top level once, bounded by the route time
// limit or DefaultTopLevelTimeout.
func (st *State) runTop() error {
	limit := st.opts.Timeout
	if limit <= 0 {
		limit = DefaultTopLevelTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	L := st.L
	L.SetContext(ctx)
	defer L.RemoveContext()
	st.missing, st.missingAt = "", ""
	L.Push(L.NewFunctionFromProto(st.script.proto))
	err := L.PCall(0, 0, nil)
	if err == nil {
		return nil
	}
	rerr := st.runtimeError("<top level>", err)
	if ctx.Err() != nil {
		where := rerr.Where()
		if where == "" {
			where = st.script.Name
		}
		rerr.Timeout = true
		rerr.Msg = fmt.Sprintf("%s: script top level stopped: ran longer than %s", where, limit)
	}
	return rerr
}

// Call runs the global function name with m as the current message; see
// kemi.Runner.
func (st *State) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	L := st.L
	fn, ok := L.GetGlobal(name).(*lua.LFunction)
	if !ok {
		return kemi.CallResult{}, nil
	}
	prevMsg := st.cur
	var prevRun kemi.Runner
	var prevRoute kemi.RouteType
	if m != nil {
		prevRun, prevRoute = m.Run, m.Route
		m.Run, m.Route = st, rt
	}
	st.cur = m
	top := st.depth == 0
	if top {
		st.missing, st.missingAt = "", ""
		st.begin()
	}
	st.depth++
	L.Push(fn)
	for _, a := range args {
		L.Push(lua.LString(a))
	}
	st.traceback = ""
	err := L.PCall(len(args), 0, st.onError)
	st.depth--
	timedOut := false
	if top {
		timedOut = st.end()
	}
	st.cur = prevMsg
	if m != nil {
		m.Run, m.Route = prevRun, prevRoute
	}
	if err == nil {
		return kemi.CallResult{Ran: true}, nil
	}
	if isExit(err) {
		return kemi.CallResult{Ran: true, Exited: true}, nil
	}
	rerr := st.runtimeError(name, err)
	if timedOut {
		rerr.Timeout = true
		rerr.Msg = fmt.Sprintf("%s: route %s stopped: ran longer than %s", st.script.Name, name, st.opts.Timeout)
	}
	return kemi.CallResult{Ran: true}, rerr
}

// errorHandler runs where the error happened, with the stack still there:
// it keeps the traceback of a real error and passes the error on as is.
func (st *State) errorHandler(L *lua.LState) int {
	obj := L.Get(1)
	if s, ok := obj.(lua.LString); !ok || string(s) != ExitString {
		st.traceback = st.stackTraceback()
	}
	L.Push(obj)
	return 1
}

// stackTraceback describes the Lua stack, innermost first.
func (st *State) stackTraceback() string {
	L := st.L
	var b strings.Builder
	b.WriteString("stack traceback:")
	for level := 1; level < 32; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Snl", dbg, lua.LNil); err != nil {
			continue
		}
		b.WriteString("\n\t")
		if dbg.CurrentLine > 0 {
			b.WriteString(dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ":")
		} else {
			b.WriteString("[G]:")
		}
		if dbg.Name != "" {
			b.WriteString(" in function '" + dbg.Name + "'")
		} else {
			b.WriteString(" in " + dbg.What)
		}
	}
	return b.String()
}

func isExit(err error) bool {
	aerr, ok := err.(*lua.ApiError)
	if !ok {
		return false
	}
	s, ok := aerr.Object.(lua.LString)
	return ok && string(s) == ExitString
}

func (st *State) runtimeError(fn string, err error) *RuntimeError {
	aerr, ok := err.(*lua.ApiError)
	if !ok {
		return &RuntimeError{Func: fn, Msg: err.Error()}
	}
	msg := "unknown error"
	if aerr.Object != nil {
		msg = aerr.Object.String()
	}
	tb := st.traceback
	if tb == "" {
		tb = aerr.StackTrace
	}
	return &RuntimeError{Func: fn, Msg: st.explainMissing(msg), Traceback: tb}
}

// begin marks the start of a top-level run for the watchdog.
func (st *State) begin() {
	if st.opts.Timeout <= 0 {
		return
	}
	st.mu.Lock()
	st.gen++
	st.busy = time.Now()
	st.mu.Unlock()
}

// end marks the end of a top-level run and reports whether the watchdog
// stopped it; a stopped state gets a fresh context.
func (st *State) end() bool {
	if st.opts.Timeout <= 0 {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.busy = time.Time{}
	if st.ctx.Err() == nil {
		return false
	}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	st.L.SetContext(st.ctx)
	return true
}

// Overrun stops the running route if it has run longer than the state's
// time limit; the watchdog calls it from another goroutine. It reports
// whether it stopped one.
func (st *State) Overrun(now time.Time) bool {
	if st.opts.Timeout <= 0 {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.busy.IsZero() || now.Sub(st.busy) < st.opts.Timeout || st.ctx.Err() != nil {
		return false
	}
	st.cancel()
	return true
}
