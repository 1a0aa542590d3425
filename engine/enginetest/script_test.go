package enginetest_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine/enginetest"
)

const proxyPath = "../../scripts/proxy.lua"

func proxy(t *testing.T) *enginetest.Script {
	return enginetest.NewScript(t, proxyPath, enginetest.ScriptOptions{
		Defines: map[string]string{"DST_bob": "sip:10.0.0.5:5060", "ALT_bob": "sip:10.0.0.6:5060"},
		Aliases: []string{"example.com"},
	})
}

func TestScriptRunRelays(t *testing.T) {
	s := proxy(t)
	r := s.Run(enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com"}.Message())
	if r.Err != nil || !r.Ran || !r.Exited {
		t.Fatalf("ran=%v exited=%v err=%v", r.Ran, r.Exited, r.Err)
	}
	if len(r.Replies) != 1 || r.Replies[0].Code != 100 || r.Replies[0].Dest != "udp:192.0.2.10:5062" {
		t.Errorf("replies %+v", r.Replies)
	}
	if len(r.Relays) != 1 {
		t.Fatalf("relays:\n%s", r)
	}
	rel := r.Relays[0]
	if rel.Method != "INVITE" || rel.URI != "sip:bob@example.com" || rel.Dest != "udp:10.0.0.5:5060" || rel.Socket != "udp:127.0.0.1:5060" {
		t.Errorf("relay %+v", rel)
	}
	if rel.Header("Max-Forwards") != "69" || !strings.HasPrefix(rel.Header("Record-Route"), "<sip:127.0.0.1:5060;lr") {
		t.Errorf("relay headers:\n%s", rel.Text)
	}
	if r.Written() != rel.Text {
		t.Errorf("Written is not the relay")
	}
	if !r.Flag(1) || r.Flag(2) {
		t.Errorf("flags %b", r.Msg.Flags)
	}
	if du := r.PV("$du"); du != "sip:10.0.0.5:5060" {
		t.Errorf("$du = %v", du)
	}
	// the trace names the script's lines
	var calls []string
	for _, c := range r.Trace {
		calls = append(calls, c.String())
	}
	for _, want := range []string{`proxy.lua:73: KSR.maxfwd.process_maxfwd(10) = 1`, `proxy.lua:123: KSR.kx.get_def("DST_bob") = "sip:10.0.0.5:5060"`,
		`proxy.lua:159: KSR.tm.t_relay() = 1`, `proxy.lua:162: KSR.x.exit()`} {
		if !strings.Contains(strings.Join(calls, "\n"), want) {
			t.Errorf("trace lacks %q:\n%s", want, strings.Join(calls, "\n"))
		}
	}
}

func TestScriptFailureRoute(t *testing.T) {
	s := proxy(t)
	s.Run(enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com"}.Message())
	f := s.Fail(486, "Busy Here")
	if len(f.Relays) != 2 || f.Relays[0].Method != "ACK" || f.Relays[1].Dest != "udp:10.0.0.6:5060" {
		t.Fatalf("after 486:\n%s", f)
	}
	// tm sends upstream the best of the branches' replies, as
	// Kamailio's does: the 486 of the first rather than the 480
	last := s.Fail(480, "")
	if len(last.Replies) != 1 || last.Replies[0].Code != 486 {
		t.Fatalf("after the alternate's 480:\n%s", last)
	}
	if !strings.Contains(last.String(), `proxy.lua:202: KSR.pv.get("$T_reply_code") = 486`) {
		t.Errorf("ksr_failure_last did not run:\n%s", last)
	}
}

func TestScriptAnswerAndCancel(t *testing.T) {
	s := proxy(t)
	inv := enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com", Source: "tcp:192.0.2.20:40000"}
	text := inv.Text()
	r := s.Run(enginetest.Message{Text: text, Source: inv.Source})
	if got := r.Reply().Dest; got != "tcp:192.0.2.20:40000" {
		t.Errorf("100 Trying to %q", got)
	}
	ring := s.Answer(r.Relays[0], 180, "Ringing")
	if ring.Reply().Code != 180 {
		t.Fatalf("180:\n%s", ring)
	}
	cancel, err := enginetest.Cancel(text)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Run(enginetest.Message{Text: cancel, Source: inv.Source})
	if c.Reply().Code != 200 || len(c.Relays) != 1 || c.Relays[0].Method != "CANCEL" || c.Relays[0].Dest != "udp:10.0.0.5:5060" {
		t.Fatalf("CANCEL:\n%s", c)
	}
}

func TestScriptRegistrarState(t *testing.T) {
	s := enginetest.NewScript(t, "../../scripts/registrar.lua", enginetest.ScriptOptions{Aliases: []string{"example.com"}})
	if err := s.AddSubscriber("alice", "example.com", "secret"); err != nil {
		t.Fatal(err)
	}
	reg := enginetest.RequestSpec{Method: "REGISTER", RURI: "sip:example.com",
		Headers: []enginetest.Header{{Name: "From", Value: "<sip:alice@example.com>;tag=1"}}}
	text := reg.Text()
	r := s.Run(enginetest.Message{Text: text})
	ch := r.Reply()
	if ch.Code != 401 {
		t.Fatalf("REGISTER:\n%s", r)
	}
	authed, err := enginetest.Authorize(text, "WWW-Authenticate", ch.Header("WWW-Authenticate"), "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if ok := s.Run(enginetest.Message{Text: authed}); ok.Reply().Code != 200 {
		t.Fatalf("authorized REGISTER:\n%s\n%s", ok, ok.Logs)
	}
	bs, err := s.Contacts("", "alice")
	if err != nil || len(bs) != 1 || bs[0].Contact != "sip:alice@192.0.2.10:5062" {
		t.Fatalf("contacts %+v %v", bs, err)
	}
	if err := s.AddContact(enginetest.Contact{AOR: "bob", Contact: "sip:bob@198.51.100.9:5060"}); err != nil {
		t.Fatal(err)
	}
	call := s.Run(enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com",
		Headers: []enginetest.Header{{Name: "From", Value: "<sip:carol@other.example>;tag=c"}}}.Message())
	if len(call.Relays) != 1 || call.Relays[0].Dest != "udp:198.51.100.9:5060" {
		t.Fatalf("INVITE to bob:\n%s", call)
	}
}

func TestScriptCallAndCover(t *testing.T) {
	p, err := enginetest.NewProgram(proxyPath, enginetest.ScriptOptions{Cover: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		s, err := p.StartWith(enginetest.ScriptOptions{Params: map[string]map[string]any{"htable": {"htable": "t=>size=4"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Call(nil, "KSR.htable.sht_sets", "t", "k", "v"); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Call(nil, "KSR.htable.sht_get", "t", "k"); err != nil || v != "v" {
			t.Errorf("sht_get = %v, %v", v, err)
		}
		if _, err := s.Call(nil, "KSR.nosuch.f"); err == nil {
			t.Errorf("a missing function is no error")
		}
		s.Run(enginetest.RequestSpec{Method: "OPTIONS", RURI: "sip:127.0.0.1"}.Message())
		s.Close()
	}
	cov := p.Cover()
	// two engines ran the top level: "local FLT_ACC = 1" (line 24) twice
	if n := cov.Count(24); n != 2 {
		t.Errorf("line 24 ran %d times, want 2", n)
	}
	if ran, total := cov.Covered(); ran == 0 || ran >= total {
		t.Errorf("covered %d of %d", ran, total)
	}
}

func TestRequestSpecDefaults(t *testing.T) {
	text := enginetest.RequestSpec{Method: "invite", RURI: "sip:bob@example.com", Source: "tcp:192.0.2.7:5070", Body: "v=0\r\n",
		Headers: []enginetest.Header{{Name: "Max-Forwards", Value: "5"}, {Name: "X-Test", Value: "1"}}}.Text()
	for _, want := range []string{"INVITE sip:bob@example.com SIP/2.0\r\n", "Via: SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bK",
		"From: <sip:alice@example.com>;tag=", "To: <sip:bob@example.com>\r\n", "CSeq: 1 INVITE\r\n",
		"Contact: <sip:alice@192.0.2.7:5070;transport=tcp>\r\n", "Content-Type: application/sdp\r\n",
		"Max-Forwards: 5\r\nX-Test: 1\r\nContent-Length: 5\r\n\r\nv=0\r\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("request lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "Max-Forwards") != 1 {
		t.Errorf("a given header does not replace the default:\n%s", text)
	}
}

func TestCancelAndAck(t *testing.T) {
	inv := enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com",
		Headers: []enginetest.Header{{Name: "Route", Value: "<sip:127.0.0.1;lr>"}}}.Text()
	branch := strings.SplitN(strings.SplitN(inv, "branch=", 2)[1], ";", 2)[0]
	cancel, err := enginetest.Cancel(inv)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := enginetest.Ack(inv, "xyz")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ text, first, cseq, to string }{
		{cancel, "CANCEL sip:bob@example.com SIP/2.0\r\n", "CSeq: 1 CANCEL\r\n", "To: <sip:bob@example.com>\r\n"},
		{ack, "ACK sip:bob@example.com SIP/2.0\r\n", "CSeq: 1 ACK\r\n", "To: <sip:bob@example.com>;tag=xyz\r\n"},
	} {
		if !strings.HasPrefix(c.text, c.first) || !strings.Contains(c.text, c.cseq) || !strings.Contains(c.text, c.to) ||
			!strings.Contains(c.text, "branch="+branch) || !strings.Contains(c.text, "Route: <sip:127.0.0.1;lr>\r\n") {
			t.Errorf("derived request:\n%s\nfrom:\n%s", c.text, inv)
		}
	}
	if _, err := enginetest.Cancel("BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n"); err == nil {
		t.Errorf("the CANCEL of a BYE")
	}
}
