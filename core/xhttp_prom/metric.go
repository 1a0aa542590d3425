package xhttp_prom

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"

	"github.com/kemisip/kemi/kemi"
)

// maxLabelValue bounds the length of one label value, in bytes: with
// max_label_sets it bounds the memory a metric can take, whatever the
// script feeds it (a header value, say).
const maxLabelValue = 1024

// metric is one declared metric and its series, one per set of label
// values, created on first use as in Kamailio. The map is guarded by mu;
// the series themselves are VictoriaMetrics values, safe for concurrent
// updates, so workers only take the read lock once a series exists.
type metric struct {
	spec *spec
	full string // the name on the page: prefix and declared name
	help string
	tags string // `k="v",...` added to every series, or ""
	max  int    // most series (label sets) the metric may have
	set  *kemi.Metrics

	mu     sync.RWMutex
	series map[string]*series

	// refused counts updates refused by max.
	refused *metrics.Counter
	// refusedLogged is set once a refusal for max was logged: a script
	// calling past the bound on every message must not flood the log.
	refusedLogged atomic.Bool
}

// series is one set of label values of a metric: one of its fields is
// set, by the metric's kind.
type series struct {
	c *metrics.Counter
	g *metrics.Gauge
	h *metrics.PrometheusHistogram
}

// errLimit reports an update refused by max_label_sets.
type errLimit struct {
	name string
	max  int
}

func (e *errLimit) Error() string {
	return fmt.Sprintf("metric %s has %d label sets already (max_label_sets): new label set refused", e.name, e.max)
}

// newMetric returns the metric of s, served as prefix+name.
func newMetric(s *spec, prefix, tags string, max int, set *kemi.Metrics) *metric {
	help := s.help
	if help == "" {
		help = fmt.Sprintf("User %s declared with xhttp_prom's %s parameter.", s.kind, s.kind.param())
	}
	return &metric{spec: s, full: prefix + s.name, help: help, tags: tags, max: max, set: set, series: map[string]*series{},
		refused: set.NewCounter(`kemi_xhttp_prom_refused_total{metric="`+s.name+`"}`,
			"Updates of an xhttp_prom metric refused because they would have created a label set beyond max_label_sets, by declared metric name.")}
}

// get returns the series of the label values, creating it when it is
// new and the metric is under its bound. The values must be as many as
// the declared labels, none empty (as Kamailio wants) or too long.
func (m *metric) get(values []string) (*series, error) {
	if len(values) != len(m.spec.labels) {
		return nil, fmt.Errorf("metric %s has %d labels, the call gives %d values", m.spec.name, len(m.spec.labels), len(values))
	}
	for i, v := range values {
		if v == "" {
			return nil, fmt.Errorf("metric %s: empty value for label %s", m.spec.name, m.spec.labels[i])
		}
		if len(v) > maxLabelValue {
			return nil, fmt.Errorf("metric %s: value for label %s is %d bytes long, at most %d", m.spec.name, m.spec.labels[i], len(v), maxLabelValue)
		}
	}
	var buf [128]byte
	key := appendSeriesKey(buf[:0], values)
	m.mu.RLock()
	s := m.series[string(key)] // no copy of key: a map index
	m.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.series[string(key)]; s != nil {
		return s, nil
	}
	if len(m.series) >= m.max {
		return nil, &errLimit{name: m.spec.name, max: m.max}
	}
	name := m.seriesName(values)
	s = &series{}
	switch m.spec.kind {
	case kindCounter:
		s.c = m.set.NewCounter(name, m.help)
	case kindGauge:
		s.g = m.set.NewGauge(name, m.help, nil)
	case kindHistogram:
		s.h = m.set.NewPrometheusHistogramExt(name, m.help, m.spec.buckets)
	}
	m.series[string(key)] = s
	return s, nil
}

// count returns how many series the metric has.
func (m *metric) count() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.series)
}

// appendSeriesKey appends to b a map key for the label values that no
// other list of values gives: each value after its length.
func appendSeriesKey(b []byte, values []string) []byte {
	if len(values) == 1 {
		return append(b, values[0]...)
	}
	for _, v := range values {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
	}
	return b
}

// seriesName writes the series name as VictoriaMetrics takes it:
// name{label="value",...,tag="value"}.
func (m *metric) seriesName(values []string) string {
	if len(values) == 0 && m.tags == "" {
		return m.full
	}
	var b strings.Builder
	b.WriteString(m.full)
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.spec.labels[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(v))
		b.WriteByte('"')
	}
	if m.tags != "" {
		if len(values) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.tags)
	}
	b.WriteByte('}')
	return b.String()
}

// renderTags writes constant labels as they go inside a series' braces.
func renderTags(tags [][2]string) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = t[0] + `="` + escapeLabel(t[1]) + `"`
	}
	return strings.Join(parts, ",")
}

// labelEscaper escapes a label value as the text format wants it.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// escapeLabel escapes v for a label value; bytes that are not UTF-8
// become U+FFFD, since a scraper refuses a page that is not UTF-8.
func escapeLabel(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return labelEscaper.Replace(v)
}
