package luaext

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/kemisip/kemi/kemi"
	lua "github.com/yuin/gopher-lua"
)

// A KSR function call goes through three steps, shared by the functions
// of the KSR table (wrap) and by CallExport, which module tests use: the
// argument count is checked and the arguments converted the way
// Kamailio's app_lua does (convertArgs), the Go function runs with panics
// contained (invokeExport), and the result is pushed by its return kind.

// convertArgs checks the count of the argc arguments of a call of e and
// converts them by e's parameter kinds: strings as lua_tostring gives them,
// integers as lua_tointeger does. A wrong count is logged on log at where
// and reported as !ok: the call then gives false without running e.
func convertArgs(e *kemi.Export, argc int, arg func(i int) lua.LValue, log *slog.Logger, where func() string) (a kemi.Args, ok bool) {
	nparams := len(e.Params)
	// the Lua name is built only for a log: building it on every call
	// cost a string allocation per KSR call
	switch {
	case nparams == 0 && argc > 0:
		log.Error("invalid parameters: function takes none", "func", e.LuaName(), "given", argc, "at", where())
		return a, false
	case argc < nparams:
		log.Error("not enough parameters", "func", e.LuaName(), "want", nparams, "given", argc, "at", where())
		return a, false
	case argc > kemi.MaxParams:
		log.Error("too many parameters", "func", e.LuaName(), "given", argc, "at", where())
		return a, false
	}
	a.N = nparams
	for i, k := range e.Params {
		v := arg(i)
		if k == kemi.ParamStr {
			a.V[i].S = argStr(v)
		} else {
			a.V[i].I = argInt(v)
		}
	}
	return a, true
}

// invokeExport calls e's Go function; a panic becomes an error log and the
// failure value of the return kind, so nothing crosses the Lua boundary. A
// Lua error raised on purpose inside it (a gopher-lua ApiError) unwinds as
// it is.
func invokeExport(e *kemi.Export, m *kemi.Msg, a kemi.Args, log *slog.Logger, where func() string) (res kemi.Value) {
	defer func() {
		if r := recover(); r != nil {
			if aerr, ok := r.(*lua.ApiError); ok {
				panic(aerr)
			}
			if ferr, ok := r.(*kemi.FormError); ok {
				// the peer's message, not a bug: sipgo cannot read what the
				// function needs (see kemi.FormError)
				log.Debug("KSR function failed: the message cannot take sipgo's form", "func", e.LuaName(), "err", ferr, "at", where())
				res = failValue(e.Return)
				return
			}
			log.Error("panic in KSR function", "func", e.LuaName(), "panic", r, "at", where(), "stack", string(debug.Stack()))
			res = failValue(e.Return)
		}
	}()
	return e.Func(m, a)
}

// failValue is the value a failed call gives for a return kind.
func failValue(kind kemi.ReturnKind) kemi.Value {
	switch kind {
	case kemi.ReturnInt:
		return kemi.Fail
	case kemi.ReturnXval:
		return kemi.Null
	}
	return kemi.False
}

// CallExport calls e on m as a script's call KSR.<module>.<name>(args...)
// does, for module tests: args stand for the Lua values the script
// passes (Go strings, ints, int64s, float64s, bools and nil), and go
// through the same count check and conversion as a call from Lua, so
// "404" is an int where the function wants one and a missing argument is
// logged on log and gives false (kemi.False) without running e, as in a
// route. A nil m is logged as a call without a SIP message and gives
// false. An argument of another Go type is an error.
func CallExport(e kemi.Export, m *kemi.Msg, log *slog.Logger, args ...any) (kemi.Value, error) {
	if log == nil {
		log = slog.Default()
	}
	vals := make([]lua.LValue, len(args))
	for i, v := range args {
		lv, err := luaValue(v)
		if err != nil {
			return kemi.Null, fmt.Errorf("luaext: argument %d of %s: %w", i+1, e.LuaName(), err)
		}
		vals[i] = lv
	}
	if m == nil {
		log.Error("invalid Lua environment attributes or parameters: no SIP message", "func", e.LuaName())
		return kemi.False, nil
	}
	a, ok := convertArgs(&e, len(vals), func(i int) lua.LValue { return vals[i] }, log, m.Where)
	if !ok {
		return kemi.False, nil
	}
	return invokeExport(&e, m, a, log, m.Where), nil
}

// luaValue is the Lua value a script passes for a Go value.
func luaValue(v any) (lua.LValue, error) {
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case string:
		return lua.LString(x), nil
	case int:
		return lua.LNumber(x), nil
	case int64:
		return lua.LNumber(x), nil
	case float64:
		return lua.LNumber(x), nil
	case bool:
		return lua.LBool(x), nil
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}
