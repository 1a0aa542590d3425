package tm_test

// End-to-end tests with sipp peers through scripts/proxy.lua; the
// scenarios are in examples/sipp. They skip when sipp is not installed.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
// its SIP URI. sipp runs with its default behaviours: a message the
// scenario does not expect aborts the call, and the test fails with
// sipp's error log.
func uas(t *testing.T, scenario string) string {
	t.Helper()
	port := enginetest.FreeUDPPort(t)
	errs := filepath.Join(t.TempDir(), "uas-errors.log")
	enginetest.StartSipp(t, "-sf", scenarios+scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-trace_err", "-error_file", errs)
	t.Cleanup(func() {
		if b, err := os.ReadFile(errs); err == nil && len(bytes.TrimSpace(sippLoadWarnings.ReplaceAll(b, nil))) > 0 {
			t.Errorf("sipp UAS %s logged errors:\n%s", scenario, b)
		}
	})
	return fmt.Sprintf("sip:127.0.0.1:%d", port)
}

// sippLoadWarnings matches what sipp writes to its error file when its
// own scheduler ran late (the machine is busy, as a 2-CPU box running
// tests in parallel is): not an error of the call, so not a failure.
var sippLoadWarnings = regexp.MustCompile(`The following events occurred:|[0-9-]+\s+[0-9:.]+\s+[0-9.]+: Overload warning: the (minor|major) watchdog timer [0-9]+ms has been tripped \([0-9]+\), [0-9]+ trips remaining\.`)

// uac runs a sipp UAC with a scenario file to the proxy and checks every
// call succeeded.
func uac(t *testing.T, s *enginetest.Server, scenario, service string, calls int, extra ...string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the UASs bind
	stat := filepath.Join(t.TempDir(), "uac.csv")
	args := []string{s.UDP(), "-sf", scenarios + scenario, "-s", service, "-i", "127.0.0.1",
		"-p", strconv.Itoa(enginetest.FreeUDPPort(t)), "-m", strconv.Itoa(calls), "-r", "10",
		"-timeout", "30s", "-trace_stat", "-stf", stat}
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

// failoverScript relays to DST and, when it answers 486, tries ALT from
// the failure route the way a Kamailio user writes it: KSR.setdsturi, and
// with SET_RU defined also the Request-URI, written back unchanged.
const failoverScript = `
function ksr_request_route()
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			KSR.tm.t_relay()
		elseif KSR.is_ACK() and KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		return
	end
	if KSR.tm.t_check_trans() == 0 then return end
	KSR.rr.record_route()
	KSR.setdsturi(KSR.kx.get_def("DST"))
	KSR.tm.t_on_failure("ksr_failure")
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function ksr_failure()
	if KSR.tm.t_check_status("^486$") < 0 then return end
	if KSR.kx.ifdef("SET_RU") then
		KSR.seturi(KSR.kx.get_ruri())
	end
	KSR.setdsturi(KSR.kx.get_def("ALT"))
	KSR.info("failover t_relay " .. KSR.tm.t_relay())
end
`

// TestSippFailoverNeedsANewRequestURI: as in Kamailio 5.6, KSR.setdsturi
// alone in a failure route adds no branch (t_relay -1, "no branches for
// forwarding") and the caller gets the busy callee's 486; with the
// Request-URI written there the call goes to the alternate.
func TestSippFailoverNeedsANewRequestURI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setRU    bool
		scenario string
		relay    string
		branches float64 // per call
	}{
		{"du only", false, "uac_486.xml", "failover t_relay -1", 1},
		// two INVITE branches, and the BYE
		{"ru and du", true, "uac_rr.xml", "failover t_relay 1", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const calls = 3
			busy := uas(t, "uas_486.xml")
			alt := uas(t, "uas_rr.xml")
			defines := map[string]string{"DST": busy, "ALT": alt}
			if tc.setRU {
				defines["SET_RU"] = "1"
			}
			enginetest.SippPath(t)
			s := enginetest.Start(t, failoverScript, enginetest.WithConfig(func(c *engine.Config) { c.Defines = defines }))
			uac(t, s, tc.scenario, "bob", calls)
			logs := s.Logs()
			if n := strings.Count(logs, tc.relay); n != calls {
				t.Errorf("%q logged %d times, want %d\n%s", tc.relay, n, calls, lastLines(logs, 20))
			}
			if want := !tc.setRU; strings.Contains(logs, "no branches for forwarding") != want {
				t.Errorf("warning \"no branches for forwarding\" logged: %v, want %v", !want, want)
			}
			if v := s.Metric(`kemi_tm_branches_total`); v != tc.branches*calls {
				t.Errorf("branches sent = %v, want %v", v, tc.branches*calls)
			}
		})
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
