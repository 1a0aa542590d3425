package tm_test

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// peer is a raw SIP endpoint on a loopback UDP socket for the tests: it
// sends hand-written requests and answers what it receives as it is told.
type peer struct {
	t    *testing.T
	c    *net.UDPConn
	name string
	in   chan received
	mu   sync.Mutex
	seen []string // first lines of everything received
}

type received struct {
	msg  sip.Message
	from *net.UDPAddr
	raw  string
	at   time.Time // when the socket gave it: intervals are measured from it
}

func newPeer(t *testing.T, name string) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, c: c, name: name, in: make(chan received, 100)}
	go p.read()
	t.Cleanup(func() { c.Close() })
	return p
}

func (p *peer) read() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.c.ReadFromUDP(buf)
		at := time.Now()
		if err != nil {
			close(p.in)
			return
		}
		raw := string(buf[:n])
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		p.mu.Lock()
		p.seen = append(p.seen, strings.SplitN(raw, "\r\n", 2)[0])
		p.mu.Unlock()
		p.in <- received{msg: msg, from: from, raw: raw, at: at}
	}
}

func (p *peer) addr() string { return p.c.LocalAddr().String() }
func (p *peer) port() int    { return p.c.LocalAddr().(*net.UDPAddr).Port }
func (p *peer) uri() string  { return "sip:" + p.name + "@" + p.addr() }

func (p *peer) send(to string, text string) {
	p.t.Helper()
	a, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.WriteToUDP([]byte(text), a); err != nil {
		p.t.Fatal(err)
	}
}

// next waits for the next message; it fails the test on timeout.
func (p *peer) next(timeout time.Duration) received {
	p.t.Helper()
	select {
	case r, ok := <-p.in:
		if !ok {
			p.t.Fatalf("%s: socket closed", p.name)
		}
		return r
	case <-time.After(timeout):
		p.t.Fatalf("%s: nothing received within %v; seen %v", p.name, timeout, p.firstLines())
	}
	return received{}
}

// expectRequest waits for a request with that method, skipping others.
func (p *peer) expectRequest(method string, timeout time.Duration) (*sip.Request, *net.UDPAddr) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := p.next(time.Until(deadline))
		if req, ok := r.msg.(*sip.Request); ok && string(req.Method) == method {
			return req, r.from
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %s", p.name, method)
		}
	}
}

// expectStatus waits for a reply with that status, skipping others.
func (p *peer) expectStatus(code int, timeout time.Duration) *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := p.next(time.Until(deadline))
		if res, ok := r.msg.(*sip.Response); ok && res.StatusCode == code {
			return res
		}
	}
}

// quiet checks nothing more arrives for d, except what skip accepts.
func (p *peer) quiet(d time.Duration, skip func(received) bool) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r := <-p.in:
			if skip == nil || !skip(r) {
				p.t.Fatalf("%s: unexpected %q", p.name, strings.SplitN(r.raw, "\r\n", 2)[0])
			}
		case <-deadline:
			return
		}
	}
}

func (p *peer) firstLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func (p *peer) count(prefix string) int {
	n := 0
	for _, l := range p.firstLines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// reply answers req (as received) back to from, with a To tag for codes
// above 100 and optional extra header lines.
func (p *peer) reply(req *sip.Request, from *net.UDPAddr, code int, reason, totag string, extra ...string) {
	p.t.Helper()
	res := sip.NewResponse(code, reason)
	for _, h := range req.GetHeaders("Via") {
		res.AppendHeader(sip.HeaderClone(h))
	}
	for _, h := range req.GetHeaders("Record-Route") {
		res.AppendHeader(sip.HeaderClone(h))
	}
	res.AppendHeader(sip.HeaderClone(req.From()))
	to := sip.HeaderClone(req.To()).(*sip.ToHeader)
	if code > 100 && totag != "" && !to.Params.Has("tag") {
		to.Params.Add("tag", totag)
	}
	res.AppendHeader(to)
	res.AppendHeader(sip.HeaderClone(req.CallID()))
	res.AppendHeader(sip.HeaderClone(req.CSeq()))
	if code >= 200 && code < 300 && req.Method == sip.INVITE {
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.name, Host: "127.0.0.1", Port: p.port()}})
	}
	for _, e := range extra {
		k, v, _ := strings.Cut(e, ":")
		res.AppendHeader(sip.NewHeader(k, strings.TrimSpace(v)))
	}
	res.SetBody(nil)
	// replies go to the top Via's address (kemi's socket)
	v := req.Via()
	to2 := fmt.Sprintf("%s:%d", v.Host, v.Port)
	if v.Port == 0 {
		to2 = from.String()
	}
	p.send(to2, res.String())
}

// invite builds an INVITE from the peer to ruri.
func (p *peer) invite(ruri, callID, branch string, cseq int, extra ...string) string {
	return p.request("INVITE", ruri, callID, branch, cseq, "", extra...)
}

// request builds a request from the peer.
func (p *peer) request(method, ruri, callID, branch string, cseq int, totag string, extra ...string) string {
	to := "<" + ruri + ">"
	if totag != "" {
		to += ";tag=" + totag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", p.addr(), branch)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <sip:%s@127.0.0.1>;tag=%s-tag\r\nTo: %s\r\n", p.name, p.name, to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", p.name, p.addr())
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
