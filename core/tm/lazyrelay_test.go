package tm_test

// tm's request side in both forms of the request: the lazy one (the
// engine's, t_relay writes each branch from it with lumps) and sipgo's
// (the script's first call, KSR.hdr.remove, needs it). Every test runs in
// both and checks the same wire.

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// formsScript relays INVITEs to bob ($du), to carol as well with FORK; a
// 486 goes on to carol from the failure route with SERIAL; requests in a
// dialog go to bob, CANCEL and the ACK of a negative reply to their
// INVITE's transaction. With SIPGO every request is turned into sipgo's
// form first.
const formsScript = `
function ksr_request_route()
	if KSR.kx.ifdef("SIPGO") then KSR.hdr.remove("X-None") end
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.siputils.has_totag() > 0 then
		KSR.setdsturi(KSR.kx.get_def("bob"))
		KSR.tm.t_relay()
		return
	end
	KSR.tm.t_on_failure("ksr_failure")
	if KSR.kx.ifdef("FORK") then KSR.corex.append_branch_uri(KSR.kx.get_def("carol")) end
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_relay()
end
function ksr_failure()
	if KSR.kx.ifdef("SERIAL") and KSR.tm.t_check_status("486") > 0 then
		KSR.seturi(KSR.kx.get_def("carol"))
		KSR.setdsturi(KSR.kx.get_def("carol"))
		KSR.tm.t_relay()
	end
end`

// formsRig is formsScript on an engine, with the caller and two callees.
type formsRig struct {
	s               *enginetest.Server
	uac, bob, carol *peer
}

// eachForm runs f once with the requests lazy and once in sipgo's form.
func eachForm(t *testing.T, defines []string, params map[string]any, f func(t *testing.T, r *formsRig)) {
	for _, form := range []string{"lazy", "sipgo"} {
		t.Run(form, func(t *testing.T) {
			r := &formsRig{bob: newPeer(t, "bob"), carol: newPeer(t, "carol"), uac: newPeer(t, "alice")}
			d := map[string]string{"bob": r.bob.uri(), "carol": r.carol.uri()}
			for _, name := range defines {
				d[name] = "1"
			}
			if form == "sipgo" {
				d["SIPGO"] = "1"
			}
			opts := []enginetest.Option{enginetest.WithConfig(func(c *engine.Config) { c.Defines = d })}
			if params != nil {
				opts = append(opts, enginetest.WithParams("tm", params))
			}
			r.s = enginetest.Start(t, formsScript, opts...)
			f(t, r)
		})
	}
}

// checkHopByHop checks a CANCEL or ACK tm sent on a branch against the
// INVITE as the branch sent it (RFC 3261 §9.1, §17.1.1.3): its
// Request-URI, only its top Via (ours, same branch), its From, Call-ID,
// Route set and Max-Forwards, To as given, the CSeq number with method.
func checkHopByHop(t *testing.T, method string, got, inv received, to string) {
	t.Helper()
	g, i := parseWire(got.raw), parseWire(inv.raw)
	if want := method + " " + strings.Fields(i.first)[1] + " SIP/2.0"; g.first != want {
		t.Errorf("%s: request line %q, want %q", method, g.first, want)
	}
	if v := g.all("Via"); len(v) != 1 || v[0] != i.all("Via")[0] {
		t.Errorf("%s: Vias %q, want only %q", method, v, i.all("Via")[0])
	}
	for _, name := range []string{"From", "Call-ID", "Max-Forwards"} {
		if g.one(name) == "" || g.one(name) != i.one(name) {
			t.Errorf("%s: %s %q, the INVITE has %q", method, name, g.one(name), i.one(name))
		}
	}
	if g.one("To") != to {
		t.Errorf("%s: To %q, want %q", method, g.one("To"), to)
	}
	if r, w := strings.Join(g.all("Route"), "\n"), strings.Join(i.all("Route"), "\n"); r != w {
		t.Errorf("%s: Route\n%s\nwant\n%s", method, r, w)
	}
	cs := strings.Fields(i.one("CSeq"))
	if want := "CSeq: " + cs[1] + " " + method; g.one("CSeq") != want {
		t.Errorf("%s: %q, want %q", method, g.one("CSeq"), want)
	}
	if g.one("Content-Length") != "Content-Length: 0" || g.body != "" {
		t.Errorf("%s has a body: %q", method, got.raw)
	}
	if t.Failed() {
		t.Logf("%s:\n%s\nINVITE:\n%s", method, got.raw, inv.raw)
	}
}

// An INVITE forked to two branches (append_branch), both ringing, then
// canceled by the caller: each branch gets its own CANCEL, written from
// what that branch sent, and the caller a 200 for its CANCEL and the 487.
func TestFormsForkThenCancel(t *testing.T) {
	eachForm(t, []string{"FORK"}, nil, func(t *testing.T, r *formsRig) {
		ruri := "sip:bob@" + r.s.UDP()
		r.uac.send(r.s.UDP(), r.uac.invite(ruri, "forms-fork", "formsfork", 5, routes...))
		binv := r.bob.rawRequest("INVITE", 2*time.Second)
		cinv := r.carol.rawRequest("INVITE", 2*time.Second)
		if strings.Fields(parseWire(cinv.raw).first)[1] != r.carol.uri() {
			t.Errorf("carol's branch went to %q, want her URI", parseWire(cinv.raw).first)
		}
		r.uac.expectStatus(100, 2*time.Second)
		r.bob.reply(binv.msg.(*sip.Request), binv.from, 180, "Ringing", "bob")
		r.carol.reply(cinv.msg.(*sip.Request), cinv.from, 180, "Ringing", "carol")
		r.uac.expectStatus(180, 2*time.Second)
		r.uac.expectStatus(180, 2*time.Second)
		r.uac.send(r.s.UDP(), r.uac.request("CANCEL", ruri, "forms-fork", "formsfork", 5, "", routes...))
		r.uac.expectStatus(200, 2*time.Second)
		for _, p := range []struct {
			peer *peer
			inv  received
		}{{r.bob, binv}, {r.carol, cinv}} {
			c := p.peer.rawRequest("CANCEL", 2*time.Second)
			checkHopByHop(t, "CANCEL", c, p.inv, parseWire(p.inv.raw).one("To"))
			p.peer.reply(c.msg.(*sip.Request), c.from, 200, "OK", "")
			p.peer.reply(p.inv.msg.(*sip.Request), p.inv.from, 487, "Request Terminated", p.peer.name)
			ack := p.peer.rawRequest("ACK", 2*time.Second)
			checkHopByHop(t, "ACK", ack, p.inv, parseWire(p.inv.raw).one("To")+";tag="+p.peer.name)
		}
		r.uac.expectStatus(487, 2*time.Second)
	})
}

// A 486 is acknowledged hop by hop at once with the branch's Via, Route
// set and the To of the reply, and again from the same bytes when the
// 486 comes again; the caller's ACK of the 486 is absorbed.
func TestForms486Ack(t *testing.T) {
	eachForm(t, nil, nil, func(t *testing.T, r *formsRig) {
		ruri := "sip:bob@" + r.s.UDP()
		r.uac.send(r.s.UDP(), r.uac.invite(ruri, "forms-486", "forms486", 9, routes...))
		inv := r.bob.rawRequest("INVITE", 2*time.Second)
		r.bob.reply(inv.msg.(*sip.Request), inv.from, 486, "Busy Here", "bob")
		first := r.bob.rawRequest("ACK", 2*time.Second)
		checkHopByHop(t, "ACK", first, inv, parseWire(inv.raw).one("To")+";tag=bob")
		r.uac.expectStatus(486, 2*time.Second)
		r.bob.reply(inv.msg.(*sip.Request), inv.from, 486, "Busy Here", "bob")
		if again := r.bob.rawRequest("ACK", 2*time.Second); again.raw != first.raw {
			t.Errorf("the ACK again differs:\n%s\nfirst:\n%s", again.raw, first.raw)
		}
		r.uac.send(r.s.UDP(), r.uac.request("ACK", ruri, "forms-486", "forms486", 9, "bob", routes...))
		r.bob.quiet(300*time.Millisecond, nil)
	})
}

// A 2xx goes to the caller; the ACK and the BYE of the dialog reach the
// callee (the ACK statelessly), and the BYE's 200 the caller.
func TestFormsDialog(t *testing.T) {
	eachForm(t, nil, nil, func(t *testing.T, r *formsRig) {
		ruri := "sip:bob@" + r.s.UDP()
		r.uac.send(r.s.UDP(), r.uac.invite(ruri, "forms-dlg", "formsdlg", 1))
		inv := r.bob.rawRequest("INVITE", 2*time.Second)
		r.bob.reply(inv.msg.(*sip.Request), inv.from, 200, "OK", "bob")
		ok := r.uac.expectStatus(200, 2*time.Second)
		if tag, _ := ok.To().Params.Get("tag"); tag != "bob" {
			t.Errorf("200 with To %q, want bob's tag", ok.To().Value())
		}
		r.uac.send(r.s.UDP(), r.uac.request("ACK", ruri, "forms-dlg", "formsdlgack", 1, "bob"))
		ack := r.bob.rawRequest("ACK", 2*time.Second)
		if !strings.Contains(ack.raw, "branch=z9hG4bKformsdlgack") {
			t.Errorf("the ACK lost the caller's Via:\n%s", ack.raw)
		}
		r.uac.send(r.s.UDP(), r.uac.request("BYE", ruri, "forms-dlg", "formsdlgbye", 2, "bob"))
		bye := r.bob.rawRequest("BYE", 2*time.Second)
		if w := parseWire(bye.raw); len(w.all("Via")) != 2 || w.one("CSeq") != "CSeq: 2 BYE" {
			t.Errorf("BYE as relayed:\n%s", bye.raw)
		}
		r.bob.reply(bye.msg.(*sip.Request), bye.from, 200, "OK", "")
		if res := r.uac.expectStatus(200, 2*time.Second); res.CSeq().MethodName != sip.BYE {
			t.Errorf("200 for %s, want the BYE's", res.CSeq().MethodName)
		}
	})
}

// A retransmitted INVITE is absorbed: the callee gets one copy, the
// caller the last reply again (100 Trying, then the 180).
func TestFormsRetransmissionAbsorbed(t *testing.T) {
	eachForm(t, nil, nil, func(t *testing.T, r *formsRig) {
		invite := r.uac.invite("sip:bob@"+r.s.UDP(), "forms-retr", "formsretr", 1)
		r.uac.send(r.s.UDP(), invite)
		inv := r.bob.rawRequest("INVITE", 2*time.Second)
		r.uac.expectStatus(100, 2*time.Second)
		r.uac.send(r.s.UDP(), invite)
		r.uac.expectStatus(100, 2*time.Second)
		r.bob.reply(inv.msg.(*sip.Request), inv.from, 180, "Ringing", "bob")
		r.uac.expectStatus(180, 2*time.Second)
		r.uac.send(r.s.UDP(), invite)
		r.uac.expectStatus(180, 2*time.Second)
		r.bob.quiet(300*time.Millisecond, nil)
		if v := enginetest.MetricValue(r.s.Scrape(), "kemi_tm_retransmissions_absorbed_total"); v != 2 {
			t.Errorf("%v retransmissions absorbed, want 2", v)
		}
	})
}

// Timer A sends the branch again as it was first sent, byte for byte.
func TestFormsTimerAResendsTheSameBytes(t *testing.T) {
	eachForm(t, nil, map[string]any{"retr_timer1": 100, "retr_timer2": 400, "fr_timer": 1000}, func(t *testing.T, r *formsRig) {
		r.uac.send(r.s.UDP(), r.uac.invite("sip:bob@"+r.s.UDP(), "forms-timera", "formstimera", 1))
		first := r.bob.rawRequest("INVITE", 2*time.Second)
		for i := 0; i < 2; i++ {
			if again := r.bob.rawRequest("INVITE", time.Second); again.raw != first.raw {
				t.Fatalf("retransmission %d differs:\n%s\nfirst:\n%s", i+1, again.raw, first.raw)
			}
		}
		r.uac.expectStatus(408, 2*time.Second)
	})
}

// The failure route forks serially: bob's 486 is acknowledged, carol gets
// the INVITE on a second branch and her 200 reaches the caller.
func TestFormsSerialForkFromFailureRoute(t *testing.T) {
	eachForm(t, []string{"SERIAL"}, nil, func(t *testing.T, r *formsRig) {
		r.uac.send(r.s.UDP(), r.uac.invite("sip:bob@"+r.s.UDP(), "forms-serial", "formsserial", 4, routes...))
		binv := r.bob.rawRequest("INVITE", 2*time.Second)
		r.bob.reply(binv.msg.(*sip.Request), binv.from, 486, "Busy Here", "bob")
		r.bob.rawRequest("ACK", 2*time.Second)
		cinv := r.carol.rawRequest("INVITE", 2*time.Second)
		c, b := parseWire(cinv.raw), parseWire(binv.raw)
		if strings.Fields(c.first)[1] != r.carol.uri() {
			t.Errorf("second branch to %q, want carol's URI", c.first)
		}
		if len(c.all("Via")) != 2 || c.all("Via")[0] == b.all("Via")[0] || c.all("Via")[1] != b.all("Via")[1] {
			t.Errorf("second branch's Vias %q, first's %q", c.all("Via"), b.all("Via"))
		}
		for _, name := range []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards"} {
			if c.one(name) != b.one(name) {
				t.Errorf("second branch's %q, first's %q", c.one(name), b.one(name))
			}
		}
		r.carol.reply(cinv.msg.(*sip.Request), cinv.from, 200, "OK", "carol")
		ok := r.uac.expectStatus(200, 2*time.Second)
		if tag, _ := ok.To().Params.Get("tag"); tag != "carol" {
			t.Errorf("200 with To %q, want carol's", ok.To().Value())
		}
	})
}

// t_relay of a lazy request neither builds sipgo's form of it nor keeps
// more than its bytes: the branch is written from the lazy message, the
// script's changes stay (the branch's own are rolled back), and the 100
// Trying is written from it too.
func TestRelayKeepsTheLazyForm(t *testing.T) {
	rig := newTxRig(t, nil)
	rig.lazy = true
	m := rig.parse(t, rigRequest("INVITE", 1))
	m.Rcv = rig.sock
	before := m.Current()
	if got := rig.env.Call(t, "KSR.tm.t_relay", m); got != kemi.OK {
		t.Fatalf("t_relay = %v", got)
	}
	if m.Lazy() == nil {
		t.Fatalf("t_relay built sipgo's form of the request")
	}
	if after := m.Current(); after != before {
		t.Errorf("the branch's changes stayed on the request:\n%s\nwas:\n%s", after, before)
	}
	var kinds []string
	for _, s := range rig.env.Host.Sent() {
		kinds = append(kinds, s.Kind+" "+strings.SplitN(s.Msg, "\r\n", 2)[0])
	}
	want := []string{"raw SIP/2.0 100 Trying", "request INVITE sip:bob@127.0.0.1:5080 SIP/2.0"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", kinds, want)
	}
	req := rig.relayed(t)
	if v := req.Via(); v == nil || !strings.HasPrefix(viaBranchOf(v), "z9hG4bKkmt") {
		t.Errorf("top Via %v is not ours", req.Via())
	}
	if mf := req.MaxForwards(); mf == nil || mf.Val() != 69 {
		t.Errorf("Max-Forwards %v, want 69", mf)
	}
}

func viaBranchOf(v *sip.ViaHeader) string { b, _ := v.Params.Get("branch"); return b }

// A datagram without Content-Length relayed over TCP gets one, written
// from the lazy message as the stateless path writes it (RFC 3261 §18.3);
// over UDP it goes as it came.
func TestLazyBranchOverTCPGetsContentLength(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			rig := newTxRig(t, nil)
			raw := strings.Replace(rigRequest("MESSAGE", 1), "Content-Length: 0\r\n", "", 1)
			lm := new(sipmsg.Msg)
			if err := lm.Parse([]byte(raw)); err != nil {
				t.Fatal(err)
			}
			m := &kemi.Msg{Proto: "udp", Src: netip.MustParseAddrPort("127.0.0.1:5070"), Rcv: rig.sock,
				Proc: kemi.NewProc(1), Route: kemi.RouteRequest}
			m.SetLazy(lm, nil)
			if got := rig.env.Call(t, "KSR.tm.t_relay_to_proto", m, proto); got != kemi.OK {
				t.Fatalf("t_relay_to_proto = %v", got)
			}
			if m.Lazy() == nil {
				t.Fatal("the relay built sipgo's form")
			}
			var sent string
			for _, s := range rig.env.Host.Sent() {
				if s.Kind == "request" {
					sent = s.Msg
				}
			}
			has := strings.Contains(sent, "\r\nContent-Length: 0\r\n")
			if has != (proto == "tcp") {
				t.Errorf("over %s: Content-Length %v in\n%s", proto, has, sent)
			}
			if !strings.Contains(sent, "Via: SIP/2.0/"+strings.ToUpper(proto)+" ") {
				t.Errorf("over %s: our Via is not for it:\n%s", proto, sent)
			}
		})
	}
}

// The branch written from the lazy request is the one sipgo's form gives,
// header for header, but for how sipgo writes values it parsed (the
// branch id differs only in the transaction's number).
func TestLazyBranchMatchesSipgoBranch(t *testing.T) {
	sent := map[bool][]string{}
	for _, lazy := range []bool{false, true} {
		rig := newTxRig(t, nil)
		rig.lazy = lazy
		m := rig.parse(t, strings.Replace(rigRequest("INVITE", 1), "User-Agent", "Route: <sip:127.0.0.1:5080;lr>\r\nUser-Agent", 1))
		m.Rcv = rig.sock
		if got := rig.env.Call(t, "KSR.tm.t_relay", m); got != kemi.OK {
			t.Fatalf("t_relay = %v", got)
		}
		w := parseWire(rig.relayed(t).String())
		for _, h := range w.headers {
			name, value, _ := strings.Cut(h, ": ")
			if name == "Via" && strings.Contains(value, "z9hG4bKkmt") {
				value = value[:strings.Index(value, "z9hG4bKkmt")] // the branch id
			}
			sent[lazy] = append(sent[lazy], name+": "+value)
		}
		sent[lazy] = append(sent[lazy], w.first)
	}
	if g, w := strings.Join(sent[true], "\n"), strings.Join(sent[false], "\n"); g != w {
		t.Errorf("lazy branch:\n%s\nsipgo branch:\n%s", g, w)
	}
}
