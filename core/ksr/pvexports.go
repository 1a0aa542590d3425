package ksr

import (
	"github.com/kemisip/kemi/kemi"
)

// pvExports is KSR.pv: get/set over the engine's pseudo-variable table.
// A name that does not parse, or a variable that cannot be read, is logged
// with the script position and gives the function's "null" value; see
// KEMI-REFERENCE 2.8.
func (mod *Module) pvExports() []kemi.Export {
	pv := func(name string, params []kemi.ParamKind, ret kemi.ReturnKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "pv", Name: name, Params: params, Return: ret, Func: f}
	}
	sl := []kemi.ParamKind{kemi.ParamStr, kemi.ParamLong}
	return []kemi.Export{
		pv("get", kemi.S, kemi.ReturnXval, mod.pvGetOr(kemi.Null)),
		pv("gete", kemi.S, kemi.ReturnXval, mod.pvGetOr(kemi.Str(""))),
		pv("getw", kemi.S, kemi.ReturnXval, mod.pvGetOr(kemi.Str("<null>"))),
		pv("getvn", kemi.SI, kemi.ReturnXval, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvGet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}),
		pv("getvs", kemi.SS, kemi.ReturnXval, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvGet(m, a.Str(0), kemi.Str(a.Str(1)))
		}),
		pv("geti", kemi.S, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int64(mod.pvGet(m, a.Str(0), kemi.Int(0)).AsInt())
		}),
		pv("getl", kemi.S, kemi.ReturnXval, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int64(mod.pvGet(m, a.Str(0), kemi.Int(0)).AsInt())
		}),
		pv("sets", kemi.SS, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Str(a.Str(1)))
		}),
		pv("seti", kemi.SI, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}),
		pv("setl", sl, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}),
		pv("unset", kemi.S, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Null)
		}),
		pv("is_null", kemi.S, kemi.ReturnBool, mod.pvIsNull),
	}
}

// pvGetOr returns a getter giving def when the variable is null.
func (mod *Module) pvGetOr(def kemi.Value) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.pvGet(m, a.Str(0), def) }
}

// pvGet returns the value of a pseudo-variable, or def when it is unset.
// An invalid name or a failed read is logged and gives def.
func (mod *Module) pvGet(m *kemi.Msg, name string, def kemi.Value) kemi.Value {
	v, err := mod.pvs.Get(m, name)
	if err != nil {
		m.Errorf(mod.log, "KSR.pv: cannot get %s: %v", name, err)
		return def
	}
	if v.IsNull() {
		return def
	}
	return v
}

// pvSet assigns a pseudo-variable (Null to unset) and reports success.
func (mod *Module) pvSet(m *kemi.Msg, name string, v kemi.Value) kemi.Value {
	if err := mod.pvs.Set(m, name, v); err != nil {
		m.Errorf(mod.log, "KSR.pv: cannot set %s: %v", name, err)
		return kemi.False
	}
	return kemi.True
}

// pvIsNull is KSR.pv.is_null(name): true when the variable is null, and
// also when the name is invalid (logged), as in Kamailio.
func (mod *Module) pvIsNull(m *kemi.Msg, a kemi.Args) kemi.Value {
	v, err := mod.pvs.Get(m, a.Str(0))
	if err != nil {
		m.Errorf(mod.log, "KSR.pv.is_null: %s: %v", a.Str(0), err)
		return kemi.True
	}
	return kemi.Bool(v.IsNull())
}
