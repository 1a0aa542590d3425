package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// slowModule offers KSR.slowtest.sleep(ms), a KSR call that takes as long
// as asked, for the latency limits.
type slowModule struct{}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "slowtest", New: func() kemi.Module { return slowModule{} }})
}

func (slowModule) Exports() []kemi.Export {
	return []kemi.Export{{Module: "slowtest", Name: "sleep", Params: kemi.I, Return: kemi.ReturnInt,
		Func: func(_ *kemi.Msg, a kemi.Args) kemi.Value {
			time.Sleep(time.Duration(a.Int(0)) * time.Millisecond)
			return kemi.OK
		}}}
}

// traceScript's KSR calls are on known lines of test.lua.
const traceScript = `function ksr_request_route()
	KSR.dbg("routing " .. KSR.pv.get("$rm"))
	if KSR.slowtest then KSR.slowtest.sleep(KSR.pv.get("$hdr(X-Sleep)") or 0) end
	KSR.sl.sl_send_reply(200, "Traced")
	KSR.x.exit()
end
`

// traceModules are the modules of the tracing tests' engines.
func traceModules(c *engine.Config) { c.Modules = []string{"core", "sl", "slowtest"} }

// linesOf returns the log lines that mention the Call-ID.
func linesOf(logs, callID string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "callid="+callID) {
			out = append(out, l)
		}
	}
	return out
}

// waitLine waits until a log line holds every part; it returns it, or "".
func waitLine(s *enginetest.Server, parts ...string) string {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
	lines:
		for _, l := range strings.Split(s.Logs(), "\n") {
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue lines
				}
			}
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}

// TestTraceLogsEveryCall routes one OPTIONS with tracing on: each KSR
// call is one line with file:line, arguments, result and the Call-ID,
// between the route's start and end; then tracing goes off at run time.
func TestTraceLogsEveryCall(t *testing.T) {
	s := enginetest.Start(t, traceScript, enginetest.WithConfig(traceModules), enginetest.WithConfig(func(c *engine.Config) { c.Trace = true }))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "trace-on"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Traced") {
		t.Fatalf("reply = %q", res)
	}
	if waitLine(s, "route ksr_request_route ends", "callid=trace-on") == "" {
		t.Fatalf("no end of route traced:\n%s", s.Logs())
	}
	want := []struct{ msg, at string }{
		{`msg="trace: route ksr_request_route starts"`, ""},
		{`msg="trace: KSR.pv.get(\"$rm\") = \"OPTIONS\""`, "at=test.lua:2"},
		{`msg="routing OPTIONS"`, ""}, // KSR.dbg's own line carries the Call-ID
		{`msg="trace: KSR.dbg(\"routing OPTIONS\")"`, "at=test.lua:2"},
		{`msg="trace: KSR.pv.get(\"$hdr(X-Sleep)\") = nil"`, "at=test.lua:3"},
		{`msg="trace: KSR.slowtest.sleep(0) = 1"`, "at=test.lua:3"},
		{`msg="trace: KSR.sl.sl_send_reply(200, \"Traced\") = 1"`, "at=test.lua:4"},
		{`msg="trace: KSR.x.exit()"`, "at=test.lua:5"},
		{`msg="trace: route ksr_request_route ends"`, "exit=true"},
	}
	lines := linesOf(s.Logs(), "trace-on")
	if len(lines) != len(want) {
		t.Fatalf("%d lines with the Call-ID, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w.msg) || !strings.Contains(lines[i], w.at) {
			t.Errorf("line %d = %s\nwant %s %s", i+1, lines[i], w.msg, w.at)
		}
		if strings.HasPrefix(w.msg, `msg="trace: KSR.`) && (!strings.Contains(lines[i], "route=ksr_request_route") || !strings.Contains(lines[i], "took=")) {
			t.Errorf("line %d lacks the route or the time: %s", i+1, lines[i])
		}
	}

	s.Engine.SetTrace(false)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "trace-off"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Traced") {
		t.Fatalf("reply = %q", res)
	}
	if waitLine(s, `msg="routing OPTIONS"`, "callid=trace-off") == "" {
		t.Fatalf("KSR.dbg line without its Call-ID:\n%s", s.Logs())
	}
	if l := linesOf(s.Logs(), "trace-off"); len(l) != 1 {
		t.Errorf("tracing off, still %d lines:\n%s", len(l), strings.Join(l, "\n"))
	}
}

// TestLatencyLimits checks the alerts of a slow KSR call
// (latency_limit_action) and of a slow route with its slowest call
// (latency_limit), with tracing off.
func TestLatencyLimits(t *testing.T) {
	s := enginetest.Start(t, traceScript, enginetest.WithConfig(traceModules), enginetest.WithConfig(func(c *engine.Config) {
		c.LatencyLimit = 30 * time.Millisecond
		c.LatencyLimitAction = 20 * time.Millisecond
	}))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "fast"))
	p.recv(2 * time.Second)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "slow", "X-Sleep: 40\r\n"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Traced") {
		t.Fatalf("reply = %q", res)
	}
	route := waitLine(s, "alert - route ksr_request_route took too long", "callid=slow")
	if route == "" {
		t.Fatalf("no route latency alert:\n%s", s.Logs())
	}
	for _, want := range []string{"level=WARN", `slowest="KSR.slowtest.sleep(40) = 1"`, "slowest_at=test.lua:3", "limit=30ms"} {
		if !strings.Contains(route, want) {
			t.Errorf("route alert lacks %s: %s", want, route)
		}
	}
	action := waitLine(s, `alert - action KSR.slowtest.sleep(...) took too long`, "callid=slow")
	if action == "" || !strings.Contains(action, "at=test.lua:3") || !strings.Contains(action, "route=ksr_request_route") {
		t.Fatalf("no action latency alert with its place: %q\n%s", action, s.Logs())
	}
	for _, l := range linesOf(s.Logs(), "fast") {
		if strings.Contains(l, "alert") || strings.Contains(l, "trace:") {
			t.Errorf("a fast route was reported: %s", l)
		}
	}
	if l := linesOf(s.Logs(), "slow"); len(l) != 3 { // KSR.dbg, two alerts
		t.Errorf("%d lines for the slow call, want 3 (no trace lines):\n%s", len(l), strings.Join(l, "\n"))
	}
}

// TestTraceSkipsMissingRoutes: a reply runs ksr_reply_route, which
// traceScript lacks; tracing logs no start or end of it.
func TestTraceSkipsMissingRoutes(t *testing.T) {
	s := enginetest.Start(t, traceScript, enginetest.WithConfig(traceModules), enginetest.WithConfig(func(c *engine.Config) { c.Trace = true }))
	p := newPeer(t)
	p.send(s.UDP(), fmt.Sprintf("SIP/2.0 200 OK\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKstray\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a1\r\n"+
		"To: <sip:kemi@127.0.0.1>;tag=b1\r\n"+
		"Call-ID: trace-noroute\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", p.port()))
	// the request of the same Call-ID is routed after the reply
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "trace-noroute"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Traced") {
		t.Fatalf("reply = %q", res)
	}
	if waitLine(s, "route ksr_request_route ends", "callid=trace-noroute") == "" {
		t.Fatalf("no end of route traced:\n%s", s.Logs())
	}
	if strings.Contains(s.Logs(), "route ksr_reply_route") {
		t.Errorf("the missing reply route is traced:\n%s", s.Logs())
	}
}
