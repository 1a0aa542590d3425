package luaext

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
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
	// AllowUnsafe gives the script gopher-lua's file, process and
	// environment functions (io, dofile, loadfile, os.execute, os.exit,
	// os.getenv, ...; see Unsafe) and require along package.path, after
	// ScriptDir. Without it those functions raise an error that names the
	// setting, and require loads Lua files from ScriptDir only. Code is
	// compiled and bounded the same way either way.
	AllowUnsafe bool
	// ScriptDir is the folder require loads modules from; "" means the
	// folder of the script's Name (the current folder for a bare name).
	ScriptDir string
	// Timeout stops a route that runs longer; 0 means no limit. The
	// caller enforces it by calling Overrun from another goroutine.
	Timeout time.Duration
	// TopLevelTimeout bounds the script's top level, run by NewState; 0
	// means DefaultTopLevelTimeout, or Timeout when that is longer.
	TopLevelTimeout time.Duration
	// MemoryLimit bounds the bytes of strings one route run (and the
	// top level) may build with .., the string library and table.concat;
	// it also counts what other library functions build from their
	// arguments (error messages a pcall gives back, os.date, module), 1
	// KiB per byte of source compiled at run time and 40 KiB per
	// coroutine. 0 means no limit. A run past it is stopped.
	MemoryLimit int64
	// Trace, when set, is a switch shared by several states (an
	// engine's): the Tracer it holds receives their KSR calls (see
	// Tracer). A State's own Tracer (SetTracer) takes precedence.
	Trace *TraceSwitch
}

// DefaultTopLevelTimeout bounds a script's top level when routes have a
// shorter limit or none: a loop there would hang start-up, reload and kemi
// check, while a slow top level (a large table built once) is no bug.
const DefaultTopLevelTimeout = 10 * time.Second

// The registry is a state's value stack. gopher-lua grows it by a fixed
// step, copying it each time, inside the Go function that pushes (unpack,
// string.byte): with a small step, unpack of a large table was quadratic
// and ran for seconds where no time limit reaches. A large step keeps that
// to a few copies; the maximum is far above what 200 nested calls of Lua
// functions need (Lua 5.1 refuses to unpack more than about 8000 values).
const (
	registryGrowStep = 32 << 10
	registryMaxSize  = 256 << 10
)

// maxArrayIndex bounds the array part of a Lua table. gopher-lua fills
// the gap up to a new integer key with nils, one at a time, inside the
// assignment: t[67108863] = 1 took 10 s and 3.5 GB where no limit
// reaches. Larger keys live in the table's hash part, which # does not
// look at (gopher-lua's rule past its own bound, 2^26), so # of a
// sequence stops counting there.
const maxArrayIndex = 1 << 21

func init() {
	// gopher-lua's bound is a package variable; every Lua state of the
	// process is built here, and this runs before any exists.
	lua.MaxArrayIndex = maxArrayIndex
}

// State is one Lua state with its KSR table. It is owned by one goroutine
// at a time.
type State struct {
	// L is the gopher-lua state.
	L *lua.LState

	script    *Script
	opts      Options
	dir       string // ScriptDir made absolute, for require
	log       *slog.Logger
	cur       *kemi.Msg
	missing   string // the last KSR name that was nil
	missingAt string // and the file:line that looked it up
	modf      map[string]kemi.Export

	// onError is the PCall error handler: it leaves KSR.x.exit alone and
	// records a traceback for real errors (gopher-lua would build one for
	// every error, exit included, without a handler).
	onError   *lua.LFunction
	traceback string

	// the bytes of strings the current top-level run built
	built int64
	// KSR functions the top level called, which have no message there
	topCalls []TopLevelCall
	// the routes running, outermost first: none while the script's top
	// level runs, the top-level run's route first
	routes []routeFrame

	// own is the State's own Tracer (SetTracer); slowest is the slowest
	// traced KSR call of the outermost run (see SlowestCall)
	own       TraceSwitch
	shared    *TraceSwitch // Options.Trace, else own
	slowest   Call
	slowestOK bool
	dropAt    string // where KSR.x.drop was called, while traced

	mu      sync.Mutex // guards cancel, busy, stopped against the watchdog
	cancel  context.CancelFunc
	busy    time.Time
	stopped stopReason
}

// TopLevelCall is a KSR function the script's top level called: there is
// no SIP message there, so it failed (as it does in Kamailio).
type TopLevelCall struct {
	// Func is the Lua name, "KSR.info".
	Func string
	// Where is the file:line of the call.
	Where string
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
	// Memory is set when the route built more strings than the memory
	// limit allows.
	Memory bool
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
// applied and the string functions bounded), the KSR table, KSRVERSION,
// then the script's top level once. A top-level error is returned as a
// *RuntimeError.
func NewState(script *Script, opts Options) (*State, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       200,
		RegistrySize:        1024,
		RegistryMaxSize:     registryMaxSize,
		RegistryGrowStep:    registryGrowStep,
		IncludeGoStackTrace: false,
	})
	st := &State{L: L, script: script, opts: opts, log: log, modf: map[string]kemi.Export{}}
	st.shared = opts.Trace
	if st.shared == nil {
		st.shared = &st.own
	}
	dir := st.scriptDir()
	if dir == "" {
		dir = "."
	}
	var err error
	if st.dir, err = filepath.Abs(dir); err != nil {
		L.Close()
		return nil, fmt.Errorf("luaext: script folder: %w", err)
	}
	st.onError = L.NewFunction(st.errorHandler)
	st.openLibs()
	if script != nil && script.cover != nil {
		script.cover.install(L)
	}
	if err := st.buildKSR(); err != nil {
		L.Close()
		return nil, err
	}
	L.SetGlobal("KSRVERSION", lua.LString("2.0"))
	if script != nil {
		if err := st.runTop(); err != nil {
			st.Close() // also ends the top level's timer
			return nil, err
		}
	}
	st.routeContext()
	return st, nil
}

// Close releases the state.
func (st *State) Close() {
	st.mu.Lock()
	if st.cancel != nil {
		st.cancel()
	}
	st.mu.Unlock()
	st.L.Close()
}

// TopLevelCalls returns the KSR functions the script's top level called,
// once per function and position.
func (st *State) TopLevelCalls() []TopLevelCall {
	return st.topCalls
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
// conversion and return conventions (see convertArgs).
func (st *State) wrap(e kemi.Export) lua.LGFunction {
	name := e.LuaName()
	return func(L *lua.LState) int {
		m := st.cur
		if m == nil {
			st.noMessage(name)
			L.Push(lua.LFalse)
			return 1
		}
		a, ok := convertArgs(&e, L.GetTop(), func(i int) lua.LValue { return L.Get(i + 1) }, st.log, st.Where)
		if !ok {
			L.Push(lua.LFalse)
			return 1
		}
		// the check is here rather than in invoke, so that the untraced
		// call stays one call with two atomic loads before it
		var res kemi.Value
		if st.traced() {
			res = st.invokeTraced(&e, m, a)
		} else {
			res = invokeExport(&e, m, a, st.log, st.Where)
		}
		return pushResult(L, e.Return, res)
	}
}

// invoke calls the Go function (see invokeExport), timed and traced when
// a Tracer is installed.
func (st *State) invoke(e *kemi.Export, m *kemi.Msg, a kemi.Args) kemi.Value {
	if st.traced() {
		return st.invokeTraced(e, m, a)
	}
	return invokeExport(e, m, a, st.log, st.Where)
}

func pushResult(L *lua.LState, kind kemi.ReturnKind, v kemi.Value) int {
	switch kind {
	case kemi.ReturnInt:
		L.Push(luaInt(v.AsInt()))
	case kemi.ReturnBool:
		L.Push(lua.LBool(v.AsInt() != 0))
	case kemi.ReturnXval:
		switch v.Kind {
		case kemi.KindInt:
			L.Push(luaInt(v.Int))
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

// smallInts are the Lua numbers -8..63 as values: a number put in an
// interface is an allocation, and most KSR functions return one of these.
var smallInts = func() (t [72]lua.LValue) {
	for i := range t {
		t[i] = lua.LNumber(i - 8)
	}
	return t
}()

// luaInt returns n as a Lua number, allocating only outside -8..63.
func luaInt(n int64) lua.LValue {
	if n >= -8 && n < 64 {
		return smallInts[n+8]
	}
	return lua.LNumber(n)
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
	if st.traced() {
		st.dropAt = st.Where() // for the trace (see errorHandler)
	}
	L.Error(lua.LString(ExitString), 0)
	return 0
}

// callModf is KSR.x.modf(name, ...): call a function by its native name
// with string arguments; gives its int result, or -1.
func (st *State) callModf(L *lua.LState) int {
	name := L.OptString(1, "")
	e, ok := st.modf[name]
	if ok && st.cur == nil {
		st.noMessage("KSR.x.modf")
		L.Push(lua.LNumber(-1))
		return 1
	}
	if !ok {
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
	_, ok := st.routeFunc(name)
	return ok
}

// routeFunc returns the global function name. The lookup is raw: it runs
// outside any route, where no pcall or time limit reaches, and a script
// that guards its globals with an __index metamethod (strict.lua raises
// on a name it does not define) made the lookup of an optional route
// panic the worker.
func (st *State) routeFunc(name string) (*lua.LFunction, bool) {
	fn, ok := st.L.G.Global.RawGetString(name).(*lua.LFunction)
	return fn, ok
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

// Call runs the global function name with m as the current message; see
// kemi.Runner. A call made while another runs (a route the script or a
// module runs from inside a route) is nested in it and shares its limits.
//
// While it runs, m.Route is rt, and m.Run is the message's Runner when the
// caller set one (the engine's, which counts and logs every route, so
// routes run from inside come back to it), else the State itself; both
// are restored afterwards. A Lua error is returned, not logged: reporting
// it is the Runner's job.
func (st *State) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	L := st.L
	fn, ok := st.routeFunc(name)
	if !ok {
		return kemi.CallResult{}, nil
	}
	prevMsg := st.cur
	var prevRun kemi.Runner
	var prevRoute kemi.RouteType
	if m != nil {
		prevRun, prevRoute = m.Run, m.Route
		if m.Run == nil {
			m.Run = st
		}
		m.Route = rt
	}
	st.cur = m
	top := len(st.routes) == 0
	if top {
		st.missing, st.missingAt = "", ""
		st.slowest, st.slowestOK, st.dropAt = Call{}, false, ""
		st.begin()
	}
	st.routes = append(st.routes, routeFrame{name: name, fn: fn})
	L.Push(fn)
	for _, a := range args {
		L.Push(lua.LString(a))
	}
	st.traceback = ""
	err := L.PCall(len(args), 0, st.onError)
	st.routes = st.routes[:len(st.routes)-1]
	var stopped stopReason
	if top {
		stopped = st.end()
	} else {
		stopped = st.stopReason()
	}
	st.cur = prevMsg
	if m != nil {
		m.Run, m.Route = prevRun, prevRoute
	}
	// a stop that comes after the route ended does not change its result
	if err == nil {
		return kemi.CallResult{Ran: true}, nil
	}
	if isExit(err) {
		return kemi.CallResult{Ran: true, Exited: true}, nil
	}
	rerr := st.runtimeError(name, err)
	st.explainStop(rerr, stopped, "route "+name, st.opts.Timeout)
	return kemi.CallResult{Ran: true}, rerr
}

// Running reports whether a route is running on the state, so that a Call
// now would be nested in it.
func (st *State) Running() bool { return len(st.routes) > 0 }

// routeFrame is a route running on the state, called from Go: tracebacks
// name its function by the route name.
type routeFrame struct {
	name string
	fn   *lua.LFunction
}

// routeName returns the route name of fn when it runs as a route, or "".
func (st *State) routeName(fn *lua.LFunction) string {
	for i := len(st.routes) - 1; i >= 0; i-- {
		if st.routes[i].fn == fn {
			return st.routes[i].name
		}
	}
	return ""
}

// noMessage logs a KSR call made where there is no SIP message, and
// remembers it when the script's top level made it.
func (st *State) noMessage(name string) {
	where := st.Where()
	st.log.Error("invalid Lua environment attributes or parameters: no SIP message (KSR functions cannot run at script top level)",
		"func", name, "at", where)
	if len(st.routes) > 0 || len(st.topCalls) >= 100 {
		return
	}
	for _, c := range st.topCalls {
		if c.Func == name && c.Where == where {
			return
		}
	}
	st.topCalls = append(st.topCalls, TopLevelCall{Func: name, Where: where})
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
		return &RuntimeError{Func: fn, Msg: hideInternal(err.Error())}
	}
	msg := "unknown error"
	if aerr.Object != nil {
		msg = aerr.Object.String()
	}
	tb := st.traceback
	if tb == "" {
		tb = aerr.StackTrace
	}
	return &RuntimeError{Func: fn, Msg: hideInternal(st.explainMissing(msg)), Traceback: hideInternal(tb)}
}
