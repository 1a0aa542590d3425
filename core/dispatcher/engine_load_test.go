package dispatcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"
)

// writeList writes a dispatcher.list with the addresses as set 1, each
// line followed by attrs.
func writeList(t *testing.T, attrs []string, addrs ...string) string {
	t.Helper()
	list := ""
	for i, a := range addrs {
		list += fmt.Sprintf("1 sip:%s 0 0 %s\n", a, attrs[i])
	}
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// request sends one request of method with callID through s and returns
// the final code.
func request(t *testing.T, s *enginetest.Server, method sip.RequestMethod, callID string) int {
	t.Helper()
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("uac"))
	defer ua.Close()
	client, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "pbx", Host: "example.com"})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.SetDestination(s.UDP())
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, callID, err)
	}
	return res.StatusCode
}

// xavpFailoverScript fails over by hand from the failure route, with only
// what it reads from $xavp(_dsdst_): it drops the record that failed and
// sends to the next one.
// Its request route is lbScript's.
var xavpFailoverScript = lbScript[:strings.Index(lbScript, "function ksr_failure_manage")] + `
function ksr_failure_manage()
	if KSR.tm.t_is_canceled() > 0 then return end
	local failed = KSR.pv.get("$xavp(_dsdst_=>uri)")
	if failed ~= KSR.pv.get("$du") then
		KSR.err("failure route: $xavp(_dsdst_=>uri) " .. tostring(failed) .. " is not $du\n")
		return
	end
	KSR.pv.unset("$xavp(_dsdst_)")
	local next = KSR.pv.get("$xavp(_dsdst_=>uri)")
	if next then
		KSR.pv.sets("$du", next)
		KSR.tm.t_relay()
	end
end
`

// TestFailureRouteReadsXAVP: a UAS answers 503 to everything; the failure
// route, reading $xavp(_dsdst_) alone, sends each of its requests to the
// next UAS, so every request succeeds.
func TestFailureRouteReadsXAVP(t *testing.T) {
	a, b, c := startUAS(t, 503), startUAS(t, 200), startUAS(t, 200)
	path := writeList(t, []string{"duid=a", "duid=b", "duid=c"}, a.addr, b.addr, c.addr)
	s := enginetest.Start(t, xavpFailoverScript, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2}))
	for i, code := range send(t, s, 6) {
		if code != 200 {
			t.Errorf("request %d answered %d; logs:\n%s", i, code, s.Logs())
		}
	}
	if got := a.count(); got != 2 {
		t.Errorf("the failing UAS got %d requests, want 2 (round robin, never marked)", got)
	}
	if got := b.count() + c.count(); got != 6 {
		t.Errorf("the good UASs got %d requests, want 6", got)
	}
}

// callLoadScript balances INVITEs by call load; a BYE frees the call's
// slot (it is answered here: the test is about the load, not the dialog).
const callLoadScript = `
function ksr_request_route()
	if KSR.is_BYE() then
		KSR.dispatcher.ds_load_update()
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	if KSR.dispatcher.ds_select_dst(1, 10) < 0 then
		KSR.sl.sl_send_reply(503, "All Busy")
		return
	end
	KSR.tm.t_on_failure("ksr_failure_manage")
	KSR.tm.t_relay()
end

function ksr_failure_manage()
	-- ds_load_unset must see the record in use: call it before
	-- ds_next_dst drops the last one (as in Kamailio).
	if KSR.pv.is_null("$xavp(_dsdst_[1]=>uri)") then
		KSR.dispatcher.ds_load_unset()
		return
	end
	if KSR.dispatcher.ds_next_dst() > 0 then
		KSR.tm.t_relay()
	end
end
`

// TestCallLoadOverUAS: three UASs taking one call each get one call each;
// a fourth call finds them full (503); a BYE frees its UAS, which gets the
// next call.
func TestCallLoadOverUAS(t *testing.T) {
	uases := []*uas{startUAS(t, 200), startUAS(t, 200), startUAS(t, 200)}
	path := writeList(t, []string{"duid=a;maxload=1", "duid=b;maxload=1", "duid=c;maxload=1"}, uases[0].addr, uases[1].addr, uases[2].addr)
	s := enginetest.Start(t, callLoadScript, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2, "ds_hash_size": 8}))
	for i := 1; i <= 3; i++ {
		if code := request(t, s, sip.INVITE, fmt.Sprintf("call-%d", i)); code != 200 {
			t.Fatalf("call %d answered %d; logs:\n%s", i, code, s.Logs())
		}
	}
	for _, u := range uases {
		if got := u.count(); got != 1 {
			t.Errorf("UAS %s got %d calls, want 1", u.addr, got)
		}
	}
	if code := request(t, s, sip.INVITE, "call-4"); code != 503 {
		t.Errorf("a call with every UAS full answered %d, want 503", code)
	}
	// The set is in reverse file order and ties go to the first: call-2
	// went to uases[1].
	if code := request(t, s, sip.BYE, "call-2"); code != 200 {
		t.Fatalf("BYE answered %d", code)
	}
	if code := request(t, s, sip.INVITE, "call-5"); code != 200 {
		t.Fatalf("call 5 answered %d", code)
	}
	if got := uases[1].count(); got != 2 {
		t.Errorf("the UAS freed by the BYE got %d calls, want 2", got)
	}
}

// TestCallLoadFailover: the least loaded UAS answers 486; the failure
// route moves the call to the next one, and the load follows it.
func TestCallLoadFailover(t *testing.T) {
	busy, ok := startUAS(t, 486), startUAS(t, 200)
	// Reverse file order: busy is first.
	path := writeList(t, []string{"duid=ok;maxload=1", "duid=busy;maxload=1"}, ok.addr, busy.addr)
	s := enginetest.Start(t, callLoadScript, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2, "ds_hash_size": 8}))
	if code := request(t, s, sip.INVITE, "f1"); code != 200 {
		t.Fatalf("call answered %d; logs:\n%s", code, s.Logs())
	}
	// The call moved to ok (now full); busy is free, so the next call is
	// tried there first, fails over to full ok... and is answered 486.
	if code := request(t, s, sip.INVITE, "f2"); code != 486 {
		t.Errorf("second call answered %d, want 486 (its only candidate busy)", code)
	}
	if busy.count() != 2 || ok.count() != 1 {
		t.Errorf("busy got %d, ok got %d; want 2 and 1", busy.count(), ok.count())
	}
	// ds_load_unset freed busy's slot for f2, BYE frees ok's for f1:
	// the third call tries busy again, then ok.
	request(t, s, sip.BYE, "f1")
	if code := request(t, s, sip.INVITE, "f3"); code != 200 || busy.count() != 3 || ok.count() != 2 {
		t.Errorf("third call answered %d, busy got %d calls, ok %d; want 200, 3, 2", code, busy.count(), ok.count())
	}
}
