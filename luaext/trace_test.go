package luaext_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// traceScript calls KSR functions of every return kind on known lines.
const traceScript = `function ksr_request_route()
	KSR.t.int("404")
	KSR.t.si(12, "7")
	local s = KSR.t.str("sip:a@b")
	KSR.t.yes()
	KSR.t.null()
	KSR.t.void()
	KSR.route("sub")
	KSR.x.exit()
end
function sub()
	KSR.core_fn()
	KSR.x.modf("str", "m")
end
`

// calls strips what varies (Took, Msg) from traced calls.
func calls(in []luaext.Call) []luaext.Call {
	out := make([]luaext.Call, len(in))
	for i, c := range in {
		c.Took, c.Msg, c.Params = 0, nil, nil
		out[i] = c
	}
	return out
}

func TestTraceCalls(t *testing.T) {
	rec := &record{}
	route := kemi.Export{Name: "route", Params: kemi.S, Return: kemi.ReturnInt}
	var st *luaext.State
	route.Func = func(m *kemi.Msg, a kemi.Args) kemi.Value {
		if _, err := st.Call(a.Str(0), kemi.RouteRequest, m); err != nil {
			t.Error(err)
		}
		return kemi.OK
	}
	st, _ = newState(t, traceScript, rec, func(o *luaext.Options) { o.Exports = append(o.Exports, route) })
	var got []luaext.Call
	st.SetTracer(func(c luaext.Call) { got = append(got, c) })
	m := msg(t)
	if _, err := st.Call("ksr_request_route", kemi.RouteRequest, m); err != nil {
		t.Fatal(err)
	}
	rr := "ksr_request_route"
	want := []luaext.Call{
		{Where: "t.lua:2", Module: "t", Name: "int", Args: []string{"404"}, Result: "404", Route: rr},
		{Where: "t.lua:3", Module: "t", Name: "si", Args: []string{"12", "7"}, Result: "7", Route: rr},
		{Where: "t.lua:4", Module: "t", Name: "str", Args: []string{"sip:a@b"}, Result: `"sip:a@b"`, Route: rr},
		{Where: "t.lua:5", Module: "t", Name: "yes", Args: []string{}, Result: "true", Route: rr},
		{Where: "t.lua:6", Module: "t", Name: "null", Args: []string{}, Result: "nil", Route: rr},
		{Where: "t.lua:7", Module: "t", Name: "void", Args: []string{}, Result: "", Route: rr},
		// a nested route's calls come before the call that ran it
		{Where: "t.lua:12", Name: "core_fn", Args: []string{}, Result: "1", Route: "sub"},
		{Where: "t.lua:13", Module: "t", Name: "str", Args: []string{"m"}, Result: `"m"`, Route: "sub"},
		{Where: "t.lua:8", Name: "route", Args: []string{"sub"}, Result: "1", Route: rr},
		{Where: "t.lua:9", Module: "x", Name: "exit", Route: rr},
	}
	if g := calls(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("traced calls:\n got %+v\nwant %+v", g, want)
	}
	for _, c := range got {
		if c.Msg != m {
			t.Errorf("%s: Msg is not the routed message", c.LuaName())
		}
	}
	if s := got[1].String(); s != `KSR.t.si("12", 7) = 7` {
		t.Errorf("String() = %s", s)
	}
	if _, ok := st.SlowestCall(); !ok {
		t.Error("no slowest call after a traced run")
	}

	// off at run time: nothing more is traced
	st.SetTracer(nil)
	got = nil
	if _, err := st.Call("ksr_request_route", kemi.RouteRequest, m); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("tracer off, still traced %d calls", len(got))
	}
	if _, ok := st.SlowestCall(); ok {
		t.Error("slowest call reported for an untraced run")
	}
}

// TestTraceDrop: KSR.x.drop is traced as drop, and an exit after a drop
// the script caught as exit.
func TestTraceDrop(t *testing.T) {
	st, _ := newState(t, "function d()\n  pcall(KSR.x.drop)\n  KSR.x.exit()\nend\nfunction e()\n  KSR.x.drop()\nend\n", &record{})
	var got []luaext.Call
	st.SetTracer(func(c luaext.Call) { got = append(got, c) })
	for _, f := range []string{"d", "e"} {
		if _, err := st.Call(f, kemi.RouteRequest, msg(t)); err != nil {
			t.Fatal(err)
		}
	}
	want := []luaext.Call{
		{Where: "t.lua:3", Module: "x", Name: "exit", Route: "d"},
		{Where: "t.lua:6", Module: "x", Name: "drop", Route: "e"},
	}
	if g := calls(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("traced calls:\n got %+v\nwant %+v", g, want)
	}
}

// TestTraceSwitch checks the shared switch of Options.Trace, the State's
// own Tracer taking precedence, and the slowest call of a run.
func TestTraceSwitch(t *testing.T) {
	rec := &record{}
	slow := kemi.Export{Module: "t", Name: "slow", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value {
		time.Sleep(20 * time.Millisecond)
		return kemi.OK
	}}
	var sw luaext.TraceSwitch
	src := "function f()\n  KSR.t.yes()\n  KSR.t.slow()\n  KSR.t.no()\nend\n"
	a, _ := newState(t, src, rec, func(o *luaext.Options) { o.Trace = &sw; o.Exports = append(o.Exports, slow) })
	b, _ := newState(t, src, rec, func(o *luaext.Options) { o.Trace = &sw; o.Exports = append(o.Exports, slow) })
	var shared, own int
	run := func(st *luaext.State) {
		t.Helper()
		if _, err := st.Call("f", kemi.RouteRequest, msg(t)); err != nil {
			t.Fatal(err)
		}
	}
	run(a)
	if shared != 0 {
		t.Fatal("traced with no tracer")
	}
	sw.Set(func(luaext.Call) { shared++ })
	run(a)
	run(b)
	if shared != 6 {
		t.Fatalf("shared tracer saw %d calls, want 6", shared)
	}
	b.SetTracer(func(luaext.Call) { own++ })
	run(b)
	if shared != 6 || own != 3 {
		t.Fatalf("own tracer: shared %d own %d, want 6 and 3", shared, own)
	}
	c, ok := b.SlowestCall()
	if !ok || c.Name != "slow" || c.Where != "t.lua:3" || c.Took < 20*time.Millisecond {
		t.Fatalf("slowest call = %+v, %v", c, ok)
	}
	sw.Set(nil)
	b.SetTracer(nil)
	run(a)
	run(b)
	if shared != 6 || own != 3 {
		t.Fatalf("tracing off: shared %d own %d", shared, own)
	}
}

// BenchmarkRouteTraced is BenchmarkRoute with a Tracer that keeps
// nothing: what tracing costs when it is on.
func BenchmarkRouteTraced(b *testing.B) {
	benchmarkRoute(b, benchRoute, func(o *luaext.Options) {
		o.Trace = new(luaext.TraceSwitch)
		o.Trace.Set(func(luaext.Call) {})
	})
}

// TestTraceMin: a Tracer installed with SetMin receives only the calls
// that took at least min, and the slowest call of the run is kept and
// described all the same.
func TestTraceMin(t *testing.T) {
	slow := kemi.Export{Module: "t", Name: "slow", Params: kemi.S, Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value {
		time.Sleep(20 * time.Millisecond)
		return kemi.OK
	}}
	var sw luaext.TraceSwitch
	src := "function f()\n  KSR.t.yes()\n  KSR.t.slow(\"x\")\n  KSR.t.no()\n  KSR.x.exit()\nend\n"
	st, _ := newState(t, src, &record{}, func(o *luaext.Options) { o.Trace = &sw; o.Exports = append(o.Exports, slow) })
	for _, c := range []struct {
		min  time.Duration
		want []string
	}{
		{10 * time.Millisecond, []string{`KSR.t.slow("x") = 1`}},
		{time.Hour, nil},
	} {
		var got []string
		sw.SetMin(func(c luaext.Call) { got = append(got, c.String()) }, c.min)
		if _, err := st.Call("f", kemi.RouteRequest, msg(t)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("min %s: traced %q, want %q", c.min, got, c.want)
		}
		s, ok := st.SlowestCall()
		if !ok || s.String() != `KSR.t.slow("x") = 1` || s.Where != "t.lua:3" || s.Route != "f" || s.Took < 20*time.Millisecond {
			t.Errorf("min %s: slowest call %+v %v", c.min, s, ok)
		}
	}
}

// BenchmarkRouteLatencyLimit is BenchmarkRoute with a Tracer that only
// wants calls over a limit none reaches: what a latency limit costs
// without tracing.
func BenchmarkRouteLatencyLimit(b *testing.B) {
	benchmarkRoute(b, benchRoute, func(o *luaext.Options) {
		o.Trace = new(luaext.TraceSwitch)
		o.Trace.SetMin(func(luaext.Call) {}, time.Second)
	})
}
