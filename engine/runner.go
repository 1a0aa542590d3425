package engine

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// Every script route runs through runRoute: the request and reply routes
// a worker starts, the failure, branch-failure and onreply routes tm runs
// through Host.Exec, the branch and onsend routes run while a request is
// relayed, routes the script runs with KSR.route, the event routes of the
// extra processes and core:worker-one-init. A route run from inside
// another reaches it too, because the message carries the Runner (a worker,
// or an extra process's eventRunner) rather than the bare Lua state: the
// State leaves m.Run alone when it is set. So every route is counted,
// timed and limited the same way, and a Lua error is logged once, at error
// level, with file:line, the route name and a traceback.

// routeStats are the statistics of one Lua state's owner (a worker, an
// extra process), which runs its routes on one goroutine: the route
// metrics it looked up (a cache) and its counts.
type routeStats struct {
	routes map[string]*routeMetrics
	routed atomic.Uint64
	errors atomic.Uint64
	// stopShown is set when a nested route reported the stop (time or
	// memory limit) of the run it is part of: the routes it returns to
	// end by the same stop and do not report it again
	stopShown bool
}

// runRoute runs the script function name on st as a route of type rt for
// m, with run as the message's Runner while it runs (routes the script or
// a module runs from inside come back through it). A missing function is
// skipped silently (as in Kamailio), except for the request route, which
// must exist. The script flags are reset for a route that is not run from
// inside another. A stop by the time or memory limit ends the whole run,
// the route it hit and those it returns to: it is logged and counted once,
// under the route it hit.
func (e *Engine) runRoute(st *luaext.State, run kemi.Runner, rs *routeStats, rank int, name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	nested := st.Running()
	if !nested {
		rs.stopShown = false
	}
	if m != nil {
		if !nested {
			m.SFlags = 0
		}
		prev := m.Run
		m.Run = run
		defer func() { m.Run = prev }()
	}
	e.traceRouteStart(st, name, rt, m)
	start := time.Now()
	res, err := st.Call(name, rt, m, args...)
	e.traceRouteEnd(st, name, m, start, res, nested)
	if !res.Ran {
		if rt == kemi.RouteRequest {
			e.log.Error("script has no request route", "func", name)
		}
		return res, err
	}
	rm := rs.routes[name]
	if rm == nil {
		rm = e.met.route(name)
		rs.routes[name] = rm
	}
	rm.runs.Inc()
	rm.duration.UpdateDuration(start)
	rs.routed.Add(1)
	if err == nil {
		return res, nil
	}
	var rerr *luaext.RuntimeError
	isRuntime := errors.As(err, &rerr)
	if isRuntime && (rerr.Timeout || rerr.Memory) {
		// one stop, reported where it hit: the innermost route, whose
		// traceback runs through its callers
		if rs.stopShown {
			return res, err
		}
		rs.stopShown = nested
	}
	rs.errors.Add(1)
	rm.errors.Inc()
	if !isRuntime {
		e.slog.Error("error from Lua: "+err.Error(), "route", name, "route_type", rt.String(), "rank", rank)
		return res, err
	}
	if rerr.Timeout {
		rm.timeouts.Inc()
	}
	e.slog.Error("error from Lua: "+rerr.Msg, "route", name, "route_type", rt.String(), "rank", rank, "traceback", rerr.Traceback)
	return res, err
}

// eventRunner runs the event routes of one extra process on the process's
// own Lua state.
type eventRunner struct {
	e    *Engine
	st   *luaext.State
	rank int
	routeStats
}

var _ kemi.Runner = (*eventRunner)(nil)

// Where returns the script position of the KSR call being served.
func (r *eventRunner) Where() string { return r.st.Where() }

// Has reports whether the script defines the function.
func (r *eventRunner) Has(name string) bool { return r.st.Has(name) }

// Call runs a script function as a route (see runRoute).
func (r *eventRunner) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	return r.e.runRoute(r.st, r, &r.routeStats, r.rank, name, rt, m, args...)
}
