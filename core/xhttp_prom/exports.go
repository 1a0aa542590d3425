package xhttp_prom

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// number is the kind of an update's value argument.
type number uint8

const (
	noNumber    number = iota // resets
	intNumber                 // counter_inc: an int of 0 or more
	floatNumber               // gauges and histograms: a string holding a float, as in Kamailio
)

// updates are the update functions, each exported for 0 to 3 labels
// (_l0 to _l3) as in Kamailio: the kind of metric they update, the value
// they take after the name, and what they do to the series with it.
var updates = []struct {
	name   string
	kind   kind
	number number
	apply  func(s *series, n int64, f float64)
}{
	{"counter_inc", kindCounter, intNumber, func(s *series, n int64, _ float64) { s.c.Add(int(n)) }},
	{"counter_reset", kindCounter, noNumber, func(s *series, _ int64, _ float64) { s.c.Set(0) }},
	{"gauge_inc", kindGauge, floatNumber, func(s *series, _ int64, f float64) { s.g.Add(f) }},
	{"gauge_set", kindGauge, floatNumber, func(s *series, _ int64, f float64) { s.g.Set(f) }},
	{"gauge_reset", kindGauge, noNumber, func(s *series, _ int64, _ float64) { s.g.Set(0) }},
	{"histogram_observe", kindHistogram, floatNumber, func(s *series, _ int64, f float64) { s.h.Update(f) }},
}

// Exports returns KSR.xhttp_prom.
func (mod *Module) Exports() []kemi.Export {
	out := []kemi.Export{
		{Module: "xhttp_prom", Name: "dispatch", Return: kemi.ReturnInt, Func: mod.dispatch},
		{Module: "xhttp_prom", Name: "check_uri", Return: kemi.ReturnInt, Func: mod.checkURI},
	}
	for _, u := range updates {
		for labels := 0; labels <= maxLabels; labels++ {
			params := []kemi.ParamKind{kemi.ParamStr}
			switch u.number {
			case intNumber:
				params = append(params, kemi.ParamInt)
			case floatNumber:
				params = append(params, kemi.ParamStr)
			}
			first := len(params) // the first label value
			for range labels {
				params = append(params, kemi.ParamStr)
			}
			fn := u.name + "_l" + strconv.Itoa(labels)
			k, num, apply := u.kind, u.number, u.apply
			out = append(out, kemi.Export{Module: "xhttp_prom", Name: fn, Params: params, Return: kemi.ReturnInt,
				Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
					var n int64
					var f float64
					switch num {
					case intNumber:
						if n = a.Int64(1); n < 0 {
							mod.log.Error(fmt.Sprintf("xhttp_prom: %s: negative number %d: a counter only grows", fn, n), "at", m.Where())
							return kemi.Int(-1)
						}
					case floatNumber:
						var ok bool
						if f, ok = mod.parseNumber(m, fn, a.Str(1)); !ok {
							return kemi.Int(-1)
						}
					}
					var values [maxLabels]string
					for i := range labels {
						values[i] = a.Str(first + i)
					}
					s := mod.update(m, fn, k, a.Str(0), values[:labels])
					if s == nil {
						return kemi.Int(-1)
					}
					apply(s, n, f)
					return kemi.Int(1)
				}})
		}
	}
	return out
}

// parseNumber parses the value argument of gauges and histograms, a
// string holding a float as in Kamailio ("12.5", "-3"); it logs and
// reports false when it holds none.
func (mod *Module) parseNumber(m *kemi.Msg, fn, s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) {
		mod.log.Error(fmt.Sprintf("xhttp_prom: %s: %q is not a number", fn, s), "at", m.Where())
		return 0, false
	}
	return f, true
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
