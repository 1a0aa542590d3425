package engine

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// Route tracing and latency alerts (docs/tracing.md). Every Lua state of
// the engine shares one luaext.TraceSwitch: it holds the engine's tracer
// while tracing or a latency_limit_action is on, and nothing otherwise,
// so that a KSR call of an untraced route costs two atomic loads. The
// three settings are atomics: cfg.set changes them between two calls.

// tracing is the engine's tracing state.
type tracing struct {
	sw     luaext.TraceSwitch
	on     atomic.Bool  // core trace
	action atomic.Int64 // latency_limit_action, nanoseconds, 0 off
	route  atomic.Int64 // latency_limit_cfg, nanoseconds, 0 off
	mu     sync.Mutex   // orders updates of sw
}

// initTracing sets tracing from the configuration.
func (e *Engine) initTracing() {
	e.tr.on.Store(e.cfg.Trace)
	e.tr.action.Store(int64(max(e.cfg.LatencyLimitAction, 0)))
	e.tr.route.Store(int64(max(e.cfg.LatencyLimit, 0)))
	e.updateTracer()
}

// SetTrace turns the tracing of every route's KSR calls on or off, at
// once, for the routes of every worker (cfg.set core trace).
func (e *Engine) SetTrace(on bool) {
	e.tr.on.Store(on)
	e.updateTracer()
}

// Tracing reports whether KSR calls are traced.
func (e *Engine) Tracing() bool { return e.tr.on.Load() }

// setLatencyLimits changes latency_limit_action (per KSR call) and
// latency_limit_cfg (per route run); a negative value keeps the old one.
func (e *Engine) setLatencyLimits(action, route time.Duration) {
	if action >= 0 {
		e.tr.action.Store(int64(action))
	}
	if route >= 0 {
		e.tr.route.Store(int64(route))
	}
	e.updateTracer()
}

// updateTracer installs the engine's tracer while anything needs the KSR
// calls timed: tracing, or either latency limit (the route limit reports
// the slowest call of the run).
func (e *Engine) updateTracer() {
	e.tr.mu.Lock()
	defer e.tr.mu.Unlock()
	// without tracing, the tracer needs only the calls over the action
	// limit (none for the route limit alone, which reads SlowestCall):
	// the others are timed and not described
	switch action := time.Duration(e.tr.action.Load()); {
	case e.tr.on.Load():
		e.tr.sw.Set(e.traceCall)
	case action > 0:
		e.tr.sw.SetMin(e.traceCall, action)
	case e.tr.route.Load() > 0:
		e.tr.sw.SetMin(e.traceCall, math.MaxInt64)
	default:
		e.tr.sw.Set(nil)
	}
}

// traceCall is the engine's tracer: one line per KSR call while tracing,
// an alert for a call slower than latency_limit_action.
func (e *Engine) traceCall(c luaext.Call) {
	if e.tr.on.Load() {
		e.slog.Info("trace: "+c.String(), "callid", msgCallID(c.Msg), "route", c.Route, "at", c.Where, "took", c.Took)
	}
	if lim := time.Duration(e.tr.action.Load()); lim > 0 && c.Took >= lim {
		e.slog.Warn("alert - action "+c.LuaName()+"(...) took too long",
			"took", c.Took, "limit", lim, "at", c.Where, "route", c.Route, "callid", msgCallID(c.Msg))
	}
}

// traceRouteStart logs the start of a route run while tracing: the
// calls that follow belong to it. A route the script does not define
// (a reply route most scripts lack) is not logged.
func (e *Engine) traceRouteStart(st *luaext.State, name string, rt kemi.RouteType, m *kemi.Msg) {
	if e.tr.on.Load() && st.Has(name) {
		e.slog.Info("trace: route "+name+" starts", "callid", msgCallID(m), "route_type", rt.String())
	}
}

// traceRouteEnd logs the end of a route run while tracing, and an
// outermost run slower than latency_limit_cfg with its slowest KSR call.
func (e *Engine) traceRouteEnd(st *luaext.State, name string, m *kemi.Msg, start time.Time, res kemi.CallResult, nested bool) {
	on, lim := e.tr.on.Load(), time.Duration(e.tr.route.Load())
	if nested {
		lim = 0
	}
	if !on && lim <= 0 {
		return
	}
	took := time.Since(start)
	if on && res.Ran {
		e.slog.Info("trace: route "+name+" ends", "callid", msgCallID(m), "took", took, "exit", res.Exited)
	}
	if lim <= 0 || took < lim {
		return
	}
	args := []any{"route", name, "took", took, "limit", lim, "callid", msgCallID(m)}
	if c, ok := st.SlowestCall(); ok {
		args = append(args, "slowest", c.String(), "slowest_took", c.Took, "slowest_at", c.Where)
	}
	e.slog.Warn("alert - route "+name+" took too long", args...)
}

// msgCallID returns m's Call-ID, "" without a message.
func msgCallID(m *kemi.Msg) string {
	if m == nil {
		return ""
	}
	return m.CallID()
}

// ParseLatencyLimit reads a latency limit as the config file and the CLI
// write it: a duration ("50ms", "200us"), with "0" or "off" meaning no
// limit.
func ParseLatencyLimit(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (50ms, 200us) or off", s)
	}
	return d, nil
}
