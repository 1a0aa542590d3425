package engine_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// The sipp tests run sipp's stock uac and uas scenarios with sipp's default
// behaviours: a message that arrives out of order (a 200 before its 180,
// an ACK after the BYE) fails the call, so they check that kemi keeps the
// order of one call's messages with several workers.

// checkCalls fails the test unless every call of a sipp run succeeded.
func checkCalls(t *testing.T, s *enginetest.Server, r enginetest.SippCalls, calls int) {
	t.Helper()
	if r.Exit != 0 || r.Successful != calls || r.Failed != 0 {
		t.Fatalf("sipp exit %d: %d successful, %d failed of %d\n%s", r.Exit, r.Successful, r.Failed, calls, r.Output)
	}
	if v := s.Metric(`kemi_core_requests_received_total{method="INVITE"}`); v < float64(calls) {
		t.Errorf("INVITEs counted %v, want >= %d", v, calls)
	}
}

// TestSippStatelessCalls runs sipp's uac through a stateless script that
// forwards to a fixed next hop (KSR.setdsturi + KSR.forward) to sipp's uas.
func TestSippStatelessCalls(t *testing.T) {
	enginetest.SippPath(t)
	uas := enginetest.StartStockUAS(t)
	s := enginetest.Start(t, fmt.Sprintf(`
local UAS = "sip:127.0.0.1:%d"
function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return
	end
	KSR.setdsturi(UAS)
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(500, "Forward failed")
	end
end
function ksr_reply_route() end
`, uas))
	const calls = 200
	checkCalls(t, s, enginetest.RunStockUAC(t, s.UDP(), uas, calls, 100), calls)
}

// TestSippStatelessOrder runs 1000 calls at 100 calls/s through the
// README's routing.lua with two workers: the uas's 180 and 200, sent back
// to back, and the uac's ACK and BYE must leave kemi in the order they
// came in, or sipp fails the call.
func TestSippStatelessOrder(t *testing.T) {
	enginetest.SippPath(t)
	script := readmeRoutingScript(t)
	uas := enginetest.StartStockUAS(t)
	s := enginetest.Start(t, script, enginetest.WithWorkers(2), enginetest.WithConfig(func(c *engine.Config) {
		c.ScriptPath = "routing.lua"
	}))
	const calls = 1000
	checkCalls(t, s, enginetest.RunStockUAC(t, s.UDP(), uas, calls, 100), calls)
}

// TestSippStatefulOrder is the same load through the transaction-stateful
// benchmark script (tm, record-route, failure route).
func TestSippStatefulOrder(t *testing.T) {
	enginetest.SippPath(t)
	script, err := os.ReadFile("../examples/bench/stateful.lua")
	if err != nil {
		t.Fatal(err)
	}
	uas := enginetest.StartStockUAS(t)
	s := enginetest.Start(t, string(script), enginetest.WithWorkers(2), enginetest.WithConfig(func(c *engine.Config) {
		c.ScriptPath = "stateful.lua"
		c.Defines = map[string]string{"BENCH_UAS_URI": fmt.Sprintf("sip:127.0.0.1:%d", uas)}
	}))
	const calls = 1000
	checkCalls(t, s, enginetest.RunStockUAC(t, s.UDP(), uas, calls, 100), calls)
}

// readmeRoutingScript returns the README's routing.lua: its first Lua
// code block.
func readmeRoutingScript(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```lua\n")
	if !ok {
		t.Fatal("README.md has no ```lua block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md: the first ```lua block does not end")
	}
	if !strings.Contains(block, "routing.lua") {
		t.Fatalf("README.md's first Lua block is not routing.lua:\n%s", block)
	}
	return block
}
