package kamailiobasic_test

// phone is the user agent of these tests: SIP text over a loopback UDP
// socket, parsed with sipgo. Unlike an ordinary test UA it can bind any
// 127.0.0.0/8 address (a source the proxy does not take for itself) and
// write another address than its own in Via and Contact, as a phone
// behind a NAT does.

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const domain = "example.com" // the proxy's alias: the users' domain and realm

type phone struct {
	t     *testing.T
	name  string
	conn  *net.UDPConn
	proxy string
	// seen is what the phone writes as its own address in Via and
	// Contact: its socket, or a private address behind a NAT.
	seen string
	n    int // requests sent, for branches
}

// newPhone binds a phone on ip (127.0.0.x) that talks to proxy.
func newPhone(t *testing.T, name, ip, proxy string) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &phone{t: t, name: name, conn: c, proxy: proxy}
	p.seen = p.addr()
	return p
}

// addr is the phone's socket, ip:port.
func (p *phone) addr() string { return p.conn.LocalAddr().String() }

// behindNAT makes the phone write private as its address.
func (p *phone) behindNAT(private string) { p.seen = private }

// msg is a request being written.
type msg struct {
	method, ruri  string
	from, to      string // header values
	callID        string
	cseq          int
	branch        string
	headers       []string
	maxForwards   string // "" is 70
	contactUser   string
	withRouteHdrs []string
}

// request builds a request from the phone; the branch is new unless set.
func (p *phone) request(m msg) (text, branch string) {
	p.n++
	branch = m.branch
	if branch == "" {
		branch = fmt.Sprintf("z9hG4bK-%s-%d", p.name, p.n)
	}
	if m.cseq == 0 {
		m.cseq = 1
	}
	if m.maxForwards == "" {
		m.maxForwards = "70"
	}
	ls := []string{
		m.method + " " + m.ruri + " SIP/2.0",
		"Via: SIP/2.0/UDP " + p.seen + ";branch=" + branch + ";rport",
		"Max-Forwards: " + m.maxForwards,
	}
	ls = append(ls, "From: "+m.from, "To: "+m.to, "Call-ID: "+m.callID,
		fmt.Sprintf("CSeq: %d %s", m.cseq, m.method))
	if m.method != "ACK" && m.method != "BYE" && m.method != "CANCEL" {
		u := m.contactUser
		if u == "" {
			u = p.name
		}
		ls = append(ls, "Contact: <sip:"+u+"@"+p.seen+">")
	}
	for _, r := range m.withRouteHdrs {
		ls = append(ls, "Route: "+r)
	}
	ls = append(ls, m.headers...)
	ls = append(ls, "Content-Length: 0")
	return strings.Join(ls, "\r\n") + "\r\n\r\n", branch
}

// send writes text to the proxy.
func (p *phone) send(text string) {
	p.t.Helper()
	to, err := net.ResolveUDPAddr("udp4", p.proxy)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDP([]byte(text), to); err != nil {
		p.t.Fatal(err)
	}
}

// do sends a request built from m and returns its branch.
func (p *phone) do(m msg) string {
	text, branch := p.request(m)
	p.send(text)
	return branch
}

// next returns the next message within d, or nil; 100 Trying is skipped.
func (p *phone) next(d time.Duration) sip.Message {
	p.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(d))
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			p.t.Fatalf("%s: unparsable message: %v\n%s", p.name, err, buf[:n])
		}
		m.SetSource(from.String())
		if r, ok := m.(*sip.Response); ok && r.StatusCode == 100 {
			continue
		}
		return m
	}
}

// final waits for the final response to the request with branch.
func (p *phone) final(branch string) *sip.Response {
	p.t.Helper()
	for {
		m := p.next(5 * time.Second)
		if m == nil {
			p.t.Fatalf("%s: no final response to branch %s", p.name, branch)
		}
		r, ok := m.(*sip.Response)
		if !ok {
			p.t.Fatalf("%s: got a request while waiting for a response:\n%s", p.name, m)
		}
		if r.StatusCode >= 200 && r.Via().Params.GetOr("branch", "") == branch {
			return r
		}
	}
}

// incoming waits for a request of method.
func (p *phone) incoming(method sip.RequestMethod) *sip.Request {
	p.t.Helper()
	m := p.next(5 * time.Second)
	r, ok := m.(*sip.Request)
	if !ok || r.Method != method {
		p.t.Fatalf("%s: got %v, want a %s", p.name, m, method)
	}
	return r
}

// quiet fails the test when a message reaches the phone within d.
func (p *phone) quiet(d time.Duration) {
	p.t.Helper()
	if m := p.next(d); m != nil {
		p.t.Fatalf("%s: unexpected message:\n%s", p.name, m)
	}
}

// answer replies to req (from the proxy) with code; a 2xx to INVITE
// gets the phone's Contact and the Record-Route of the request.
func (p *phone) answer(req *sip.Request, code int, reason string) *sip.Response {
	p.t.Helper()
	if !req.To().Params.Has("tag") {
		req.To().Params.Add("tag", p.name)
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if req.Method == sip.INVITE && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", "<sip:"+p.name+"@"+p.seen+">"))
	}
	p.send(res.String())
	return res
}

// authed sends m, which the proxy must challenge (401 or 407), then m
// again with credentials for user and password; it returns the second
// request's branch and message, without waiting for its answer.
func (p *phone) authed(m msg, user, password string) (string, msg) {
	p.t.Helper()
	res := p.final(p.do(m))
	hdr, authHdr := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
	}
	ch := res.GetHeader(hdr)
	if res.StatusCode != 401 && res.StatusCode != 407 || ch == nil {
		p.t.Fatalf("%s: %s got %d %s, want a challenge", p.name, m.method, res.StatusCode, res.Reason)
	}
	if m.method == "INVITE" {
		p.ackNegative(m, res)
	}
	m.cseq++
	m.headers = append(append([]string(nil), m.headers...), authHdr+": "+digest(ch.Value(), m.method, m.ruri, user, password))
	return p.do(m), m
}

// challenged is authed, then the final response.
func (p *phone) challenged(m msg, user, password string) *sip.Response {
	p.t.Helper()
	br, _ := p.authed(m, user, password)
	return p.final(br)
}

// ackNegative acknowledges a negative final response to the INVITE m
// (the INVITE's branch, RFC 3261 17.1.1.3).
func (p *phone) ackNegative(m msg, res *sip.Response) {
	p.do(msg{method: "ACK", ruri: m.ruri, from: res.From().Value(), to: res.To().Value(),
		callID: m.callID, cseq: m.cseq, branch: res.Via().Params.GetOr("branch", "")})
}

// inDialog sends an in-dialog request of the dialog the 2xx ok made
// (the phone being the caller): to its Contact, through its
// Record-Route in reverse order.
func (p *phone) inDialog(ok *sip.Response, method string, cseq int) string {
	var route []string
	rrs := ok.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		route = append(route, rrs[i].Value())
	}
	return p.do(msg{method: method, ruri: ok.Contact().Address.String(), from: ok.From().Value(),
		to: ok.To().Value(), callID: ok.CallID().Value(), cseq: cseq, withRouteHdrs: route})
}

// inDialogAsCallee sends an in-dialog request of the dialog the INVITE
// inv made, from its callee: to the caller's Contact, through the
// Record-Route in the order received.
func (p *phone) inDialogAsCallee(inv *sip.Request, method string, cseq int) string {
	var route []string
	for _, h := range inv.GetHeaders("Record-Route") {
		route = append(route, h.Value())
	}
	return p.do(msg{method: method, ruri: inv.Contact().Address.String(), from: inv.To().Value(),
		to: inv.From().Value(), callID: inv.CallID().Value(), cseq: cseq, withRouteHdrs: route})
}

// digest answers an MD5 challenge for method and uri (RFC 2617, qop=auth
// when offered).
func digest(challenge, method, uri, user, password string) string {
	p := map[string]string{}
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(challenge), "Digest"))
	for rest != "" {
		k, v, _ := strings.Cut(rest, "=")
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			end := strings.IndexByte(v[1:], '"') + 1
			p[strings.ToLower(strings.TrimSpace(k))] = v[1:end]
			v = v[end+1:]
		} else {
			val, _, _ := strings.Cut(v, ",")
			p[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
			v = v[len(val):]
		}
		_, rest, _ = strings.Cut(v, ",")
		rest = strings.TrimSpace(rest)
	}
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1, ha2 := h(user+":"+p["realm"]+":"+password), h(method+":"+uri)
	out := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s"`, user, p["realm"], p["nonce"], uri)
	if strings.Contains(p["qop"], "auth") {
		out += fmt.Sprintf(`, qop=auth, nc=00000001, cnonce="basic", response="%s"`,
			h(ha1+":"+p["nonce"]+":00000001:basic:auth:"+ha2))
	} else {
		out += fmt.Sprintf(`, response="%s"`, h(ha1+":"+p["nonce"]+":"+ha2))
	}
	if p["opaque"] != "" {
		out += fmt.Sprintf(`, opaque="%s"`, p["opaque"])
	}
	return out
}

// register registers user@domain from the phone with digest auth.
func (p *phone) register(user, password string) *sip.Response {
	p.t.Helper()
	aor := "<sip:" + user + "@" + domain + ">"
	return p.challenged(msg{method: "REGISTER", ruri: "sip:" + domain, from: aor + ";tag=" + p.name,
		to: aor, callID: "reg-" + p.name, contactUser: user, headers: []string{"Expires: 600"}}, user, password)
}
