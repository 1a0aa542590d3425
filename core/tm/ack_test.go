package tm_test

import (
	"strings"
	"testing"
	"time"
)

// rfc2543 turns a request of the test peers into one without the RFC 3261
// magic cookie in its Via branch: tm matches it on the RFC 2543 fields.
func rfc2543(req string) string {
	return strings.Replace(req, "branch=z9hG4bK", "branch=", 1)
}

// The ACK of a negative reply to an RFC 2543 INVITE (no magic cookie)
// matches the INVITE's transaction on Request-URI, From tag, Call-ID, CSeq
// number and top Via (RFC 3261 §17.2.3): it is absorbed (the callee got
// tm's own ACK) and stops timer G.
func TestRFC2543AckOfNegativeReplyIsAbsorbed(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, map[string]any{"retr_timer1": 100, "wt_timer": 300})
	h.uac.send(h.s.UDP(), rfc2543(h.uac.invite(h.ruri("bob"), "ack-2543", "old1", 1)))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 486, "Busy Here", "bobtag")
	bob.expectRequest("ACK", 2*time.Second) // tm's hop-by-hop ACK
	h.uac.expectStatus(486, 2*time.Second)
	h.uac.send(h.s.UDP(), rfc2543(h.uac.request("ACK", h.ruri("bob"), "ack-2543", "old1", 1, "bobtag")))
	time.Sleep(50 * time.Millisecond)
	// timer G would send the 486 again at 0.3, 0.7, 1.5 s without the ACK;
	// one retransmission may cross it
	if n := countStatus(h.uac, 486, 900*time.Millisecond); n > 1 {
		t.Errorf("%d retransmissions of the 486 after the ACK: the ACK did not match", n)
	}
	if n := bob.count("ACK "); n != 1 {
		t.Errorf("bob got %d ACKs, want tm's one (the caller's is absorbed)", n)
	}
	if v := aliveAfter(h.s, 3*time.Second); v != 0 {
		t.Errorf("%v transactions alive after the ACK and wt_timer", v)
	}
}

// The ACK of a 2xx is end to end (RFC 3261 §17.1.1.3, §13.2.2.4): t_relay
// forwards it even when it matches the INVITE's transaction, as an ACK
// that reuses the INVITE's branch (a broken UA) or an RFC 2543 ACK does.
// Kamailio's t_relay forwards such an ACK statelessly; only the ACK of our
// own negative reply is absorbed.
func Test2xxAckMatchingTheInviteIsForwarded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conv    func(string) string // the wire form of both requests
		toInvRU bool                // the ACK goes to the INVITE's Request-URI, not the Contact
	}{
		// the INVITE's branch again: the RFC 3261 key matches
		{"same branch", func(s string) string { return s }, false},
		// RFC 2543, the ACK to the INVITE's Request-URI: every 2543 field matches
		{"rfc2543 same uri", rfc2543, true},
		// RFC 2543, the ACK to the callee's Contact: no match, forwarded
		{"rfc2543 contact", rfc2543, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bob := newPeer(t, "bob")
			h := start(t, map[string]string{"bob": bob.uri()}, nil)
			callID := "ack2xx-" + strings.ReplaceAll(tc.name, " ", "-")
			// the Request-URI is bob's own address: the script finds him by
			// its user, and an ACK relayed to it reaches him
			h.uac.send(h.s.UDP(), tc.conv(h.uac.invite(bob.uri(), callID, "a2x1", 1)))
			req, from := bob.expectRequest("INVITE", 2*time.Second)
			bob.reply(req, from, 200, "OK", "bobtag")
			ok := h.uac.expectStatus(200, 2*time.Second)
			ruri := ok.Contact().Address.String()
			if tc.toInvRU {
				ruri = bob.uri()
			}
			h.uac.send(h.s.UDP(), tc.conv(h.uac.request("ACK", ruri, callID, "a2x1", 1, "bobtag")))
			ack, _ := bob.expectRequest("ACK", 2*time.Second)
			if got := ack.To().Params.GetOr("tag", ""); got != "bobtag" {
				t.Errorf("ACK To tag = %q", got)
			}
		})
	}
}

// A 2xx the callee retransmits reaches the caller (RFC 3261 §16.7: the
// proxy is not in the path of the 2xx's ACK, so the UAS retransmits until
// the ACK comes), both while the finished transaction waits out wt_timer
// (tm relays it) and after it is gone (the engine forwards it statelessly
// on its Via, as Kamailio does), each time with our Via removed.
func TestRetransmitted2xxReachesTheCaller(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, map[string]any{"wt_timer": 300})
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "retr-2xx", "r2x1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 200, "OK", "bobtag")
	h.uac.expectStatus(200, 2*time.Second)
	check := func(when string) {
		t.Helper()
		bob.reply(req, from, 200, "OK", "bobtag")
		ok := h.uac.expectStatus(200, 2*time.Second)
		if n := len(ok.GetHeaders("Via")); n != 1 {
			t.Errorf("%s: the 200 carries %d Vias, want the caller's only", when, n)
		}
	}
	check("while waiting")
	if v := aliveAfter(h.s, 3*time.Second); v != 0 {
		t.Fatalf("%v transactions alive after wt_timer", v)
	}
	check("after the transaction")
	if v := h.s.Metric(`kemi_tm_replies_relayed_total{class="2xx"}`); v != 2 {
		t.Errorf("%v 2xx relayed by tm, want 2 (the last one went statelessly)", v)
	}
}
