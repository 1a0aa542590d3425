// Package rr is Kamailio's rr module: record routing (RFC 3261 §16.6 step
// 4, §12.1) and loose routing of requests that carry a route set (§16.4,
// §16.12), with double Record-Route when a request leaves over another
// socket or transport than it came in on, Record-Route parameters for
// dialog state (add_rr_param, check_route_param) and the direction of
// in-dialog requests (is_direction).
package rr

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "rr", Order: 10, New: func() kemi.Module { return &Module{} }})
}

// Bits of loose_route_mode (the function and the parameter), as in
// Kamailio.
const (
	// modeLooseOnly skips the "R-URI is myself" test, so the previous hop
	// is never taken for a strict router.
	modeLooseOnly = 1
	// modeSkipOutbound skips outbound flow tokens (kemi has no outbound
	// module, so it changes nothing).
	modeSkipOutbound = 2
)

// Module is the rr module of one engine.
type Module struct {
	log *slog.Logger
	pvs *kemi.PVTable

	// parameters
	appendFromtag  bool
	doubleRR       int // 0 off, 1 when the realm changes, 2 always
	fullLR         bool
	addUsername    bool
	customUser     *kemi.PVName
	mismatchWarn   bool
	forceSendSock  bool
	ignoreSips     bool
	socknameMode   bool
	looseRouteMode int

	// compiled check_route_param expressions
	res *kemi.RegexCache

	// routedMu guards routed: modules add callbacks from ChildInit
	routedMu  sync.RWMutex
	routedFns []func(m *kemi.Msg, params sip.HeaderParams)

	recordRoutes *metrics.Counter
	doubles      *metrics.Counter
	routed       *metrics.Counter
	preloaded    *metrics.Counter
	notRouted    *metrics.Counter
	lrErrors     *metrics.Counter
	strict       *metrics.Counter
}

// maxCachedRegexps bounds the cache of check_route_param expressions, for
// scripts that build them at run time.
const maxCachedRegexps = 256

// helpLooseRoutes describes kemi_rr_loose_routes_total.
const helpLooseRoutes = "loose_route calls by result: routed (returned 1, previous hop a loose router), strict (1 after a strict router), preloaded (-3), not_routed (-1: no Route, or nothing left after a strict router), error (-1 on an error)."

// ModInit reads the parameters, registers $route_uri, $fti, $tti and
// $rdir, and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.pvs = env.PVs
	mod.res = kemi.NewRegexCache(maxCachedRegexps)
	p := env.Params
	mod.appendFromtag = p.Bool("append_fromtag", true)
	mod.doubleRR = p.Int("enable_double_rr", 1)
	mod.fullLR = p.Bool("enable_full_lr", false)
	mod.addUsername = p.Bool("add_username", false)
	mod.mismatchWarn = p.Bool("enable_socket_mismatch_warning", true)
	mod.forceSendSock = p.Bool("force_send_socket", false)
	mod.ignoreSips = p.Bool("ignore_sips", false)
	mod.socknameMode = p.Bool("sockname_mode", false)
	mod.looseRouteMode = p.Int("loose_route_mode", 0)
	custom := p.Str("custom_user_avp", "")
	if mod.doubleRR < 0 || mod.doubleRR > 2 {
		return fmt.Errorf("rr: enable_double_rr %d: want 0, 1 or 2", mod.doubleRR)
	}
	if mod.looseRouteMode < 0 || mod.looseRouteMode > modeLooseOnly|modeSkipOutbound {
		return fmt.Errorf("rr: loose_route_mode %d: want a bitmask of 1 and 2", mod.looseRouteMode)
	}
	if custom != "" {
		if mod.pvs == nil {
			return fmt.Errorf("rr: custom_user_avp needs the core pseudo-variables")
		}
		pv, err := mod.pvs.Parse(custom)
		if err != nil || pv.Class.Name != "avp" {
			return fmt.Errorf("rr: custom_user_avp %q: want an AVP such as $avp(rr_user)", custom)
		}
		mod.customUser = pv
	}
	if env.Services != nil {
		if err := env.Services.Provide(ServiceName, mod); err != nil {
			return fmt.Errorf("rr: %w", err)
		}
	}
	if mod.pvs != nil {
		if err := mod.registerPVs(mod.pvs); err != nil {
			return err
		}
	}
	mod.recordRoutes = env.Metrics.NewCounter(`kemi_rr_record_routes_total`, "Record-Route functions that succeeded (one per call, also when two headers are preset).")
	mod.doubles = env.Metrics.NewCounter(`kemi_rr_double_record_routes_total`, "Second Record-Route headers added to requests leaving from another socket than they arrived on.")
	mod.routed = env.Metrics.NewCounter(`kemi_rr_loose_routes_total{result="routed"}`, helpLooseRoutes)
	mod.strict = env.Metrics.NewCounter(`kemi_rr_loose_routes_total{result="strict"}`, helpLooseRoutes)
	mod.preloaded = env.Metrics.NewCounter(`kemi_rr_loose_routes_total{result="preloaded"}`, helpLooseRoutes)
	mod.notRouted = env.Metrics.NewCounter(`kemi_rr_loose_routes_total{result="not_routed"}`, helpLooseRoutes)
	mod.lrErrors = env.Metrics.NewCounter(`kemi_rr_loose_routes_total{result="error"}`, helpLooseRoutes)
	return nil
}

// ServiceName is the name under which rr publishes itself in Services,
// for modules that act on loose routing (path's use_received).
const ServiceName = "rr"

// OnRouted registers fn to run after loose_route consumed a Route of ours
// that had URI parameters, with those parameters (Kamailio's rr callback
// API, register_rrcb). Call it from ChildInit(RankInit).
func (mod *Module) OnRouted(fn func(m *kemi.Msg, params sip.HeaderParams)) {
	mod.routedMu.Lock()
	defer mod.routedMu.Unlock()
	mod.routedFns = append(mod.routedFns, fn)
}

// runRouted runs the OnRouted callbacks.
func (mod *Module) runRouted(m *kemi.Msg, params sip.HeaderParams) {
	mod.routedMu.RLock()
	fns := mod.routedFns
	mod.routedMu.RUnlock()
	for _, fn := range fns {
		fn(m, params)
	}
}

// Exports returns KSR.rr.
func (mod *Module) Exports() []kemi.Export {
	none := []kemi.ParamKind(nil)
	x := func(name string, params []kemi.ParamKind, f kemi.Func) kemi.Export {
		return kemi.Export{Module: "rr", Name: name, Params: params, Return: kemi.ReturnInt, Func: f}
	}
	return []kemi.Export{
		x("record_route", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return mod.recordRoute(m, "record_route", "")
		}),
		x("record_route_params", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.recordRoute(m, "record_route_params", a.Str(0))
		}),
		x("record_route_preset", kemi.SS, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.recordRoutePreset(m, "record_route_preset", a.Str(0), a.Str(1))
		}),
		x("record_route_preset_one", kemi.S, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.recordRoutePreset(m, "record_route_preset_one", a.Str(0), "")
		}),
		x("record_route_advertised_address", kemi.S, mod.recordRouteAdvertised),
		x("remove_record_route", none, mod.removeRecordRoute),
		x("add_rr_param", kemi.S, mod.addRRParam),
		x("loose_route", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			return mod.looseRoute(m, mod.looseRouteMode)
		}),
		x("loose_route_mode", kemi.I, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.looseRoute(m, a.Int(0))
		}),
		x("loose_route_preloaded", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			if mod.looseRoute(m, 0).Int == resPreloaded {
				return kemi.OK
			}
			return kemi.Fail
		}),
		x("next_hop_route", none, func(m *kemi.Msg, _ kemi.Args) kemi.Value {
			st := stateOf(m)
			return kemi.IntBool(st != nil && st.nextHop)
		}),
		x("check_route_param", kemi.S, mod.checkRouteParam),
		x("is_direction", kemi.S, mod.isDirection),
	}
}

var (
	_ kemi.ModIniter      = (*Module)(nil)
	_ kemi.SendHook       = (*Module)(nil)
	_ kemi.SendHookFilter = (*Module)(nil)
	_ kemi.LazySendHook   = (*Module)(nil)
)
