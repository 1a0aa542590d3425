package engine_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// Every route is run by the engine's one route runner: a Lua error in any
// of them is counted under the route's function name, logged once at
// error level with file:line, the route name and a traceback that names
// the route function, and the route's run is counted and timed.

// wantRouteError checks what one Lua error in route left: the run and the
// error counted under route, and one error log with where (file:line),
// the route name and a traceback naming route.
func wantRouteError(t *testing.T, s *enginetest.Server, route, where string) {
	t.Helper()
	if v := s.WaitMetric(`kemi_script_errors_total{route="`+route+`"}`, 1, 3*time.Second); v != 1 {
		t.Errorf("kemi_script_errors_total{route=%q} = %v, want 1", route, v)
	}
	if v := s.Metric(`kemi_script_route_runs_total{route="` + route + `"}`); v < 1 {
		t.Errorf("kemi_script_route_runs_total{route=%q} = %v, want at least 1", route, v)
	}
	if v := s.Metric(`kemi_script_route_duration_seconds_count{route="` + route + `"}`); v < 1 {
		t.Errorf("kemi_script_route_duration_seconds_count{route=%q} = %v, want at least 1", route, v)
	}
	var errLogs []string
	for _, line := range strings.Split(s.Logs(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, where) {
			errLogs = append(errLogs, line)
		}
	}
	if len(errLogs) != 1 {
		t.Fatalf("%d error logs mention %s, want 1:\n%s", len(errLogs), where, s.Logs())
	}
	line := errLogs[0]
	for _, want := range []string{"error from Lua: " + where, "route=" + route, "traceback=", "in function '" + route + "'"} {
		if !strings.Contains(line, want) {
			t.Errorf("error log lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "main chunk") {
		t.Errorf("the traceback names the main chunk, not the route:\n%s", line)
	}
}

// reply builds a reply to the request text req, with a To tag.
func reply(req string, code int, reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "via", "from", "call-id", "cseq":
			b.WriteString(line + "\r\n")
		case "to":
			b.WriteString(line + ";tag=uas-1\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func TestBranchRouteErrorIsCounted(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.pv.sets("$ru", "sip:bob@127.0.0.1:%d")
	KSR.tm.t_on_branch("ksr_branch_bad")
	KSR.tm.t_relay()
end
function ksr_branch_bad()
	local t = nil
	return t.x -- line 9
end`, uas.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:bob@example.com", "branch-err"))
	wantRouteError(t, s, "ksr_branch_bad", "test.lua:9:")
}

func TestOnsendRouteErrorIsCounted(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.forward_uri("sip:127.0.0.1:%d")
end
function ksr_onsend_route()
	error("onsend failed") -- line 6
end`, uas.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:bob@example.com", "onsend-err"))
	wantRouteError(t, s, "ksr_onsend_route", "test.lua:6:")
	if got := uas.recv(2 * time.Second); !strings.Contains(got, "Call-ID: onsend-err") {
		t.Errorf("the request was not forwarded after the onsend route failed: %q", got)
	}
}

func TestFailureRouteErrorIsCounted(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.pv.sets("$ru", "sip:bob@127.0.0.1:%d")
	KSR.tm.t_on_failure("ksr_failure_bad")
	KSR.tm.t_relay()
end
function ksr_failure_bad()
	local n = nil
	n = n + 1 -- line 9
end`, uas.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:bob@example.com", "failure-err"))
	req := uas.recv(2 * time.Second)
	if req == "" {
		t.Fatal("the request did not reach the UAS")
	}
	uas.send(s.UDP(), reply(req, 486, "Busy Here"))
	wantRouteError(t, s, "ksr_failure_bad", "test.lua:9:")
	if got := p.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 486") {
		t.Errorf("caller got %q, want the 486 relayed after the failure route failed", got)
	}
}

func TestOnreplyRouteErrorIsCounted(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.pv.sets("$ru", "sip:bob@127.0.0.1:%d")
	KSR.tm.t_on_reply("ksr_onreply_bad")
	KSR.tm.t_relay()
end
function ksr_onreply_bad()
	error({}) -- line 8: an error that is no string
end`, uas.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:bob@example.com", "onreply-err"))
	req := uas.recv(2 * time.Second)
	if req == "" {
		t.Fatal("the request did not reach the UAS")
	}
	uas.send(s.UDP(), reply(req, 200, "OK"))
	if got := p.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("caller got %q, want the 200", got)
	}
	if v := s.WaitMetric(`kemi_script_errors_total{route="ksr_onreply_bad"}`, 1, 3*time.Second); v != 1 {
		t.Errorf("onreply route errors = %v, want 1", v)
	}
}

func TestSubRouteErrorIsCountedUnderItsName(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	local rc = KSR.route("ksr_sub_bad")
	KSR.sl.sl_send_reply(200, "sub gave " .. rc)
end
function ksr_sub_bad()
	local t = nil
	t.y = 2 -- line 8
end`)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "sub-err"))
	if got := p.recv(2 * time.Second); !strings.HasPrefix(got, "SIP/2.0 200 sub gave -1") {
		t.Fatalf("reply %q: the request route must go on after the sub-route failed", got)
	}
	wantRouteError(t, s, "ksr_sub_bad", "test.lua:8:")
	if v := s.Metric(`kemi_script_errors_total{route="ksr_request_route"}`); v > 0 {
		t.Errorf("the caller's route was counted as failed too: %v", v)
	}
	// the traceback goes through the caller, named as well
	if !regexp.MustCompile(`traceback=.*in function 'ksr_sub_bad'.*in function 'ksr_request_route'`).MatchString(s.Logs()) {
		t.Errorf("traceback does not name the sub-route and its caller:\n%s", s.Logs())
	}
}

// enginetest-eventerr runs a failing script event once in its extra
// process.
func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-eventerr", New: func() kemi.Module {
		return &eventModule{proc: "eventerr", callback: "ksr_event_bad", event: "eventerr:fire", events: make(chan error, 1)}
	}})
}

func TestEventRouteErrorInExtraProcessIsCounted(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route() end
function ksr_event_bad(ev)
	error("event " .. ev .. " failed") -- line 4
end`, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "enginetest-eventerr"}
	}))
	wantRouteError(t, s, "ksr_event_bad", "test.lua:4:")
}

func TestStartSetsSipgoTimers(t *testing.T) {
	enginetest.Start(t, answerScript)
	// tm answers 100 Trying itself, and ends the Accepted state at once
	if sip.Timer_1xx < 24*time.Hour || sip.Timer_L > 10*time.Millisecond || sip.Timer_M > 10*time.Millisecond {
		t.Errorf("after Start: Timer_1xx %v, Timer_L %v, Timer_M %v", sip.Timer_1xx, sip.Timer_L, sip.Timer_M)
	}
}

// TestSubRouteStopIsReportedOnce: a limit that stops a sub-route run with
// KSR.route stops its caller too (the limit holds for the whole run), and
// the stop is reported once: one error log, at the line where the
// sub-route was when it was stopped, with a traceback through its
// caller, counted under the sub-route. The caller, which ends by the same
// stop, was logged and counted a second time, at a line (the one after
// KSR.route) that neither spent the time nor built the strings.
func TestSubRouteStopIsReportedOnce(t *testing.T) {
	for _, tc := range []struct {
		name, body, words, timeouts string
		cfg                         func(*engine.Config)
	}{
		{"time", "while true do end", "stopped: ran longer than", "1",
			func(c *engine.Config) { c.RouteTimeout = 100 * time.Millisecond }},
		{"memory", `local s = "" while true do s = s .. string.rep("y", 1000000) end`, "of strings: stopped", "0",
			func(c *engine.Config) { c.RouteMemoryLimit = 8 << 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := enginetest.Start(t, `
function ksr_request_route()
	KSR.route("ksr_spin")
	KSR.sl.sl_send_reply(200, "not reached")
end
function ksr_spin()
	`+tc.body+` -- line 7
end`, enginetest.WithConfig(tc.cfg))
			p := newPeer(t)
			p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "spin-"+tc.name))
			wantRouteError(t, s, "ksr_spin", "test.lua:7:")
			if !strings.Contains(s.Logs(), tc.words) || !regexp.MustCompile(`traceback=.*in function 'ksr_spin'.*in function 'ksr_request_route'`).MatchString(s.Logs()) {
				t.Errorf("the stop is not reported with its cause and a traceback through the caller:\n%s", s.Logs())
			}
			for series, want := range map[string]string{
				`kemi_script_timeouts_total{route="ksr_spin"}`:            tc.timeouts,
				`kemi_script_errors_total{route="ksr_request_route"}`:     "0",
				`kemi_script_timeouts_total{route="ksr_request_route"}`:   "0",
				`kemi_script_route_runs_total{route="ksr_request_route"}`: "1",
			} {
				if v := fmt.Sprint(s.Metric(series)); v != want {
					t.Errorf("%s = %s, want %s", series, v, want)
				}
			}
			if n := strings.Count(s.Logs(), "level=ERROR"); n != 1 {
				t.Errorf("%d error logs for one stop, want 1:\n%s", n, s.Logs())
			}
			if got := p.recv(200 * time.Millisecond); got != "" {
				t.Errorf("the stopped route replied: %q", got)
			}
		})
	}
}
