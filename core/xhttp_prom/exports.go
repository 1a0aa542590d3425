package xhttp_prom

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.xhttp_prom: for each update, one function per
// number of labels (_l0 to _l3), as Kamailio exports them.
func (mod *Module) Exports() []kemi.Export {
	out := []kemi.Export{
		{Module: "xhttp_prom", Name: "dispatch", Return: kemi.ReturnInt, Func: mod.dispatch},
		{Module: "xhttp_prom", Name: "check_uri", Return: kemi.ReturnInt, Func: mod.checkURI},
	}
	for n := 0; n <= maxLabels; n++ {
		labels := make([]kemi.ParamKind, n)
		for i := range labels {
			labels[i] = kemi.ParamStr
		}
		with := func(first ...kemi.ParamKind) []kemi.ParamKind {
			return append(append([]kemi.ParamKind(nil), first...), labels...)
		}
		suffix := "_l" + strconv.Itoa(n)
		add := func(name string, params []kemi.ParamKind, f func(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value) {
			fn := name + suffix
			out = append(out, kemi.Export{Module: "xhttp_prom", Name: fn, Params: params, Return: kemi.ReturnInt,
				Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return f(m, fn, &a, n) }})
		}
		add("counter_inc", with(kemi.ParamStr, kemi.ParamInt), mod.counterInc)
		add("counter_reset", with(kemi.ParamStr), mod.counterReset)
		add("gauge_inc", with(kemi.ParamStr, kemi.ParamStr), mod.gaugeInc)
		add("gauge_set", with(kemi.ParamStr, kemi.ParamStr), mod.gaugeSet)
		add("gauge_reset", with(kemi.ParamStr), mod.gaugeReset)
		add("histogram_observe", with(kemi.ParamStr, kemi.ParamStr), mod.histogramObserve)
	}
	return out
}

// labelValues returns the n label values of a call, the arguments from
// index first on.
func labelValues(a *kemi.Args, first, n int) []string {
	if n == 0 {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = a.Str(first + i)
	}
	return v
}

// number parses the value argument of gauges and histograms, a string
// holding a float as in Kamailio ("12.5", "-3"); it logs and reports
// false when it holds none.
func (mod *Module) number(m *kemi.Msg, fn, s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) {
		mod.log.Error(fmt.Sprintf("xhttp_prom: %s: %q is not a number", fn, s), "at", m.Where())
		return 0, false
	}
	return f, true
}

// counterInc adds a non-negative integer to a counter: 1, or -1 for a
// negative number or a refused update.
func (mod *Module) counterInc(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	add := a.Int64(1)
	if add < 0 {
		mod.log.Error(fmt.Sprintf("xhttp_prom: %s: negative number %d: a counter only grows", fn, add), "at", m.Where())
		return kemi.Int(-1)
	}
	s := mod.update(m, fn, kindCounter, a.Str(0), labelValues(a, 2, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.c.Add(int(add))
	return kemi.Int(1)
}

// counterReset sets a counter to 0, creating it when new.
func (mod *Module) counterReset(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	s := mod.update(m, fn, kindCounter, a.Str(0), labelValues(a, 1, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.c.Set(0)
	return kemi.Int(1)
}

// gaugeInc adds a number, negative or not, to a gauge.
func (mod *Module) gaugeInc(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	f, ok := mod.number(m, fn, a.Str(1))
	if !ok {
		return kemi.Int(-1)
	}
	s := mod.update(m, fn, kindGauge, a.Str(0), labelValues(a, 2, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.g.Add(f)
	return kemi.Int(1)
}

// gaugeSet sets a gauge to a number.
func (mod *Module) gaugeSet(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	f, ok := mod.number(m, fn, a.Str(1))
	if !ok {
		return kemi.Int(-1)
	}
	s := mod.update(m, fn, kindGauge, a.Str(0), labelValues(a, 2, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.g.Set(f)
	return kemi.Int(1)
}

// gaugeReset sets a gauge to 0, creating it when new.
func (mod *Module) gaugeReset(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	s := mod.update(m, fn, kindGauge, a.Str(0), labelValues(a, 1, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.g.Set(0)
	return kemi.Int(1)
}

// histogramObserve records a number in a histogram.
func (mod *Module) histogramObserve(m *kemi.Msg, fn string, a *kemi.Args, n int) kemi.Value {
	f, ok := mod.number(m, fn, a.Str(1))
	if !ok {
		return kemi.Int(-1)
	}
	s := mod.update(m, fn, kindHistogram, a.Str(0), labelValues(a, 2, n))
	if s == nil {
		return kemi.Int(-1)
	}
	s.h.Update(f)
	return kemi.Int(1)
}

// metricsURI is the request target check_uri matches, as Kamailio's.
const metricsURI = "/metrics"

// checkURI reports whether the HTTP request being routed
// (ksr_xhttp_event) asks for /metrics: 1 when its target is exactly
// that, 0 when not (as Kamailio's KEMI function), -1 outside an HTTP
// request.
func (mod *Module) checkURI(m *kemi.Msg, _ kemi.Args) kemi.Value {
	r := kemi.HTTPRequestOf(m)
	if r == nil {
		mod.log.Error("xhttp_prom: check_uri outside an HTTP request (ksr_xhttp_event)", "at", m.Where())
		return kemi.Int(-1)
	}
	if r.URL == metricsURI {
		return kemi.Int(1)
	}
	return kemi.Int(0)
}

// dispatch answers the HTTP request being routed (ksr_xhttp_event) with
// the engine's /metrics page, so that a Kamailio script that serves its
// metrics on a SIP listener goes on doing so. It returns 0 once the
// reply is set, as Kamailio's does; -1 outside an HTTP request or when
// the reply cannot be made.
func (mod *Module) dispatch(m *kemi.Msg, _ kemi.Args) kemi.Value {
	r := kemi.HTTPRequestOf(m)
	if r == nil || r.Reply == nil {
		mod.log.Error("xhttp_prom: dispatch outside an HTTP request (ksr_xhttp_event)", "at", m.Where())
		return kemi.Int(-1)
	}
	if err := r.Reply(200, "OK", "text/plain; version=0.0.4; charset=utf-8", mod.page()); err != nil {
		mod.log.Error("xhttp_prom: dispatch: "+err.Error(), "at", m.Where())
		return kemi.Int(-1)
	}
	return kemi.Int(0)
}
