package kemi_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestMetricsHelp checks that every family created through Metrics is
// written with its description in its # HELP line, above its # TYPE
// line, and that other pages (process metrics) get the descriptions given
// with Describe.
func TestMetricsHelp(t *testing.T) {
	m := kemi.NewMetrics()
	m.NewCounter(`kemi_t_things_total{kind="a"}`, "Things done, by kind.")
	m.GetOrCreateCounter(`kemi_t_things_total{kind="b"}`, "Things done, by kind.")
	m.NewGauge(`kemi_t_level`, "Level now,\nwith a line break and a \\ backslash.", func() float64 { return 1 })
	m.GetOrCreatePrometheusHistogramExt(`kemi_t_duration_seconds{route="x"}`, "Time taken.", []float64{0.1})
	var page bytes.Buffer
	m.WritePrometheus(&page)
	for _, want := range []string{
		"# HELP kemi_t_things_total Things done, by kind.\n# TYPE kemi_t_things_total counter\n",
		"# HELP kemi_t_level Level now,\\nwith a line break and a \\\\ backslash.\n# TYPE kemi_t_level gauge\n",
		"# HELP kemi_t_duration_seconds Time taken.\n# TYPE kemi_t_duration_seconds histogram\n",
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q:\n%s", want, page.String())
		}
	}
	if n := strings.Count(page.String(), "# HELP kemi_t_things_total"); n != 1 {
		t.Errorf("%d HELP lines for one family", n)
	}
	m.Describe("go_goroutines", "Goroutines that exist now.")
	var out bytes.Buffer
	m.WriteWithHelp(&out, []byte("# HELP go_goroutines\n# TYPE go_goroutines gauge\ngo_goroutines 7\n# HELP other_thing\n"))
	if want := "# HELP go_goroutines Goroutines that exist now.\n# TYPE go_goroutines gauge\ngo_goroutines 7\n# HELP other_thing\n"; out.String() != want {
		t.Errorf("WriteWithHelp wrote %q, want %q", out.String(), want)
	}
}

// TestMetricsHelpMistakes checks that a family without a description, or
// with two different ones, panics when the series is created, as a
// duplicate series does.
func TestMetricsHelpMistakes(t *testing.T) {
	m := kemi.NewMetrics()
	m.NewCounter(`kemi_t_a_total{x="1"}`, "A.")
	for name, f := range map[string]func(){
		"no description":   func() { m.NewCounter(`kemi_t_b_total`, " ") },
		"two descriptions": func() { m.NewCounter(`kemi_t_a_total{x="2"}`, "Another A.") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
