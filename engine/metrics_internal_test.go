package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestEveryDropReasonIsExported checks that each drop reason has its own
// series, registered up front (at 0) and counted by dropped.
func TestEveryDropReasonIsExported(t *testing.T) {
	e := newEngine(Config{Workers: 1}.withDefaults())
	for r := dropReason(0); r < numDropReasons; r++ {
		if dropReasonNames[r] == "" {
			t.Fatalf("drop reason %d has no name", r)
		}
		for i := dropReason(0); i <= r; i++ {
			e.met.dropped(r).Inc()
		}
	}
	var page bytes.Buffer
	e.metrics.WritePrometheus(&page)
	for r, name := range dropReasonNames {
		want := fmt.Sprintf(`kemi_core_messages_dropped_total{reason="%s"} %d`, name, r+1)
		if !strings.Contains(page.String(), want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestMetricsServerBoundsItsClients: a client that stops reading cannot
// hold a /metrics connection (and its descriptor) for ever; --pprof gives
// room for a CPU profile.
func TestMetricsServerBoundsItsClients(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		e := newEngine(Config{Workers: 1, Pprof: pprof}.withDefaults())
		ms, err := e.startMetrics("127.0.0.1:0", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := metricsWriteTimeout
		if pprof {
			want = pprofWriteTimeout
		}
		if ms.srv.WriteTimeout != want || ms.srv.ReadHeaderTimeout <= 0 || ms.srv.IdleTimeout <= 0 {
			t.Errorf("pprof=%v: write %v (want %v), read header %v, idle %v", pprof,
				ms.srv.WriteTimeout, want, ms.srv.ReadHeaderTimeout, ms.srv.IdleTimeout)
		}
		ms.stop(context.Background())
	}
}
