package xhttp_prom

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// kind is the type of a declared metric.
type kind uint8

const (
	kindCounter kind = iota + 1
	kindGauge
	kindHistogram
)

func (k kind) String() string {
	switch k {
	case kindCounter:
		return "counter"
	case kindGauge:
		return "gauge"
	case kindHistogram:
		return "histogram"
	}
	return "metric"
}

// param is the module parameter that declares metrics of the kind.
func (k kind) param() string { return "prom_" + k.String() }

// maxLabels is how many labels a declaration may have: the exports go up
// to _l3, as in Kamailio.
const maxLabels = 3

// defaultBuckets are the histogram buckets of a declaration without
// buckets=, Kamailio's (and Prometheus client libraries') default.
var defaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// spec is one declaration: prom_counter "name=cnt; label=method:ip;
// help='...'", prom_gauge the same, prom_histogram with buckets=1:2.5:5.
type spec struct {
	kind    kind
	name    string
	labels  []string
	help    string
	buckets []float64 // histograms only
}

var (
	// Prometheus' rules for metric and label names (the data model).
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseSpec reads a declaration of kind k: attributes separated by ';',
// each attribute=value, a value optionally quoted with ' or ". The
// attributes are name (required), label (names joined by ':', at most
// three), help and, for histograms, buckets (increasing numbers joined by
// ':'; +Inf is always added). Names are checked here; that the full name
// with its prefix is one kemi may serve is checked by the caller.
func parseSpec(k kind, def string) (*spec, error) {
	s := &spec{kind: k}
	seen := map[string]bool{}
	attrs, err := splitAttrs(def)
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		key, val, ok := strings.Cut(a, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fmt.Errorf("attribute %q has no value (want key=value)", a)
		}
		val = unquote(strings.TrimSpace(val))
		if seen[key] {
			return nil, fmt.Errorf("attribute %s given twice", key)
		}
		seen[key] = true
		switch key {
		case "name":
			s.name = val
		case "label":
			s.labels = strings.Split(val, ":")
		case "help":
			s.help = val
		case "buckets":
			if k != kindHistogram {
				return nil, fmt.Errorf("attribute buckets is for histograms only")
			}
			if s.buckets, err = parseBuckets(val); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown attribute %q (want name, label, help%s)", key, map[bool]string{true: ", buckets"}[k == kindHistogram])
		}
	}
	if s.name == "" {
		return nil, fmt.Errorf("no name= attribute")
	}
	if !metricNameRe.MatchString(s.name) {
		return nil, fmt.Errorf("name %q is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", s.name)
	}
	if err := checkLabelNames(k, s.labels); err != nil {
		return nil, err
	}
	if k == kindHistogram && s.buckets == nil {
		s.buckets = defaultBuckets
	}
	return s, nil
}

// checkLabelNames checks the label names of a declaration.
func checkLabelNames(k kind, labels []string) error {
	if len(labels) > maxLabels {
		return fmt.Errorf("%d labels, at most %d", len(labels), maxLabels)
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if err := checkLabelName(l); err != nil {
			return err
		}
		if k == kindHistogram && l == "le" {
			return fmt.Errorf("label le is the histogram's own bucket label")
		}
		if seen[l] {
			return fmt.Errorf("label %s given twice", l)
		}
		seen[l] = true
	}
	return nil
}

// checkLabelName checks one label name against Prometheus' rules.
func checkLabelName(l string) error {
	if !labelNameRe.MatchString(l) {
		return fmt.Errorf("label %q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", l)
	}
	if strings.HasPrefix(l, "__") {
		return fmt.Errorf("label %q: names starting with __ are reserved by Prometheus", l)
	}
	return nil
}

// splitAttrs splits a declaration at the semicolons outside quotes,
// dropping empty attributes (a trailing ';').
func splitAttrs(def string) ([]string, error) {
	var out []string
	var quote byte
	start := 0
	for i := 0; i < len(def); i++ {
		c := def[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			if a := strings.TrimSpace(def[start:i]); a != "" {
				out = append(out, a)
			}
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if a := strings.TrimSpace(def[start:]); a != "" {
		out = append(out, a)
	}
	return out, nil
}

// unquote removes one pair of matching ' or " quotes around v.
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// parseBuckets reads "0.1:0.5:1": at least one finite bound, strictly
// increasing.
func parseBuckets(val string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(val, ":") {
		f = strings.TrimSpace(f)
		b, err := strconv.ParseFloat(f, 64)
		if err != nil || b != b || b > 1e308 || b < -1e308 {
			return nil, fmt.Errorf("bucket %q is not a finite number", f)
		}
		if n := len(out); n > 0 && b <= out[n-1] {
			return nil, fmt.Errorf("buckets must increase: %v after %v", b, out[n-1])
		}
		out = append(out, b)
	}
	return out, nil
}

// parseTags reads xhttp_prom_tags, "host_job=foo,dc=par": constant labels
// added to every series the module declares.
func parseTags(val string) ([][2]string, error) {
	var out [][2]string
	if strings.TrimSpace(val) == "" {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, t := range strings.Split(val, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(t), "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("tag %q has no value (want name=value)", t)
		}
		if err := checkLabelName(k); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, fmt.Errorf("tag %s given twice", k)
		}
		seen[k] = true
		out = append(out, [2]string{k, unquote(strings.TrimSpace(v))})
	}
	return out, nil
}
