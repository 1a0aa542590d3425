package ksr

import (
	"strconv"

	"github.com/kemisip/kemi/kemi"
)

// pvExports is KSR.pv: get/set over the engine's pseudo-variable table.
func (mod *Module) pvExports() []kemi.Export {
	sx := []kemi.ParamKind{kemi.ParamStr, kemi.ParamLong}
	return []kemi.Export{
		{Module: "pv", Name: "get", Params: kemi.S, Return: kemi.ReturnXval, Func: mod.pvGetOr(kemi.Null)},
		{Module: "pv", Name: "gete", Params: kemi.S, Return: kemi.ReturnXval, Func: mod.pvGetOr(kemi.Str(""))},
		{Module: "pv", Name: "getw", Params: kemi.S, Return: kemi.ReturnXval, Func: mod.pvGetOr(kemi.Str("<null>"))},
		{Module: "pv", Name: "getvn", Params: kemi.SI, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvGet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}},
		{Module: "pv", Name: "getvs", Params: kemi.SS, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvGet(m, a.Str(0), kemi.Str(a.Str(1)))
		}},
		{Module: "pv", Name: "geti", Params: kemi.S, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int64(mod.pvGet(m, a.Str(0), kemi.Int(0)).AsInt())
		}},
		{Module: "pv", Name: "getl", Params: kemi.S, Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int64(mod.pvGet(m, a.Str(0), kemi.Int(0)).AsInt())
		}},
		{Module: "pv", Name: "sets", Params: kemi.SS, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Str(a.Str(1)))
		}},
		{Module: "pv", Name: "seti", Params: kemi.SI, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}},
		{Module: "pv", Name: "setl", Params: sx, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Int64(a.Int64(1)))
		}},
		{Module: "pv", Name: "unset", Params: kemi.S, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.pvSet(m, a.Str(0), kemi.Null)
		}},
		{Module: "pv", Name: "is_null", Params: kemi.S, Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v, err := mod.pvs.Get(m, a.Str(0))
			return kemi.Bool(err != nil || v.IsNull())
		}},
	}
}

func (mod *Module) pvGetOr(def kemi.Value) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value { return mod.pvGet(m, a.Str(0), def) }
}

// pvGet returns the value of a pseudo-variable, or def when it is unset.
// An invalid name is logged with the script position and gives def.
func (mod *Module) pvGet(m *kemi.Msg, name string, def kemi.Value) kemi.Value {
	v, err := mod.pvs.Get(m, name)
	if err != nil {
		m.Errorf(mod.log, "KSR.pv: %v", err)
		return def
	}
	if v.IsNull() {
		return def
	}
	return v
}

func (mod *Module) pvSet(m *kemi.Msg, name string, v kemi.Value) kemi.Value {
	if err := mod.pvs.Set(m, name, v); err != nil {
		m.Errorf(mod.log, "KSR.pv: cannot set %s: %v", name, err)
		return kemi.False
	}
	return kemi.True
}

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }
