package tm_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// proxyScript routes the way Kamailio's basic example does, minus the
// registrar: the callee comes from the R-URI user, looked up in defines
// (-D name=sip:host:port), with a failure route that tries "alternate"
// after a busy or unanswered first callee.
const proxyScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		end
		KSR.x.exit()
	end
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		KSR.x.exit()
	end
	if KSR.tm.t_check_trans() == 0 then KSR.x.exit() end
	if KSR.siputils.has_totag() > 0 then
		-- in-dialog: straight to the R-URI (the callee's Contact)
		if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
		KSR.x.exit()
	end
	local user = KSR.pv.get("$rU")
	local dst = KSR.kx.get_def(user)
	if dst == "" then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	-- append_branch copies $du into the branch, as in Kamailio: add it first
	local fork = KSR.kx.get_def(user .. "_fork")
	if fork ~= "" then
		KSR.corex.append_branch_uri(fork)
	end
	KSR.setdsturi(dst)
	KSR.pv.sets("$avp(callee)", user)
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_on_reply("ksr_onreply")
	KSR.tm.t_on_branch("ksr_branch")
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end

function ksr_branch()
	KSR.hdr.append("X-Branch: " .. KSR.pv.get("$T_branch_idx") .. "\r\n")
end

function ksr_onreply()
	KSR.info("onreply " .. KSR.pv.get("$T_reply_code") .. " branch " .. KSR.pv.get("$T_branch_idx") .. " callee " .. KSR.pv.getw("$avp(callee)"))
	KSR.pv.seti("$xavp(seen=>code)", KSR.pv.get("$T_reply_code"))
end

function ksr_failure()
	if KSR.tm.t_is_canceled() > 0 then return end
	local code = KSR.pv.get("$T_reply_code")
	KSR.info("failure route: " .. code .. " reason " .. KSR.pv.getw("$T_reply_reason") .. " onreply saw " .. KSR.pv.getw("$xavp(seen=>code)"))
	local alt = KSR.kx.get_def("alternate")
	if alt ~= "" and (code == 486 or code == 408) and KSR.tmx.t_is_failure_route() > 0 then
		-- a new R-URI makes a new branch; $du still holds the first hop
		KSR.seturi(alt)
		KSR.resetdsturi()
		KSR.tm.t_on_failure("ksr_failure_last")
		KSR.tm.t_relay()
	end
end

function ksr_failure_last()
	KSR.info("second failure: " .. KSR.pv.get("$T_reply_code"))
end
`

type harness struct {
	t   *testing.T
	s   *enginetest.Server
	uac *peer
}

func start(t *testing.T, defines map[string]string, params map[string]any) *harness {
	t.Helper()
	opts := []enginetest.Option{enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = defines
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}
	})}
	if params != nil {
		opts = append(opts, enginetest.WithParams("tm", params))
	}
	s := enginetest.Start(t, proxyScript, opts...)
	return &harness{t: t, s: s, uac: newPeer(t, "alice")}
}

// ruri is the Request-URI for user at the proxy.
func (h *harness) ruri(user string) string { return "sip:" + user + "@" + h.s.UDP() }

func TestInviteCallStateful(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, nil)
	uac := h.uac
	invite := uac.invite(h.ruri("bob"), "call-1", "inv1", 1)
	uac.send(h.s.UDP(), invite)

	// 100 Trying comes from the proxy at once
	trying := uac.expectStatus(100, 2*time.Second)
	if trying.To().Params.Has("tag") {
		t.Errorf("100 Trying has a To tag")
	}
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	if got := req.GetHeaders("Via"); len(got) != 2 {
		t.Fatalf("callee got %d Vias, want 2 (ours on top)", len(got))
	}
	if br := req.Via().Params.GetOr("branch", ""); !strings.HasPrefix(br, "z9hG4bK") || br == "z9hG4bKinv1" {
		t.Errorf("our Via branch = %q", br)
	}
	if mf := req.MaxForwards(); mf == nil || *mf != 69 {
		t.Errorf("Max-Forwards = %v, want 69", mf)
	}
	if x := req.GetHeader("X-Branch"); x == nil || x.Value() != "0" {
		t.Errorf("branch route did not run: %v", x)
	}
	// a retransmitted INVITE is absorbed
	uac.send(h.s.UDP(), invite)
	uac.expectStatus(100, 2*time.Second)
	bob.quiet(150*time.Millisecond, nil)

	bob.reply(req, from, 180, "Ringing", "bobtag")
	ring := uac.expectStatus(180, 2*time.Second)
	if len(ring.GetHeaders("Via")) != 1 {
		t.Errorf("180 still carries our Via")
	}
	bob.reply(req, from, 200, "OK", "bobtag")
	ok := uac.expectStatus(200, 2*time.Second)
	if ok.To().Params.GetOr("tag", "") != "bobtag" {
		t.Errorf("200 To tag = %q", ok.To())
	}
	// ACK and BYE go through the proxy to the callee's Contact
	contact := ok.Contact().Address.String()
	uac.send(h.s.UDP(), uac.request("ACK", contact, "call-1", "ack1", 1, "bobtag"))
	bob.expectRequest("ACK", 2*time.Second)
	uac.send(h.s.UDP(), uac.request("BYE", contact, "call-1", "bye1", 2, "bobtag"))
	bye, bfrom := bob.expectRequest("BYE", 2*time.Second)
	bob.reply(bye, bfrom, 200, "OK", "")
	uac.expectStatus(200, 2*time.Second)

	if !strings.Contains(h.s.Logs(), "onreply 180 branch 0 callee bob") {
		t.Errorf("onreply route did not run with $T_reply_code:\n%s", h.s.Logs())
	}
	if v := h.s.Metric(`kemi_tm_retransmissions_absorbed_total`); v < 1 {
		t.Errorf("absorbed retransmissions = %v", v)
	}
}

func TestFailureRouteSerialForking(t *testing.T) {
	bob := newPeer(t, "bob")
	carol := newPeer(t, "carol")
	h := start(t, map[string]string{"bob": bob.uri(), "alternate": carol.uri()}, nil)
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-486", "b486", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 486, "Busy Here", "bobtag")
	// the proxy ACKs the 486 itself (hop by hop)
	ack, _ := bob.expectRequest("ACK", 2*time.Second)
	if ack.Via().Params.GetOr("branch", "") != req.Via().Params.GetOr("branch", "") {
		t.Errorf("ACK of the 486 has another branch")
	}
	// the failure route sends the call to carol
	creq, cfrom := carol.expectRequest("INVITE", 2*time.Second)
	if x := creq.GetHeader("X-Branch"); x == nil || x.Value() != "1" {
		t.Errorf("second branch index = %v, want 1", x)
	}
	carol.reply(creq, cfrom, 200, "OK", "caroltag")
	ok := h.uac.expectStatus(200, 2*time.Second)
	if ok.To().Params.GetOr("tag", "") != "caroltag" {
		t.Fatalf("the caller got the 200 of %q", ok.To())
	}
	if !strings.Contains(h.s.Logs(), "failure route: 486 reason Busy Here onreply saw 486") {
		t.Errorf("failure route did not see 486:\n%s", h.s.Logs())
	}
	// the 486 never reached the caller
	for _, l := range h.uac.firstLines() {
		if strings.HasPrefix(l, "SIP/2.0 486") {
			t.Errorf("the caller got the 486")
		}
	}
}

func TestNoAnswerGives408AfterFrInvTimer(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, map[string]any{"fr_inv_timer": 400, "fr_timer": 300})
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-408", "b408", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	start := time.Now()
	bob.reply(req, from, 180, "Ringing", "bobtag")
	h.uac.expectStatus(180, 2*time.Second)
	// nothing more from bob: after fr_inv_timer the branch is canceled and
	// the caller gets 408
	cancel, cfrom := bob.expectRequest("CANCEL", 3*time.Second)
	bob.reply(cancel, cfrom, 200, "OK", "")
	bob.reply(req, from, 487, "Request Terminated", "bobtag")
	res := h.uac.expectStatus(408, 3*time.Second)
	if el := time.Since(start); el < 350*time.Millisecond {
		t.Errorf("408 after %v, before fr_inv_timer", el)
	}
	if res.To().Params.GetOr("tag", "") == "" {
		t.Errorf("local 408 without a To tag")
	}
	if v := h.s.WaitMetric(`kemi_tm_branch_timeouts_total`, 1, time.Second); v != 1 {
		t.Errorf("branch timeouts = %v", v)
	}
}

func TestCancelRingingCall(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, nil)
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-cancel", "bc1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 180, "Ringing", "bobtag")
	h.uac.expectStatus(180, 2*time.Second)
	h.uac.send(h.s.UDP(), h.uac.request("CANCEL", h.ruri("bob"), "call-cancel", "bc1", 1, "", "Reason: Q.850;cause=16"))
	// the CANCEL is answered at once, the callee gets a CANCEL of its own
	cancelOK := h.uac.expectStatus(200, 2*time.Second)
	if cancelOK.CSeq().MethodName != sip.CANCEL {
		t.Fatalf("200 is for %s", cancelOK.CSeq().MethodName)
	}
	creq, cfrom := bob.expectRequest("CANCEL", 2*time.Second)
	if creq.Via().Params.GetOr("branch", "") != req.Via().Params.GetOr("branch", "") {
		t.Errorf("CANCEL branch differs from the INVITE's")
	}
	if r := creq.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=16") {
		t.Errorf("Reason not copied: %v", r)
	}
	bob.reply(creq, cfrom, 200, "OK", "")
	bob.reply(req, from, 487, "Request Terminated", "bobtag")
	h.uac.expectStatus(487, 2*time.Second)
	bob.expectRequest("ACK", 2*time.Second)
}

func TestParallelForkFirst200Wins(t *testing.T) {
	h, bob, bob2, r1, f1, r2, f2 := forkedCall(t, "call-fork", "bf1")
	if r1.Via().Params.GetOr("branch", "") == r2.Via().Params.GetOr("branch", "") {
		t.Fatal("both branches have the same Via branch")
	}
	bob.reply(r1, f1, 180, "Ringing", "b1")
	bob2.reply(r2, f2, 180, "Ringing", "b2")
	h.uac.expectStatus(180, 2*time.Second)
	bob2.reply(r2, f2, 200, "OK", "b2")
	ok := h.uac.expectStatus(200, 2*time.Second)
	if ok.To().Params.GetOr("tag", "") != "b2" {
		t.Fatalf("200 from %q", ok.To())
	}
	// the other branch is canceled
	c, cf := bob.expectRequest("CANCEL", 2*time.Second)
	bob.reply(c, cf, 200, "OK", "")
	bob.reply(r1, f1, 487, "Request Terminated", "b1")
	bob.expectRequest("ACK", 2*time.Second)
	h.uac.quiet(200*time.Millisecond, func(r received) bool {
		res, ok := r.msg.(*sip.Response)
		return ok && res.StatusCode < 300 // retransmitted 180/200 are fine, a 487 is not
	})
}

// Every 2xx reaches the caller (RFC 3261 §16.7): the second branch's 200
// that crossed our CANCEL, and retransmissions of the first 200.
func TestEvery2xxReachesTheCaller(t *testing.T) {
	h, bob, bob2, r1, f1, r2, f2 := forkedCall(t, "call-2x", "bx1")
	bob2.reply(r2, f2, 200, "OK", "b2")
	if ok := h.uac.expectStatus(200, 2*time.Second); ok.To().Params.GetOr("tag", "") != "b2" {
		t.Fatalf("first 200 from %q", ok.To())
	}
	bob.reply(r1, f1, 200, "OK", "b1") // crossed the CANCEL
	if ok := h.uac.expectStatus(200, 2*time.Second); ok.To().Params.GetOr("tag", "") != "b1" {
		t.Fatalf("second 200 from %q", ok.To())
	}
	bob2.reply(r2, f2, 200, "OK", "b2") // retransmission
	if ok := h.uac.expectStatus(200, 2*time.Second); ok.To().Params.GetOr("tag", "") != "b2" {
		t.Fatalf("retransmitted 200 from %q", ok.To())
	}
	if v := h.s.Metric(`kemi_tm_send_errors_total`); v != 0 {
		t.Errorf("%v send errors", v)
	}
	if v := h.s.Metric(`kemi_tm_replies_relayed_total{class="2xx"}`); v != 3 {
		t.Errorf("%v 2xx relayed, want 3", v)
	}
}

func TestUnresolvableDestination(t *testing.T) {
	h := start(t, map[string]string{"bob": "sip:bob@nonexistent.invalid"}, nil)
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-dns", "bd1", 1))
	res := h.uac.expectStatus(478, 5*time.Second)
	if res.Reason != "Unresolvable destination" {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestTransactionsExpire(t *testing.T) {
	black := newPeer(t, "black") // never answers
	h := start(t, map[string]string{"black": black.uri()}, map[string]any{"fr_timer": 200, "fr_inv_timer": 200, "wt_timer": 100})
	const n = 200
	for i := 0; i < n; i++ {
		h.uac.send(h.s.UDP(), h.uac.request("MESSAGE", h.ruri("black"), fmt.Sprintf("flood-%d", i), fmt.Sprintf("fl%d", i), 1, ""))
	}
	if v := h.s.WaitMetric(`kemi_tm_transactions_total`, n, 5*time.Second); v != n {
		t.Fatalf("%v transactions, want %d", v, n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && h.s.Metric(`kemi_tm_transactions_alive`) > 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if v := h.s.Metric(`kemi_tm_transactions_alive`); v != 0 {
		t.Fatalf("%v transactions still alive", v)
	}
	if v := h.s.Metric(`kemi_tm_transactions_pending`); v != 0 {
		t.Fatalf("%v transactions still pending", v)
	}
}

func Test6xxEndsEveryBranch(t *testing.T) {
	h, bob, bob2, r1, f1, r2, f2 := forkedCall(t, "call-603", "b603")
	bob.reply(r1, f1, 180, "Ringing", "b1")
	bob2.reply(r2, f2, 603, "Decline", "b2")
	bob2.expectRequest("ACK", 2*time.Second)
	c, cf := bob.expectRequest("CANCEL", 2*time.Second)
	bob.reply(c, cf, 200, "OK", "")
	bob.reply(r1, f1, 487, "Request Terminated", "b1")
	h.uac.expectStatus(603, 2*time.Second)
}

func TestLargeRequestGoesOverTCP(t *testing.T) {
	// bob needs the same port over UDP and TCP; the TCP one may be taken
	// by some other connection, so try a few UDP ports
	var bob *peer
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		bob = newPeer(t, "bob")
		l, err := net.Listen("tcp", bob.addr())
		switch {
		case err == nil:
			ln = l
		case i == 10:
			t.Fatal(err)
		}
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		var buf []byte
		chunk := make([]byte, 8192)
		for {
			n, err := c.Read(chunk)
			buf = append(buf, chunk[:n]...)
			if err != nil || strings.Contains(string(buf), "\r\n\r\n") && len(buf) > 2000 {
				break
			}
		}
		got <- string(buf)
	}()
	h := start(t, map[string]string{"bob": bob.uri()}, nil)
	body := "v=0\r\n" + strings.Repeat("a=x-padding:0123456789abcdef\r\n", 80)
	inv := strings.Replace(h.uac.invite(h.ruri("bob"), "call-big", "big1", 1, "Content-Type: application/sdp"),
		"Content-Length: 0\r\n\r\n", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body), 1)
	h.uac.send(h.s.UDP(), inv)
	select {
	case text := <-got:
		if !strings.HasPrefix(text, "INVITE ") || !strings.Contains(text, "Via: SIP/2.0/TCP ") {
			t.Fatalf("over TCP the callee got:\n%.300s", text)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the large INVITE did not arrive over TCP")
	}
	if n := bob.count("INVITE"); n != 0 {
		t.Errorf("the large INVITE also came over UDP")
	}
}

func TestAbandonedTransactionIsReleased(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.pv.get("$rU") == "stateful" then
		KSR.tm.t_newtran()
		KSR.sl.send_reply(486, "Busy Here") -- through the transaction
		KSR.x.exit()
	end
	KSR.tm.t_newtran() -- and then nothing
end`)
	uac := newPeer(t, "alice")
	uac.send(s.UDP(), uac.request("OPTIONS", "sip:nobody@"+s.UDP(), "abandon", "ab1", 1, ""))
	if v := s.WaitMetric(`kemi_tm_transactions_released_total`, 1, 2*time.Second); v != 1 {
		t.Fatalf("released = %v", v)
	}
	if v := s.Metric(`kemi_tm_transactions_alive`); v != 0 {
		t.Fatalf("alive = %v", v)
	}
	inv := uac.invite("sip:stateful@"+s.UDP(), "stateful-1", "st1", 1)
	uac.send(s.UDP(), inv)
	first := uac.expectStatus(486, 2*time.Second)
	// the retransmission gets the same reply from the transaction
	uac.send(s.UDP(), inv)
	again := uac.expectStatus(486, 2*time.Second)
	if first.To().Params.GetOr("tag", "") != again.To().Params.GetOr("tag", "") {
		t.Errorf("the retransmitted reply has another To tag")
	}
	// counted after the reply went out: wait for it
	if v := s.WaitMetric(`kemi_tm_retransmissions_absorbed_total`, 1, 2*time.Second); v < 1 {
		t.Errorf("absorbed = %v", v)
	}
}

func TestFailureRouteFunctions(t *testing.T) {
	bob := newPeer(t, "bob")
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	if KSR.tm.t_check_trans() == 0 then KSR.x.exit() end
	KSR.tm.t_on_failure("fail")
	KSR.tm.t_on_branch_failure("brfail")
	KSR.tm.t_set_fr(0, 300)
	KSR.tm.t_relay_to_proto_addr("udp", "127.0.0.1", %d)
end
function brfail()
	KSR.info("branch failure " .. KSR.pv.get("$T_reply_code") .. " timeout=" .. KSR.tm.t_branch_timeout())
end
function fail()
	local parts = {
		"status_4xx=" .. KSR.tm.t_check_status("4[0-9][0-9]"),
		"status_5xx=" .. KSR.tm.t_check_status("5.."),
		"any_replied=" .. KSR.tm.t_any_replied(),
		"any_timeout=" .. KSR.tm.t_any_timeout(),
		"branch_replied=" .. KSR.tm.t_branch_replied(),
		"grep_480=" .. KSR.tm.t_grep_status(480),
		"is_failure=" .. KSR.tmx.t_is_failure_route(),
		"is_request=" .. KSR.tmx.t_is_request_route(),
		"idx=" .. KSR.pv.get("$T_branch_idx"),
		"rpl_to_tag=" .. KSR.pv.getw("$T_rpl($tt)"),
		"req_ci=" .. KSR.pv.get("$T_req($ci)"),
		"exists=" .. KSR.tm.t_exists(),
	}
	KSR.info("failure: " .. table.concat(parts, " "))
	KSR.sl.send_reply(404, "Not Found Here")
end`, bob.port()))
	uac := newPeer(t, "alice")
	uac.send(s.UDP(), uac.request("MESSAGE", "sip:bob@example.com", "frf-1", "frf1", 1, ""))
	req, from := bob.expectRequest("MESSAGE", 2*time.Second)
	bob.reply(req, from, 480, "Temporarily Unavailable", "b1")
	res := uac.expectStatus(404, 2*time.Second)
	if res.Reason != "Not Found Here" {
		t.Errorf("reason %q", res.Reason)
	}
	want := "failure: status_4xx=1 status_5xx=-1 any_replied=1 any_timeout=-1 branch_replied=1 grep_480=1 is_failure=1 is_request=-1 idx=1 rpl_to_tag=b1 req_ci=frf-1 exists=1"
	if !strings.Contains(s.Logs(), want) {
		t.Errorf("logs lack %q:\n%s", want, s.Logs())
	}
	if !strings.Contains(s.Logs(), "branch failure 480 timeout=-1") {
		t.Errorf("branch failure route:\n%s", s.Logs())
	}
}

func TestDrainWaitsForTransactions(t *testing.T) {
	bob := newPeer(t, "bob")
	h := start(t, map[string]string{"bob": bob.uri()}, nil)
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-drain", "dr1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	stopped := make(chan time.Time, 1)
	go func() {
		h.s.Shutdown(5 * time.Second)
		stopped <- time.Now()
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("the engine stopped with a live transaction")
	default:
	}
	// a new call is refused meanwhile
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), "call-drain-2", "dr2", 1))
	bob.reply(req, from, 200, "OK", "bobtag")
	h.uac.expectStatus(200, 2*time.Second)
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("the engine did not stop after the transaction ended")
	}
	if n := bob.count("INVITE"); n != 1 { // the call made while draining was not relayed
		t.Errorf("callee got %d INVITEs", n)
	}
}

// forkedCall sends an INVITE that the proxy forks to bob and bob2, and
// returns both branches as they arrived.
func forkedCall(t *testing.T, callID, branch string) (h *harness, bob, bob2 *peer, r1 *sip.Request, f1 *net.UDPAddr, r2 *sip.Request, f2 *net.UDPAddr) {
	t.Helper()
	bob, bob2 = newPeer(t, "bob"), newPeer(t, "bob2")
	h = start(t, map[string]string{"bob": bob.uri(), "bob_fork": bob2.uri()}, nil)
	h.uac.send(h.s.UDP(), h.uac.invite(h.ruri("bob"), callID, branch, 1))
	r1, f1 = bob.expectRequest("INVITE", 2*time.Second)
	r2, f2 = bob2.expectRequest("INVITE", 2*time.Second)
	return
}
