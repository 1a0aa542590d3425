package nathelper_test

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// natPeer is a user agent behind a NAT, seen from 127.0.0.1: its
// messages say 192.168.1.10 in Via and Contact.
type natPeer struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
	cseq int
}

func newNATPeer(t *testing.T, server string) *natPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	return &natPeer{t: t, conn: conn, srv: srv}
}

// register sends a REGISTER (with a Contact when contact is set) and
// returns the final reply; pings that come meanwhile are not answered.
func (p *natPeer) register(contact bool) string {
	p.t.Helper()
	p.cseq++
	msg := "REGISTER sip:example.com SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP 192.168.1.10:5060;rport;branch=z9hG4bK-reg%d\r\n", p.cseq) +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@example.com>;tag=nat1\r\n" +
		"To: <sip:alice@example.com>\r\n" +
		"Call-ID: natreg-1@192.168.1.10\r\n" +
		fmt.Sprintf("CSeq: %d REGISTER\r\n", p.cseq)
	if contact {
		msg += "Contact: <sip:alice@192.168.1.10:5060>;expires=3600\r\n"
	}
	msg += "Content-Length: 0\r\n\r\n"
	if _, err := p.conn.WriteToUDP([]byte(msg), p.srv); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, ok := p.read(time.Until(deadline))
		if !ok {
			p.t.Fatal("no reply to REGISTER")
		}
		if strings.HasPrefix(got, "SIP/2.0 ") && strings.Contains(got, " REGISTER\r\n") && !strings.HasPrefix(got, "SIP/2.0 1") {
			return got
		}
	}
}

func (p *natPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// tryRequest sends text to addr and returns the first final reply, or ""
// when none came within wait.
func (p *natPeer) tryRequest(addr, text string, wait time.Duration) string {
	p.t.Helper()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDP([]byte(text), to); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		got, ok := p.read(time.Until(deadline))
		if !ok {
			return ""
		}
		if strings.HasPrefix(got, "SIP/2.0 ") && !strings.HasPrefix(got, "SIP/2.0 1") {
			return got
		}
	}
}

// read returns the next message, or false after d.
func (p *natPeer) read(d time.Duration) (string, bool) {
	if d <= 0 {
		return "", false
	}
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

// pings reads for d and returns the OPTIONS received, answering each with
// 200 when answer is set.
func (p *natPeer) pings(d time.Duration, answer bool) []string {
	var out []string
	deadline := time.Now().Add(d)
	for {
		got, ok := p.read(time.Until(deadline))
		if !ok {
			return out
		}
		if !strings.HasPrefix(got, "OPTIONS ") {
			continue
		}
		out = append(out, got)
		if answer {
			p.answer(got)
		}
	}
}

// answer replies 200 to req, copying Via, From, To, Call-ID and CSeq.
func (p *natPeer) answer(req string) {
	var sb strings.Builder
	sb.WriteString("SIP/2.0 200 OK\r\n")
	for _, line := range strings.Split(req, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		switch name {
		case "Via", "From", "Call-ID", "CSeq":
			sb.WriteString(line + "\r\n")
		case "To":
			sb.WriteString(line + ";tag=peer\r\n")
		}
	}
	sb.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := p.conn.WriteToUDP([]byte(sb.String()), p.srv); err != nil {
		p.t.Fatal(err)
	}
}

// pingShape is an OPTIONS as Kamailio 5.6's nathelper writes it.
var pingShape = regexp.MustCompile(`^OPTIONS sip:alice@192\.168\.1\.10:5060 SIP/2\.0\r\n` +
	`Via: SIP/2\.0/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK\d{7}\r\n` +
	`From: sip:pinger@kamailio\.org;tag=[^\r\n;]+-[0-9a-f]{1,8}-[0-9a-f]{1,8}\r\n` +
	`To: sip:alice@192\.168\.1\.10:5060\r\n` +
	`Call-ID: [0-9a-f]{1,8}-[0-9a-f]{1,8}-[0-9a-f]{1,8}@127\.0\.0\.1\r\n` +
	`CSeq: 1 OPTIONS\r\n` +
	`Content-Length: 0\r\n\r\n$`)

// TestEngineNATKeepalive registers a NATed client as Kamailio's basic
// example does (testdata/natuac.lua: nat_uac_test(19),
// fix_nated_register, the NAT and SIP ping branch flags) and checks the keepalive: OPTIONS of Kamailio's shape go
// to the address the REGISTER came from at natping_interval; while the
// client answers its contact stays past keepalive_timeout; once it stops,
// the pings stop, and the contact is gone 10 s later (usrloc's timer).
func TestEngineNATKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s")
	}
	script, err := os.ReadFile("testdata/natuac.lua")
	if err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, string(script),
		enginetest.WithParams("nathelper", map[string]any{
			"natping_interval":  "300ms",
			"ping_nated_only":   1,
			"sipping_bflag":     7,
			"sipping_from":      "sip:pinger@kamailio.org",
			"keepalive_timeout": "1s",
			"received_avp":      "$avp(RECEIVED)",
		}),
		enginetest.WithParams("registrar", map[string]any{"received_avp": "$avp(RECEIVED)"}),
		enginetest.WithParams("usrloc", map[string]any{"nat_bflag": 6, "timer_interval": 1}))
	p := newNATPeer(t, s.UDP())
	if res := p.register(true); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("REGISTER answered:\n%s", res)
	}

	// answered pings: the contact outlives keepalive_timeout
	got := p.pings(2500*time.Millisecond, true)
	if len(got) < 5 || len(got) > 10 {
		t.Fatalf("%d pings in 2.5 s at 300 ms, want about 8", len(got))
	}
	t.Logf("first ping:\n%s", got[0])
	if !pingShape.MatchString(got[0]) {
		t.Errorf("the ping is not Kamailio's:\n%s", got[0])
	}
	if got[0] == got[1] {
		t.Errorf("two pings are the same (branch, tag and Call-ID should differ):\n%s", got[0])
	}
	if n := s.Metric(`kemi_nathelper_pings_total`); n < float64(len(got)) {
		t.Errorf("kemi_nathelper_pings_total %v, want at least %d", n, len(got))
	}
	if n := s.WaitMetric(`kemi_nathelper_ping_replies_total`, float64(len(got)), 2*time.Second); n != float64(len(got)) {
		t.Errorf("kemi_nathelper_ping_replies_total %v, want the %d answers", n, len(got))
	}
	if n := s.Metric(`kemi_nathelper_keepalive_removed_total`); n != 0 {
		t.Fatalf("kemi_nathelper_keepalive_removed_total %v while the client answers", n)
	}
	if res := p.register(false); !strings.Contains(res, "Contact: <sip:alice@192.168.1.10:5060>") {
		t.Fatalf("the contact that answers is gone:\n%s", res)
	}

	// silence: within keepalive_timeout and a ping interval the contact
	// is given 10 s and no longer pinged
	stopped := time.Now()
	if n := s.WaitMetric(`kemi_nathelper_keepalive_removed_total`, 1, 3*time.Second); n != 1 {
		t.Fatalf("kemi_nathelper_keepalive_removed_total %v 3 s after the client fell silent, want 1", n)
	}
	if d := time.Since(stopped); d < 700*time.Millisecond {
		t.Errorf("contact left to expire %v after the last answer, before keepalive_timeout 1s", d)
	}
	p.pings(400*time.Millisecond, false) // the one in flight
	if more := p.pings(time.Second, false); len(more) != 0 {
		t.Errorf("%d pings after keepalive_timeout", len(more))
	}
	if res := p.register(false); !strings.Contains(res, "Contact: ") {
		t.Fatalf("the contact went before its 10 s of grace:\n%s", res)
	}
	deadline := time.Now().Add(14 * time.Second)
	for {
		res := p.register(false)
		if !strings.Contains(res, "Contact: ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the silent contact is still registered 14 s after keepalive_timeout:\n%s", res)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// lookups stop seeing it at its expiry; the timer removes it within
	// its interval (1 s)
	if n := s.WaitMetric(`kemi_usrloc_expired_total`, 1, 3*time.Second); n != 1 {
		t.Errorf("kemi_usrloc_expired_total %v, want 1 (the usrloc timer removed it)", n)
	}
}
