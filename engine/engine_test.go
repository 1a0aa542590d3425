package engine_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// udpPeer is a raw UDP socket for sending hand-written SIP.
type udpPeer struct {
	t *testing.T
	c *net.UDPConn
}

func newPeer(t *testing.T) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, c: c}
}

func (p *udpPeer) port() int { return p.c.LocalAddr().(*net.UDPAddr).Port }

func (p *udpPeer) send(to string, msg string) {
	p.t.Helper()
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.WriteToUDP([]byte(msg), addr); err != nil {
		p.t.Fatal(err)
	}
}

// recv waits for one datagram; "" on timeout.
func (p *udpPeer) recv(timeout time.Duration) string {
	buf := make([]byte, 65536)
	p.c.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.c.ReadFromUDP(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// options builds an OPTIONS request from the peer.
func options(p *udpPeer, ruri, callID string, extra ...string) string {
	// a Call-ID and a branch are RFC 3261 words: test names may not be
	callID = branchSafe(callID)
	hdrs := strings.Join(extra, "")
	return fmt.Sprintf("OPTIONS %s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a1\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Max-Forwards: 70\r\n%s"+
		"Content-Length: 0\r\n\r\n", ruri, p.port(), callID, ruri, callID, hdrs)
}

// branchSafe keeps the characters of s a Via branch (a token) and a
// Call-ID may hold.
func branchSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)) {
			return r
		}
		return '-'
	}, s)
}

const answerScript = `
function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "Alive")
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(404, "Not Here")
end
`

func TestOptionsAnsweredByScript(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "opt-1"))
	res := p.recv(2 * time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200 Alive\r\n") {
		t.Fatalf("reply = %q", res)
	}
	for _, want := range []string{"Call-ID: opt-1", "received=127.0.0.1", fmt.Sprintf("rport=%d", p.port()), "To: <sip:kemi@127.0.0.1>;tag="} {
		if !strings.Contains(res, want) {
			t.Errorf("reply lacks %q:\n%s", want, res)
		}
	}
	if v := s.WaitMetric(`kemi_core_requests_received_total{method="OPTIONS"}`, 1, time.Second); v != 1 {
		t.Errorf("OPTIONS counted %v times, want 1", v)
	}
	if v := s.Metric(`kemi_sl_replies_sent_total{class="2xx"}`); v != 1 {
		t.Errorf("sl 2xx replies = %v, want 1", v)
	}
}

func TestOptionsOverTCP(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	c, err := net.Dial("tcp", s.TCP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.TCPAddr).Port
	for i := 0; i < 3; i++ {
		msg := fmt.Sprintf("OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKtcp%d\r\n"+
			"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: tcp-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, i, i)
		// send in two pieces: the framer must wait for the rest
		half := len(msg) / 2
		c.Write([]byte(msg[:half]))
		time.Sleep(5 * time.Millisecond)
		c.Write([]byte(msg[half:]))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, "SIP/2.0 200 Alive") || !strings.Contains(got, fmt.Sprintf("Call-ID: tcp-%d", i)) {
			t.Fatalf("reply %d = %q", i, got)
		}
	}
}

func TestExitStopsRouteAndPcallCatchesIt(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	local ok = pcall(function() KSR.x.exit() end)
	-- as in Kamailio, pcall catches the exit error: the route goes on
	KSR.hdr.append_to_reply = nil
	KSR.sl.sl_send_reply(200, "After pcall " .. tostring(ok))
	KSR.x.exit()
	KSR.sl.sl_send_reply(500, "Not reached")
end`)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "exit-1"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 After pcall false") {
		t.Fatalf("reply = %q", res)
	}
	if res := p.recv(200 * time.Millisecond); res != "" {
		t.Fatalf("a second reply was sent: %q", res)
	}
}

func TestLuaErrorAbortsOneRouteOnly(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.pv.get("$ci") == "boom" then
		local t = nil
		t.x = 1 -- line 5: runtime error
	end
	KSR.sl.sl_send_reply(200, "OK")
end`)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "boom"))
	if res := p.recv(300 * time.Millisecond); res != "" {
		t.Fatalf("the failing route replied: %q", res)
	}
	for i := 0; i < 5; i++ {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", fmt.Sprintf("fine-%d", i)))
		if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 OK") {
			t.Fatalf("reply after the error = %q", res)
		}
	}
	if v := s.Metric(`kemi_script_errors_total{route="ksr_request_route"}`); v != 1 {
		t.Errorf("lua errors = %v, want 1", v)
	}
	logs := s.Logs()
	if !strings.Contains(logs, "test.lua:5:") || !strings.Contains(logs, "traceback") {
		t.Errorf("error log lacks file:line or traceback:\n%s", logs)
	}
}

func TestRunawayRouteIsStopped(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.pv.get("$ci") == "loop" then
		while true do end
	end
	KSR.sl.sl_send_reply(200, "OK")
end`, enginetest.WithConfig(func(c *engine.Config) { c.RouteTimeout = 100 * time.Millisecond }))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "loop"))
	// the other worker keeps serving while one loops
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "meanwhile"))
	if res := p.recv(2 * time.Second); !strings.Contains(res, "Call-ID: meanwhile") {
		t.Fatalf("reply while a route loops = %q", res)
	}
	if v := s.WaitMetric(`kemi_script_timeouts_total{route="ksr_request_route"}`, 1, 3*time.Second); v != 1 {
		t.Fatalf("timeouts = %v, want 1", v)
	}
	for i := 0; i < 4; i++ {
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", fmt.Sprintf("after-%d", i)))
		if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 OK") {
			t.Fatalf("reply after the timeout = %q", res)
		}
	}
}

func TestSandbox(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	local ok, err = pcall(os.exit, 1)
	local ok2 = pcall(os.execute, "true")
	local ok3 = pcall(io.popen, "true")
	KSR.sl.sl_send_reply(200, tostring(ok) .. tostring(ok2) .. tostring(ok3))
end`)
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "sandbox"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 falsefalsefalse") {
		t.Fatalf("reply = %q", res)
	}
}

func TestBadInputIsCountedAndDropped(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) { c.MaxMessageSize = 4000 }))
	p := newPeer(t)
	bad := []struct {
		name, msg, reason string
	}{
		{"garbage", "\x16\x03\x01 this is not SIP at all\r\n\r\n", "malformed"},
		{"no call-id", "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", "malformed"},
		{"bad cseq", "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: one OPTIONS\r\nContent-Length: 0\r\n\r\n", "malformed"},
		{"oversized", options(p, "sip:a@127.0.0.1", "big", "X-Pad: "+strings.Repeat("x", 5000)+"\r\n"), "oversized"},
		{"unknown method", strings.ReplaceAll(options(p, "sip:a@127.0.0.1", "unk"), "OPTIONS", "FROBNICATE"), "unknown_method"},
	}
	for _, b := range bad {
		p.send(s.UDP(), b.msg)
	}
	for _, reason := range []string{"malformed", "oversized", "unknown_method"} {
		want := 0.0
		for _, b := range bad {
			if b.reason == reason {
				want++
			}
		}
		series := `kemi_core_messages_dropped_total{reason="` + reason + `"}`
		if v := s.WaitMetric(series, want, 2*time.Second); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	if res := p.recv(200 * time.Millisecond); res != "" {
		t.Errorf("bad input was answered: %q", res)
	}
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "good"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Alive") {
		t.Fatalf("good request after bad input: %q", res)
	}
}

func TestBrokenScriptIsRefused(t *testing.T) {
	cases := map[string]struct{ script, want string }{
		"syntax":     {"function ksr_request_route()\n  if then\nend\n", "test.lua:2:"},
		"no route":   {"function other() end\n", "ksr_request_route"},
		"top error":  {"local x = nil\nx.y = 1\nfunction ksr_request_route() end\n", "test.lua:2:"},
		"lua 5.3 op": {"function ksr_request_route()\n local a = 7 // 2\nend\n", "Lua 5.1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := engine.New(engine.Config{Script: []byte(c.script), ScriptPath: "test.lua", Listen: []string{"udp:127.0.0.1:0"}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestStatelessInviteCall sends a whole call (INVITE/180/200/ACK/BYE/200)
// from a sipgo client through kemi, forwarding statelessly, to a sipgo
// server.
func TestStatelessInviteCall(t *testing.T) {
	uasConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uasAddr := uasConn.LocalAddr().String()
	s := enginetest.Start(t, `
local UAS = "sip:`+uasAddr+`"
function ksr_request_route()
	if KSR.is_INVITE() then
		KSR.setdsturi(UAS)
	end
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(500, "Forward failed")
	end
end
function ksr_reply_route()
	if KSR.pv.get("$rs") == 183 then KSR.x.drop() end
end`)

	uasUA, _ := sipgo.NewUA(sipgo.WithUserAgent("uas"))
	defer uasUA.Close()
	srv, _ := sipgo.NewServer(uasUA)
	var gotAck, gotBye atomic.Bool
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 183, "Session Progress", nil)) // dropped by the reply route
		tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
		ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: uasConn.LocalAddr().(*net.UDPAddr).Port}})
		tx.Respond(ok)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { gotAck.Store(true) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		gotBye.Store(true)
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go srv.ServeUDP(uasConn)

	uacUA, _ := sipgo.NewUA(sipgo.WithUserAgent("uac"))
	defer uacUA.Close()
	client, _ := sipgo.NewClient(uacUA, sipgo.WithClientHostname("127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	invite := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"})
	invite.SetDestination(s.UDP())
	tx, err := client.TransactionRequest(ctx, invite)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	var codes []int
	var final *sip.Response
	for final == nil {
		select {
		case res := <-tx.Responses():
			codes = append(codes, res.StatusCode)
			if res.StatusCode >= 200 {
				final = res
			}
		case <-ctx.Done():
			t.Fatalf("no final reply; got %v", codes)
		}
	}
	if final.StatusCode != 200 {
		t.Fatalf("final = %d", final.StatusCode)
	}
	for _, c := range codes {
		if c == 183 {
			t.Errorf("183 was forwarded although the reply route dropped it")
		}
	}
	if len(final.GetHeaders("Via")) != 1 {
		t.Errorf("kemi's Via was not removed: %v", final.GetHeaders("Via"))
	}
	contact := final.Contact().Address

	ack := sip.NewRequest(sip.ACK, contact)
	ack.SetDestination(s.UDP())
	for _, h := range []string{"From", "To", "Call-ID"} {
		ack.AppendHeader(sip.HeaderClone(final.GetHeader(h)))
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: final.CSeq().SeqNo, MethodName: sip.ACK})
	if err := client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}

	bye := sip.NewRequest(sip.BYE, contact)
	bye.SetDestination(s.UDP())
	for _, h := range []string{"From", "To", "Call-ID"} {
		bye.AppendHeader(sip.HeaderClone(final.GetHeader(h)))
	}
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: final.CSeq().SeqNo + 1, MethodName: sip.BYE})
	res, err := client.Do(ctx, bye)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !gotAck.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !gotAck.Load() || !gotBye.Load() {
		t.Fatalf("UAS got ACK=%v BYE=%v", gotAck.Load(), gotBye.Load())
	}
	if v := s.Metric(`kemi_core_messages_dropped_total{reason="script_drop"}`); v < 1 {
		t.Errorf("dropped 183 not counted: %v", v)
	}
}

func TestOnsendRouteSeesAndDrops(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	if KSR.forward_uri("sip:127.0.0.1:%d") < 0 then
		KSR.sl.sl_send_reply(403, "Dropped by onsend")
	end
end
function ksr_onsend_route()
	KSR.info("onsend to " .. KSR.pv.get("$snd(ip)") .. ":" .. KSR.pv.get("$snd(port)"))
	if KSR.pv.get("$ci") == "drop-me" then
		KSR.x.drop()
	end
end`, uas.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:bob@example.com", "pass-me"))
	got := uas.recv(2 * time.Second)
	if !strings.Contains(got, "Call-ID: pass-me") || !strings.Contains(got, "Via: SIP/2.0/UDP "+s.UDP()) {
		t.Fatalf("UAS got %q", got)
	}
	p.send(s.UDP(), options(p, "sip:bob@example.com", "drop-me"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 403 Dropped by onsend") {
		t.Fatalf("reply = %q", res)
	}
	if got := uas.recv(200 * time.Millisecond); got != "" {
		t.Fatalf("dropped request reached the UAS: %q", got)
	}
	if !strings.Contains(s.Logs(), fmt.Sprintf("onsend to 127.0.0.1:%d", uas.port())) {
		t.Errorf("onsend route did not see $snd:\n%s", s.Logs())
	}
}

func TestRouteInMemory(t *testing.T) {
	res := enginetest.Route(t, `
function ksr_request_route()
	KSR.hdr.append("X-Seen: yes\r\n")
	if KSR.is_INVITE() then
		KSR.sl.sl_send_reply(486, "Busy")
		KSR.x.exit()
	end
end`, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: mem-1\nCSeq: 1 INVITE\n\n")
	if res.Err != nil || !res.Exited || len(res.Sent) != 1 || !strings.HasPrefix(res.Sent[0].Msg, "SIP/2.0 486 Busy") {
		t.Fatalf("%s", res)
	}
	if v, _ := res.Msg.HeaderValue("X-Seen"); v != "yes" {
		t.Errorf("header not added: %q", v)
	}
}

// TestRouteInMemoryRecordsModuleSends: modules that send through their own
// host (tm) are recorded by Route's fake host too.
func TestRouteInMemoryRecordsModuleSends(t *testing.T) {
	res := enginetest.Route(t, `
function ksr_request_route()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_send_reply(500, "Relay failed")
	end
end`, "INVITE sip:bob@192.0.2.20:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK2\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: mem-2\nCSeq: 1 INVITE\nMax-Forwards: 70\n\n")
	if res.Err != nil {
		t.Fatalf("%s", res)
	}
	relayed := false
	for _, s := range res.Sent {
		if strings.HasPrefix(s.Msg, "INVITE sip:bob@192.0.2.20:5060 SIP/2.0") && s.Dest.Addr.String() == "192.0.2.20:5060" {
			relayed = true
		}
	}
	if !relayed {
		t.Fatalf("the relayed INVITE was not recorded:\n%s", res)
	}
}

// TestForwardWithoutViaOrFrom: a route that removed the Via (or From,
// CSeq, Call-ID) before forwarding statelessly made the branch
// computation dereference the missing header: a Go panic in
// KSR.forward_uri and nothing forwarded. Kamailio forwards it with its
// own Via; so does kemi now.
func TestForwardWithoutViaOrFrom(t *testing.T) {
	next := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.hdr.remove("Via")
	KSR.hdr.remove("From")
	KSR.hdr.remove("CSeq")
	KSR.hdr.remove("Call-ID")
	KSR.forward_uri("sip:127.0.0.1:%d")
end`, next.port()))
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "no-via"))
	got := next.recv(2 * time.Second)
	if !strings.HasPrefix(got, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ") || strings.Count(got, "Via:") != 1 {
		t.Fatalf("forwarded %q, want the request with our Via only", got)
	}
	if strings.Contains(s.Logs(), "panic") {
		t.Errorf("a panic was logged:\n%s", s.Logs())
	}
}

// TestValuesKeptByAScriptOutliveTheDatagram: the engine reuses a
// datagram's buffer once its message is done with (it stayed lazy: here
// it is forwarded statelessly), so every value a route reads from a
// received message must be a copy: a script keeps the first message's
// $ou, $ru, $ci, $fu and a header in globals, and logs them with every
// later message, after many other datagrams.
func TestValuesKeptByAScriptOutliveTheDatagram(t *testing.T) {
	sink := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	if kept == nil then
		kept = {KSR.pv.get("$ou"), KSR.pv.get("$ru"), KSR.pv.get("$ci"), KSR.pv.get("$fu"), KSR.pv.get("$hdr(X-Keep)"), KSR.hdr.get("X-Keep")}
	end
	KSR.info("kept " .. table.concat(kept, "|"))
	KSR.forward_uri("sip:127.0.0.1:%d")
end`, sink.port()), enginetest.WithConfig(func(c *engine.Config) { c.Workers = 1 })) // one Lua state: one kept
	p := newPeer(t)
	const n = 50
	for i := 0; i < n; i++ {
		ruri := "sip:first@127.0.0.1"
		if i > 0 {
			ruri = fmt.Sprintf("sip:other%03d@127.0.0.1", i)
		}
		p.send(s.UDP(), options(p, ruri, fmt.Sprintf("keep-%d", i), fmt.Sprintf("X-Keep: value-%d\r\n", i)))
		if got := sink.recv(2 * time.Second); got == "" {
			t.Fatalf("message %d not forwarded", i)
		}
	}
	want := "kept sip:first@127.0.0.1|sip:first@127.0.0.1|keep-0|sip:alice@127.0.0.1|value-0|value-0"
	if c := strings.Count(s.Logs(), want); c != n {
		t.Fatalf("%d of %d log lines carry the first message's values intact:\n%s", c, n, s.Logs())
	}
}

// TestCSeqMethodMismatchReachesSanity: a request whose CSeq method is not
// its own is routed, as Kamailio's core routes it, so that the script's
// sanity_check answers it with Kamailio's 400.
func TestCSeqMethodMismatchReachesSanity(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.sanity.sanity_check(17895, 7) < 0 then KSR.x.exit() end
	KSR.sl.sl_send_reply(200, "Sane")
end`)
	p := newPeer(t)
	p.send(s.UDP(), strings.Replace(options(p, "sip:a@127.0.0.1", "cseq-mismatch"), "CSeq: 1 OPTIONS", "CSeq: 1 INFO", 1))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 400 CSeq method does not match request method") {
		t.Fatalf("reply %q, want sanity's 400", res)
	}
	p.send(s.UDP(), options(p, "sip:a@127.0.0.1", "cseq-match"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Sane") {
		t.Fatalf("reply %q, want 200 Sane", res)
	}
}
