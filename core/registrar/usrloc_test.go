package registrar_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// TestExpiredContactPV: registrar's $ulc(exp=>attr) reads the binding
// the real usrloc timer expired while the script's usrloc:contact-expired
// callback runs (Kamailio's "exp" profile), on memory and SQLite.
// Before the fix $ulc(exp=>aor) was nil in the callback: registrar only
// read profiles fetched with reg_fetch_contacts.
func TestExpiredContactPV(t *testing.T) {
	script := registrarScript + `
function ksr_usrloc_event(evname)
	local aor, addr, callid = KSR.pv.get("$ulc(exp=>aor)"), KSR.pv.get("$ulc(exp=>addr)"), KSR.pv.get("$ulc(exp=>callid)")
	KSR.info("EXPIRED " .. evname .. " " .. tostring(aor) .. " " .. tostring(addr) .. " " .. tostring(callid) .. "\n")
end
`
	for _, url := range []string{"memory", "sqlite://" + t.TempDir() + "/kemi.db"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			srv := enginetest.Start(t, script, enginetest.WithConfig(func(c *engine.Config) { c.DBURL = url }),
				enginetest.WithParams("registrar", map[string]any{"min_expires": 1}),
				enginetest.WithParams("usrloc", map[string]any{"timer_interval": "200ms", "event_callback": "ksr_usrloc_event"}))
			dev := newUA(t)
			dev.send(srv.UDP(), fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
				"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-exp1;rport\n"+
				"From: <sip:alice@example.com>;tag=r1\nTo: <sip:alice@example.com>\n"+
				"Call-ID: exp-call\nCSeq: 1 REGISTER\nMax-Forwards: 70\n"+
				"Contact: <sip:alice@127.0.0.1:%d>;expires=1\nContent-Length: 0\n\n", dev.port(), dev.port()))
			if res, ok := dev.recv().(*sip.Response); !ok || res.StatusCode != 200 {
				t.Fatalf("REGISTER: %v", res)
			}
			if got := srv.WaitMetric("kemi_usrloc_expired_total", 1, 5*time.Second); got != 1 {
				t.Fatalf("kemi_usrloc_expired_total %v, want 1", got)
			}
			want := fmt.Sprintf("EXPIRED usrloc:contact-expired alice sip:alice@127.0.0.1:%d exp-call", dev.port())
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(srv.Logs(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in the log", want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
