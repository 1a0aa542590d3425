package luaext

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// Route tracing, in the spirit of app_lua's log_mode and core's
// latency_limit_action: while a Tracer is installed, every KSR function a
// route calls is timed and handed to it once it returns. With none
// installed a call pays one or two atomic loads, nothing else.

// Call is one KSR function call a route made, as a Tracer receives it.
type Call struct {
	// Where is the script's file:line of the call.
	Where string
	// Module is the KSR sub-table, "" for the core KSR functions and "x"
	// for KSR.x.exit and KSR.x.drop.
	Module string
	// Name is the function's name in its table.
	Name string
	// Args are the arguments as the function received them, after
	// Kamailio's conversion: string parameters as they are, integer
	// parameters in decimal.
	Args []string
	// Params are the kinds of Args, the function's parameter kinds.
	Params []kemi.ParamKind
	// Result is the value the script got back: an integer in decimal,
	// true or false, a string quoted as Go quotes it, nil; "" for a
	// function that returns nothing and for KSR.x.exit/drop.
	Result string
	// Took is the time the function ran.
	Took time.Duration
	// Route is the script function running as the innermost route.
	Route string
	// Msg is the message being routed.
	Msg *kemi.Msg
}

// LuaName returns the name the script calls, "KSR.tm.t_relay".
func (c Call) LuaName() string {
	if c.Module == "" {
		return "KSR." + c.Name
	}
	return "KSR." + c.Module + "." + c.Name
}

// String formats the call as a script would write it, with its result:
// KSR.sl.sl_send_reply(200, "OK") = 1, string arguments quoted.
func (c Call) String() string {
	var b strings.Builder
	b.WriteString(c.LuaName())
	b.WriteByte('(')
	for i, a := range c.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		if i < len(c.Params) && c.Params[i] == kemi.ParamInt {
			b.WriteString(a)
		} else {
			b.WriteString(strconv.Quote(a))
		}
	}
	b.WriteByte(')')
	if c.Result != "" {
		b.WriteString(" = ")
		b.WriteString(c.Result)
	}
	return b.String()
}

// A Tracer receives every KSR call of the routes a State runs, on the
// State's goroutine, after the call returned. It must not keep c.Msg
// beyond the call, nor call into the State.
type Tracer func(c Call)

// installed is a Tracer with the least time a call must take for it.
type installed struct {
	t   Tracer
	min time.Duration
}

// TraceSwitch holds the Tracer of every State built with it (see
// Options.Trace); it may be changed at any time from any goroutine.
type TraceSwitch struct {
	t atomic.Pointer[installed]
}

// Set installs t, which receives every call; nil turns tracing off.
func (s *TraceSwitch) Set(t Tracer) {
	s.SetMin(t, 0)
}

// SetMin installs t, which receives only the calls that took at least
// min; nil turns tracing off. The calls are timed and the slowest of each
// run kept (State.SlowestCall) whatever min is, but a call t does not
// receive and that is not the slowest so far is not described (its
// place, arguments and result), which makes a high min cheap.
func (s *TraceSwitch) SetMin(t Tracer, min time.Duration) {
	if t == nil {
		s.t.Store(nil)
		return
	}
	s.t.Store(&installed{t: t, min: min})
}

// Tracer returns the installed Tracer, or nil.
func (s *TraceSwitch) Tracer() Tracer {
	if p := s.t.Load(); p != nil {
		return p.t
	}
	return nil
}

// SetTracer installs t as this State's own Tracer (nil removes it); it
// takes precedence over Options.Trace. It may be called from any
// goroutine, also while a route runs: calls from then on see it.
func (st *State) SetTracer(t Tracer) {
	st.own.Set(t)
}

// traced reports whether a Tracer is installed.
func (st *State) traced() bool {
	return st.own.t.Load() != nil || st.shared.t.Load() != nil
}

// tracer returns the Tracer in force: the State's own, else the shared
// switch's.
func (st *State) tracer() *installed {
	if p := st.own.t.Load(); p != nil {
		return p
	}
	return st.shared.t.Load()
}

// SlowestCall returns the slowest KSR call of the last outermost route
// run on the state (the running one, while it runs), counting only calls
// made while a Tracer was installed; ok is false when there was none.
func (st *State) SlowestCall() (c Call, ok bool) {
	return st.slowest, st.slowestOK
}

// invokeTraced is invokeExport timed and reported to the Tracer in
// force (none when it was removed meanwhile).
func (st *State) invokeTraced(e *kemi.Export, m *kemi.Msg, a kemi.Args) kemi.Value {
	t := st.tracer()
	if t == nil {
		return invokeExport(e, m, a, st.log, st.Where)
	}
	start := time.Now()
	res := invokeExport(e, m, a, st.log, st.Where)
	took := time.Since(start)
	// describing a call (its place above all) costs more than the call:
	// only for the tracer or a new slowest
	if took < t.min && !st.slowerThanAll(took) {
		return res
	}
	args := make([]string, a.N)
	for i := 0; i < a.N; i++ {
		if e.Params[i] == kemi.ParamStr {
			args[i] = a.V[i].S
		} else {
			args[i] = strconv.FormatInt(a.V[i].I, 10)
		}
	}
	st.report(t, Call{
		Module: e.Module,
		Name:   e.Name,
		Args:   args,
		Params: e.Params,
		Result: resultString(e.Return, res),
		Took:   took,
		Msg:    m,
	})
	return res
}

// traceExit reports the KSR.x.exit or KSR.x.drop whose exit error
// errorHandler is handling: a drop when KSR.x.drop was called there.
func (st *State) traceExit() {
	t := st.tracer()
	if t == nil || t.min > 0 && !st.slowerThanAll(0) {
		return
	}
	c := Call{Module: "x", Name: "exit", Msg: st.cur}
	if st.dropAt != "" && st.dropAt == st.Where() {
		c.Name = "drop"
	}
	st.dropAt = ""
	st.report(t, c)
}

// slowerThanAll reports whether a call that took took is the slowest of
// the run so far.
func (st *State) slowerThanAll(took time.Duration) bool {
	return !st.slowestOK || took > st.slowest.Took
}

// report fills in where the call was made, notes it when it is the
// slowest of the run and hands it to t when it took long enough for it.
func (st *State) report(t *installed, c Call) {
	c.Where = st.Where()
	if n := len(st.routes); n > 0 {
		c.Route = st.routes[n-1].name
	}
	if st.slowerThanAll(c.Took) {
		st.slowest, st.slowestOK = c, true
	}
	if c.Took >= t.min {
		t.t(c)
	}
}

// resultString formats v as the script sees it for the return kind.
func resultString(kind kemi.ReturnKind, v kemi.Value) string {
	switch kind {
	case kemi.ReturnInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case kemi.ReturnBool:
		return strconv.FormatBool(v.AsInt() != 0)
	case kemi.ReturnXval:
		switch v.Kind {
		case kemi.KindInt:
			return strconv.FormatInt(v.Int, 10)
		case kemi.KindStr:
			return strconv.Quote(v.Str)
		}
		return "nil"
	}
	return ""
}
