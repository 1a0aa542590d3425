package dispatcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// probeScript balances with round robin and fails over on a timeout
// without marking: only the health checks take a destination out.
const probeScript = lbRequestRoute + `
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then return end
	if KSR.tm.t_branch_timeout() > 0 or KSR.tm.t_check_status("5[0-9][0-9]") > 0 then
		if KSR.dispatcher.ds_next_dst() > 0 then
			KSR.tm.t_relay()
		end
	end
end

function ksr_dispatcher_event(evname)
	KSR.info("DSEVENT " .. evname .. " " .. KSR.pv.get("$ru") .. " code=" .. tostring(KSR.pv.get("$dsv(code)")) .. "\n")
end
`

// TestHealthChecks stops one of three UASs: the OPTIONS probes take it
// out of rotation within ds_ping_interval × ds_probing_threshold (plus
// one interval for the round in flight) while every call succeeds
// through failover, with dispatcher:dst-down run for its URI; when it
// answers again it comes back (dst-up) and round robin is even again.
func TestHealthChecks(t *testing.T) {
	const (
		interval  = time.Second
		threshold = 2
		timeout   = 300 * time.Millisecond
	)
	uases := []*uas{startUAS(t, 200), startUAS(t, 200), startUAS(t, 200)}
	list := ""
	for _, u := range uases {
		list += fmt.Sprintf("1 sip:%s\n", u.addr)
	}
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, probeScript,
		enginetest.WithParams("dispatcher", map[string]any{
			"list_file": path, "flags": 2, "ds_ping_interval": int(interval / time.Second),
			"ds_probing_mode": 1, "ds_probing_threshold": threshold, "ds_ping_timeout": int(timeout / time.Millisecond),
			"event_callback": "ksr_dispatcher_event",
		}),
		enginetest.WithParams("tm", map[string]any{"fr_timer": 500}))
	const active, inactive = `kemi_dispatcher_destinations{state="active"}`, `kemi_dispatcher_destinations{state="inactive"}`
	if got := s.Metric(active); got != 3 {
		t.Fatalf("active destinations at start: %v, want 3", got)
	}

	down := uases[1]
	down.silent.Store(true)
	stopped := time.Now()
	// calls go on while the probes find out
	for i, code := range send(t, s, 6) {
		if code != 200 {
			t.Errorf("call %d while a UAS is silent answered %d", i, code)
		}
	}
	if got := s.WaitMetric(inactive, 1, 10*time.Second); got != 1 {
		t.Fatalf("inactive destinations: %v, want 1", got)
	}
	took := time.Since(stopped)
	if limit := interval*(threshold+1) + timeout + 500*time.Millisecond; took > limit {
		t.Errorf("the silent UAS left rotation after %v, want at most %v", took, limit)
	}
	t.Logf("the silent UAS left rotation after %v (interval %v, threshold %d)", took, interval, threshold)
	if probes := down.probes.Load(); probes < threshold {
		t.Errorf("the silent UAS got %d probes, want at least %d", probes, threshold)
	}
	before := down.count()
	for i, code := range send(t, s, 6) {
		if code != 200 {
			t.Errorf("call %d after the UAS left answered %d", i, code)
		}
	}
	if got := down.count() - before; got != 0 {
		t.Errorf("the UAS out of rotation got %d calls, want 0", got)
	}
	wantDown := fmt.Sprintf("DSEVENT dispatcher:dst-down sip:%s code=408", down.addr)
	if !strings.Contains(s.Logs(), wantDown) {
		t.Errorf("no %q in the log", wantDown)
	}

	down.silent.Store(false)
	back := time.Now()
	if got := s.WaitMetric(active, 3, 10*time.Second); got != 3 {
		t.Fatalf("active destinations after the UAS answers again: %v, want 3", got)
	}
	t.Logf("the UAS came back after %v", time.Since(back))
	wantUp := fmt.Sprintf("DSEVENT dispatcher:dst-up sip:%s code=200", down.addr)
	if !strings.Contains(s.Logs(), wantUp) {
		t.Errorf("no %q in the log", wantUp)
	}
	var calls [3]int
	for i, u := range uases {
		calls[i] = u.count()
	}
	for i, code := range send(t, s, 9) {
		if code != 200 {
			t.Errorf("call %d after the UAS came back answered %d", i, code)
		}
	}
	for i, u := range uases {
		if got := u.count() - calls[i]; got != 3 {
			t.Errorf("UAS %d got %d of 9 calls after the return, want 3", i, got)
		}
	}
	if got := s.Metric(`kemi_dispatcher_probes_total{result="failed"}`); got < threshold {
		t.Errorf("failed probes counted: %v, want at least %d", got, threshold)
	}
	if got := s.Metric(`kemi_dispatcher_state_changes_total`); got < 2 {
		t.Errorf("state changes counted: %v, want at least 2", got)
	}
}

// TestMarkRunsEvent: ds_mark_dst in the failure route runs the
// dispatcher:dst-down callback at once on the script's message, as
// Kamailio (its $ru is the request's, $dsv(code) 820).
func TestMarkRunsEvent(t *testing.T) {
	a, b := startUAS(t, 503), startUAS(t, 200)
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("1 sip:%s\n1 sip:%s\n", a.addr, b.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	script := lbScript + `
function ksr_dispatcher_event(evname)
	KSR.info("DSEVENT " .. evname .. " " .. KSR.pv.get("$ru") .. " code=" .. tostring(KSR.pv.get("$dsv(code)")) .. "\n")
end
`
	s := enginetest.Start(t, script, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2, "event_callback": "ksr_dispatcher_event"}))
	for i, code := range send(t, s, 2) {
		if code != 200 {
			t.Errorf("call %d answered %d", i, code)
		}
	}
	if want := "DSEVENT dispatcher:dst-down sip:pbx@example.com code=820"; !strings.Contains(s.Logs(), want) {
		t.Errorf("no %q in the log", want)
	}
	if got := s.Metric(`kemi_dispatcher_destinations{state="inactive"}`); got != 1 {
		t.Errorf("inactive destinations %v, want 1", got)
	}
}
