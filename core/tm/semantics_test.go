package tm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// startWith runs script with callee defines and a caller.
func startWith(t *testing.T, script string, defines map[string]string) (*enginetest.Server, *peer) {
	t.Helper()
	s := enginetest.Start(t, script, enginetest.WithConfig(func(c *engine.Config) { c.Defines = defines }))
	return s, newPeer(t, "alice")
}

// waitLog waits until the engine logged want.
func waitLog(t *testing.T, s *enginetest.Server, want string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(s.Logs(), want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, s.Logs())
		}
	}
}

// t_check_status matches as Kamailio's regexec: unanchored, ignoring case.
func TestCheckStatusMatchesAsRegexec(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	KSR.info("checks " .. KSR.tm.t_check_status("86") .. " " .. KSR.tm.t_check_status("^4[0-9]{2}$")
		.. " " .. KSR.tm.t_check_status("^5") .. " " .. KSR.tm.t_check_status("4|404"))
end`, map[string]string{"bob": bob.uri()})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "cs-1", "cs1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 486, "Busy Here", "b")
	uac.expectStatus(486, 2*time.Second)
	waitLog(t, s, "checks 1 1 -1 1")
}

// t_drop ends the transaction at once, returns 0 and sends nothing.
func TestDropEndsTheTransaction(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.tm.t_newtran() <= 0 then return end
	KSR.info("t_drop " .. KSR.tmx.t_drop())
end`, map[string]string{"bob": bob.uri()})
	uac.send(s.UDP(), uac.request("MESSAGE", "sip:bob@"+s.UDP(), "drop-1", "dr1", 1, ""))
	waitLog(t, s, "t_drop 0")
	if v := aliveAfter(s, 2*time.Second); v != 0 {
		t.Errorf("%v transactions alive after t_drop", v)
	}
	uac.quiet(300*time.Millisecond, nil)
}

// t_reuse_branch, in a branch-failure route, gives the message the failed
// branch's Request-URI and branch flags.
func TestReuseBranch(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	KSR.setbflag(3)
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_branch_failure("ksr_brfail")
	KSR.tm.t_relay()
end
function ksr_brfail()
	KSR.seturi("sip:other@192.0.2.1")
	KSR.resetbflag(3)
	local r = KSR.tmx.t_reuse_branch()
	KSR.info("reuse " .. r .. " " .. KSR.pv.get("$ru") .. " bflag3=" .. tostring(KSR.isbflagset(3)))
end`, map[string]string{"bob": bob.uri()})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "reuse-1", "ru1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 486, "Busy Here", "b")
	uac.expectStatus(486, 2*time.Second)
	waitLog(t, s, fmt.Sprintf("reuse 1 %s bflag3=true", req.Recipient.String()))
}

// t_cancel_callid cancels the pending branches with the cause in the
// Reason header; the caller gets the 487, and a relay after it is refused.
func TestCancelCallID(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_MESSAGE() then
		KSR.info("cancel " .. KSR.tmx.t_cancel_callid_reason("cc-1", "1", 5, 603))
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	KSR.info("canceled " .. KSR.tm.t_is_canceled() .. " flag5=" .. tostring(KSR.isflagset(5)) .. " relay " .. KSR.tm.t_relay())
end`, map[string]string{"bob": bob.uri()})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "cc-1", "cc1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 180, "Ringing", "b")
	uac.expectStatus(180, 2*time.Second)
	uac.send(s.UDP(), uac.request("MESSAGE", "sip:go@"+s.UDP(), "cc-other", "cc2", 1, ""))
	cancel, cfrom := bob.expectRequest("CANCEL", 2*time.Second)
	if r := cancel.GetHeader("Reason"); r == nil || r.Value() != "SIP;cause=603" {
		t.Errorf("CANCEL Reason %v", r)
	}
	bob.reply(cancel, cfrom, 200, "OK", "")
	bob.reply(req, from, 487, "Request Terminated", "b")
	uac.expectStatus(487, 2*time.Second)
	waitLog(t, s, "cancel 1")
	waitLog(t, s, "canceled 1 flag5=true relay -1")
}

// $T_inv reads the INVITE a CANCEL matched.
func TestTInvOnCancel(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.info("T_inv subject " .. KSR.pv.getw("$T_inv($hdr(Subject))"))
			KSR.tm.t_relay()
		end
		return
	end
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_relay()
end`, map[string]string{"bob": bob.uri()})
	inv := uac.invite("sip:bob@"+s.UDP(), "tinv-1", "ti1", 1, "Subject: lunch")
	uac.send(s.UDP(), inv)
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 180, "Ringing", "b")
	uac.expectStatus(180, 2*time.Second)
	uac.send(s.UDP(), uac.request("CANCEL", "sip:bob@"+s.UDP(), "tinv-1", "ti1", 1, ""))
	waitLog(t, s, "T_inv subject lunch")
	c, cf := bob.expectRequest("CANCEL", 2*time.Second)
	bob.reply(c, cf, 200, "OK", "")
	bob.reply(req, from, 487, "Request Terminated", "b")
	uac.expectStatus(487, 2*time.Second)
}

// TestFailureRouteRelaysOnlyANewRequestURI: in a failure route t_relay
// makes a branch of the Request-URI only when the route wrote it (any
// R-URI setter, even to the same value, or $du through KSR.pv), plus the
// branches appended there, and $du is what it was when the transaction
// was created: each case as Kamailio 5.6.3 did it on the wire.
func TestFailureRouteRelaysOnlyANewRequestURI(t *testing.T) {
	tests := []struct {
		name   string
		lua    string // the failure route before t_relay; CAROL is carol's URI
		relay  string // what t_relay returned, in order
		to     string // who gets the next INVITE: "carol", "bob" or "" (the caller gets 486)
		ruUser string // its Request-URI user
	}{
		{"setdsturi only", `KSR.setdsturi(CAROL)`, "-1", "", ""},
		{"$du with KSR.pv", `KSR.pv.sets("$du", CAROL)`, "1", "carol", "bob"},
		{"$ru unchanged and setdsturi", `KSR.pv.sets("$ru", KSR.pv.get("$ru")) KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"$rU unchanged and setdsturi", `KSR.pv.sets("$rU", KSR.pv.get("$rU")) KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"setuser unchanged and setdsturi", `KSR.setuser("bob") KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"sethost unchanged and setdsturi", `KSR.sethost("127.0.0.1") KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"$rp unchanged and setdsturi", `KSR.pv.seti("$rp", KSR.pv.get("$rp")) KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"resetdsturi only", `KSR.resetdsturi()`, "-1", "", ""},
		{"subst_user to the same user and setdsturi", `KSR.textops.subst_user("/bob/bob/") KSR.setdsturi(CAROL)`, "1", "carol", "bob"},
		{"seturi keeps the old $du", `KSR.seturi(CAROL)`, "1", "bob", "carol"},
		{"seturi and resetdsturi", `KSR.seturi(CAROL) KSR.resetdsturi()`, "1", "carol", "carol"},
		{"append_branch gets the old $du", `KSR.corex.append_branch_uri(CAROL)`, "1", "bob", "carol"},
		{"a second t_relay", `KSR.seturi(CAROL) KSR.resetdsturi() KSR.info("relay " .. KSR.tm.t_relay())`, "1 -1", "carol", "carol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bob, carol := newPeer(t, "bob"), newPeer(t, "carol")
			s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	if KSR.tm.t_check_status("486") < 0 then return end
	local CAROL = KSR.kx.get_def("carol")
	`+tc.lua+`
	KSR.info("relay " .. KSR.tm.t_relay())
end`, map[string]string{"bob": bob.uri(), "carol": carol.uri()})
			uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "frr-1", "frr1", 1))
			req, from := bob.expectRequest("INVITE", 2*time.Second)
			bob.reply(req, from, 486, "Busy Here", "b")
			bob.expectRequest("ACK", 2*time.Second)
			var next *sip.Request
			switch tc.to {
			case "":
				uac.expectStatus(486, 2*time.Second)
			case "bob":
				next, _ = bob.expectRequest("INVITE", 2*time.Second)
			case "carol":
				next, _ = carol.expectRequest("INVITE", 2*time.Second)
			}
			if next != nil && next.Recipient.User != tc.ruUser {
				t.Errorf("R-URI %s, want user %s", next.Recipient.String(), tc.ruUser)
			}
			var got []string
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				got = got[:0]
				for _, l := range strings.Split(s.Logs(), "\n") {
					if _, r, ok := strings.Cut(l, `msg="relay `); ok {
						got = append(got, strings.TrimSuffix(strings.Fields(r)[0], `"`))
					}
				}
				if strings.Join(got, " ") == tc.relay || time.Now().After(deadline) {
					break
				}
			}
			if strings.Join(got, " ") != tc.relay {
				t.Errorf("t_relay returned %v, want %s", got, tc.relay)
			}
			if warned := strings.Contains(s.Logs(), "no branches for forwarding"); warned != strings.Contains(tc.relay, "-1") {
				t.Errorf("warning logged: %v\n%s", warned, s.Logs())
			}
		})
	}
}

// TestFailureRouteRequestURIIsTheTransactions: with parallel branches, the
// failure route sees the Request-URI (and $du) of the transaction's
// request, whichever branch's reply won, as Kamailio 5.6.3's faked request
// does (it printed ru=sip:bob@... for a winning 486 of an appended branch
// to carol), so that a script can look its callee up again.
func TestFailureRouteRequestURIIsTheTransactions(t *testing.T) {
	bob, carol := newPeer(t, "bob"), newPeer(t, "carol")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.corex.append_branch_uri(KSR.kx.get_def("carol"))
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	KSR.info("failure " .. KSR.pv.get("$T_reply_code") .. " ru=" .. KSR.pv.get("$ru") .. " du=" .. KSR.pv.getw("$du"))
end`, map[string]string{"bob": bob.uri(), "carol": carol.uri()})
	ruri := "sip:bob@" + s.UDP()
	uac.send(s.UDP(), uac.invite(ruri, "frt-1", "frt1", 1))
	breq, bfrom := bob.expectRequest("INVITE", 2*time.Second)
	creq, cfrom := carol.expectRequest("INVITE", 2*time.Second)
	bob.reply(breq, bfrom, 503, "Service Unavailable", "b")
	carol.reply(creq, cfrom, 486, "Busy Here", "c") // the winner: 4xx before 5xx
	uac.expectStatus(486, 2*time.Second)
	waitLog(t, s, "failure 486 ru="+ruri+" du="+bob.uri())
}

// TestBranchIndexCountsAsKamailio: t_get_branch_index and $T_branch_idx
// give, as in Kamailio 5.6.3 (which printed 2 in the failure route of a
// call forked to two branches), the branches appended so far in a request
// route, the branch's index in a branch route, and in a failure route the
// index the next branch gets: the branches sent plus those appended there.
func TestBranchIndexCountsAsKamailio(t *testing.T) {
	bob, carol := newPeer(t, "bob"), newPeer(t, "carol")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	local before = KSR.tm.t_get_branch_index()
	KSR.corex.append_branch_uri(KSR.kx.get_def("carol"))
	KSR.info("request " .. before .. " " .. KSR.pv.get("$T_branch_idx"))
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_branch("ksr_branch")
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_branch()
	KSR.info("branch " .. KSR.pv.get("$T_branch_idx") .. " " .. KSR.pv.get("$ru"))
end
function ksr_failure()
	local sent = KSR.tm.t_get_branch_index()
	KSR.corex.append_branch_uri(KSR.kx.get_def("carol"))
	KSR.info("failure " .. sent .. " " .. KSR.pv.get("$T_branch_idx"))
end`, map[string]string{"bob": bob.uri(), "carol": carol.uri()})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "bidx-1", "bidx1", 1))
	breq, bfrom := bob.expectRequest("INVITE", 2*time.Second)
	creq, cfrom := carol.expectRequest("INVITE", 2*time.Second)
	bob.reply(breq, bfrom, 486, "Busy Here", "b")
	carol.reply(creq, cfrom, 486, "Busy Here", "c")
	uac.expectStatus(486, 2*time.Second)
	waitLog(t, s, "request 0 1")
	waitLog(t, s, "branch 0 sip:bob@")
	waitLog(t, s, "branch 1 "+carol.uri())
	waitLog(t, s, "failure 2 3")
}

// TestSerialForkingByQValue: t_load_contacts and t_next_contacts order the
// destinations as Kamailio 5.6.3 did for this script: the highest q first,
// a destination without q (the R-URI's, here) last, the last added first
// within one q-value; t_next_contacts gives -2 when none is left.
func TestSerialForkingByQValue(t *testing.T) {
	a, b, c, d := newPeer(t, "a"), newPeer(t, "b"), newPeer(t, "c"), newPeer(t, "d")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.seturi(KSR.kx.get_def("a"))
	KSR.corex.append_branch_uri(KSR.kx.get_def("b"))
	KSR.corex.append_branch_uri_q(KSR.kx.get_def("c"), "0.5")
	KSR.corex.append_branch_uri_q(KSR.kx.get_def("d"), "0.5")
	KSR.info("load " .. KSR.tm.t_load_contacts())
	KSR.info("next " .. KSR.tm.t_next_contacts() .. " ru=" .. KSR.pv.get("$ru") .. " br=" .. KSR.pv.get("$br"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	local n = KSR.tm.t_next_contacts()
	if n < 0 then KSR.info("fnext " .. n) return end
	KSR.info("fnext " .. n .. " ru=" .. KSR.pv.get("$ru") .. " br=" .. KSR.pv.get("$br"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end`, map[string]string{"a": a.uri(), "b": b.uri(), "c": c.uri(), "d": d.uri()})
	uac.send(s.UDP(), uac.invite("sip:x@"+s.UDP(), "serial-q-1", "sq1", 1))
	for _, round := range [][]*peer{{d, c}, {b, a}} {
		for _, p := range round {
			req, from := p.expectRequest("INVITE", 2*time.Second)
			p.reply(req, from, 486, "Busy Here", p.name)
		}
	}
	uac.expectStatus(486, 2*time.Second)
	waitLog(t, s, "load 1")
	waitLog(t, s, "next 1 ru="+d.uri()+" br="+c.uri())
	waitLog(t, s, "fnext 1 ru="+b.uri()+" br="+a.uri())
	waitLog(t, s, "fnext -2")
}
