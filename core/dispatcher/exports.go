package dispatcher

import (
	"errors"
	"strconv"

	"github.com/kemisip/kemi/kemi"
)

var errNotRequest = errors.New("not a request")

func itoa(n int) string { return strconv.Itoa(n) }

// Exports returns KSR.dispatcher.
func (mod *Module) Exports() []kemi.Export {
	iii := []kemi.ParamKind{kemi.ParamInt, kemi.ParamInt, kemi.ParamInt}
	iis := []kemi.ParamKind{kemi.ParamInt, kemi.ParamInt, kemi.ParamStr}
	sel := func(mode int, limited bool) kemi.Func {
		return func(m *kemi.Msg, a kemi.Args) kemi.Value {
			limit := 0
			if limited {
				limit = a.Int(2)
			}
			return kemi.Int(mod.selectDst(m, a.Int(0), a.Int(1), limit, mode))
		}
	}
	next := func(mode int, advance bool) kemi.Func {
		return func(m *kemi.Msg, _ kemi.Args) kemi.Value { return kemi.Int(mod.useNext(m, mode, advance)) }
	}
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "dispatcher", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		x("ds_select_dst", kemi.II, sel(modeDstURI, false)),
		x("ds_select_dst_limit", iii, sel(modeDstURI, true)),
		x("ds_select_domain", kemi.II, sel(modeRURI, false)),
		x("ds_select_domain_limit", iii, sel(modeRURI, true)),
		x("ds_select", kemi.II, sel(modeXAVP, false)),
		x("ds_select_limit", iii, sel(modeXAVP, true)),
		x("ds_next_dst", nil, next(modeDstURI, true)),
		x("ds_next_domain", nil, next(modeRURI, true)),
		x("ds_set_dst", nil, next(modeDstURI, false)),
		x("ds_set_domain", nil, next(modeRURI, false)),
		x("ds_select_routes", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.selectRoutes(m, a.Str(0), a.Str(1), 0))
		}),
		x("ds_select_routes_limit", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.selectRoutes(m, a.Str(0), a.Str(1), a.Int(2)))
		}),
		x("ds_mark_dst", nil, mod.markDst),
		x("ds_mark_addr", []kemi.ParamKind{kemi.ParamStr, kemi.ParamInt, kemi.ParamStr}, mod.markAddr),
		x("ds_mark_dst_state", kemi.S, mod.markDstState),
		x("ds_is_from_list", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.isFromList(m, a.Int(0), matchNoProto, ""))
		}),
		x("ds_is_from_lists", nil, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return kemi.Int(mod.isFromList(m, -1, matchNoProto, ""))
		}),
		x("ds_is_from_list_mode", kemi.II, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.isFromList(m, a.Int(0), a.Int(1), ""))
		}),
		x("ds_is_from_list_uri", iis, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.isFromList(m, a.Int(0), a.Int(1), a.Str(2)))
		}),
		x("ds_is_active", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.isActive(a.Int(0), ""))
		}),
		x("ds_is_active_uri", kemi.IS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Int(mod.isActive(a.Int(0), a.Str(1)))
		}),
		x("ds_load_update", nil, mod.loadUpdate),
		x("ds_load_unset", nil, mod.loadUnset),
		x("ds_list_exists", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			if _, ok := mod.sets.Load().sets[a.Int(0)]; ok {
				return kemi.Int(1)
			}
			return kemi.Int(-1)
		}),
	}
}
