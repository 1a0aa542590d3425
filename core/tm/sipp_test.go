package tm_test

// End-to-end tests with sipp peers through scripts/proxy.lua; the
// scenarios are in examples/sipp. They skip when sipp is not installed.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

const scenarios = "../../examples/sipp/"

// sippProxy starts kemi with scripts/proxy.lua and the defines.
func sippProxy(t *testing.T, defines map[string]string, tmParams map[string]any) *enginetest.Server {
	t.Helper()
	enginetest.SippPath(t)
	src, err := os.ReadFile("../../scripts/proxy.lua")
	if err != nil {
		t.Fatal(err)
	}
	opts := []enginetest.Option{enginetest.WithConfig(func(c *engine.Config) {
		c.ScriptPath = "proxy.lua"
		c.Defines = defines
	})}
	if tmParams != nil {
		opts = append(opts, enginetest.WithParams("tm", tmParams))
	}
	return enginetest.Start(t, string(src), opts...)
}

// uas starts a sipp UAS with a scenario file on a free port and returns
// its SIP URI.
func uas(t *testing.T, scenario string) string {
	t.Helper()
	port := enginetest.FreeUDPPort(t)
	enginetest.StartSipp(t, "-sf", scenarios+scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-default_behaviors", "all,-abortunexp")
	return fmt.Sprintf("sip:127.0.0.1:%d", port)
}

// uac runs a sipp UAC with a scenario file to the proxy and checks every
// call succeeded.
func uac(t *testing.T, s *enginetest.Server, scenario, service string, calls int, extra ...string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the UASs bind
	stat := filepath.Join(t.TempDir(), "uac.csv")
	args := []string{s.UDP(), "-sf", scenarios + scenario, "-s", service, "-i", "127.0.0.1",
		"-p", strconv.Itoa(enginetest.FreeUDPPort(t)), "-m", strconv.Itoa(calls), "-r", "10",
		"-timeout", "30s", "-default_behaviors", "all,-abortunexp", "-trace_stat", "-stf", stat}
	code, out := enginetest.RunSipp(t, 45*time.Second, append(args, extra...)...)
	csv, err := os.ReadFile(stat)
	if err != nil {
		t.Fatalf("sipp exit %d, no statistics: %v\n%s", code, err, out)
	}
	ok, _ := enginetest.SippStat(string(csv), "SuccessfulCall(C)")
	failed, _ := enginetest.SippStat(string(csv), "FailedCall(C)")
	if code != 0 || ok != calls || failed != 0 {
		t.Fatalf("sipp %s: exit %d, %d successful, %d failed of %d\n%s\nkemi log:\n%s", scenario, code, ok, failed, calls, out, lastLines(s.Logs(), 40))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestSippCallThroughRecordRoute: INVITE with Record-Route, ACK and BYE
// along the route set.
func TestSippCallThroughRecordRoute(t *testing.T) {
	callee := uas(t, "uas_rr.xml")
	s := sippProxy(t, map[string]string{"DST_bob": callee}, nil)
	uac(t, s, "uac_rr.xml", "bob", 5)
	if v := s.Metric(`kemi_rr_loose_routes_total{result="routed"}`); v < 10 {
		t.Errorf("in-dialog requests loose-routed: %v, want >= 10 (ACK and BYE of 5 calls)", v)
	}
}

// TestSippCancelRingingCall: the caller cancels; the callee gets a CANCEL
// and the caller a 487.
func TestSippCancelRingingCall(t *testing.T) {
	callee := uas(t, "uas_ring_cancel.xml")
	s := sippProxy(t, map[string]string{"DST_bob": callee}, nil)
	uac(t, s, "uac_cancel.xml", "bob", 3)
	if v := s.Metric(`kemi_tm_cancels_total`); v != 3 {
		t.Errorf("CANCELs sent downstream = %v, want 3", v)
	}
}

// TestSippBusyThenFailover: the first callee answers 486, the failure route
// sends the call to the second, who answers 200.
func TestSippBusyThenFailover(t *testing.T) {
	busy := uas(t, "uas_486.xml")
	alt := uas(t, "uas_rr.xml")
	s := sippProxy(t, map[string]string{"DST_bob": busy, "ALT_bob": alt}, nil)
	uac(t, s, "uac_rr.xml", "bob", 3)
	if v := s.Metric(`kemi_script_route_runs_total{route="ksr_failure_manage"}`); v != 3 {
		t.Errorf("failure route ran %v times, want 3", v)
	}
}

// TestSippNoAnswer408: nobody answers; fr_inv_timer gives the caller 408
// and the callee a CANCEL.
func TestSippNoAnswer408(t *testing.T) {
	callee := uas(t, "uas_ring_cancel.xml")
	s := sippProxy(t, map[string]string{"DST_bob": callee}, map[string]any{"fr_inv_timer": 1000})
	start := time.Now()
	uac(t, s, "uac_408.xml", "bob", 2)
	if el := time.Since(start); el < time.Second {
		t.Errorf("done in %v, before fr_inv_timer", el)
	}
}

// TestSippParallelFork: two destinations ring; the first 200 wins and the
// other branch is cancelled.
func TestSippParallelFork(t *testing.T) {
	winner := uas(t, "uas_rr.xml")
	loser := uas(t, "uas_ring_cancel.xml")
	s := sippProxy(t, map[string]string{"DST_bob": winner + " " + loser}, nil)
	uac(t, s, "uac_rr.xml", "bob", 3)
	if v := s.Metric(`kemi_tm_cancels_total`); v != 3 {
		t.Errorf("CANCELs to the losing branch = %v, want 3", v)
	}
}
