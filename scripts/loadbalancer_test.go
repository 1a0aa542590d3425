package scripts_test

// Tests of scripts/loadbalancer.lua on a real engine in front of three
// sipp UASs loaded by a sipp uac, with sipp's default behaviours. The
// scenarios are sipp's stock uac and uas calls with the route set
// honoured (examples/sipp/uac_rr.xml, uas_rr.xml): the ACK and BYE go
// along the Record-Route, as phones send them. The stock scenarios ignore
// the route set, and a balancer cannot know which server holds a call
// without it. Calls per UAS are counted from each UAS's own statistics
// (-trace_stat, IncomingCall(C)), or, where the dispatcher's OPTIONS
// probes reach the UASs (sipp counts each as a call), from the INVITEs in
// each UAS's message log (-trace_msg).

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// pool is set 1 of the balancer: sipp UASs on fixed loopback ports, so
// that a test can stop them and start fresh ones (with fresh counters)
// behind the same dispatcher.list.
type pool struct {
	t        *testing.T
	scenario string // the UAS scenario file
	ports    []int
	runs     []*uasRun
	round    int
}

// uasRun is one sipp UAS process and its files.
type uasRun struct {
	sipp *enginetest.Sipp
	stat string // -trace_stat CSV
	msgs string // -trace_msg log
}

// newPool starts n UASs (uasRR) on free ports.
func newPool(t *testing.T, n int) *pool {
	t.Helper()
	return newPoolWith(t, n, uasRR)
}

// newPoolWith starts n UASs running scenario on free ports.
func newPoolWith(t *testing.T, n int, scenario string) *pool {
	t.Helper()
	enginetest.SippPath(t)
	p := &pool{t: t, scenario: scenario}
	for range n {
		p.ports = append(p.ports, enginetest.FreeUDPPort(t))
	}
	p.start()
	return p
}

// start starts a fresh UAS on every port.
func (p *pool) start() {
	p.t.Helper()
	p.round++
	dir := p.t.TempDir()
	p.runs = p.runs[:0]
	for i := range p.ports {
		p.runs = append(p.runs, p.startRun(i, dir))
	}
}

// restart starts a fresh UAS on port i, with fresh files; the one there
// is stopped first.
func (p *pool) restart(i int) {
	p.t.Helper()
	p.runs[i].sipp.Stop()
	p.round++
	p.runs[i] = p.startRun(i, p.t.TempDir())
}

// startRun starts a UAS on port i with its files in dir.
func (p *pool) startRun(i int, dir string) *uasRun {
	p.t.Helper()
	r := &uasRun{
		stat: filepath.Join(dir, fmt.Sprintf("uas%d-%d.csv", i, p.round)),
		msgs: filepath.Join(dir, fmt.Sprintf("uas%d-%d.log", i, p.round)),
	}
	r.sipp = enginetest.StartSipp(p.t, "-sf", p.scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(p.ports[i]),
		"-trace_stat", "-stf", r.stat, "-trace_msg", "-message_file", r.msgs)
	return r
}

// stop stops every UAS and returns the calls each one received.
func (p *pool) stop() []int {
	p.t.Helper()
	calls := make([]int, len(p.runs))
	for i, r := range p.runs {
		r.sipp.Stop()
		calls[i] = r.calls(p.t)
	}
	return calls
}

// calls reads the calls the UAS received from its statistics, which
// sipp writes at start and when it stops.
func (r *uasRun) calls(t *testing.T) int {
	t.Helper()
	csv, err := os.ReadFile(r.stat)
	if err != nil {
		t.Fatalf("uas statistics: %v", err)
	}
	n, err := enginetest.SippStat(string(csv), "IncomingCall(C)")
	if err != nil {
		t.Fatalf("uas statistics %s: %v", r.stat, err)
	}
	return n
}

// callIDs returns the Call-IDs the UAS saw, from its message log: of
// every message, or with method of the requests of that method it
// received.
func (r *uasRun) callIDs(t *testing.T, method string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(r.msgs)
	if err != nil {
		t.Fatalf("uas message log: %v", err)
	}
	ids := map[string]bool{}
	// sipp starts each logged message with a line of dashes and the date
	for _, m := range strings.Split(string(b), "-----------------------------------------------") {
		if method != "" {
			_, msg, ok := strings.Cut(m, "message received")
			// the start line follows the "... bytes :" line and a blank one
			if !ok || !strings.HasPrefix(strings.TrimSpace(msg[strings.Index(msg, "\n")+1:]), method+" ") {
				continue
			}
		}
		for _, line := range strings.Split(m, "\n") {
			if name, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(name, "Call-ID") || name == "i") {
				ids[strings.TrimSpace(v)] = true
			}
		}
	}
	return ids
}

// listFile writes a dispatcher.list with the pool as set 1, the
// destination i with attrs[i] when given, and returns its path.
func (p *pool) listFile(attrs ...string) string {
	p.t.Helper()
	var b strings.Builder
	b.WriteString("# setid destination flags priority attrs\n")
	for i, port := range p.ports {
		a := ""
		if i < len(attrs) {
			a = attrs[i]
		}
		fmt.Fprintf(&b, "1 sip:127.0.0.1:%d 0 0 %s\n", port, a)
	}
	path := filepath.Join(p.t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// startBalancer runs scripts/loadbalancer.lua on list with the defines
// given (LB_ALG=4 ...), failover on (dispatcher flags 2), a server that
// sends nothing for 3 s taken as down (tm fr_timer) and one that rings
// for 5 s without answering too (fr_inv_timer: the test UASs answer
// after 200 ms). The timers leave room for a loaded test machine, where
// a sipp UAS may take a second to answer.
func startBalancer(t *testing.T, list string, defines map[string]string) *enginetest.Server {
	t.Helper()
	return startBalancerWith(t, list, defines, nil, nil)
}

// startBalancerWith is startBalancer with more dispatcher parameters
// (the health checks') and other tm timers.
func startBalancerWith(t *testing.T, list string, defines map[string]string, dispatcher, tm map[string]any) *enginetest.Server {
	t.Helper()
	params := map[string]any{"list_file": list, "flags": 2}
	maps.Copy(params, dispatcher)
	timers := map[string]any{"fr_timer": 3000, "fr_inv_timer": 5000}
	maps.Copy(timers, tm)
	src, err := os.ReadFile("loadbalancer.lua")
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Start(t, string(src),
		enginetest.WithConfig(func(c *engine.Config) {
			c.ScriptPath = "loadbalancer.lua"
			c.Defines = defines
		}),
		enginetest.WithParams("dispatcher", params),
		enginetest.WithParams("tm", timers))
}

// alg is the defines choosing a dispatcher algorithm.
func alg(n int) map[string]string { return map[string]string{"LB_ALG": strconv.Itoa(n)} }

// uacRR and uasRR are the scenarios of every test.
const (
	uacRR = "../examples/sipp/uac_rr.xml"
	uasRR = "../examples/sipp/uas_rr.xml"
)

// lbCall runs calls calls at rate calls/s to the balancer, with extra sipp
// options.
func lbCall(t *testing.T, s *enginetest.Server, calls, rate int, extra ...string) enginetest.SippCalls {
	t.Helper()
	return enginetest.RunUAC(t, calls, rate, append([]string{s.UDP(), "-sf", uacRR}, extra...)...)
}

// mustSucceed fails the test unless every call of a uac run succeeded.
func mustSucceed(t *testing.T, r enginetest.SippCalls, calls int) {
	t.Helper()
	if r.Successful != calls || r.Failed != 0 {
		t.Fatalf("uac: %d of %d calls succeeded, %d failed (exit %d)\n%s", r.Successful, calls, r.Failed, r.Exit, r.Output)
	}
}

// TestLoadBalancerRoundRobin: algorithm 4 over three UASs, two workers:
// 300 calls, exactly 100 each.
func TestLoadBalancerRoundRobin(t *testing.T) {
	p := newPool(t, 3)
	s := startBalancer(t, p.listFile(), alg(4))
	const calls = 300
	mustSucceed(t, lbCall(t, s, calls, 100), calls)
	got := p.stop()
	for i, n := range got {
		if n != calls/3 {
			t.Errorf("round robin: UAS %d got %d calls, want exactly %d (all: %v)", i, n, calls/3, got)
		}
	}
}

// TestLoadBalancerWeights: weights 50/30/20 (attrs weight= for
// algorithm 9, rweight= for 11). Algorithm 9 fills a 100-slot table and
// walks it, so its shares are within 10 % of the weights (exact over
// every 100 calls); algorithm 11 draws at random, so its shares are
// checked within 10 % of all calls.
func TestLoadBalancerWeights(t *testing.T) {
	weights := []int{50, 30, 20}
	for _, c := range []struct {
		alg, calls int
		// slack is how far from its weighted share a UAS may be, in calls
		slack func(want, calls int) int
	}{
		{9, 300, func(want, _ int) int { return want / 10 }},
		{11, 500, func(_, calls int) int { return calls / 10 }},
	} {
		t.Run(fmt.Sprintf("alg%d", c.alg), func(t *testing.T) {
			p := newPool(t, 3)
			var attrs []string
			for _, w := range weights {
				attrs = append(attrs, fmt.Sprintf("weight=%d;rweight=%d", w, w))
			}
			s := startBalancer(t, p.listFile(attrs...), alg(c.alg))
			mustSucceed(t, lbCall(t, s, c.calls, 100), c.calls)
			got := p.stop()
			for i, n := range got {
				want := c.calls * weights[i] / 100
				if d := n - want; d > c.slack(want, c.calls) || -d > c.slack(want, c.calls) {
					t.Errorf("UAS %d (weight %d) got %d calls, want %d ± %d (all: %v)", i, weights[i], n, want, c.slack(want, c.calls), got)
				}
			}
			t.Logf("alg %d, weights %v: %v", c.alg, weights, got)
		})
	}
}

// TestLoadBalancerHashFromToRURI: algorithms 1, 2 and 3 hash the From
// URI, the To URI and the R-URI user. sipp's stock uac sends every call
// of a run from the same From (its port is in it) to the same user (-s),
// so each run lands on one UAS; the runs differ in that From or user.
func TestLoadBalancerHashFromToRURI(t *testing.T) {
	for _, c := range []struct {
		alg  int
		runs [][]string // extra uac options of each run
	}{
		{1, [][]string{nil, nil, nil}}, // a new uac port each run: a new From
		{2, [][]string{{"-s", "alice"}, {"-s", "bob"}, {"-s", "carol"}}},
		{3, [][]string{{"-s", "alice"}, {"-s", "bob"}, {"-s", "carol"}}},
	} {
		t.Run(fmt.Sprintf("alg%d", c.alg), func(t *testing.T) {
			p := newPool(t, 3)
			s := startBalancer(t, p.listFile(), alg(c.alg))
			const calls = 30
			for i, extra := range c.runs {
				if i > 0 {
					p.start()
				}
				mustSucceed(t, lbCall(t, s, calls, 100, extra...), calls)
				got := p.stop()
				hit := 0
				for _, n := range got {
					if n == calls {
						hit++
					} else if n != 0 {
						hit = -1
						break
					}
				}
				if hit != 1 {
					t.Errorf("run %d %v: calls per UAS %v, want all %d on one", i, extra, got, calls)
				}
			}
		})
	}
}

// TestLoadBalancerHashCallID: algorithm 0 hashes the Call-ID. Two uac
// runs send the same Call-IDs (-cid_str with the call number): every
// Call-ID reaches the same UAS in both runs, and the calls spread over
// more than one UAS.
func TestLoadBalancerHashCallID(t *testing.T) {
	p := newPool(t, 3)
	s := startBalancer(t, p.listFile(), alg(0))
	const calls = 60
	var runs []map[string]int // Call-ID -> UAS
	for i := range 2 {
		if i > 0 {
			p.start()
		}
		mustSucceed(t, lbCall(t, s, calls, 100, "-cid_str", "lb-%u@kemi.test"), calls)
		got := p.stop()
		where := map[string]int{}
		for u, r := range p.runs {
			for id := range r.callIDs(t, "") {
				if prev, dup := where[id]; dup {
					t.Errorf("run %d: Call-ID %s reached UAS %d and %d", i, id, prev, u)
				}
				where[id] = u
			}
		}
		if len(where) != calls {
			t.Fatalf("run %d: the UASs saw %d Call-IDs, want %d (calls per UAS %v)", i, len(where), calls, got)
		}
		used := 0
		for _, n := range got {
			if n > 0 {
				used++
			}
		}
		if used < 2 {
			t.Errorf("run %d: calls per UAS %v: the Call-ID hash does not spread", i, got)
		}
		runs = append(runs, where)
	}
	for id, u := range runs[0] {
		if v, ok := runs[1][id]; !ok || v != u {
			t.Errorf("Call-ID %s: UAS %d in the first run, %d (present %v) in the second", id, u, v, ok)
		}
	}
}

// TestLoadBalancerFailover: round robin over three UASs; one of them
// stops a second into the run. The calls sent to it after that get no
// answer: tm's fr_timer (3 s) ends the branch with 408, the failure
// route marks the UAS down and relays to the next one; so do the calls
// it was ringing (fr_inv_timer, 5 s). Every call succeeds but those
// whose BYE the stopped UAS would have answered, and the other two UASs
// take the rest.
func TestLoadBalancerFailover(t *testing.T) {
	p := newPool(t, 3)
	s := startBalancer(t, p.listFile(), alg(4))
	const calls, rate = 300, 50
	stopped := make(chan struct{})
	// the stop runs aside: the uac run holds this goroutine until it ends
	time.AfterFunc(time.Second+200*time.Millisecond, func() {
		p.runs[1].sipp.Stop()
		close(stopped)
	})
	r := lbCall(t, s, calls, rate)
	<-stopped
	got := p.stop()
	// the calls between ACK and BYE at the stopped UAS (100 ms of each
	// call; about 17 calls/s go to it) fail: their BYE gets 408
	if r.Failed > 5 || r.Successful+r.Failed != calls {
		t.Errorf("uac: %d succeeded, %d failed of %d; want at most 5 failed\n%s", r.Successful, r.Failed, calls, r.Output)
	}
	// the stopped UAS had a third of the calls of its first second
	if got[1] > 30 || got[1] == 0 {
		t.Errorf("the stopped UAS got %d calls, want its share of the calls before it stopped (all: %v)", got[1], got)
	}
	// every call the stopped UAS did not take went to the others (a call
	// it was ringing went to both)
	if got[0]+got[2] < calls-got[1] || got[0] < calls/3 || got[2] < calls/3 {
		t.Errorf("the two live UASs got %d and %d calls, want the rest of %d (all: %v)", got[0], got[2], calls, got)
	}
	t.Logf("calls per UAS %v, uac %d ok %d failed", got, r.Successful, r.Failed)
}

// TestLoadBalancerLocalAnswers: what the balancer answers itself, with a
// set whose only server is inactive (flags 1 in the list) and with a set
// that does not exist.
func TestLoadBalancerLocalAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte("2 sip:127.0.0.1:9 1 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, set := range []string{"2", "7"} {
		s := startBalancer(t, path, map[string]string{"LB_SET": set})
		host, port, _ := strings.Cut(s.UDP(), ":")
		lb := sip.Uri{Scheme: "sip", Host: host, Port: atoi(t, port)}
		pbx := sip.Uri{Scheme: "sip", User: "pbx", Host: "example.com"}
		for _, c := range []struct {
			name   string
			uri    sip.Uri
			maxFwd string
			want   int
		}{
			{"keepalive to the balancer", lb, "70", 200},
			{"no usable server in set " + set, pbx, "70", 503},
			{"Max-Forwards 0", pbx, "0", 483},
		} {
			req := sip.NewRequest(sip.OPTIONS, c.uri)
			req.AppendHeader(sip.NewHeader("Max-Forwards", c.maxFwd))
			if got := optionsStatus(t, s.UDP(), req); got != c.want {
				t.Errorf("set %s, %s: %d, want %d", set, c.name, got, c.want)
			}
		}
	}
}

// optionsStatus sends req to addr over UDP and returns the status of the
// final reply.
func optionsStatus(t *testing.T, addr string, req *sip.Request) int {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("lb-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	req.SetDestination(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Recipient.String(), err)
	}
	return res.StatusCode
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoadBalancerSampleConfig: `kemi check` accepts the script with the
// sample kemi.toml and dispatcher.list (run from the repository root, as
// their comments say).
func TestLoadBalancerSampleConfig(t *testing.T) {
	cmd := exec.Command(kemiBinary(t), "check", "--config", "scripts/testdata/loadbalancer.toml")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "loadbalancer.lua: ok") {
		t.Fatalf("kemi check: %v\n%s", err, out)
	}
}

// TestLoadBalancerPoolAnswersOptions: the pool scenario of the health
// checks (testdata/uas_options.xml) takes calls as uas_rr.xml does and
// answers OPTIONS; an OPTIONS to a user (not a keepalive for the
// balancer) is balanced like a call.
func TestLoadBalancerPoolAnswersOptions(t *testing.T) {
	p := newPoolWith(t, 3, "testdata/uas_options.xml")
	s := startBalancer(t, p.listFile(), alg(4))
	const calls = 30
	mustSucceed(t, lbCall(t, s, calls, 100), calls)
	for i := range 3 {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "pbx", Host: "example.com"})
		if got := optionsStatus(t, s.UDP(), req); got != 200 {
			t.Errorf("OPTIONS %d through the balancer: %d, want the UAS's 200", i, got)
		}
	}
	// sipp counts each OPTIONS as a call
	for i, n := range p.stop() {
		if n != calls/3+1 {
			t.Errorf("UAS %d: %d calls, want %d and one OPTIONS", i, n, calls/3)
		}
	}
}

// invites returns how many calls reached the UAS: the distinct Call-IDs
// of the INVITEs it received. sipp's own call count takes in the health
// checks' OPTIONS, and an INVITE retransmitted by tm is one call.
func (r *uasRun) invites(t *testing.T) int {
	t.Helper()
	return len(r.callIDs(t, "INVITE"))
}

// waitFor polls cond every 50 ms until it holds or timeout passes, and
// returns how long it took and whether it held.
func waitFor(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoadBalancerHealthChecks: the dispatcher probes the pool
// (testdata/uas_options.xml answers OPTIONS) every second, all of it
// (ds_probing_mode 1); two failed probes take a server out of rotation
// and two answers bring it back. One UAS stops, with no call on it, and
// calls start at once: the probes take it out within ds_ping_interval ×
// ds_probing_threshold plus the round under way, before any call sent to
// it meanwhile times out (tm's fr_timer is 8 s here, so the failure
// route's ds_mark_dst comes too late to be what took it out); those
// calls then fail over and every call succeeds. Once it is out, calls go
// to the other two without trying it. A fresh UAS on its port comes back
// within ds_inactive_threshold rounds and takes its third of the calls
// again. Calls per UAS are the INVITEs each one logged, as sipp counts
// the OPTIONS as calls too; the script's WITH_DEBUG log tells where each
// request was relayed.
func TestLoadBalancerHealthChecks(t *testing.T) {
	const (
		interval          = time.Second
		probingThreshold  = 2
		inactiveThreshold = 2
		// room for a round under way, a probe's timeout and a loaded
		// machine
		slack = 3 * time.Second
	)
	p := newPoolWith(t, 3, "testdata/uas_options.xml")
	defines := alg(4)
	defines["WITH_DEBUG"] = "1"
	s := startBalancerWith(t, p.listFile(), defines, map[string]any{
		"ds_ping_interval":      int(interval / time.Second),
		"ds_probing_mode":       1,
		"ds_probing_threshold":  probingThreshold,
		"ds_inactive_threshold": inactiveThreshold,
		"ds_ping_timeout":       900,
	}, map[string]any{"fr_timer": 8000, "fr_inv_timer": 10000})
	// scrape reads a series; -1 when it or the page is missing (it runs
	// aside the test goroutine too, where the test cannot be stopped)
	scrape := func(series string) float64 {
		res, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
		if err != nil {
			return -1
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return enginetest.MetricValue(string(b), series)
	}
	gauge := func(state string) float64 {
		return scrape(`kemi_dispatcher_destinations{state="` + state + `"}`)
	}
	inRotation := func() float64 { return gauge("active") + gauge("trying") }
	failedProbes := func() float64 { return scrape(`kemi_dispatcher_probes_total{result="failed"}`) }

	// the pool answers its probes
	if v := s.WaitMetric(`kemi_dispatcher_probes_total{result="ok"}`, 3, 5*time.Second); v < 3 {
		t.Fatalf("answered probes: %v, want the three UASs' after a round", v)
	}
	const calls = 30
	mustSucceed(t, lbCall(t, s, calls, 30), calls)

	// the stopped UAS leaves rotation by the probes while calls run
	failedBefore := failedProbes()
	stopped := p.runs[1]
	stopped.sipp.Stop()
	type out struct {
		took time.Duration
		ok   bool
		logs string // the engine's log when it was out
	}
	left := make(chan out, 1)
	go func() {
		took, ok := waitFor(interval*probingThreshold+slack, func() bool { return gauge("inactive") == 1 && inRotation() == 2 })
		left <- out{took, ok, s.Logs()}
	}()
	mark := len(s.Logs())
	const duringCalls = 90
	mustSucceed(t, lbCall(t, s, duringCalls, 30), duringCalls)
	o := <-left
	if !o.ok {
		t.Fatalf("the stopped UAS still in rotation after %v: active %v, trying %v, inactive %v", o.took,
			gauge("active"), gauge("trying"), gauge("inactive"))
	}
	if f := failedProbes() - failedBefore; f < probingThreshold {
		t.Errorf("%v failed probes took the UAS out, want at least %d", f, probingThreshold)
	}
	if n := strings.Count(o.logs[mark:], `msg="server sip:`); n != 0 {
		t.Errorf("the failure route had marked %d servers down before the UAS was out: not the probes' doing", n)
	}
	phase := s.Logs()[mark:]
	relayed, failovers := relays(phase, p.ports), strings.Count(phase, `msg="failover to sip:`)
	// a call tried on the stopped UAS failed over to one of the others
	if failovers != relayed[1] || relayed[0]+relayed[2] != duringCalls {
		t.Errorf("relays while UAS 1 left: %v with %d failovers, want the %d calls on UAS 0 and 2 and a failover for each one tried on UAS 1",
			relayed, failovers, duringCalls)
	}
	t.Logf("out of rotation %v after the stop (ping interval %v × threshold %d); %d calls tried on it meanwhile failed over",
		o.took.Round(10*time.Millisecond), interval, probingThreshold, failovers)

	// calls go to the two others, none tried on the stopped one: the
	// script logs (WITH_DEBUG) each server it relays to
	const outCalls = 60
	mark = len(s.Logs())
	mustSucceed(t, lbCall(t, s, outCalls, 30), outCalls)
	relayed = relays(s.Logs()[mark:], p.ports)
	if relayed[1] != 0 || relayed[0]+relayed[2] != outCalls {
		t.Errorf("relays to the UASs while UAS 1 was out: %v, want %d to UAS 0 and 2 and none to UAS 1", relayed, outCalls)
	}

	// a fresh UAS on its port comes back
	p.restart(1)
	took, ok := waitFor(interval*inactiveThreshold+slack, func() bool { return gauge("inactive") == 0 && inRotation() == 3 })
	if !ok {
		t.Fatalf("the restarted UAS not back in rotation after %v: active %v, trying %v, inactive %v", took,
			gauge("active"), gauge("trying"), gauge("inactive"))
	}
	t.Logf("back in rotation %v after the restart (inactive threshold %d)", took.Round(10*time.Millisecond), inactiveThreshold)
	mustSucceed(t, lbCall(t, s, calls, 30), calls)

	got := p.stop()
	inv := []int{p.runs[0].invites(t), stopped.invites(t), p.runs[1].invites(t), p.runs[2].invites(t)}
	t.Logf("INVITEs: UAS 0 %d, UAS 1 %d before its stop and %d after its restart, UAS 2 %d (sipp calls with OPTIONS: %v)",
		inv[0], inv[1], inv[2], inv[3], got)
	// round robin over three: a third of the first and last runs each
	if inv[1] != calls/3 || inv[2] != calls/3 {
		t.Errorf("UAS 1 got %d INVITEs before its stop and %d after its restart, want %d each", inv[1], inv[2], calls/3)
	}
	// the two that stayed took the rest, each its part of the calls in between
	both := 2*calls*2/3 + duringCalls + outCalls
	if inv[0]+inv[3] != both || inv[0] <= 2*calls/3 || inv[3] <= 2*calls/3 {
		t.Errorf("UAS 0 and 2 got %d and %d INVITEs, want %d together and a share of the calls without UAS 1 each",
			inv[0], inv[3], both)
	}
}

// relays counts the requests loadbalancer.lua (WITH_DEBUG) logged it
// relayed to each port, first tries and failovers alike.
func relays(logs string, ports []int) []int {
	n := make([]int, len(ports))
	for i, port := range ports {
		// msg="to sip:..." and msg="failover to sip:..."
		n[i] = strings.Count(logs, fmt.Sprintf(`to sip:127.0.0.1:%d"`, port))
	}
	return n
}
