// Package grafana_test checks examples/grafana/kemi-dashboard.json
// against the series a running kemi engine exports: no panel may query a
// metric or a label kemi does not have.
package grafana_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine/enginetest"
)

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("kemi-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("kemi-dashboard.json: %v", err)
	}
	return d
}

// queries returns every PromQL expression of the dashboard, by where it
// is: the panels' targets and the templating variables' label_values.
func queries(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
			continue
		}
		// the label the variable lists must be on the series too
		out["variable "+v.Name] = "count by (" + m[2] + ") (" + m[1] + ")"
	}
	return out
}

// TestDashboardShape checks the dashboard as Grafana reads it: unique
// panel ids, every panel on the 24-column grid with a query on the
// dashboard's data source variable, and a panel for each subject it is
// meant to show.
func TestDashboardShape(t *testing.T) {
	d := load(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q uid %q: both are needed to import", d.Title, d.UID)
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: data source is not the ${datasource} variable", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	used := map[string]bool{}
	for _, q := range queries(t, d) {
		for _, m := range parseQuery(t, q).metrics {
			used[m] = true
		}
	}
	for subject, metric := range map[string]string{
		"calls":             "kemi_core_requests_received_total",
		"replies by class":  "kemi_sl_replies_sent_total",
		"route latency":     "kemi_script_route_duration_seconds_bucket",
		"transactions":      "kemi_tm_transactions_total",
		"registrations":     "kemi_registrar_accepted_total",
		"auth failures":     "kemi_auth_failures_total",
		"dispatcher states": "kemi_dispatcher_destinations",
		"worker restarts":   "kemi_engine_worker_restarts_total",
	} {
		if !used[metric] {
			t.Errorf("no panel shows %s (%s)", subject, metric)
		}
	}
}

// TestDashboardMetricsExist scrapes an engine with the standard modules,
// after a call went through it, and checks every metric each query
// names against the sample names on the page, and every label a query
// matches on or groups by against the labels of those series (job and
// instance are the ones Prometheus adds at the scrape).
func TestDashboardMetricsExist(t *testing.T) {
	enginetest.SippPath(t)
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.is_ACK() then return end
	KSR.sl.sl_send_reply(200, "OK")
end`)
	if r := enginetest.RunUAC(t, 1, 10, s.UDP(), "-sn", "uac"); r.Successful != 1 {
		t.Fatalf("sipp: %d successful calls, exit %d\n%s", r.Successful, r.Exit, r.Output)
	}
	s.WaitMetric(`kemi_core_requests_received_total{method="BYE"}`, 1, 2*time.Second)
	labels := seriesLabels(s.Scrape())
	d := load(t)
	qs := queries(t, d)
	if len(qs) < 30 {
		t.Errorf("only %d queries", len(qs))
	}
	for where, q := range qs {
		pq := parseQuery(t, q)
		if len(pq.metrics) == 0 {
			t.Errorf("%s: %q names no metric", where, q)
			continue
		}
		have := map[string]bool{"job": true, "instance": true}
		for _, m := range pq.metrics {
			ls, ok := labels[m]
			if !ok {
				t.Errorf("%s: %s is not on kemi's /metrics page", where, m)
				continue
			}
			for l := range ls {
				have[l] = true
			}
		}
		for _, l := range pq.labels {
			if !have[l] {
				t.Errorf("%s: label %s is on no series of %v", where, l, pq.metrics)
			}
		}
	}
}

// seriesLabels reads a Prometheus text page: for each sample name
// (histograms give _bucket, _sum and _count), the label names its
// series have.
func seriesLabels(page string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
	for _, line := range strings.Split(page, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if strings.HasPrefix(rest, "{") {
			for _, m := range labelName.FindAllStringSubmatch(rest[:strings.LastIndexByte(rest, '}')+1], -1) {
				out[name][m[1]] = true
			}
		}
	}
	return out
}

// query is what parseQuery finds in a PromQL expression.
type query struct {
	metrics []string // metric names
	labels  []string // label names in matchers and in by/without/on/ignoring
}

// groupingWords are followed by a list of label names in parentheses.
var groupingWords = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// otherWords are PromQL keywords and aggregation operators (which may
// be followed by "by (...)" rather than by '('): not metric names.
var otherWords = []string{"bool", "and", "or", "unless", "offset", "inf", "nan",
	"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values"}

// parseQuery reads the metric and label names of a PromQL expression:
// an identifier followed by '(' is a function or an aggregation, one
// after a grouping keyword starts a label list, one inside {} is a
// matcher's label; others are metric names. Strings and range
// selectors ([5m], [$__rate_interval]) are skipped.
func parseQuery(t *testing.T, q string) query {
	t.Helper()
	var out query
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n') {
			i++
		}
		return i
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(q) && isPart(q[j]) {
			j++
		}
		return q[i:j], j
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			i = j + 1
		case c == '[':
			j := strings.IndexByte(q[i:], ']')
			if j < 0 {
				t.Fatalf("%q: unclosed [", q)
			}
			i += j + 1
		case c == '{':
			// matchers: label op "value", ...
			i++
			for {
				i = skipSpace(i)
				if i >= len(q) {
					t.Fatalf("%q: unclosed {", q)
				}
				if q[i] == '}' {
					i++
					break
				}
				if q[i] == ',' {
					i++
					continue
				}
				if !isStart(q[i]) {
					t.Fatalf("%q: matcher at %d does not start with a label name", q, i)
				}
				var l string
				l, i = ident(i)
				out.labels = append(out.labels, l)
				i = skipSpace(i)
				for i < len(q) && strings.IndexByte("=!~", q[i]) >= 0 {
					i++
				}
				i = skipSpace(i)
				if i >= len(q) || q[i] != '"' {
					t.Fatalf("%q: matcher of %s has no quoted value", q, l)
				}
				j := i + 1
				for j < len(q) && q[j] != '"' {
					if q[j] == '\\' {
						j++
					}
					j++
				}
				i = j + 1
			}
		case c == '$':
			// a Grafana variable outside a string ($__rate_interval is
			// inside [], skipped above)
			_, i = ident(i + 1)
		case c >= '0' && c <= '9' || c == '.':
			for i < len(q) && (isPart(q[i]) || q[i] == '.') {
				i++ // a number, with its exponent or unit
			}
		case isStart(c):
			var w string
			w, i = ident(i)
			j := skipSpace(i)
			switch {
			case slices.Contains(groupingWords, w):
				if j < len(q) && q[j] == '(' {
					end := strings.IndexByte(q[j:], ')')
					if end < 0 {
						t.Fatalf("%q: unclosed %s (", q, w)
					}
					for _, l := range strings.Split(q[j+1:j+end], ",") {
						if l = strings.TrimSpace(l); l != "" {
							out.labels = append(out.labels, l)
						}
					}
					i = j + end + 1
				}
			case slices.Contains(otherWords, strings.ToLower(w)):
			case j < len(q) && q[j] == '(':
				// a function or an aggregation
			default:
				out.metrics = append(out.metrics, w)
			}
		default:
			i++
		}
	}
	return out
}

// TestParseQuery checks the PromQL reader the other tests rely on.
func TestParseQuery(t *testing.T) {
	tests := []struct {
		q       string
		metrics []string
		labels  []string
	}{
		{`sum(rate(kemi_a_total{job=~"$job", class=~"[456]xx"}[$__rate_interval]))`, []string{"kemi_a_total"}, []string{"job", "class"}},
		{`histogram_quantile(0.95, sum by (le, route) (rate(kemi_x_bucket[5m])))`, []string{"kemi_x_bucket"}, []string{"le", "route"}},
		{`sum by (reason) (rate(kemi_b_total[1m])) > 0`, []string{"kemi_b_total"}, []string{"reason"}},
		{`(sum(a) + sum(b)) / sum(c offset 5m) * 1e3`, []string{"a", "b", "c"}, nil},
		{`max(kemi_g{instance=~"$instance", x="a}b"})`, []string{"kemi_g"}, []string{"instance", "x"}},
		{`count by (job) (kemi_engine_workers)`, []string{"kemi_engine_workers"}, []string{"job"}},
	}
	for _, tt := range tests {
		got := parseQuery(t, tt.q)
		if !slices.Equal(got.metrics, tt.metrics) || !slices.Equal(got.labels, tt.labels) {
			t.Errorf("parseQuery(%q) = %+v, want metrics %q labels %q", tt.q, got, tt.metrics, tt.labels)
		}
	}
}
