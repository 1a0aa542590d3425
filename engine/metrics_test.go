package engine_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// TestMetricsNamesAndTypes scrapes a live engine and checks the naming rule
// kemi_<module>_<what>_<unit|total> and that every series has a # TYPE.
func TestMetricsNamesAndTypes(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "m-1"))
	if res := p.recv(2 * time.Second); res == "" {
		t.Fatal("no reply")
	}
	// the reply leaves before the route ends and is counted
	s.WaitMetric(`kemi_script_route_runs_total{route="ksr_request_route"}`, 1, 2*time.Second)
	page := s.Scrape()

	types := map[string]string{}
	for _, line := range strings.Split(page, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	modules := map[string]bool{"core": true, "engine": true, "script": true}
	for _, m := range kemi.RegisteredModules() {
		modules[m] = true
	}
	name := regexp.MustCompile(`^kemi_([a-z0-9]+)_[a-z0-9_]+$`)
	seen := 0
	for _, line := range strings.Split(page, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series := line[:strings.IndexAny(line, "{ ")]
		if !strings.HasPrefix(series, "kemi_") {
			if !strings.HasPrefix(series, "go_") && !strings.HasPrefix(series, "process_") {
				t.Errorf("series outside kemi_, go_, process_: %s", series)
			}
			continue
		}
		seen++
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(series, "_bucket"), "_sum"), "_count")
		typ, ok := types[base]
		if !ok {
			t.Errorf("%s has no # TYPE line", series)
			continue
		}
		mm := name.FindStringSubmatch(base)
		if mm == nil || !modules[mm[1]] {
			t.Errorf("%s does not follow kemi_<module>_<what>_<unit|total>", base)
		}
		switch typ {
		case "counter":
			if !strings.HasSuffix(base, "_total") {
				t.Errorf("counter %s does not end in _total", base)
			}
		case "histogram":
			if !strings.HasSuffix(base, "_seconds") && !strings.HasSuffix(base, "_bytes") {
				t.Errorf("histogram %s has no unit suffix", base)
			}
		}
	}
	if seen < 10 {
		t.Errorf("only %d kemi series", seen)
	}
	for _, want := range []string{
		`kemi_core_requests_received_total{method="OPTIONS"} 1`,
		`kemi_core_messages_sent_total{type="reply"} 1`,
		`kemi_script_route_runs_total{route="ksr_request_route"} 1`,
		`kemi_script_route_duration_seconds_bucket{route="ksr_request_route",le="+Inf"} 1`,
		`# TYPE kemi_script_route_duration_seconds histogram`,
		`kemi_core_replies_received_total{class="2xx"} 0`,
		`kemi_core_messages_dropped_total{reason="malformed"} 0`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestTwoEnginesInOneProcess checks that engines share no registry.
func TestTwoEnginesInOneProcess(t *testing.T) {
	a := enginetest.Start(t, answerScript)
	b := enginetest.Start(t, answerScript)
	p := newPeer(t)
	p.send(a.UDP(), options(p, "sip:kemi@127.0.0.1", "two-1"))
	if p.recv(2*time.Second) == "" {
		t.Fatal("no reply from a")
	}
	if v := a.Metric(`kemi_core_requests_received_total{method="OPTIONS"}`); v != 1 {
		t.Errorf("a counted %v", v)
	}
	if v := b.Metric(`kemi_core_requests_received_total{method="OPTIONS"}`); v != 0 {
		t.Errorf("b counted %v, want 0", v)
	}
}
