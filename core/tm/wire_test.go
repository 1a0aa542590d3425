package tm_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/sipmsg"
)

// rawRequest waits for a request with that method and returns it as it
// came off the wire.
func (p *peer) rawRequest(method string, timeout time.Duration) received {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := p.next(time.Until(deadline))
		if strings.HasPrefix(r.raw, method+" ") {
			return r
		}
	}
}

// wireMsg is a message as sent: its first line, its header lines in order
// and its body.
type wireMsg struct {
	first   string
	headers []string
	body    string
}

func parseWire(raw string) wireMsg {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	return wireMsg{first: lines[0], headers: lines[1:], body: body}
}

// all returns the header lines called name (as sipgo writes names).
func (w wireMsg) all(name string) []string {
	var out []string
	for _, h := range w.headers {
		if n, _, _ := strings.Cut(h, ":"); strings.EqualFold(n, name) {
			out = append(out, h)
		}
	}
	return out
}

// one returns the only header line called name, or "".
func (w wireMsg) one(name string) string {
	if hs := w.all(name); len(hs) == 1 {
		return hs[0]
	}
	return ""
}

// names returns the header names in order.
func (w wireMsg) names() []string {
	var out []string
	for _, h := range w.headers {
		n, _, _ := strings.Cut(h, ":")
		out = append(out, n)
	}
	return out
}

// hopScript relays to bob statefully, CANCEL and ACK included.
const hopScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		return
	end
	if KSR.is_ACK() then
		KSR.tm.t_relay()
		return
	end
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_relay()
end`

// routes are the Route headers of the INVITEs of the hop-by-hop tests.
var routes = []string{"Route: <sip:first.example.com;lr>", "Route: <sip:second.example.com;lr>"}

// routedInvite has uac send, through hopScript on s, an INVITE with
// routes and Max-Forwards 33, and returns it as bob received it.
func routedInvite(s *enginetest.Server, uac, bob *peer, callID string, cseq int) received {
	invite := uac.invite("sip:bob@"+s.UDP(), callID, callID, cseq, routes...)
	uac.send(s.UDP(), strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards: 33", 1))
	return bob.rawRequest("INVITE", 2*time.Second)
}

// TestNegativeAckFollowsRFC3261 checks on the wire the ACK tm sends for a
// 486, rule by rule of RFC 3261 §17.1.1.3, for the first 486 (sent by the
// branch's client transaction) and for a retransmitted one (sent by tm).
func TestNegativeAckFollowsRFC3261(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, hopScript, map[string]string{"bob": bob.uri()})
	got := routedInvite(s, uac, bob, "neg-ack-1", 7)
	inv := parseWire(got.raw)
	req, from := got.msg.(*sip.Request), got.from
	bob.reply(req, from, 486, "Busy Here", "bobtag")
	first := parseWire(bob.rawRequest("ACK", 2*time.Second).raw)
	uac.expectStatus(486, 2*time.Second)
	// the 486 again (our ACK was lost, for bob): tm acknowledges it itself
	bob.reply(req, from, 486, "Busy Here", "bobtag")
	again := parseWire(bob.rawRequest("ACK", 2*time.Second).raw)

	invVias := inv.all("Via")
	if len(invVias) != 2 {
		t.Fatalf("the INVITE has %d Vias, want 2:\n%s", len(invVias), got.raw)
	}
	for name, ack := range map[string]wireMsg{"first": first, "retransmission": again} {
		t.Run(name, func(t *testing.T) {
			text := ack.first + "\n" + strings.Join(ack.headers, "\n")
			// "The Request-URI of the ACK MUST be equal to the Request-URI
			// of the original request"
			if want := "ACK " + strings.Fields(inv.first)[1] + " SIP/2.0"; ack.first != want {
				t.Errorf("request line %q, want %q", ack.first, want)
			}
			// "The ACK MUST contain a single Via header field, and this
			// MUST be equal to the top Via header field of the original
			// request"
			if vias := ack.all("Via"); len(vias) != 1 || vias[0] != invVias[0] {
				t.Errorf("Vias %q, want only %q", vias, invVias[0])
			}
			// "The Call-ID, From, and Request-URI ... MUST be equal to the
			// values in those header fields in the request"
			for _, name := range []string{"Call-ID", "From"} {
				if ack.one(name) == "" || ack.one(name) != inv.one(name) {
					t.Errorf("%s %q, want %q", name, ack.one(name), inv.one(name))
				}
			}
			// "The To header field in the ACK MUST equal the To header field
			// in the response being acknowledged"
			if want := inv.one("To") + ";tag=bobtag"; ack.one("To") != want {
				t.Errorf("To %q, want %q", ack.one("To"), want)
			}
			// "The CSeq header field in the ACK MUST contain the same value
			// for the sequence number ..., but the method parameter MUST be
			// equal to ACK"
			if ack.one("CSeq") != "CSeq: 7 ACK" {
				t.Errorf("CSeq %q, want 7 ACK", ack.one("CSeq"))
			}
			// "If the INVITE request whose response is being acknowledged
			// had Route header fields, those header fields MUST appear in
			// the ACK"
			if r, w := strings.Join(ack.all("Route"), "\n"), strings.Join(inv.all("Route"), "\n"); r != w || len(inv.all("Route")) != 2 {
				t.Errorf("Route\n%s\nwant\n%s", r, w)
			}
			// the INVITE's Max-Forwards (33 less our hop)
			if mf := ack.one("Max-Forwards"); mf != "Max-Forwards: 32" || mf != inv.one("Max-Forwards") {
				t.Errorf("%q, the INVITE has %q", mf, inv.one("Max-Forwards"))
			}
			// no Contact, no body
			if c := ack.all("Contact"); len(c) != 0 {
				t.Errorf("ACK has a Contact: %q", c)
			}
			if ack.one("Content-Length") != "Content-Length: 0" || ack.body != "" {
				t.Errorf("ACK has a body: %q %q", ack.one("Content-Length"), ack.body)
			}
			// the headers keep their order in the INVITE, as in Kamailio's
			want := []string{"Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Route", "Route", "Content-Length"}
			if n := ack.names(); strings.Join(n, ",") != strings.Join(want, ",") {
				t.Errorf("headers %v, want %v", n, want)
			}
			if t.Failed() {
				t.Logf("ACK:\n%s\nINVITE:\n%s", text, got.raw)
			}
		})
	}
}

// TestForwardedHeaderOrder: a forwarded request keeps its header order,
// with our Record-Route as the first header and our Via right above the
// first Via, where Kamailio writes them, statelessly and through tm.
func TestForwardedHeaderOrder(t *testing.T) {
	for _, mode := range []string{"stateless", "stateful"} {
		t.Run(mode, func(t *testing.T) {
			bob := newPeer(t, "bob")
			defines := map[string]string{"bob": bob.uri()}
			if mode == "stateless" {
				defines["STATELESS"] = "1"
			}
			s, uac := startWith(t, `
function ksr_request_route()
	KSR.rr.record_route()
	KSR.setdsturi(KSR.kx.get_def("bob"))
	if KSR.kx.ifdef("STATELESS") then KSR.forward() else KSR.tm.t_relay() end
end`, defines)
			invite := "INVITE sip:bob@" + s.UDP() + " SIP/2.0\r\n" +
				"Max-Forwards: 70\r\n" +
				"Via: SIP/2.0/UDP " + uac.addr() + ";branch=z9hG4bKorder1\r\n" +
				"From: <sip:alice@127.0.0.1>;tag=a1\r\n" +
				"To: <sip:bob@" + s.UDP() + ">\r\n" +
				"Call-ID: order-1\r\n" +
				"CSeq: 1 INVITE\r\n" +
				"Contact: <sip:alice@" + uac.addr() + ">\r\n" +
				"Subject: order\r\n" +
				"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKsecond\r\n" +
				"Allow: INVITE, ACK\r\n" +
				"Content-Length: 0\r\n\r\n"
			uac.send(s.UDP(), invite)
			got := parseWire(bob.rawRequest("INVITE", 2*time.Second).raw)
			want := []string{"Record-Route", "Max-Forwards", "Via", "Via", "From", "To", "Call-ID", "CSeq",
				"Contact", "Subject", "Via", "Allow", "Content-Length"}
			if n := got.names(); strings.Join(n, ",") != strings.Join(want, ",") {
				t.Fatalf("headers %v\nwant %v\n%s", n, want, strings.Join(got.headers, "\n"))
			}
			if !strings.Contains(got.headers[2], "branch=z9hG4bKk") && !strings.Contains(got.headers[2], "branch=z9hG4bKs") {
				t.Errorf("third header is not our Via: %q", got.headers[2])
			}
			// RFC 3261 §16.6 step 3, in place
			if got.headers[1] != "Max-Forwards: 69" {
				t.Errorf("second header %q, want Max-Forwards: 69", got.headers[1])
			}
			if !strings.Contains(got.headers[3], "branch=z9hG4bKorder1") {
				t.Errorf("fourth header is not the caller's Via: %q", got.headers[3])
			}
		})
	}
}

// TestCancelFollowsTheInvite checks on the wire the CANCEL tm sends to a
// ringing branch (RFC 3261 §9.1) as Kamailio 5.6.3 writes it: the
// branch's Request-URI and top Via, its Max-Forwards (not a new 70), From,
// To, Call-ID, CSeq number and Route headers, in the INVITE's order.
func TestCancelFollowsTheInvite(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, hopScript, map[string]string{"bob": bob.uri()})
	got := routedInvite(s, uac, bob, "cancel-wire-1", 3)
	inv := parseWire(got.raw)
	req, from := got.msg.(*sip.Request), got.from
	bob.reply(req, from, 180, "Ringing", "bobtag")
	uac.expectStatus(180, 2*time.Second)
	uac.send(s.UDP(), uac.request("CANCEL", "sip:bob@"+s.UDP(), "cancel-wire-1", "cancel-wire-1", 3, "", routes...))
	craw := bob.rawRequest("CANCEL", 2*time.Second)
	c := parseWire(craw.raw)
	if want := "CANCEL " + strings.Fields(inv.first)[1] + " SIP/2.0"; c.first != want {
		t.Errorf("request line %q, want %q", c.first, want)
	}
	if v := c.all("Via"); len(v) != 1 || v[0] != inv.all("Via")[0] {
		t.Errorf("Vias %q, want only %q", v, inv.all("Via")[0])
	}
	for _, name := range []string{"Max-Forwards", "From", "To", "Call-ID"} {
		if c.one(name) == "" || c.one(name) != inv.one(name) {
			t.Errorf("%s %q, the INVITE has %q", name, c.one(name), inv.one(name))
		}
	}
	if c.one("CSeq") != "CSeq: 3 CANCEL" {
		t.Errorf("CSeq %q, want 3 CANCEL", c.one("CSeq"))
	}
	if r, w := strings.Join(c.all("Route"), "\n"), strings.Join(inv.all("Route"), "\n"); r != w {
		t.Errorf("Route\n%s\nwant\n%s", r, w)
	}
	want := []string{"Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Route", "Route", "Content-Length"}
	if n := c.names(); strings.Join(n, ",") != strings.Join(want, ",") {
		t.Errorf("headers %v, want %v\n%s", n, want, craw.raw)
	}
	bob.reply(craw.msg.(*sip.Request), craw.from, 200, "OK", "")
	bob.reply(req, from, 487, "Request Terminated", "bobtag")
	uac.expectStatus(487, 2*time.Second)
}

// TestAddedHeadersKeepKamailiosOrder: headers the script adds at one place
// (the top, after a header) keep the order they were added in, in the
// request route and in a branch route, with the Record-Route and the
// Max-Forwards process_maxfwd adds among them: the order Kamailio 5.6.3
// sent for this script (its lumps at one place keep theirs).
func TestAddedHeadersKeepKamailiosOrder(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.maxfwd.process_maxfwd(10)
	KSR.hdr.insert("X-I1: 1\r\n")
	KSR.hdr.insert("X-I2: 2\r\n")
	KSR.rr.record_route()
	KSR.hdr.insert("X-I3: 3\r\n")
	KSR.hdr.append_after("X-A1: 1\r\n", "Call-ID")
	KSR.hdr.append_after("X-A2: 2\r\n", "Call-ID")
	KSR.hdr.insert_before("X-B1: 1\r\n", "CSeq")
	KSR.hdr.insert_before("X-B2: 2\r\n", "CSeq")
	KSR.hdr.append("X-E1: 1\r\n")
	KSR.hdr.append("X-E2: 2\r\n")
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_branch("ksr_branch")
	KSR.tm.t_relay()
end
function ksr_branch()
	KSR.hdr.insert("X-BR1: 1\r\n")
	KSR.hdr.insert("X-BR2: 2\r\n")
end`, map[string]string{"bob": bob.uri()})
	invite := uac.invite("sip:bob@"+s.UDP(), "added-order-1", "ao1", 1)
	uac.send(s.UDP(), strings.Replace(invite, "Max-Forwards: 70\r\n", "", 1))
	got := parseWire(bob.rawRequest("INVITE", 2*time.Second).raw)
	want := []string{"Max-Forwards", "X-I1", "X-I2", "Record-Route", "X-I3", "X-BR1", "X-BR2", "Via", "Via",
		"From", "To", "Call-ID", "X-A1", "X-A2", "X-B1", "X-B2", "CSeq", "Contact", "Content-Length", "X-E1", "X-E2"}
	if n := got.names(); strings.Join(n, ",") != strings.Join(want, ",") {
		t.Errorf("headers\n%v\nwant (Kamailio's order)\n%v\n%s", n, want, strings.Join(got.headers, "\n"))
	}
}

// TestFailureRouteHeadersGoBelowTheRequestRoutes: headers a failure route
// adds to the new branch go below those the request route added at the
// same place, as Kamailio 5.6.3 sent them.
func TestFailureRouteHeadersGoBelowTheRequestRoutes(t *testing.T) {
	bob, carol := newPeer(t, "bob"), newPeer(t, "carol")
	s, uac := startWith(t, `
function ksr_request_route()
	if KSR.is_ACK() then KSR.tm.t_relay() return end
	KSR.hdr.insert("X-R1: 1\r\n")
	KSR.rr.record_route()
	KSR.hdr.append_after("X-RA: 1\r\n", "Call-ID")
	KSR.setdsturi(KSR.kx.get_def("bob"))
	KSR.tm.t_on_failure("ksr_failure")
	KSR.tm.t_relay()
end
function ksr_failure()
	KSR.hdr.insert("X-F1: 1\r\n")
	KSR.hdr.append_after("X-FA: 1\r\n", "Call-ID")
	KSR.seturi(KSR.kx.get_def("carol"))
	KSR.resetdsturi()
	KSR.tm.t_relay()
end`, map[string]string{"bob": bob.uri(), "carol": carol.uri()})
	uac.send(s.UDP(), uac.invite("sip:bob@"+s.UDP(), "fr-order-1", "fro1", 1))
	req, from := bob.expectRequest("INVITE", 2*time.Second)
	bob.reply(req, from, 486, "Busy Here", "b")
	got := parseWire(carol.rawRequest("INVITE", 2*time.Second).raw)
	want := []string{"X-R1", "Record-Route", "X-F1", "Via", "Via", "Max-Forwards", "From", "To", "Call-ID", "X-RA", "X-FA",
		"CSeq", "Contact", "Content-Length"}
	if n := got.names(); strings.Join(n, ",") != strings.Join(want, ",") {
		t.Errorf("headers\n%v\nwant (Kamailio's order)\n%v", n, want)
	}
}

// TestRelayedRepliesKeepTheirBytes: a 180 and a 200 go upstream exactly as
// bob wrote them, with only tm's Via taken out (tm relays them in their
// lazy form: no second parse, no rewriting of spacing or compact forms),
// and a retransmitted INVITE gets the 180 again from the bytes kept.
func TestRelayedRepliesKeepTheirBytes(t *testing.T) {
	bob := newPeer(t, "bob")
	s, uac := startWith(t, hopScript, map[string]string{"bob": bob.uri()})
	got := routedInvite(s, uac, bob, "lazy-rpl-1", 3)
	w := parseWire(got.raw)
	// bob's reply, written by hand: odd but valid spacing, compact forms,
	// an unknown header; its Vias are the INVITE's, ours on top
	reply := func(status, extra string) (sent, relayed string) {
		var b strings.Builder
		b.WriteString("SIP/2.0 " + status + "\r\n")
		vias := w.all("Via")
		for _, v := range vias {
			b.WriteString(v + "\r\n")
		}
		b.WriteString(w.one("From") + "\r\n" + w.one("To") + ";tag=bob-1\r\n")
		b.WriteString("i:   " + strings.TrimSpace(strings.SplitN(w.one("Call-ID"), ":", 2)[1]) + "\r\n")
		b.WriteString(w.one("CSeq") + "\r\nX-Odd:  two  spaces ,kept\r\n" + extra + "l: 0\r\n\r\n")
		sent = b.String()
		return sent, strings.Replace(sent, vias[0]+"\r\n", "", 1)
	}
	next := func() received { // skips tm's 100 Trying
		for {
			if r := uac.next(2 * time.Second); !strings.HasPrefix(r.raw, "SIP/2.0 100 ") {
				return r
			}
		}
	}
	sent, want := reply("180 Ringing", "")
	bob.send(got.from.String(), sent)
	if r := next(); r.raw != want {
		t.Fatalf("relayed 180:\n%q\nwant\n%q", r.raw, want)
	}
	// a retransmitted INVITE gets the last reply again, from its bytes
	invite := uac.invite("sip:bob@"+s.UDP(), "lazy-rpl-1", "lazy-rpl-1", 3, routes...)
	uac.send(s.UDP(), strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards: 33", 1))
	if r := next(); r.raw != want {
		t.Fatalf("180 for the retransmitted INVITE:\n%q\nwant\n%q", r.raw, want)
	}
	sent, want = reply("200 OK", "Contact: <sip:bob@127.0.0.1:"+strconv.Itoa(bob.port())+">\r\n")
	bob.send(got.from.String(), sent)
	if r := next(); r.raw != want {
		t.Fatalf("relayed 200:\n%q\nwant\n%q", r.raw, want)
	}
}

// TestDatagramReplyWithoutLengthToStreamCaller: bob's 180 over UDP has no
// Content-Length (a datagram may leave it out) and a body that is a
// whole SIP request; relayed in its lazy form to a caller on TCP it must
// get one, or the caller reads the body as the next message on the
// connection.
func TestDatagramReplyWithoutLengthToStreamCaller(t *testing.T) {
	bob := newPeer(t, "bob")
	s := enginetest.Start(t, hopScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Defines = map[string]string{"bob": bob.uri()}
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}
	}))
	c, err := net.Dial("tcp", s.TCP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	invite := "INVITE sip:bob@" + s.TCP() + " SIP/2.0\r\nVia: SIP/2.0/TCP " + me + ";branch=z9hG4bKtcplen1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=alice-tag\r\nTo: <sip:bob@127.0.0.1>\r\n" +
		"Call-ID: tcp-len-1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@" + me + ";transport=tcp>\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	got := bob.rawRequest("INVITE", 2*time.Second)
	w := parseWire(got.raw)
	smuggled := "OPTIONS sip:victim@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 6.6.6.6;branch=z9hG4bKevil\r\n" +
		"From: <sip:evil@h>;tag=6\r\nTo: <sip:victim@h>\r\nCall-ID: smuggled\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	var b strings.Builder
	b.WriteString("SIP/2.0 180 Ringing\r\n")
	for _, v := range w.all("Via") {
		b.WriteString(v + "\r\n")
	}
	b.WriteString(w.one("From") + "\r\n" + w.one("To") + ";tag=bob-1\r\n" + w.one("Call-ID") + "\r\n" + w.one("CSeq") + "\r\n\r\n" + smuggled)
	bob.send(got.from.String(), b.String())

	// read what the caller gets until the connection is quiet
	var stream []byte
	buf := make([]byte, 8192)
	for {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		stream = append(stream, buf[:n]...)
		if err != nil {
			break
		}
	}
	var firsts []string
	for len(stream) > 0 {
		var m sipmsg.Msg
		m.Opts.Stream = true
		if err := m.Parse(stream); err != nil {
			t.Fatalf("the caller's stream does not frame: %v\n%s", err, stream)
		}
		first, _, _ := strings.Cut(string(m.Bytes()), "\r\n")
		firsts = append(firsts, first)
		if strings.HasPrefix(first, "SIP/2.0 180") && string(m.Body()) != smuggled {
			t.Errorf("the 180's body is %q, want the request it carried", m.Body())
		}
		stream = stream[m.Len():]
	}
	if len(firsts) != 2 || !strings.HasPrefix(firsts[0], "SIP/2.0 100") || !strings.HasPrefix(firsts[1], "SIP/2.0 180") {
		t.Fatalf("the caller framed %q, want the 100 and the 180 only", firsts)
	}
}
