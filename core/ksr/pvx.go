package ksr

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// pvxExports are the $xavp functions of KSR.pvx, as Kamailio's pv module
// exports them: they work on the first XAVP of a name and its first
// field of a name. The other KSR.pvx functions (xavu, xavi, sbranch,
// the table-returning xavp_getd...) are not in kemi.
func (mod *Module) pvxExports() []kemi.Export {
	x := func(name string, params []kemi.ParamKind, ret kemi.ReturnKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "pvx", Name: name, Params: params, Return: ret, Func: f}
	}
	ssi := []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}
	sss := []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamStr}
	get := func(child bool, null kemi.Value) kemi.Func {
		return func(m *kemi.Msg, a kemi.Args) kemi.Value {
			x := firstXAVP(m, a, child)
			if x == nil || x.Value().IsNull() {
				return null
			}
			return x.Value()
		}
	}
	isNull := func(child bool) kemi.Func {
		return func(m *kemi.Msg, a kemi.Args) kemi.Value {
			x := firstXAVP(m, a, child)
			return kemi.IntBool(x == nil || x.Value().IsNull())
		}
	}
	return []kemi.Export{
		x("xavp_sets", kemi.SS, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.AVPs.X.Add(kemi.NewXAVP(a.Str(0), kemi.Str(a.Str(1))))
			return kemi.OK
		}),
		x("xavp_seti", kemi.SI, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.AVPs.X.Add(kemi.NewXAVP(a.Str(0), kemi.Int64(a.Int64(1))))
			return kemi.OK
		}),
		x("xavp_child_sets", sss, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			setChild(&m.AVPs.X, a.Str(0), kemi.NewXAVP(a.Str(1), kemi.Str(a.Str(2))))
			return kemi.OK
		}),
		x("xavp_child_seti", ssi, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			setChild(&m.AVPs.X, a.Str(0), kemi.NewXAVP(a.Str(1), kemi.Int64(a.Int64(2))))
			return kemi.OK
		}),
		// The removals report success whether or not there was anything
		// to remove, as Kamailio's do.
		x("xavp_rm", kemi.S, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.AVPs.X.Remove(a.Str(0), 0)
			return kemi.OK
		}),
		x("xavp_rm_all", kemi.S, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.AVPs.X.Remove(a.Str(0), -1)
			return kemi.OK
		}),
		x("xavp_child_rm", kemi.SS, kemi.ReturnInt, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			m.AVPs.X.RemoveField(a.Str(0), 0, a.Str(1), 0)
			return kemi.OK
		}),
		x("xavp_is_null", kemi.S, kemi.ReturnInt, isNull(false)),
		x("xavp_child_is_null", kemi.SS, kemi.ReturnInt, isNull(true)),
		x("xavp_get", kemi.S, kemi.ReturnXval, get(false, kemi.Null)),
		x("xavp_gete", kemi.S, kemi.ReturnXval, get(false, kemi.Str(""))),
		x("xavp_getw", kemi.S, kemi.ReturnXval, get(false, kemi.Str("<null>"))),
		x("xavp_child_get", kemi.SS, kemi.ReturnXval, get(true, kemi.Null)),
		x("xavp_child_gete", kemi.SS, kemi.ReturnXval, get(true, kemi.Str(""))),
		x("xavp_child_getw", kemi.SS, kemi.ReturnXval, get(true, kemi.Str("<null>"))),
		x("pv_xavp_print", nil, kemi.ReturnInt, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			var b strings.Builder
			printXAVPs(&b, m.AVPs.X.Items())
			mod.log.Info("xavp list", slog.String("where", m.Where()), slog.String("xavps", b.String()))
			return kemi.OK
		}),
	}
}

// firstXAVP returns the first XAVP named by the first argument or, with
// child, its first field named by the second; nil when missing.
func firstXAVP(m *kemi.Msg, a kemi.Args, child bool) *kemi.XAVP {
	x := m.AVPs.X.Get(a.Str(0), 0)
	if !child || x == nil {
		return x
	}
	return x.Field(a.Str(1), 0)
}

// setChild sets field f of the first XAVP called name as Kamailio's
// xavp_set_child_xval: it replaces the first field of that name (the new
// one goes first), and a first XAVP holding no fields, or none at all,
// gives way to a new one holding f.
func setChild(xs *kemi.XAVPs, name string, f *kemi.XAVP) {
	x := xs.Get(name, 0)
	if x == nil || !x.IsList() {
		if x != nil {
			xs.RemoveItem(x)
		}
		xs.Add(kemi.NewXAVPList(name, f))
		return
	}
	xs.RemoveField(name, 0, f.Name(), 0)
	xs.AddField(name, 0, f)
}

// printXAVPs writes a list as "name=value" items, fields in braces.
func printXAVPs(b *strings.Builder, xs []*kemi.XAVP) {
	for i, x := range xs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(x.Name())
		if x.IsList() {
			b.WriteString("={")
			printXAVPs(b, x.Fields())
			b.WriteString("}")
			continue
		}
		v := x.Value()
		switch v.Kind {
		case kemi.KindStr:
			fmt.Fprintf(b, "=%q", v.Str)
		case kemi.KindInt:
			fmt.Fprintf(b, "=%d", v.Int)
		default:
			b.WriteString("=<null>")
		}
	}
}
