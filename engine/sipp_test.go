package engine_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// TestSippStatelessCalls runs sipp's built-in uac through kemi, which
// forwards statelessly to sipp's built-in uas: every call must succeed.
// A stateless proxy with several workers may reorder a 180 and a 200, as
// Kamailio's does, so both sides tolerate unexpected messages and failures
// are what counts.
func TestSippStatelessCalls(t *testing.T) {
	enginetest.SippPath(t)
	uasPort := enginetest.FreeUDPPort(t)
	uacPort := enginetest.FreeUDPPort(t)
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
`, uasPort))
	dir := t.TempDir()
	enginetest.StartSipp(t, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-default_behaviors", "all,-abortunexp")
	time.Sleep(200 * time.Millisecond)
	stat := filepath.Join(dir, "uac.csv")
	const calls = 200
	code, out := enginetest.RunSipp(t, 60*time.Second, s.UDP(), "-sn", "uac", "-i", "127.0.0.1",
		"-p", strconv.Itoa(uacPort), "-m", strconv.Itoa(calls), "-r", "100", "-timeout", "40s",
		"-default_behaviors", "all,-abortunexp", "-trace_stat", "-stf", stat)
	csv, err := os.ReadFile(stat)
	if err != nil {
		t.Fatalf("sipp exit %d, no statistics: %v\n%s", code, err, out)
	}
	ok, _ := enginetest.SippStat(string(csv), "SuccessfulCall(C)")
	failed, _ := enginetest.SippStat(string(csv), "FailedCall(C)")
	if code != 0 || ok != calls || failed != 0 {
		t.Fatalf("sipp exit %d: %d successful, %d failed of %d\n%s", code, ok, failed, calls, out)
	}
	if v := s.Metric(`kemi_core_requests_received_total{method="INVITE"}`); v < calls {
		t.Errorf("INVITEs counted %v, want >= %d", v, calls)
	}
}
