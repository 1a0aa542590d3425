// Package xhttp_prom is Kamailio's xhttp_prom module as scripts see it:
// counters, gauges and histograms declared in the configuration
// (prom_counter, prom_gauge, prom_histogram) and updated from the script
// with KSR.xhttp_prom, served on the engine's /metrics page beside kemi's
// own series, with # HELP and # TYPE lines. The engine serves /metrics
// itself; KSR.xhttp_prom.dispatch answers an HTTP request that reached a
// SIP listener (ksr_xhttp_event) with the same page, as Kamailio's does.
package xhttp_prom

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "xhttp_prom", Order: 225, New: func() kemi.Module { return &Module{} }})
}

// Defaults of the parameters.
const (
	// defaultBeginning is Kamailio's prefix: series, dashboards and alert
	// rules made for a Kamailio keep their names, and the user's series
	// stay out of kemi's own kemi_ namespace.
	defaultBeginning = "kamailio_"
	// defaultMaxLabelSets bounds the series of one metric.
	defaultMaxLabelSets = 1000
)

// reservedPrefixes are the namespaces of the series kemi writes itself:
// a user metric there could take the name of one of them.
var reservedPrefixes = []string{"kemi_", "go_", "process_"}

// unsupported are Kamailio's parameters kemi refuses, with the reason.
var unsupported = map[string]string{
	"xhttp_prom_stats":          "kemi's own statistics are always on /metrics, as kemi_* series",
	"xhttp_prom_buf_size":       "the page is not written into a fixed buffer",
	"xhttp_prom_timeout":        "series are never deleted; max_label_sets bounds them",
	"xhttp_prom_pkg_stats":      "the Go runtime's memory series (go_memstats_*) are always on /metrics",
	"xhttp_prom_uptime_stat":    "process_start_time_seconds is always on /metrics",
	"xhttp_prom_metadata_flags": "# HELP and # TYPE lines are always written",
	"timestamp_format":          "samples carry no timestamp: Prometheus stamps them at the scrape",
}

// Module is the xhttp_prom module of one engine.
type Module struct {
	log *slog.Logger
	set *kemi.Metrics
	// metrics are the declared metrics by declared name (without the
	// prefix); read-only after ModInit.
	metrics map[string]*metric
}

// ModInit reads the declarations and checks every name, so that a
// mistake stops the start (and kemi check) instead of failing at the
// first update.
func (mod *Module) ModInit(env *kemi.Env) error {
	p := env.Params
	mod.log = env.Logger
	mod.set = env.Metrics
	prefix := p.Str("xhttp_prom_beginning", defaultBeginning)
	maxSets := p.Int("max_label_sets", defaultMaxLabelSets)
	tagSpec := p.Str("xhttp_prom_tags", "")
	defs := map[kind][]string{
		kindCounter:   p.List("prom_counter"),
		kindGauge:     p.List("prom_gauge"),
		kindHistogram: p.List("prom_histogram"),
	}
	for _, name := range slices.Sorted(maps.Keys(unsupported)) {
		if p.Has(name) {
			why := unsupported[name]
			p.Str(name, "") // read: refused below with its reason rather than as unknown
			return configError("parameter %s is not supported by kemi: %s", name, why)
		}
	}
	if err := p.Check(); err != nil {
		return err
	}
	if maxSets < 1 {
		return configError("parameter max_label_sets = %d: want 1 or more", maxSets)
	}
	if prefix != "" && !metricNameRe.MatchString(prefix) {
		return configError("parameter xhttp_prom_beginning %q is not the start of a Prometheus metric name", prefix)
	}
	tags, err := parseTags(tagSpec)
	if err != nil {
		return configError("parameter xhttp_prom_tags: %v", err)
	}
	rendered := renderTags(tags)
	mod.metrics = map[string]*metric{}
	for _, k := range []kind{kindCounter, kindGauge, kindHistogram} {
		for _, def := range defs[k] {
			s, err := parseSpec(k, def)
			if err != nil {
				return configError("parameter %s %q: %v", k.param(), def, err)
			}
			if old, dup := mod.metrics[s.name]; dup {
				return configError("parameter %s %q: name %s already declared as a %s", k.param(), def, s.name, old.spec.kind)
			}
			full := prefix + s.name
			for _, r := range reservedPrefixes {
				if strings.HasPrefix(full, r) {
					return configError("parameter %s %q: %s is in the %s namespace of kemi's own series (change the name or xhttp_prom_beginning)", k.param(), def, full, r)
				}
			}
			for _, t := range tags {
				for _, l := range s.labels {
					if l == t[0] {
						return configError("parameter %s %q: label %s is also a tag of xhttp_prom_tags", k.param(), def, l)
					}
				}
			}
			mod.metrics[s.name] = newMetric(s, prefix, rendered, maxSets, env.Metrics)
		}
	}
	// a histogram writes NAME_bucket, NAME_sum and NAME_count: no other
	// metric may have those names
	for _, met := range mod.metrics {
		if met.spec.kind != kindHistogram {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if other := mod.metrics[met.spec.name+suffix]; other != nil {
				return configError("parameter %s: %s %s takes a name of histogram %s's series", other.spec.kind.param(), other.spec.kind, other.spec.name, met.spec.name)
			}
		}
	}
	return nil
}

// configError is a mistake in the module's parameters: kemi check and
// kemi run exit with status 2 for it and name the config file's table.
func configError(format string, args ...any) error {
	return &kemi.ConfigError{Module: "xhttp_prom", InParams: true, Msg: fmt.Sprintf(format, args...)}
}

// update finds the series of name and values for an update of kind k.
// A refusal by max_label_sets is counted, and logged once per metric; any
// other error is logged at each call, with the script's place.
func (mod *Module) update(m *kemi.Msg, fn string, k kind, name string, values []string) *series {
	met := mod.metrics[name]
	var err error
	switch {
	case name == "":
		err = errors.New("empty metric name")
	case met == nil:
		err = fmt.Errorf("no %s declared with name %s (%s)", k, name, k.param())
	case met.spec.kind != k:
		err = fmt.Errorf("%s is a %s, not a %s", name, met.spec.kind, k)
	}
	if err == nil {
		var s *series
		if s, err = met.get(values); err == nil {
			return s
		}
		var lim *errLimit
		if errors.As(err, &lim) {
			met.refused.Inc()
			if met.refusedLogged.Swap(true) {
				return nil
			}
			err = fmt.Errorf("%w; later refusals of this metric are counted in kemi_xhttp_prom_refused_total, not logged", err)
		}
	}
	mod.log.Error("xhttp_prom: "+fn+": "+err.Error(), "at", m.Where())
	return nil
}

// page writes the engine's /metrics page: the engine's set and the Go
// process series, each family with its # HELP and # TYPE lines.
func (mod *Module) page() []byte {
	var out bytes.Buffer
	mod.set.WritePage(&out)
	return out.Bytes()
}

var _ kemi.ModIniter = (*Module)(nil)
