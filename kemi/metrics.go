package kemi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics is the metric set of one engine with a description of every
// metric family, written as the family's # HELP line on /metrics
// (VictoriaMetrics/metrics writes # TYPE lines and empty # HELP lines
// only). Each creating method takes the description with the name, so a
// series cannot be created without one. Names carry their labels inline:
// `kemi_sl_replies_sent_total{class="2xx"}`; a family is the name without
// its labels, and every series of a family shares one description.
//
// The methods are safe for concurrent use.
type Metrics struct {
	set *metrics.Set

	mu   sync.RWMutex
	help map[string]string // by family
}

// NewMetrics returns an empty metric set.
func NewMetrics() *Metrics {
	// # TYPE lines are a process-wide switch of the library; kemi always
	// wants them.
	metrics.ExposeMetadata(true)
	return &Metrics{set: metrics.NewSet(), help: map[string]string{}}
}

// Set returns the underlying VictoriaMetrics set, for reading values and
// unregistering series. Series created on it directly have no
// description.
func (m *Metrics) Set() *metrics.Set { return m.set }

// Family returns the family name of a series name: the name without its
// labels.
func Family(name string) string {
	if i := strings.IndexByte(name, '{'); i >= 0 {
		return name[:i]
	}
	return name
}

// Describe records help as the description of family. It panics on an
// empty description or one that differs from the family's earlier one:
// both are programming errors that must show at start-up, as a duplicate
// series name does.
func (m *Metrics) Describe(family, help string) {
	family = Family(family)
	help = strings.TrimSpace(help)
	if help == "" {
		panic("kemi: metric " + family + " has no description")
	}
	m.mu.RLock()
	old, ok := m.help[family]
	m.mu.RUnlock()
	if ok && old == help {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.help[family]; ok && old != help {
		panic(fmt.Sprintf("kemi: metric %s described twice: %q and %q", family, old, help))
	}
	m.help[family] = help
}

// NewCounter creates a counter; it panics if name exists (see
// metrics.Set.NewCounter).
func (m *Metrics) NewCounter(name, help string) *metrics.Counter {
	m.Describe(name, help)
	return m.set.NewCounter(name)
}

// GetOrCreateCounter returns the counter name, creating it when needed:
// for series whose labels are known only at run time.
func (m *Metrics) GetOrCreateCounter(name, help string) *metrics.Counter {
	m.Describe(name, help)
	return m.set.GetOrCreateCounter(name)
}

// NewFloatCounter creates a float counter.
func (m *Metrics) NewFloatCounter(name, help string) *metrics.FloatCounter {
	m.Describe(name, help)
	return m.set.NewFloatCounter(name)
}

// NewGauge creates a gauge whose value f gives at each scrape; with f nil
// the gauge is set with its Set method.
func (m *Metrics) NewGauge(name, help string, f func() float64) *metrics.Gauge {
	m.Describe(name, help)
	return m.set.NewGauge(name, f)
}

// NewHistogram creates a histogram with VictoriaMetrics' log-scale
// buckets (vmrange labels).
func (m *Metrics) NewHistogram(name, help string) *metrics.Histogram {
	m.Describe(name, help)
	return m.set.NewHistogram(name)
}

// NewPrometheusHistogramExt creates a histogram with the given bucket
// upper bounds (le labels).
func (m *Metrics) NewPrometheusHistogramExt(name, help string, upperBounds []float64) *metrics.PrometheusHistogram {
	m.Describe(name, help)
	return m.set.NewPrometheusHistogramExt(name, upperBounds)
}

// GetOrCreatePrometheusHistogramExt returns the histogram name, creating
// it with the given bucket upper bounds when needed.
func (m *Metrics) GetOrCreatePrometheusHistogramExt(name, help string, upperBounds []float64) *metrics.PrometheusHistogram {
	m.Describe(name, help)
	return m.set.GetOrCreatePrometheusHistogramExt(name, upperBounds)
}

// NewSummaryExt creates a summary over window with the given quantiles.
func (m *Metrics) NewSummaryExt(name, help string, window time.Duration, quantiles []float64) *metrics.Summary {
	m.Describe(name, help)
	return m.set.NewSummaryExt(name, window, quantiles)
}

// SLCountedCodes returns the status codes whose sl replies are counted
// one by one, in kemi_sl_replies_sent_by_code_total{code="N"}, as
// Kamailio's sl statistics count them (sl:200_replies, ...); a reply with
// another code counts only in its class. sl creates the series and the
// stats RPC reads them, from this one list.
func SLCountedCodes() []int {
	return []int{200, 202, 300, 301, 302, 400, 401, 403, 404, 407, 408, 483, 500}
}

// WritePrometheus writes every series in the Prometheus text format, each
// family with its # HELP and # TYPE lines.
func (m *Metrics) WritePrometheus(w io.Writer) {
	var buf bytes.Buffer
	m.set.WritePrometheus(&buf)
	m.WriteWithHelp(w, buf.Bytes())
}

// WritePage writes a whole /metrics page: every series of the set and
// the Go runtime and process series (metrics.WriteProcessMetrics), each
// family with its # HELP and # TYPE lines. The engine's /metrics and
// xhttp_prom's page are both written so.
func (m *Metrics) WritePage(w io.Writer) {
	var buf bytes.Buffer
	m.set.WritePrometheus(&buf)
	metrics.WriteProcessMetrics(&buf)
	m.WriteWithHelp(w, buf.Bytes())
}

// WriteWithHelp copies a Prometheus text page to w, writing each family's
// description into its # HELP line. A page written by VictoriaMetrics
// (metrics.WriteProcessMetrics, say) has empty # HELP lines; families
// described with Describe get their text, others are left as they are.
// No lock is held while w is written: a /metrics client that reads slowly
// must not hold up a route that creates a family.
func (m *Metrics) WriteWithHelp(w io.Writer, page []byte) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for len(page) > 0 {
		line := page
		if i := bytes.IndexByte(page, '\n'); i >= 0 {
			line, page = page[:i+1], page[i+1:]
		} else {
			page = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("# HELP "))
		if !ok {
			bw.Write(line)
			continue
		}
		family, text, _ := bytes.Cut(bytes.TrimRight(rest, "\r\n"), []byte(" "))
		bw.WriteString("# HELP ")
		bw.Write(family)
		h := ""
		if len(bytes.TrimSpace(text)) == 0 {
			m.mu.RLock()
			h = m.help[string(family)] // no copy of family: a map index
			m.mu.RUnlock()
		}
		switch {
		case h != "":
			bw.WriteByte(' ')
			bw.WriteString(escapeHelp(h))
		case len(text) > 0:
			bw.WriteByte(' ')
			bw.Write(text)
		}
		bw.WriteByte('\n')
	}
}

// escapeHelp escapes a description as the text format wants it: a
// backslash as \\ and a line break as \n.
func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
