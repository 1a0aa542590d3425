package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// TestEveryFamilyHasHelpAndType scrapes a live engine with every standard
// module, after routes of several kinds ran, and checks that every metric
// family on the page, the engine's, the modules', the script's and Go's,
// has a # TYPE line and a # HELP line that says what it counts.
func TestEveryFamilyHasHelpAndType(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	KSR.route("ksr_sub")
	KSR.sl.sl_send_reply(200, "OK")
end
function ksr_sub() end`)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "help-1"))
	if res := p.recv(2 * time.Second); res == "" {
		t.Fatal("no reply")
	}
	s.WaitMetric(`kemi_script_route_runs_total{route="ksr_request_route"}`, 1, 2*time.Second)
	help, types, families := parseExposition(t, s.Scrape())
	if len(families) < 80 {
		t.Errorf("only %d families on the page", len(families))
	}
	for _, want := range []string{"kemi_script_route_runs_total", "kemi_tm_transactions_total", "kemi_sl_replies_sent_total", "kemi_xlog_messages_total", "go_goroutines"} {
		if _, ok := families[want]; !ok {
			t.Errorf("family %s is not on the page", want)
		}
	}
	for f := range families {
		if types[f] == "" {
			t.Errorf("%s has no # TYPE line", f)
		}
		if strings.TrimSpace(help[f]) == "" {
			t.Errorf("%s has no # HELP text", f)
		}
	}
}

// parseExposition reads a Prometheus text page: the HELP text and TYPE of
// each family, and the families that have samples.
func parseExposition(t *testing.T, page string) (help, types map[string]string, families map[string]bool) {
	t.Helper()
	help, types, families = map[string]string{}, map[string]string{}, map[string]bool{}
	var samples []string
	for _, line := range strings.Split(page, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# HELP "):
			name, text, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if _, dup := help[name]; dup {
				t.Errorf("two # HELP lines for %s", name)
			}
			help[name] = text
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if _, ok := help[name]; !ok {
				t.Errorf("# TYPE %s comes before (or without) its # HELP line", name)
			}
			types[name] = typ
		case strings.HasPrefix(line, "#"):
		default:
			samples = append(samples, line[:strings.IndexAny(line, "{ ")])
		}
	}
	for _, name := range samples {
		f := name
		if _, ok := types[f]; !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base := strings.TrimSuffix(name, suffix); base != name && types[base] != "" {
					f = base
				}
			}
		}
		families[f] = true
	}
	return help, types, families
}
