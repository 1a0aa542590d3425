package tm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi/kemitest"
)

func TestExports(t *testing.T) {
	// left out: per-transaction retransmission timers (sipgo's timer A
	// and B are process-wide), t_set_no_auto_ack (sipgo's client
	// transaction always ACKs a negative reply) and t_next_contact_flow
	// (needs outbound flows from a registrar)
	kemitest.Load(t, nil, "tm").CheckExports(t, "tm", "t_set_retr", "t_reset_retr", "t_set_no_auto_ack", "t_next_contact_flow")
}

const xflagScript = `
function ksr_request_route()
	KSR.corex.setxflag(3) -- before the transaction: copied into it
	KSR.setdsturi(KSR.kx.get_def("busy"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
	KSR.corex.setxflag(40) -- after: only with t_flush_xflags
	if KSR.pv.get("$rU") == "flush" then KSR.tmx.t_flush_xflags() end
end

function ksr_failure()
	KSR.info("xflags in failure route: 3=" .. KSR.corex.isxflagset(3) .. " 40=" .. KSR.corex.isxflagset(40))
end
`

// The transaction keeps the extended flags of its request; t_flush_xflags
// updates them, and the failure route sees them.
func TestXFlagsInFailureRoute(t *testing.T) {
	for _, tt := range []struct{ user, want string }{
		{"keep", "3=1 40=-1"},
		{"flush", "3=1 40=1"},
	} {
		t.Run(tt.user, func(t *testing.T) {
			busy := newPeer(t, "busy")
			s := enginetest.Start(t, xflagScript, enginetest.WithConfig(func(c *engine.Config) {
				c.Defines = map[string]string{"busy": busy.uri()}
			}))
			uac := newPeer(t, "alice")
			uac.send(s.UDP(), uac.invite(fmt.Sprintf("sip:%s@%s", tt.user, s.UDP()), "xf-"+tt.user, "xf"+tt.user, 1))
			req, from := busy.expectRequest("INVITE", 2*time.Second)
			busy.reply(req, from, 486, "Busy Here", "b")
			uac.expectStatus(486, 2*time.Second)
			if logs := s.Logs(); !strings.Contains(logs, "xflags in failure route: "+tt.want) {
				t.Errorf("want %q in:\n%s", tt.want, logs)
			}
		})
	}
}
