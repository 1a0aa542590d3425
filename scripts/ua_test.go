package scripts_test

// A small UDP user agent for the end-to-end tests: it registers with
// digest credentials, calls, answers and hangs up, speaking SIP text on a
// loopback socket and parsing what it receives with sipgo.

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ua is one loopback UDP endpoint: a phone of the test.
type ua struct {
	t    *testing.T
	name string
	conn *net.UDPConn
	seq  int
}

func newUA(t *testing.T, name string) *ua {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ua{t: t, name: name, conn: c}
}

func (u *ua) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

// contact is the device's Contact URI for user.
func (u *ua) contact(user string) string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", user, u.port()) }

// send writes msg (lines joined by CRLF) to addr.
func (u *ua) send(addr, msg string) {
	u.t.Helper()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.conn.WriteToUDP([]byte(msg), to); err != nil {
		u.t.Fatal(err)
	}
}

// sendMsg writes a sipgo message to addr.
func (u *ua) sendMsg(addr string, m sip.Message) { u.send(addr, m.String()) }

// recv returns the next message within 5 s, skipping 100 Trying.
func (u *ua) recv() sip.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = u.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			u.t.Fatalf("%s (port %d): nothing received: %v", u.name, u.port(), err)
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			u.t.Fatalf("%s: unparsable message: %v\n%s", u.name, err, buf[:n])
		}
		m.SetSource(from.String())
		if res, ok := m.(*sip.Response); ok && res.StatusCode == 100 {
			continue
		}
		return m
	}
}

// silent fails the test if a request reaches u within d.
func (u *ua) silent(d time.Duration) {
	u.t.Helper()
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	if n, _, err := u.conn.ReadFromUDP(buf); err == nil {
		u.t.Fatalf("%s: unexpected message:\n%s", u.name, buf[:n])
	}
}

// request waits for a request of method.
func (u *ua) request(method sip.RequestMethod) *sip.Request {
	u.t.Helper()
	m := u.recv()
	req, ok := m.(*sip.Request)
	if !ok || req.Method != method {
		u.t.Fatalf("%s: got %s, want a %s", u.name, firstLine(m), method)
	}
	return req
}

// final waits for the final response, skipping provisional ones.
func (u *ua) final() *sip.Response {
	u.t.Helper()
	for {
		m := u.recv()
		res, ok := m.(*sip.Response)
		if !ok {
			u.t.Fatalf("%s: got %s, want a response", u.name, firstLine(m))
		}
		if res.StatusCode >= 200 {
			return res
		}
	}
}

// finalFor waits for the final response to the request with CSeq
// number cseq, skipping provisional responses and stray ones of earlier
// requests, as a UA does (a duplicate final response of an earlier
// REGISTER must not be read as the answer to the next).
func (u *ua) finalFor(cseq uint32) *sip.Response {
	u.t.Helper()
	for {
		res := u.final()
		if res.CSeq() != nil && res.CSeq().SeqNo == cseq {
			return res
		}
		u.t.Logf("%s: ignored a stray %d %s of CSeq %v", u.name, res.StatusCode, res.Reason, res.CSeq())
	}
}

// reply answers req with code and a Contact; the To tag is the device's
// name, the same in every response of the transaction.
func (u *ua) reply(to string, req *sip.Request, code int, reason string) {
	u.t.Helper()
	if !req.To().Params.Has("tag") {
		req.To().Params.Add("tag", u.name)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if req.Method == sip.INVITE && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", "<"+u.contact("dev")+">"))
	}
	u.sendMsg(to, res)
}

func firstLine(m sip.Message) string {
	line, _, _ := strings.Cut(m.String(), "\r\n")
	return line
}

// lines joins SIP header lines with CRLF and ends the message.
func lines(ls ...string) string { return strings.Join(ls, "\r\n") + "\r\n\r\n" }

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// digestParams reads the parameters of a Digest challenge.
func digestParams(h string) map[string]string {
	h = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h), "Digest"))
	out := map[string]string{}
	for h != "" {
		name, rest, ok := strings.Cut(h, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		rest = strings.TrimSpace(rest)
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			val, rest = rest[1:end+1], rest[end+2:]
		} else {
			val, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		out[name] = strings.TrimSpace(val)
		_, rest, _ = strings.Cut(rest, ",")
		h = strings.TrimSpace(rest)
	}
	return out
}

// credentials answers an MD5 challenge (the value of WWW- or
// Proxy-Authenticate) for method and uri, with qop=auth when offered.
func credentials(challenge, method, uri, user, password string) string {
	p := digestParams(challenge)
	ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
	ha2 := md5hex(method + ":" + uri)
	v := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s"`, user, p["realm"], p["nonce"], uri)
	if strings.Contains(p["qop"], "auth") {
		const nc, cnonce = "00000001", "e2e0cn"
		v += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s", response="%s"`, nc, cnonce,
			md5hex(ha1+":"+p["nonce"]+":"+nc+":"+cnonce+":auth:"+ha2))
	} else {
		v += fmt.Sprintf(`, response="%s"`, md5hex(ha1+":"+p["nonce"]+":"+ha2))
	}
	if p["opaque"] != "" {
		v += fmt.Sprintf(`, opaque="%s"`, p["opaque"])
	}
	if p["algorithm"] != "" {
		v += ", algorithm=" + p["algorithm"]
	}
	return v
}

// register registers the device as user@realm through proxy with the
// password, answering the 401, and returns the final response.
func (u *ua) register(proxy, user, password string, expires int) *sip.Response {
	u.t.Helper()
	u.seq++
	callID := fmt.Sprintf("reg-%s-%d@test", u.name, u.port())
	msg := func(cseq int, auth string) string {
		ls := []string{
			"REGISTER sip:" + realm + " SIP/2.0",
			fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%d-%d;rport", u.port(), u.name, u.seq, cseq),
			"Max-Forwards: 70",
			fmt.Sprintf("From: <sip:%s@%s>;tag=%s", user, realm, u.name),
			fmt.Sprintf("To: <sip:%s@%s>", user, realm),
			"Call-ID: " + callID,
			fmt.Sprintf("CSeq: %d REGISTER", cseq),
			fmt.Sprintf("Contact: <%s>", u.contact(user)),
			fmt.Sprintf("Expires: %d", expires),
		}
		if auth != "" {
			ls = append(ls, "Authorization: "+auth)
		}
		return lines(append(ls, "Content-Length: 0")...)
	}
	cseq := 2 * u.seq
	u.send(proxy, msg(cseq-1, ""))
	res := u.finalFor(uint32(cseq - 1))
	if res.StatusCode != 401 {
		return res
	}
	ch := res.GetHeader("WWW-Authenticate")
	if ch == nil {
		u.t.Fatalf("%s: 401 without WWW-Authenticate:\n%s", u.name, res)
	}
	u.send(proxy, msg(cseq, credentials(ch.Value(), "REGISTER", "sip:"+realm, user, password)))
	return u.finalFor(uint32(cseq))
}

// mustRegister registers and fails the test unless the answer is 200.
func (u *ua) mustRegister(proxy, user, password string, expires int) {
	u.t.Helper()
	if res := u.register(proxy, user, password, expires); res.StatusCode != 200 {
		u.t.Fatalf("%s: REGISTER %s: %d %s", u.name, user, res.StatusCode, res.Reason)
	}
}

// invite sends an INVITE for callee@realm from caller@from (no
// credentials) and returns its branch.
func (u *ua) invite(proxy, caller, from, callee, callID string, cseq int, auth string) string {
	u.t.Helper()
	branch := fmt.Sprintf("z9hG4bK-%s-inv-%d", callID, cseq)
	ls := []string{
		fmt.Sprintf("INVITE sip:%s@%s SIP/2.0", callee, realm),
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport", u.port(), branch),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:%s@%s>;tag=%s", caller, from, u.name),
		fmt.Sprintf("To: <sip:%s@%s>", callee, realm),
		"Call-ID: " + callID,
		fmt.Sprintf("CSeq: %d INVITE", cseq),
		fmt.Sprintf("Contact: <%s>", u.contact(caller)),
	}
	if auth != "" {
		ls = append(ls, "Proxy-Authorization: "+auth)
	}
	u.send(proxy, lines(append(ls, "Content-Length: 0")...))
	return branch
}

// ackFailure sends the ACK of a negative final response to INVITE
// (same branch, RFC 3261 §17.1.1.3).
func (u *ua) ackFailure(proxy string, res *sip.Response, callee, branch string) {
	u.t.Helper()
	u.send(proxy, lines(
		fmt.Sprintf("ACK sip:%s@%s SIP/2.0", callee, realm),
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport", u.port(), branch),
		"Max-Forwards: 70",
		"From: "+res.From().Value(),
		"To: "+res.To().Value(),
		"Call-ID: "+res.CallID().Value(),
		fmt.Sprintf("CSeq: %d ACK", res.CSeq().SeqNo),
		"Content-Length: 0"))
}

// inDialog sends an in-dialog request of the dialog a 2xx to INVITE
// made: to its Contact, through its Record-Route (reversed, RFC 3261
// §12.1.2), with a new branch.
func (u *ua) inDialog(proxy string, ok *sip.Response, method string, cseq int) {
	u.t.Helper()
	target := ok.Contact().Address.String()
	rrs := ok.GetHeaders("Record-Route")
	var route []string
	for i := len(rrs) - 1; i >= 0; i-- {
		route = append(route, rrs[i].Value())
	}
	ls := []string{
		fmt.Sprintf("%s %s SIP/2.0", method, target),
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s-%s-%d;rport", u.port(), u.name, method, cseq),
		"Max-Forwards: 70",
		"From: " + ok.From().Value(),
		"To: " + ok.To().Value(),
		"Call-ID: " + ok.CallID().Value(),
		fmt.Sprintf("CSeq: %d %s", cseq, method),
	}
	if len(route) > 0 {
		ls = append(ls, "Route: "+strings.Join(route, ", "))
	}
	u.send(proxy, lines(append(ls, "Content-Length: 0")...))
}
