package xhttp_prom_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	_ "github.com/kemisip/kemi/core/xhttp_prom"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const options = "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-prom\n" +
	"From: <sip:a@127.0.0.1>;tag=1\n" +
	"To: <sip:kemi@127.0.0.1>\n" +
	"Call-ID: prom-1\n" +
	"CSeq: 1 OPTIONS\n" +
	"Content-Length: 0\n\n"

// declared are the declarations most tests load.
var declared = map[string]any{
	"prom_counter": []any{"name=cnt0;", "name=cnt2; label=method:ip; help='Requests by method and source'", "name=cnt3; label=a:b:c"},
	"prom_gauge":   []any{"name=gg0", "name=gg1; label=handler"},
	"prom_histogram": []any{"name=hist0; buckets=1:5", "name=hist1; label=route; buckets=0.5:1",
		"name=hist_default"},
}

func load(t *testing.T, params map[string]any) *kemitest.Env {
	t.Helper()
	env := kemitest.Load(t, map[string]map[string]any{"xhttp_prom": params}, "xhttp_prom")
	t.Cleanup(env.Destroy)
	return env
}

// page returns the metric set as /metrics writes it.
func page(env *kemitest.Env) string {
	var b bytes.Buffer
	env.Metrics.WritePrometheus(&b)
	return b.String()
}

func TestExportsAreKamailios(t *testing.T) {
	env := load(t, nil)
	env.CheckExports(t, "xhttp_prom")
	n := 0
	for _, x := range env.Exports() {
		if x.Module == "xhttp_prom" {
			n++
		}
	}
	if n != 26 {
		t.Errorf("%d exports, want Kamailio's 26", n)
	}
}

// TestUpdates runs each update function and checks its return and the
// series it leaves on the page.
func TestUpdates(t *testing.T) {
	type call struct {
		fn   string
		args []any
		want int64
	}
	tests := []struct {
		name  string
		calls []call
		lines []string // each must be on the page
		log   string   // must be logged, when set
	}{
		{"counter l0", []call{{"counter_inc_l0", []any{"cnt0", 10}, 1}, {"counter_inc_l0", []any{"cnt0", "5"}, 1}},
			[]string{"# TYPE kamailio_cnt0 counter", "kamailio_cnt0 15"}, ""},
		{"counter l2", []call{{"counter_inc_l2", []any{"cnt2", 15, "push", "192.168.0.1"}, 1}},
			[]string{`kamailio_cnt2{method="push",ip="192.168.0.1"} 15`, "# HELP kamailio_cnt2 Requests by method and source"}, ""},
		{"counter l3", []call{{"counter_inc_l3", []any{"cnt3", 1, "x", "y", "z"}, 1}},
			[]string{`kamailio_cnt3{a="x",b="y",c="z"} 1`}, ""},
		{"counter reset creates", []call{{"counter_reset_l2", []any{"cnt2", "INVITE", "10.0.0.1"}, 1}},
			[]string{`kamailio_cnt2{method="INVITE",ip="10.0.0.1"} 0`}, ""},
		{"counter reset", []call{{"counter_inc_l0", []any{"cnt0", 7}, 1}, {"counter_reset_l0", []any{"cnt0"}, 1}},
			[]string{"kamailio_cnt0 0"}, ""},
		{"counter negative", []call{{"counter_inc_l0", []any{"cnt0", -1}, -1}}, nil, "negative number -1"},
		{"counter zero", []call{{"counter_inc_l0", []any{"cnt0", 0}, 1}}, []string{"kamailio_cnt0 0"}, ""},
		{"counter unknown", []call{{"counter_inc_l0", []any{"nope", 1}, -1}}, nil, "no counter declared with name nope"},
		{"counter empty name", []call{{"counter_inc_l0", []any{"", 1}, -1}}, nil, "empty metric name"},
		{"counter is a gauge", []call{{"counter_inc_l0", []any{"gg0", 1}, -1}}, nil, "gg0 is a gauge, not a counter"},
		{"wrong label count", []call{{"counter_inc_l1", []any{"cnt2", 1, "x"}, -1}}, nil, "cnt2 has 2 labels, the call gives 1"},
		{"labels on l0 metric", []call{{"counter_inc_l1", []any{"cnt0", 1, "x"}, -1}}, nil, "cnt0 has 0 labels"},
		{"empty label value", []call{{"counter_inc_l2", []any{"cnt2", 1, "x", ""}, -1}}, nil, "empty value for label ip"},
		{"long label value", []call{{"gauge_set_l1", []any{"gg1", "1", strings.Repeat("v", 1025)}, -1}}, nil, "1025 bytes long, at most 1024"},
		{"label escaping", []call{{"gauge_set_l1", []any{"gg1", "2", "a\"b\\c\nd"}, 1}},
			[]string{`kamailio_gg1{handler="a\"b\\c\nd"} 2`}, ""},
		{"gauge set", []call{{"gauge_set_l0", []any{"gg0", "-12.5"}, 1}}, []string{"# TYPE kamailio_gg0 gauge", "kamailio_gg0 -12.5"}, ""},
		{"gauge inc", []call{{"gauge_inc_l0", []any{"gg0", "12.5"}, 1}, {"gauge_inc_l0", []any{"gg0", "-22.5"}, 1}},
			[]string{"kamailio_gg0 -10"}, ""},
		{"gauge inc l1", []call{{"gauge_inc_l1", []any{"gg1", "3", "h"}, 1}, {"gauge_inc_l1", []any{"gg1", 4, "h"}, 1}},
			[]string{`kamailio_gg1{handler="h"} 7`}, ""},
		{"gauge reset", []call{{"gauge_set_l1", []any{"gg1", "9", "r"}, 1}, {"gauge_reset_l1", []any{"gg1", "r"}, 1}},
			[]string{`kamailio_gg1{handler="r"} 0`}, ""},
		{"gauge not a number", []call{{"gauge_set_l0", []any{"gg0", "abc"}, -1}}, nil, `abc\" is not a number`},
		{"gauge empty number", []call{{"gauge_inc_l0", []any{"gg0", ""}, -1}}, nil, `gauge_inc_l0: \"\" is not a number`},
		{"gauge is a histogram", []call{{"gauge_set_l0", []any{"hist0", "1"}, -1}}, nil, "hist0 is a histogram, not a gauge"},
		{"histogram", []call{{"histogram_observe_l0", []any{"hist0", "0.5"}, 1}, {"histogram_observe_l0", []any{"hist0", "3"}, 1}, {"histogram_observe_l0", []any{"hist0", "7"}, 1}},
			[]string{"# TYPE kamailio_hist0 histogram", `kamailio_hist0_bucket{le="1"} 1`, `kamailio_hist0_bucket{le="5"} 2`,
				`kamailio_hist0_bucket{le="+Inf"} 3`, "kamailio_hist0_sum 10.5", "kamailio_hist0_count 3"}, ""},
		{"histogram l1", []call{{"histogram_observe_l1", []any{"hist1", "0.7", "main"}, 1}},
			[]string{`kamailio_hist1_bucket{route="main",le="0.5"} 0`, `kamailio_hist1_bucket{route="main",le="1"} 1`, `kamailio_hist1_count{route="main"} 1`}, ""},
		{"histogram default buckets", []call{{"histogram_observe_l0", []any{"hist_default", "0.003"}, 1}},
			[]string{`kamailio_hist_default_bucket{le="0.005"} 1`, `kamailio_hist_default_bucket{le="10"} 1`}, ""},
		{"histogram counter name", []call{{"histogram_observe_l0", []any{"cnt0", "1"}, -1}}, nil, "cnt0 is a counter, not a histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := load(t, declared)
			m := env.Prepare(kemitest.ParseMsg(t, options))
			for _, c := range tt.calls {
				if got := env.Call(t, "KSR.xhttp_prom."+c.fn, m, c.args...); got.Int != c.want || got.Kind != kemi.KindInt {
					t.Errorf("%s%v = %v, want %d", c.fn, c.args, got, c.want)
				}
			}
			p := page(env)
			for _, l := range tt.lines {
				if !strings.Contains(p, l+"\n") {
					t.Errorf("page lacks %q:\n%s", l, p)
				}
			}
			if tt.log != "" && !strings.Contains(env.Logs(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, env.Logs())
			}
		})
	}
}

// TestSeriesCreatedOnUse checks that declared metrics have no series
// before the script uses them, as in Kamailio.
func TestSeriesCreatedOnUse(t *testing.T) {
	env := load(t, declared)
	if p := page(env); strings.Contains(p, "kamailio_") {
		t.Errorf("series before any update:\n%s", p)
	}
}

func TestPrefixAndTags(t *testing.T) {
	env := load(t, map[string]any{
		"xhttp_prom_beginning": "my_metric_",
		"xhttp_prom_tags":      "host_job=foo,dc=par",
		"prom_counter":         []any{"name=cnt01", "name=cnt02; label=method"},
	})
	m := env.Prepare(kemitest.ParseMsg(t, options))
	env.Call(t, "KSR.xhttp_prom.counter_inc_l0", m, "cnt01", 2)
	env.Call(t, "KSR.xhttp_prom.counter_inc_l1", m, "cnt02", 3, "INVITE")
	p := page(env)
	for _, l := range []string{`my_metric_cnt01{host_job="foo",dc="par"} 2`, `my_metric_cnt02{method="INVITE",host_job="foo",dc="par"} 3`} {
		if !strings.Contains(p, l+"\n") {
			t.Errorf("page lacks %q:\n%s", l, p)
		}
	}
	env2 := load(t, map[string]any{"xhttp_prom_beginning": "", "prom_gauge": "name=bare"})
	env2.Call(t, "KSR.xhttp_prom.gauge_set_l0", env2.Prepare(kemitest.ParseMsg(t, options)), "bare", "1.5")
	if p := page(env2); !strings.Contains(p, "\nbare 1.5\n") {
		t.Errorf("empty prefix: page lacks bare 1.5:\n%s", p)
	}
}

// TestBadConfig checks that a declaration kemi cannot serve stops the
// module from loading, with the declaration in the message.
func TestBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		err    string
	}{
		{"no name", map[string]any{"prom_counter": "label=a"}, `xhttp_prom: parameter prom_counter "label=a": no name= attribute`},
		{"bad name", map[string]any{"prom_gauge": "name=my-gauge"}, `parameter prom_gauge "name=my-gauge": name "my-gauge" is not a Prometheus metric name`},
		{"bad label", map[string]any{"prom_histogram": "name=h; label=a.b"}, `label "a.b" is not a Prometheus label name`},
		{"four labels", map[string]any{"prom_counter": "name=c; label=a:b:c:d"}, "4 labels, at most 3"},
		{"duplicate across kinds", map[string]any{"prom_counter": "name=x", "prom_gauge": "name=x"}, "name x already declared as a counter"},
		{"duplicate", map[string]any{"prom_counter": []any{"name=x", "name=x; label=a"}}, "name x already declared as a counter"},
		{"kemi namespace", map[string]any{"xhttp_prom_beginning": "kemi_", "prom_counter": "name=sl_replies_sent_total"}, "kemi_sl_replies_sent_total is in the kemi_ namespace of kemi's own series"},
		{"go namespace", map[string]any{"xhttp_prom_beginning": "", "prom_gauge": "name=go_goroutines"}, "go_goroutines is in the go_ namespace"},
		{"bad prefix", map[string]any{"xhttp_prom_beginning": "my-app_"}, `xhttp_prom_beginning "my-app_" is not the start of a Prometheus metric name`},
		{"histogram's series", map[string]any{"prom_histogram": "name=h", "prom_counter": "name=h_count"}, "parameter prom_counter: counter h_count takes a name of histogram h's series"},
		{"bad buckets", map[string]any{"prom_histogram": "name=h; buckets=5:1"}, "buckets must increase"},
		{"bad tags", map[string]any{"xhttp_prom_tags": "a b=c"}, "not a Prometheus label name"},
		{"tag is a label", map[string]any{"xhttp_prom_tags": "dc=par", "prom_counter": "name=c; label=dc"}, "label dc is also a tag"},
		{"max_label_sets", map[string]any{"max_label_sets": 0}, "max_label_sets = 0: want 1 or more"},
		{"unsupported", map[string]any{"xhttp_prom_stats": "all"}, "parameter xhttp_prom_stats is not supported by kemi: kemi's own statistics are always on /metrics"},
		{"unknown", map[string]any{"prom_countr": "name=x"}, "unknown parameter prom_countr"},
		{"wrong type", map[string]any{"max_label_sets": "many"}, "max_label_sets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := kemitest.LoadErr(map[string]map[string]any{"xhttp_prom": tt.params}, "xhttp_prom")
			if err == nil {
				env.Destroy()
				t.Fatalf("loaded; want an error with %q", tt.err)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %q, want one with %q", err, tt.err)
			}
		})
	}
}

// TestLabelSetLimit checks max_label_sets: past it an update that needs
// a new label set returns -1, is logged once and counted, and creates
// nothing; label sets that exist go on being updated.
func TestLabelSetLimit(t *testing.T) {
	env := load(t, map[string]any{"max_label_sets": 3, "prom_counter": "name=by_ip; label=ip", "prom_gauge": "name=other; label=x"})
	m := env.Prepare(kemitest.ParseMsg(t, options))
	for i := range 100 {
		want := int64(1)
		if i >= 3 {
			want = -1
		}
		if got := env.Call(t, "KSR.xhttp_prom.counter_inc_l1", m, "by_ip", 1, fmt.Sprintf("10.0.0.%d", i)); got.Int != want {
			t.Fatalf("call %d = %v, want %d", i, got, want)
		}
	}
	if got := env.Call(t, "KSR.xhttp_prom.counter_inc_l1", m, "by_ip", 1, "10.0.0.1"); got.Int != 1 {
		t.Errorf("update of an existing label set past the limit = %v, want 1", got)
	}
	if got := env.Call(t, "KSR.xhttp_prom.gauge_set_l1", m, "other", "1", "a"); got.Int != 1 {
		t.Errorf("another metric = %v, want 1: the limit is per metric", got)
	}
	p := page(env)
	if n := strings.Count(p, "\nkamailio_by_ip{"); n != 3 {
		t.Errorf("%d series of by_ip, want 3:\n%s", n, p)
	}
	if !strings.Contains(p, `kamailio_by_ip{ip="10.0.0.1"} 2`) {
		t.Errorf("10.0.0.1 not counted twice:\n%s", p)
	}
	if !strings.Contains(p, `kemi_xhttp_prom_refused_total{metric="by_ip"} 97`) {
		t.Errorf("refusals not counted:\n%s", p)
	}
	if n := strings.Count(env.Logs(), "max_label_sets"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, env.Logs())
	}
	if !strings.Contains(env.Logs(), "metric by_ip has 3 label sets already (max_label_sets): new label set refused") {
		t.Errorf("log does not say why:\n%s", env.Logs())
	}
}

// TestConcurrentUpdates updates the same series and creates label sets
// from many goroutines at once (run with -race): no update is lost and
// each label set is one series.
func TestConcurrentUpdates(t *testing.T) {
	env := load(t, declared)
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := env.Prepare(kemitest.ParseMsg(t, options))
			for i := range each {
				env.Call(t, "KSR.xhttp_prom.counter_inc_l0", m, "cnt0", 1)
				env.Call(t, "KSR.xhttp_prom.counter_inc_l2", m, "cnt2", 2, "INVITE", fmt.Sprintf("ip%d", i%10))
				env.Call(t, "KSR.xhttp_prom.gauge_inc_l1", m, "gg1", "1", "h")
				env.Call(t, "KSR.xhttp_prom.histogram_observe_l1", m, "hist1", "0.25", fmt.Sprintf("r%d", w%2))
			}
		}()
	}
	wg.Wait()
	p := page(env)
	for _, l := range []string{
		fmt.Sprintf("kamailio_cnt0 %d", workers*each),
		fmt.Sprintf(`kamailio_cnt2{method="INVITE",ip="ip3"} %d`, workers*each/10*2),
		fmt.Sprintf(`kamailio_gg1{handler="h"} %d`, workers*each),
		fmt.Sprintf(`kamailio_hist1_count{route="r0"} %d`, workers/2*each),
	} {
		if !strings.Contains(p, l+"\n") {
			t.Errorf("page lacks %q", l)
		}
	}
	if n := strings.Count(p, "\nkamailio_cnt2{"); n != 10 {
		t.Errorf("%d series of cnt2, want 10", n)
	}
}

// BenchmarkCounterInc measures an update of a series that exists, as a
// route makes it: with no labels and with two.
func BenchmarkCounterInc(b *testing.B) {
	env := kemitest.Load(b, map[string]map[string]any{"xhttp_prom": declared}, "xhttp_prom")
	defer env.Destroy()
	m := env.Prepare(kemitest.ParseMsg(b, options))
	for _, bc := range []struct {
		name string
		fn   string
		args []string
	}{
		{"l0", "KSR.xhttp_prom.counter_inc_l0", []string{"cnt0", "1"}},
		{"l2", "KSR.xhttp_prom.counter_inc_l2", []string{"cnt2", "1", "INVITE", "192.0.2.1"}},
		{"histogram_l1", "KSR.xhttp_prom.histogram_observe_l1", []string{"hist1", "0.25", "main"}},
	} {
		x := env.Export(b, bc.fn)
		a := kemi.MakeArgs(bc.args...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := x.Func(m, a); v.Int != 1 {
					b.Fatalf("%s = %v", bc.fn, v)
				}
			}
		})
	}
}
