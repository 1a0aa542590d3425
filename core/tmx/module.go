// Package tmx is Kamailio's tmx module: tests of the route type
// (t_is_request_route, t_is_failure_route, ...) and transaction helpers
// (t_precheck_trans, t_flush_flags, t_reply_callid, t_cancel_branches, ...)
// built on the API tm publishes.
package tmx

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "tmx", Order: 30, New: func() kemi.Module { return &Module{} }})
}

// Module is the tmx module of one engine.
type Module struct {
	log *slog.Logger
	svc *kemi.Services
	tm  kemi.TransactionAPI
}

// ModInit keeps what ChildInit needs.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.svc = env.Services
	return nil
}

// ChildInit finds tm once every module published its API.
func (mod *Module) ChildInit(rank int) error {
	if rank == kemi.RankInit {
		mod.tm, _ = mod.svc.Lookup(kemi.ServiceTM).(kemi.TransactionAPI)
	}
	return nil
}

// Exports returns KSR.tmx.
func (mod *Module) Exports() []kemi.Export {
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "tmx", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	routeIs := func(types ...kemi.RouteType) kemi.Func {
		return func(m *kemi.Msg, a kemi.Args) kemi.Value {
			for _, t := range types {
				if m.Route == t {
					return kemi.OK
				}
			}
			return kemi.Fail
		}
	}
	return []kemi.Export{
		x("t_is_request_route", nil, routeIs(kemi.RouteRequest)),
		x("t_is_failure_route", nil, routeIs(kemi.RouteFailure)),
		x("t_is_branch_route", nil, routeIs(kemi.RouteBranch)),
		x("t_is_reply_route", nil, routeIs(kemi.RouteTMReply, kemi.RouteReply)),
		x("t_precheck_trans", nil, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.PrecheckTrans(m) })),
		x("t_flush_flags", nil, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.FlushFlags(m) })),
		x("t_flush_xflags", nil, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.FlushXFlags(m) })),
		x("t_reply_callid", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt, kemi.ParamStr},
			mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int {
				return tm.ReplyCallID(m, a.Str(0), a.Str(1), a.Int(2), a.Str(3))
			})),
		x("t_cancel_branches", kemi.S, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int {
			return tm.CancelBranches(m, a.Str(0))
		})),
		x("t_cancel_callid", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt},
			mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int {
				return tm.CancelCallID(m, a.Str(0), a.Str(1), a.Int(2), 0)
			})),
		x("t_cancel_callid_reason", []kemi.ParamKind{kemi.ParamStr, kemi.ParamStr, kemi.ParamInt, kemi.ParamInt},
			mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int {
				return tm.CancelCallID(m, a.Str(0), a.Str(1), a.Int(2), a.Int(3))
			})),
		x("t_drop", nil, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.Drop(m, 500) })),
		x("t_drop_rcode", kemi.I, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.Drop(m, a.Int(0)) })),
		x("t_reuse_branch", nil, mod.withTM(func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int { return tm.ReuseBranch(m) })),
	}
}

// withTM runs f with tm's API; without tm the function fails with an error
// that says so.
func (mod *Module) withTM(f func(tm kemi.TransactionAPI, m *kemi.Msg, a kemi.Args) int) kemi.Func {
	return func(m *kemi.Msg, a kemi.Args) kemi.Value {
		if mod.tm == nil {
			m.Errorf(mod.log, "tmx: the tm module is not enabled")
			return kemi.Fail
		}
		return kemi.Int(f(mod.tm, m, a))
	}
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
)
