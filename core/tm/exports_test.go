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
	// left out: t_set_no_auto_ack (tm always ACKs a negative reply) and
	// t_next_contact_flow (needs outbound flows from a registrar)
	kemitest.Load(t, nil, "tm").CheckExports(t, "tm", "t_set_no_auto_ack", "t_next_contact_flow")
}

const xflagScript = `
function ksr_request_route()
	KSR.corex.setxflag(3) -- before the transaction: copied into it
	KSR.setdsturi(KSR.kx.get_def("busy"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
	KSR.corex.setxflag(40) -- after: only with t_flush_xflags
	if KSR.pv.get("$rU") == "flush" then KSR.tmx.t_flush_xflags() end
	KSR.info("request route done")
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
			// the reply must not race the flush after t_relay
			for deadline := time.Now().Add(2 * time.Second); !strings.Contains(s.Logs(), "request route done"); {
				if time.Now().After(deadline) {
					t.Fatal("the request route did not finish")
				}
				time.Sleep(5 * time.Millisecond)
			}
			busy.reply(req, from, 486, "Busy Here", "b")
			uac.expectStatus(486, 2*time.Second)
			if logs := s.Logs(); !strings.Contains(logs, "xflags in failure route: "+tt.want) {
				t.Errorf("want %q in:\n%s", tt.want, logs)
			}
		})
	}
}

const ownCallScript = `
function ksr_request_route()
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_reply("ksr_onreply")
	KSR.tm.t_relay()
end

function ksr_onreply()
	if KSR.pv.get("$rs") == 180 then
		-- names the transaction this very route runs in
		KSR.info("t_reply_callid: " .. KSR.tmx.t_reply_callid(KSR.pv.get("$ci"), "1", 480, "Own Call"))
	end
end
`

// t_reply_callid naming the transaction whose route is running must not
// deadlock the worker.
func TestReplyCallIDOnOwnTransaction(t *testing.T) {
	bob := newPeer(t, "bob")
	s := enginetest.Start(t, ownCallScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = map[string]string{"bob": bob.uri()}
	}), enginetest.WithWorkers(1))
	uac := newPeer(t, "alice")
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "own-call", "own1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 180, "Ringing", "b")
	if res := uac.expectStatus(480, 2*time.Second); res.Reason != "Own Call" {
		t.Fatalf("reason %q", res.Reason)
	}
	// the single worker still routes
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "own-call-2", "own2", 1))
	bob.expectRequest("INVITE", 2*time.Second)
	if logs := s.Logs(); !strings.Contains(logs, "t_reply_callid: 1") {
		t.Errorf("t_reply_callid did not return 1:\n%s", logs)
	}
}

// Replies follow rport/received (RFC 3581), not the Via's sent-by, and the
// callee sees where the request really came from.
func TestRepliesHonourRport(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, nil)
	inv := h.uac.invite(h.ruri("bob"), "rport-1", "rp1", 1)
	inv = strings.Replace(inv, "Via: SIP/2.0/UDP "+h.uac.addr(), "Via: SIP/2.0/UDP 192.0.2.1:9", 1)
	h.uac.send(h.s.UDP(), inv)
	h.uac.expectStatus(100, 2*time.Second)
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	vias := req.GetHeaders("Via")
	if len(vias) != 2 {
		t.Fatalf("%d Vias", len(vias))
	}
	caller := vias[1].Value()
	want := fmt.Sprintf("received=127.0.0.1;rport=%d", h.uac.port())
	if !strings.Contains(caller, "received=127.0.0.1") || !strings.Contains(caller, fmt.Sprintf("rport=%d", h.uac.port())) {
		t.Errorf("caller's Via %q lacks %s", caller, want)
	}
	bob.reply(req, from, 486, "Busy Here", "b")
	h.uac.expectStatus(486, 2*time.Second)
}
