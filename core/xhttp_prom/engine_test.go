package xhttp_prom_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// routeScript counts every request by method, keeps the last CSeq number
// in a gauge, observes the Call-ID's length, and answers; ACKs are only
// counted. Its HTTP route serves the metrics page on the SIP listener as
// Kamailio's xhttp_prom example does.
const routeScript = `
function ksr_request_route()
	local method = KSR.pv.get("$rm")
	if KSR.xhttp_prom.counter_inc_l1("requests", 1, method) < 0 then
		KSR.err("counter_inc_l1 failed\n")
	end
	KSR.xhttp_prom.counter_inc_l0("all", 1)
	KSR.xhttp_prom.gauge_set_l2("last_cseq", KSR.pv.get("$cs"), method, "udp")
	KSR.xhttp_prom.gauge_inc_l0("balance", "0.5")
	KSR.xhttp_prom.histogram_observe_l1("callid_len", tostring(#KSR.pv.get("$ci")), method)
	KSR.xhttp_prom.gauge_set_l1("by_call", "1", KSR.pv.get("$ci"))
	if method == "ACK" then
		return
	end
	KSR.sl.sl_send_reply(200, "OK")
end

function ksr_xhttp_event(evname)
	if KSR.xhttp_prom.check_uri() > 0 then
		KSR.xhttp_prom.dispatch()
		return
	end
	KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "no such page\n")
end
`

// params declare the script's metrics; by_call has a label per call, so
// max_label_sets bounds it.
var params = map[string]any{
	"prom_counter":   []any{"name=requests; label=method; help='SIP requests routed, by method'", "name=all"},
	"prom_gauge":     []any{"name=last_cseq; label=method:proto", "name=balance", "name=by_call; label=callid"},
	"prom_histogram": []any{"name=callid_len; label=method; buckets=8:16:32:64"},
	"max_label_sets": 4,
}

// TestEngineServesScriptMetrics runs sipp's stock uac through an engine
// whose script updates counters, gauges and a histogram, and checks the
// engine's /metrics page: the values, the labels, the # TYPE and # HELP
// lines, the label-set bound, and the same page served on the SIP
// listener by KSR.xhttp_prom.dispatch.
func TestEngineServesScriptMetrics(t *testing.T) {
	enginetest.SippPath(t)
	s := enginetest.Start(t, routeScript, enginetest.WithParams("xhttp_prom", params))
	const calls = 6
	r := enginetest.RunUAC(t, calls, 10, s.UDP(), "-sn", "uac")
	if r.Successful != calls {
		t.Fatalf("sipp: %d successful calls of %d, exit %d\n%s", r.Successful, calls, r.Exit, r.Output)
	}
	// the BYE of the last call is answered before its counter is read
	s.WaitMetric(`kamailio_requests{method="BYE"}`, calls, 2*time.Second)
	page := s.Scrape()
	for series, want := range map[string]float64{
		`kamailio_requests{method="INVITE"}`:                    calls,
		`kamailio_requests{method="ACK"}`:                       calls,
		`kamailio_requests{method="BYE"}`:                       calls,
		`kamailio_all`:                                          3 * calls,
		`kamailio_last_cseq{method="INVITE",proto="udp"}`:       1,
		`kamailio_last_cseq{method="BYE",proto="udp"}`:          2,
		`kamailio_balance`:                                      1.5 * calls,
		`kamailio_callid_len_count{method="INVITE"}`:            calls,
		`kamailio_callid_len_bucket{method="INVITE",le="+Inf"}`: calls,
		`kemi_xhttp_prom_refused_total{metric="by_call"}`:       3 * (calls - 4),
	} {
		if got := enginetest.MetricValue(page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, line := range []string{
		"# HELP kamailio_requests SIP requests routed, by method",
		"# TYPE kamailio_requests counter",
		"# TYPE kamailio_all counter",
		"# TYPE kamailio_last_cseq gauge",
		"# TYPE kamailio_callid_len histogram",
		"# TYPE kemi_xhttp_prom_refused_total counter",
		"# TYPE kemi_sl_replies_sent_total counter", // kemi's own series are on the same page
	} {
		if !strings.Contains(page, line+"\n") {
			t.Errorf("page lacks %q", line)
		}
	}
	if n := strings.Count(page, "\nkamailio_by_call{"); n != 4 {
		t.Errorf("%d series of by_call, want max_label_sets = 4", n)
	}
	if n := strings.Count(s.Logs(), "max_label_sets"); n != 1 {
		t.Errorf("the label-set refusal is logged %d times, want once", n)
	}
	// sipp's Call-IDs, N-PID@127.0.0.1, are 13 to 32 bytes long
	for le, want := range map[string]float64{"8": 0, "32": calls, "64": calls} {
		if got := enginetest.MetricValue(page, `kamailio_callid_len_bucket{method="INVITE",le="`+le+`"}`); got != want {
			t.Errorf("le=%s bucket = %v, want %v", le, got, want)
		}
	}

	t.Run("dispatch", func(t *testing.T) {
		code, body := httpGet(t, s.TCP(), "/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics on the SIP listener: %d %s", code, body)
		}
		for _, want := range []string{"# TYPE kamailio_requests counter\n", `kamailio_requests{method="INVITE"} 6` + "\n", "# TYPE kemi_sl_replies_sent_total counter\n", "go_goroutines "} {
			if !strings.Contains(body, want) {
				t.Errorf("dispatched page lacks %q", want)
			}
		}
		if code, _ := httpGet(t, s.TCP(), "/metricsx"); code != 404 {
			t.Errorf("GET /metricsx: %d, want the script's 404 (check_uri matches /metrics only)", code)
		}
	})
}

// httpGet sends GET target over a new TCP connection to addr, a SIP
// listener, and returns the reply's code and body.
func httpGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", target, err)
	}
	return res.StatusCode, string(b)
}

// TestEngineRefusesBadDeclarations checks that an engine, and kemi
// check, refuse to start on a declaration /metrics could not serve, with
// the declaration and the reason in the error.
func TestEngineRefusesBadDeclarations(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		err    string
	}{
		{"bad metric name", map[string]any{"prom_counter": "name=sip-requests"}, `xhttp_prom: parameter prom_counter "name=sip-requests": name "sip-requests" is not a Prometheus metric name`},
		{"bad label name", map[string]any{"prom_gauge": "name=g; label=call-id"}, `label "call-id" is not a Prometheus label name`},
		{"kemi's namespace", map[string]any{"xhttp_prom_beginning": "kemi_", "prom_counter": "name=tm_transactions_total"}, "kemi_tm_transactions_total is in the kemi_ namespace"},
		{"buckets", map[string]any{"prom_histogram": "name=h; buckets=1:0.5"}, "buckets must increase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := engine.Config{
				Script: []byte("function ksr_request_route() end\n"), ScriptPath: "test.lua",
				Listen: []string{"udp:127.0.0.1:0"}, Workers: 1, DBURL: "memory",
				ModParams: map[string]map[string]any{"xhttp_prom": tt.params},
			}
			_, err := engine.Check(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("check: error %v, want one with %q", err, tt.err)
			}
			// a configuration mistake: kemi check exits 2 and names the file's table
			if ce := (*kemi.ConfigError)(nil); !errors.As(err, &ce) || ce.Module != "xhttp_prom" || !ce.InParams {
				t.Errorf("check: error %v is not a ConfigError in xhttp_prom's parameters", err)
			}
			e, err := engine.New(cfg)
			if err == nil {
				err = e.Start(t.Context())
				defer e.Stop(t.Context())
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("start: error %v, want one with %q", err, tt.err)
			}
		})
	}
}
