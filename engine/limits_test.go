package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// hostileScript does, by Call-ID, what a broken or hostile route does.
const hostileScript = `
function ksr_request_route()
	local ci = KSR.pv.get("$ci")
	if ci == "loop" then
		while true do end
	elseif ci == "find" then
		string.find(string.rep("a", 3000), ".-.-.-.-.-b")
	elseif ci == "rep" then
		local t = {}
		for i = 1, 1e9 do t[#t + 1] = string.rep("x", 1048576) end
	elseif ci == "double" then
		local s = "x"
		while true do s = s .. s end
	elseif ci == "passwd" then
		KSR.sl.sl_send_reply(200, io.open("/etc/passwd"):read("*a"))
	elseif ci == "passwd-pcall" then
		local ok = pcall(function() return io.open("/etc/passwd"):read("*a") end)
		KSR.sl.sl_send_reply(500, ok and "read" or "refused")
	end
	KSR.sl.sl_send_reply(200, "OK")
end`

// TestDefaultLimitsStopHostileRoutes: with no limit in the config, a
// looping route, a backtracking string.find and a route building strings
// without end are stopped (1s, 64 MiB), counted, and the workers serve on.
func TestDefaultLimitsStopHostileRoutes(t *testing.T) {
	s := enginetest.Start(t, hostileScript)
	p := newPeer(t)
	for _, ci := range []string{"loop", "find"} {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", ci))
	}
	if v := s.WaitMetric(`kemi_script_timeouts_total{route="ksr_request_route"}`, 2, 20*time.Second); v != 2 {
		t.Fatalf("timeouts = %v, want 2\n%s", v, s.Logs())
	}
	if logs := s.Logs(); !strings.Contains(logs, "test.lua:5: route ksr_request_route stopped: ran longer than 1s") {
		t.Errorf("logs lack the timeout of the loop:\n%s", logs)
	}
	servesOn(t, s, p)

	// The memory bound on an engine whose time bound is far away: on a
	// slow machine under -race, building 64 MiB can take longer than the
	// default second, and the route would stop for time, not memory.
	s = enginetest.Start(t, hostileScript, enginetest.WithConfig(func(c *engine.Config) { c.RouteTimeout = time.Minute }))
	for _, ci := range []string{"rep", "double"} {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", ci))
	}
	if v := s.WaitMetric(`kemi_script_errors_total{route="ksr_request_route"}`, 2, 60*time.Second); v != 2 {
		t.Fatalf("errors = %v, want 2\n%s", v, s.Logs())
	}
	if logs := s.Logs(); strings.Count(logs, "route ksr_request_route built more than 64 MiB of strings: stopped") != 2 {
		t.Errorf("logs lack two stops for memory:\n%s", logs)
	}
	servesOn(t, s, p)
}

// servesOn checks that both workers still answer after their routes were
// stopped.
func servesOn(t *testing.T, s *enginetest.Server, p *udpPeer) {
	t.Helper()
	for i := 0; i < 4; i++ {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", fmt.Sprintf("after-%d", i)))
		if res := p.recv(5 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 OK") {
			t.Fatalf("reply after the stops = %q", res)
		}
	}
}

// TestScriptReadingAFileIsRefused: the route that read /etc/passwd into a
// SIP reply fails with an error that names the setting.
func TestScriptReadingAFileIsRefused(t *testing.T) {
	s := enginetest.Start(t, hostileScript)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "passwd-pcall"))
	if res := p.recv(5 * time.Second); !strings.HasPrefix(res, "SIP/2.0 500 refused") {
		t.Fatalf("reply = %q", res)
	}
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "passwd"))
	if v := s.WaitMetric(`kemi_script_errors_total{route="ksr_request_route"}`, 1, 5*time.Second); v != 1 {
		t.Fatalf("errors = %v, want 1", v)
	}
	if res := p.recv(200 * time.Millisecond); strings.Contains(res, "root:") {
		t.Fatalf("/etc/passwd was sent: %q", res)
	}
	want := "test.lua:15: io.open is disabled in kemi: scripts get no file access; set allow_unsafe_lua = true in [core] to allow it"
	if logs := s.Logs(); !strings.Contains(logs, want) {
		t.Errorf("logs lack %q:\n%s", want, logs)
	}
}
