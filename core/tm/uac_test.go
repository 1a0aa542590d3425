package tm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

const uacScript = `
function ksr_request_route()
	local hdrs = "From: <sip:kemi@127.0.0.1>\r\nTo: <sip:watcher@127.0.0.1>\r\nEvent: test\r\nContent-Type: text/plain\r\n"
	if KSR.pv.get("$rU") == "bad" then
		hdrs = "To: <sip:watcher@127.0.0.1>\r\n" -- no From
	end
	local r = KSR.tm.t_uac_send("NOTIFY", KSR.kx.get_def("watcher"), "", "", hdrs, "hello")
	KSR.sl.sl_send_reply(200, "uac " .. r)
end
`

// t_uac_send sends a request of our own, retransmits it over UDP until a
// reply comes, and absorbs the reply.
func TestUACSend(t *testing.T) {
	watcher := newPeer(t, "watcher")
	s := enginetest.Start(t, uacScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = map[string]string{"watcher": watcher.uri()}
	}))
	uac := newPeer(t, "alice")
	uac.send(s.UDP(), uac.request("MESSAGE", "sip:go@"+s.UDP(), "uac-1", "u1", 1, ""))
	if res := uac.expectStatus(200, 2*time.Second); res.Reason != "uac 1" {
		t.Fatalf("t_uac_send returned %q", res.Reason)
	}
	req, from := watcher.expectRequest("NOTIFY", 2*time.Second)
	checks := []struct {
		what, got, want string
	}{
		{"CSeq", req.CSeq().Value(), "1 NOTIFY"},
		{"Max-Forwards", req.MaxForwards().Value(), "70"},
		{"body", string(req.Body()), "hello"},
		{"Event", req.GetHeader("Event").Value(), "test"},
		{"Via branch prefix", req.Via().Params.GetOr("branch", "")[:10], "z9hG4bKkmu"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !req.From().Params.Has("tag") || req.CallID() == nil || req.CallID().Value() == "" {
		t.Errorf("From tag or Call-ID not generated: %s", req)
	}
	// no reply yet: UDP retransmission (timer A)
	watcher.expectRequest("NOTIFY", 2*time.Second)
	watcher.reply(req, from, 200, "OK", "w1")
	time.Sleep(100 * time.Millisecond)
	watcher.quiet(1200*time.Millisecond, nil)
	if v := s.Metric(`kemi_tm_uac_requests_total`); v != 1 {
		t.Errorf("kemi_tm_uac_requests_total = %v", v)
	}

	uac.send(s.UDP(), uac.request("MESSAGE", "sip:bad@"+s.UDP(), "uac-2", "u2", 1, ""))
	if res := uac.expectStatus(200, 2*time.Second); res.Reason != "uac -1" {
		t.Fatalf("t_uac_send without From returned %q", res.Reason)
	}
	if logs := s.Logs(); !strings.Contains(logs, "headers need From and To") {
		t.Errorf("the error is not logged:\n%s", logs)
	}
}

// tm's kemi.UAC service, as dispatcher and nathelper use it: each request
// reports its final reply, a timeout, or an error at once.
func TestUACService(t *testing.T) {
	s := enginetest.Start(t, "function ksr_request_route() end")
	uac, ok := s.Services().Lookup(kemi.ServiceUAC).(kemi.UAC)
	if !ok {
		t.Fatal("tm publishes no kemi.UAC")
	}
	answering := newPeer(t, "pbx")
	silent := newPeer(t, "gone")
	results := make(chan kemi.UACResult, 2)
	options := func(to *peer, timeout time.Duration) kemi.UACRequest {
		return kemi.UACRequest{
			Method:  "OPTIONS",
			RURI:    to.uri(),
			Headers: "From: <sip:dispatcher@127.0.0.1>\r\nTo: <" + to.uri() + ">\r\n",
			Timeout: timeout,
		}
	}
	if err := uac.SendRequest(options(answering, 0), func(r kemi.UACResult) { results <- r }); err != nil {
		t.Fatal(err)
	}
	req, from := answering.expectRequest("OPTIONS", 2*time.Second)
	answering.reply(req, from, 404, "Not Here", "p1")
	select {
	case r := <-results:
		if r.Code != 404 || r.Reason != "Not Here" || r.Reply == nil {
			t.Errorf("answered probe: %+v", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no result for an answered request")
	}

	if err := uac.SendRequest(options(silent, 300*time.Millisecond), func(r kemi.UACResult) { results <- r }); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-results:
		if r.Code != 408 || r.Reply != nil {
			t.Errorf("unanswered probe: %+v", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no result for an unanswered request")
	}

	bad := options(silent, 0)
	bad.Headers = "To: <sip:x@127.0.0.1>\r\n"
	if err := uac.SendRequest(bad, func(r kemi.UACResult) { t.Errorf("callback for a request never sent: %+v", r) }); err == nil {
		t.Error("a request without From was accepted")
	}
}
