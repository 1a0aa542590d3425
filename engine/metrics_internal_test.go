package engine

import (
	"bytes"
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
