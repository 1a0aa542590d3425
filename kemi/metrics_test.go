package kemi_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

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
	m.NewHistogram(`kemi_t_size_bytes{kind="a"}`, "Sizes seen.").Update(10)
	m.NewSummaryExt(`kemi_t_wait_seconds`, "Waits.", time.Minute, []float64{0.5}).Update(1)
	// families whose names share a prefix keep their own descriptions
	m.NewCounter(`kemi_t_calls`, "Calls (a gauge-like counter).")
	m.NewCounter(`kemi_t_calls_total`, "Calls made.")
	m.NewCounter(`kemi_t_calls_failed_total`, "Calls that failed.")
	var page bytes.Buffer
	m.WritePrometheus(&page)
	for _, want := range []string{
		"# HELP kemi_t_things_total Things done, by kind.\n# TYPE kemi_t_things_total counter\n",
		"# HELP kemi_t_level Level now,\\nwith a line break and a \\\\ backslash.\n# TYPE kemi_t_level gauge\n",
		"# HELP kemi_t_duration_seconds Time taken.\n# TYPE kemi_t_duration_seconds histogram\n",
		"# HELP kemi_t_size_bytes Sizes seen.\n# TYPE kemi_t_size_bytes ",
		"# HELP kemi_t_wait_seconds Waits.\n# TYPE kemi_t_wait_seconds summary\nkemi_t_wait_seconds{quantile=\"0.5\"} 1\n",
		"# HELP kemi_t_calls Calls (a gauge-like counter).\n# TYPE kemi_t_calls counter\nkemi_t_calls 0\n",
		"# HELP kemi_t_calls_total Calls made.\n# TYPE kemi_t_calls_total counter\n",
		"# HELP kemi_t_calls_failed_total Calls that failed.\n# TYPE kemi_t_calls_failed_total counter\n",
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q:\n%s", want, page.String())
		}
	}
	if n := strings.Count(page.String(), "# HELP kemi_t_things_total "); n != 1 {
		t.Errorf("%d HELP lines for one family", n)
	}
	// every family has exactly one # HELP line, with text
	helps := map[string]int{}
	for _, line := range strings.Split(page.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			family, text, _ := strings.Cut(rest, " ")
			if text == "" {
				t.Errorf("empty # HELP line for %s", family)
			}
			helps[family]++
		}
	}
	for family, n := range helps {
		if n != 1 {
			t.Errorf("%d # HELP lines for %s", n, family)
		}
	}
	if len(helps) != 8 {
		t.Errorf("%d families with # HELP, want 8:\n%s", len(helps), page.String())
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

// blockingWriter blocks every Write until release is closed, telling
// entered when the first Write starts.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

// TestMetricsWriteHoldsNoLock checks that a scrape whose client reads
// slowly does not stop a new family from being created: the page is
// written to the client without the descriptions' lock held, so routing
// (which creates the kemi_script_* families on a route's first run) never
// waits for a /metrics client.
func TestMetricsWriteHoldsNoLock(t *testing.T) {
	m := kemi.NewMetrics()
	// a page larger than the writer's buffer, so that Write is called
	// while the page is being copied
	for i := range 300 {
		m.NewCounter(fmt.Sprintf(`kemi_t_series_total{n="%d"}`, i), "Series.")
	}
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		m.WritePrometheus(w)
	}()
	<-w.entered
	created := make(chan struct{})
	go func() {
		defer close(created)
		m.NewCounter(`kemi_t_new_family_total`, "Created during a scrape.")
	}()
	select {
	case <-created:
	case <-time.After(10 * time.Second):
		t.Error("creating a family waited for a scrape's client")
	}
	close(w.release)
	<-scraped
	<-created
}

// TestWriteWithHelpAllocs checks that filling the # HELP lines costs no
// allocation per family: a scrape of many families allocates no more
// than one of a few.
func TestWriteWithHelpAllocs(t *testing.T) {
	allocs := func(families int) float64 {
		m := kemi.NewMetrics()
		for i := range families {
			m.NewCounter(fmt.Sprintf(`kemi_t_family%d_total{kind="a"}`, i), "Things done, by kind.")
		}
		var page bytes.Buffer
		m.Set().WritePrometheus(&page)
		return testing.AllocsPerRun(20, func() { m.WriteWithHelp(io.Discard, page.Bytes()) })
	}
	if few, many := allocs(2), allocs(200); many > few {
		t.Errorf("a scrape allocates %v times with 200 families, %v with 2", many, few)
	}
}

// TestMetricsWritePage checks that a /metrics page has the set's series
// and the Go process series, each family described where a description
// was given.
func TestMetricsWritePage(t *testing.T) {
	m := kemi.NewMetrics()
	m.NewCounter(`kemi_test_page_total{k="a"}`, "Test counter.").Add(3)
	m.Describe("go_goroutines", "Goroutines that exist.")
	var b bytes.Buffer
	m.WritePage(&b)
	page := b.String()
	for _, want := range []string{
		"# HELP kemi_test_page_total Test counter.\n# TYPE kemi_test_page_total counter\n",
		`kemi_test_page_total{k="a"} 3` + "\n",
		"# HELP go_goroutines Goroutines that exist.\n",
		"\ngo_goroutines ",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
