package luaext

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/kemisip/kemi/luaext/luastr"
	lua "github.com/yuin/gopher-lua"
)

// openLibs opens gopher-lua's standard libraries, bounds the string
// functions (luastr), makes everything that compiles Lua at run time go
// through compileChunk, ties coroutines to the running route, and applies
// the sandbox unless the options allow unsafe functions.
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
	luastr.Open(L, (*budget)(st))
	st.openCoroutines()
	st.accountLibs()
	st.openTraceback()
	st.openSort()
	st.openGC()
	L.SetGlobal("loadstring", L.NewFunction(st.loadString))
	L.SetGlobal("load", L.NewFunction(st.load))
	pkg := L.GetGlobal("package").(*lua.LTable)
	loaders := L.GetField(pkg, "loaders").(*lua.LTable)
	if st.opts.AllowUnsafe {
		L.SetGlobal("dofile", L.NewFunction(st.doFile))
		L.SetGlobal("loadfile", L.NewFunction(st.loadFile))
		// the script's folder first, as without allow_unsafe_lua
		path := filepath.Join(st.dir, "?.lua") + ";" + lua.LVAsString(L.GetField(pkg, "path"))
		L.SetField(pkg, "path", lua.LString(path))
		L.RawSetInt(loaders, 2, L.NewFunction(st.searchPath))
		return
	}
	L.SetField(pkg, "path", lua.LString(filepath.Join(st.dir, "?.lua")))
	L.RawSetInt(loaders, 2, L.NewFunction(st.searchScriptDir))
	st.sandbox()
}

// unsafeReasons says, for each function the sandbox takes away, what
// scripts do not get. All of io goes (file access); os keeps only the
// functions in osKept.
var unsafeReasons = map[string]string{
	"os.execute":      "scripts cannot run programs",
	"os.exit":         "scripts cannot stop the server",
	"os.getenv":       "scripts get no environment access",
	"os.setenv":       "scripts get no environment access",
	"os.remove":       "scripts get no file access",
	"os.rename":       "scripts get no file access",
	"os.tmpname":      "scripts get no file access",
	"os.setlocale":    "scripts cannot change the process's locale",
	"dofile":          "scripts get no file access (require loads Lua modules from the script's folder)",
	"loadfile":        "scripts get no file access (require loads Lua modules from the script's folder)",
	"package.loadlib": "scripts cannot load native libraries",
}

// osKept are the os functions scripts keep without allow_unsafe_lua.
var osKept = map[string]bool{"time": true, "clock": true, "date": true, "difftime": true}

// Unsafe reports whether the global function name ("io.open", "dofile")
// is one the sandbox takes away, that is, one that needs allow_unsafe_lua.
func Unsafe(name string) bool {
	if strings.HasPrefix(name, "io.") {
		return true
	}
	_, ok := unsafeReasons[name]
	return ok
}

// unsafeReason says what a script loses with the function name.
func unsafeReason(name string) string {
	if r, ok := unsafeReasons[name]; ok {
		return r
	}
	return "scripts get no file access"
}

// disabledMessage is the error a sandboxed function raises.
func disabledMessage(name string) string {
	return fmt.Sprintf("%s is disabled in kemi: %s; set allow_unsafe_lua = true in [core] to allow it", name, unsafeReason(name))
}

// sandbox replaces the unsafe functions by ones that raise a clear error.
// The tables are changed in place, so package.loaded.io and .os are the
// sandboxed tables too.
func (st *State) sandbox() {
	L := st.L
	disabled := func(name string) *lua.LFunction {
		msg := disabledMessage(name)
		return L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s", msg)
			return 0
		})
	}
	if iot, ok := L.GetGlobal("io").(*lua.LTable); ok {
		var keys []string
		iot.ForEach(func(k, _ lua.LValue) { keys = append(keys, lua.LVAsString(k)) })
		for _, k := range keys {
			name := "io." + k
			if _, isFn := iot.RawGetString(k).(*lua.LFunction); isFn {
				iot.RawSetString(k, disabled(name))
				continue
			}
			// io.stdout and the like: any use of them raises
			handle := L.NewTable()
			mt := L.NewTable()
			msg := disabledMessage(name)
			L.SetField(mt, "__index", L.NewFunction(func(L *lua.LState) int {
				L.RaiseError("%s", msg)
				return 0
			}))
			L.SetMetatable(handle, mt)
			iot.RawSetString(k, handle)
		}
	}
	if ost, ok := L.GetGlobal("os").(*lua.LTable); ok {
		var keys []string
		ost.ForEach(func(k, _ lua.LValue) { keys = append(keys, lua.LVAsString(k)) })
		for _, k := range keys {
			if !osKept[k] {
				ost.RawSetString(k, disabled("os."+k))
			}
		}
	}
	L.SetGlobal("dofile", disabled("dofile"))
	L.SetGlobal("loadfile", disabled("loadfile"))
	if pkg, ok := L.GetGlobal("package").(*lua.LTable); ok {
		pkg.RawSetString("loadlib", disabled("package.loadlib"))
	}
}

// loadChunk compiles src through compileChunk and pushes the function, or
// nil and the error message, as loadstring does.
func (st *State) loadChunk(L *lua.LState, name string, src []byte) int {
	proto, err := compileChunk(name, src)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}

// compileCost is what compiling one byte of source at run time counts
// against the run's memory bound. gopher-lua's parser and compiler are Go
// code that no time limit reaches, and allocate 50 to 1000 bytes per byte
// of source (the most for a chunk of many small functions): loadstring of
// 12 MB of "x=1 " took 4.5 s and 1 GB. Counted this way, a run compiles at
// most 64 KB of source under the default bound of 64 MiB.
const compileCost = 1 << 10

// maxChunkName is the longest chunk name loadstring and load keep (Lua
// 5.1 shows at most 60 bytes of one, LUA_IDSIZE). Every error raised in
// the chunk starts with its name: a long one was copied into each message
// without counting against the route's memory bound.
const maxChunkName = 60

// loadBuilt is loadChunk for source the script built (loadstring, load):
// its compilation is counted against the run's memory bound first, and a
// long chunk name is cut to maxChunkName bytes.
func (st *State) loadBuilt(L *lua.LState, name string, src []byte) int {
	if len(name) > maxChunkName {
		name = name[:maxChunkName-3] + "..."
	}
	cost := len(src) * compileCost
	if len(src) > math.MaxInt/compileCost {
		cost = math.MaxInt
	}
	st.account(L, cost)
	return st.loadChunk(L, name, src)
}

// loadString is loadstring(s [, chunkname]).
func (st *State) loadString(L *lua.LState) int {
	src := L.CheckString(1)
	return st.loadBuilt(L, L.OptString(2, "<string>"), []byte(src))
}

// load is load(func [, chunkname]): func gives the text piece by piece.
func (st *State) load(L *lua.LState) int {
	fn := L.CheckFunction(1)
	name := L.OptString(2, "?")
	var src strings.Builder
	for {
		// a reader written in Go (load(os.date)) runs no VM
		// instruction, where a stop is noticed
		if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
			L.RaiseError("%s", ctx.Err().Error())
		}
		L.Push(fn)
		L.Call(0, 1)
		piece := L.Get(-1)
		L.Pop(1)
		if piece == lua.LNil {
			break
		}
		if !lua.LVCanConvToString(piece) {
			L.Push(lua.LNil)
			L.Push(lua.LString("reader function must return a string"))
			return 2
		}
		s := lua.LVAsString(piece)
		if s == "" {
			break
		}
		st.account(L, len(s))
		src.WriteString(s)
	}
	return st.loadBuilt(L, name, []byte(src.String()))
}

// readChunk reads a file for dofile and loadfile; "" is standard input.
func readChunk(path string) ([]byte, error) {
	if path == "" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// loadFile is loadfile([path]) with allow_unsafe_lua.
func (st *State) loadFile(L *lua.LState) int {
	path := L.OptString(1, "")
	src, err := readChunk(path)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(fmt.Sprintf("can not open file: %v", path)))
		return 2
	}
	name := path
	if name == "" {
		name = "<stdin>"
	}
	return st.loadChunk(L, name, src)
}

// doFile is dofile([path]) with allow_unsafe_lua.
func (st *State) doFile(L *lua.LState) int {
	path := L.OptString(1, "")
	src, err := readChunk(path)
	if err != nil {
		L.RaiseError("can not open file: %v", path)
	}
	name := path
	if name == "" {
		name = "<stdin>"
	}
	proto, err := compileChunk(name, src)
	if err != nil {
		L.Error(lua.LString(err.Error()), 0) // as Lua's dofile: the error as it is
	}
	top := L.GetTop()
	L.Push(L.NewFunctionFromProto(proto))
	L.Call(0, lua.MultRet)
	return L.GetTop() - top
}

// searchScriptDir is require's file loader without allow_unsafe_lua:
// require("x.y") loads <script folder>/x/y.lua, and nothing outside that
// folder (os.Root refuses .. and symbolic links that leave it).
func (st *State) searchScriptDir(L *lua.LState) int {
	name := L.CheckString(1)
	rel, ok := moduleFile(name)
	if !ok {
		L.RaiseError("require(%q): kemi loads Lua modules from the script's folder only (%s); set allow_unsafe_lua = true in [core] to load others", name, st.dir)
	}
	root, err := os.OpenRoot(st.dir)
	if err != nil {
		L.Push(lua.LString(fmt.Sprintf("no file '%s' (%v)", filepath.Join(st.dir, rel), err)))
		return 1
	}
	defer root.Close()
	src, err := root.ReadFile(rel)
	if err != nil {
		if os.IsNotExist(err) {
			L.Push(lua.LString(fmt.Sprintf("no file '%s'", filepath.Join(st.dir, rel))))
		} else {
			L.Push(lua.LString(fmt.Sprintf("no file '%s' (%v)", filepath.Join(st.dir, rel), err)))
		}
		return 1
	}
	return st.pushModule(L, st.moduleName(rel), src)
}

// searchPath is require's file loader with allow_unsafe_lua: the files of
// package.path, as Lua's, compiled as everything else.
func (st *State) searchPath(L *lua.LState) int {
	name := L.CheckString(1)
	path, ok := L.GetField(L.GetGlobal("package"), "path").(lua.LString)
	if !ok {
		L.RaiseError("package.path must be a string")
	}
	file := strings.ReplaceAll(name, ".", string(filepath.Separator))
	var tried strings.Builder
	for _, pattern := range strings.Split(string(path), ";") {
		if pattern == "" {
			continue
		}
		candidate := strings.ReplaceAll(pattern, "?", file)
		src, err := os.ReadFile(candidate)
		if err != nil {
			fmt.Fprintf(&tried, "no file '%s'", candidate)
			continue
		}
		return st.pushModule(L, candidate, src)
	}
	L.Push(lua.LString(tried.String()))
	return 1
}

// pushModule compiles a module file and pushes its function; a module
// that does not compile is an error of require.
func (st *State) pushModule(L *lua.LState, chunkName string, src []byte) int {
	proto, err := compileChunk(chunkName, src)
	if err != nil {
		L.RaiseError("error loading module '%s': %s", L.CheckString(1), err.Error())
	}
	L.Push(L.NewFunctionFromProto(proto))
	return 1
}

// scriptDir is the folder require loads modules from, as the options or
// the script's name give it (not made absolute): "" when neither does.
func (st *State) scriptDir() string {
	if st.opts.ScriptDir == "" && st.script != nil {
		return filepath.Dir(st.script.Name)
	}
	return st.opts.ScriptDir
}

// moduleName is the chunk name of a module file: its path as the script's
// name gives the folder, so errors point at it the way they point at the
// script.
func (st *State) moduleName(rel string) string {
	dir := st.scriptDir()
	if dir == "" || dir == "." {
		return rel
	}
	return filepath.Join(dir, rel)
}

// moduleFile turns a module name into a file path relative to the
// script's folder: "x.y" (or "x/y") is x/y.lua. Names that would leave the
// folder (absolute, .., empty parts) are refused.
func moduleFile(name string) (string, bool) {
	if strings.ContainsAny(name, "\\\x00") {
		return "", false
	}
	parts := strings.Split(strings.ReplaceAll(name, "/", "."), ".")
	for _, p := range parts {
		if p == "" { // a leading /, .., a trailing dot
			return "", false
		}
	}
	return filepath.Join(parts...) + ".lua", true
}

// openCoroutines makes coroutines run under the context of the run that
// resumes them, and counts each one created against the run's memory
// bound (coroutineCost). gopher-lua gives a coroutine a child of the state's
// context when it is created: one created at the top level or before a
// stopped route would fail with "context canceled" in every later route,
// and each would stay registered with the state's context. Here a
// coroutine is created without a context and takes its resumer's at each
// resume, so a stop reaches it and nothing outlives the run.
func (st *State) openCoroutines() {
	L := st.L
	co, ok := L.GetGlobal("coroutine").(*lua.LTable)
	if !ok {
		return
	}
	gfn := func(name string) lua.LGFunction {
		fn, _ := co.RawGetString(name).(*lua.LFunction)
		if fn == nil || !fn.IsG {
			panic("luaext: gopher-lua has no coroutine." + name)
		}
		return fn.GFunction
	}
	create, resume, wrap := gfn("create"), gfn("resume"), gfn("wrap")
	// withoutContext runs f with L's context set aside, so that the
	// thread f creates gets none
	withoutContext := func(L *lua.LState, f lua.LGFunction) int {
		ctx := L.RemoveContext()
		n := f(L)
		if ctx != nil {
			L.SetContext(ctx)
		}
		return n
	}
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int {
		st.account(L, coroutineCost)
		return withoutContext(L, create)
	}))
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		runUnder(L, L.CheckThread(1))
		n := resume(L)
		st.accountCaught(L, n)
		return n
	}))
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		st.account(L, coroutineCost)
		withoutContext(L, wrap)
		inner, ok := L.Get(-1).(*lua.LFunction)
		if !ok || len(inner.Upvalues) != 1 {
			return 1 // not gopher-lua's closure: leave it
		}
		th, ok := inner.Upvalues[0].Value().(*lua.LState)
		if !ok {
			return 1
		}
		L.Pop(1)
		// gopher-lua's closure reads the thread from the upvalue of
		// the function it runs in, which this one also holds
		L.Push(L.NewClosure(func(L *lua.LState) int {
			runUnder(L, th)
			return inner.GFunction(L)
		}, th))
		return 1
	}))
}

// runUnder gives the thread th the context of L, the thread resuming it.
func runUnder(L, th *lua.LState) {
	if ctx := L.Context(); ctx != nil {
		th.SetContext(ctx)
	} else {
		th.RemoveContext()
	}
}
