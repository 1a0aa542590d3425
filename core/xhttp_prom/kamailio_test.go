package xhttp_prom_test

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/kamailiotest"
)

// sameParams are testdata/kamailio.cfg's declarations as kemi.toml's
// [xhttp_prom] table would give them.
var sameParams = map[string]any{
	"prom_counter":   []any{"name=requests; label=method", "name=all", "name=zeroed; label=a:b:c"},
	"prom_gauge":     []any{"name=last_cseq; label=method:proto", "name=balance"},
	"prom_histogram": []any{"name=size; label=method; buckets=2.5:10:50", "name=latency"},
}

// TestKamailioSamePage makes the same updates in Kamailio 5.6's
// xhttp_prom (testdata/kamailio.cfg) and in kemi (testdata/same.lua),
// fetches both pages through prom_dispatch / KSR.xhttp_prom.dispatch,
// and checks that they hold the same series (names, labels in order,
// values) and the same # TYPE lines. Only the writing differs: Kamailio
// stamps each sample and prints floats with %f; kemi leaves the
// stamping to the scraper.
func TestKamailioSamePage(t *testing.T) {
	port := freeTCPPort(t)
	httpAddr := "127.0.0.1:" + strconv.Itoa(port)
	kamailiotest.Start(t, "testdata/kamailio.cfg", []string{"xhttp.so", "xhttp_prom.so", "sl.so", "pv.so"}, "kamailio kamailio-extra-modules",
		func(string) bool {
			c, err := net.DialTimeout("tcp", httpAddr, 200*time.Millisecond)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				return false
			}
			c.Close()
			return true
		}, "HTTPLISTEN=tcp:"+httpAddr)
	script, err := os.ReadFile("testdata/same.lua")
	if err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, string(script), enginetest.WithParams("xhttp_prom", sameParams))

	pages := map[string]string{}
	for name, addr := range map[string]string{"kamailio": httpAddr, "kemi": s.TCP()} {
		if code, body := httpGet(t, addr, "/update"); code != 200 {
			t.Fatalf("%s: GET /update: %d %s", name, code, body)
		}
		code, body := httpGet(t, addr, "/metrics")
		if code != 200 {
			t.Fatalf("%s: GET /metrics: %d %s", name, code, body)
		}
		pages[name] = body
	}
	kam, kamTypes := userSamples(t, pages["kamailio"])
	kemi, kemiTypes := userSamples(t, pages["kemi"])
	if len(kam) < 15 {
		t.Fatalf("Kamailio's page has only %d user samples:\n%s", len(kam), pages["kamailio"])
	}
	for series, v := range kam {
		if w, ok := kemi[series]; !ok {
			t.Errorf("kemi lacks %s (Kamailio: %v)", series, v)
		} else if w != v {
			t.Errorf("%s: kemi %v, Kamailio %v", series, w, v)
		}
	}
	for series := range kemi {
		if _, ok := kam[series]; !ok {
			t.Errorf("kemi has %s, Kamailio does not", series)
		}
	}
	if len(kamTypes) > 0 && !slices.Equal(kamTypes, kemiTypes) {
		t.Errorf("# TYPE lines differ:\nKamailio %q\nkemi     %q", kamTypes, kemiTypes)
	}
	wantTypes := []string{"kamailio_all counter", "kamailio_balance gauge", "kamailio_last_cseq gauge", "kamailio_latency histogram", "kamailio_requests counter", "kamailio_size histogram", "kamailio_zeroed counter"}
	if !slices.Equal(kemiTypes, wantTypes) {
		t.Errorf("kemi's # TYPE lines %q, want %q", kemiTypes, wantTypes)
	}
	if t.Failed() {
		t.Logf("Kamailio's page:\n%s", pages["kamailio"])
	}
}

// userSamples reads the kamailio_ samples of a page into a map from the
// series, written name{l1="v1",l2="v2"} with le normalised as a number,
// to its value, and the sorted # TYPE lines of those families.
func userSamples(t *testing.T, page string) (map[string]float64, []string) {
	t.Helper()
	samples := map[string]float64{}
	var types []string
	for _, line := range strings.Split(page, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok && strings.HasPrefix(rest, "kamailio_") {
			types = append(types, rest)
			continue
		}
		if !strings.HasPrefix(line, "kamailio_") {
			continue
		}
		name, labels, value := splitSample(t, line)
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("sample %q: value %q", line, value)
		}
		samples[name+"{"+strings.Join(labels, ",")+"}"] = v
	}
	slices.Sort(types)
	return samples, types
}

// splitSample splits name{a="x", le="2.500000"} 1 [timestamp] into the
// name, the labels (le as its number in Go's form) and the value.
func splitSample(t *testing.T, line string) (string, []string, string) {
	name, rest := line, ""
	var labels []string
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.IndexByte(line, '}')
		if j < i {
			t.Fatalf("sample %q: no closing brace", line)
		}
		name, rest = strings.TrimSpace(line[:i]), line[j+1:]
		for _, l := range strings.Split(line[i+1:j], ",") {
			l = strings.TrimSpace(l)
			if v, ok := strings.CutPrefix(l, `le="`); ok && v != `+Inf"` {
				f, err := strconv.ParseFloat(strings.TrimSuffix(v, `"`), 64)
				if err != nil {
					t.Fatalf("sample %q: le %q", line, v)
				}
				l = `le="` + strconv.FormatFloat(f, 'g', -1, 64) + `"`
			}
			labels = append(labels, l)
		}
	} else {
		name, rest, _ = strings.Cut(line, " ")
		rest = " " + rest
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		t.Fatalf("sample %q: no value", line)
	}
	return name, labels, fields[0]
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
