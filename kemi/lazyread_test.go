package kemi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// lazyCorpus are well-formed messages on which the lazy and the sipgo form
// must read the same.
var lazyCorpus = map[string]string{
	"invite": `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@example.com>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5062>
User-Agent: kemi-test/1.0
Subject: lunch
X-Extra: one
X-Extra: two
Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 192.0.2.10
`,
	"compact and ports": `OPTIONS sips:carol:secret@[2001:db8::10]:5071;transport=TLS;lr SIP/2.0
v: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK-c1
f: <sips:alice@[2001:db8::1]:5061>;tag=f-1
t: "Carol \"C\" Doe" <sips:carol@example.com>;tag=t-9
i: c2@host
CSeq: 7 OPTIONS
Max-Forwards: 10
m: <sips:alice@[2001:db8::1]:5061;transport=tls>
l: 0

`,
	"addr-spec and escapes": `MESSAGE sip:%61lice@example.com;user=phone SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK-m1
From: sip:bob%20smith@example.net;tag=abc
To: sip:alice@example.com
Call-ID: m1
CSeq: 2 MESSAGE
Content-Type: text/plain

hello
`,
	"tel": `INVITE tel:+15551234567 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-t1
From: <tel:+15550000000>;tag=1
To: <tel:+15551234567>
Call-ID: t1
CSeq: 1 INVITE

`,
	"reply": `SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy
Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
To: Bob <sip:bob@example.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Server: uas/2
Content-Length: 0

`,
}

// lazyReads are the accessors compared between the forms, each printed.
var lazyReads = map[string]func(m *kemi.Msg) string{
	"CSeqNum": func(m *kemi.Msg) string { n, ok := m.CSeqNum(); return fmt.Sprint(n, ok) },
	"Reason":  func(m *kemi.Msg) string { return m.Reason() },
	"BodyText": func(m *kemi.Msg) string {
		b, ok := m.BodyText()
		return fmt.Sprintf("%q %v", b, ok)
	},
	"Method":     func(m *kemi.Msg) string { return m.Method() },
	"StatusCode": func(m *kemi.Msg) string { return fmt.Sprint(m.StatusCode()) },
	"CallID":     func(m *kemi.Msg) string { return m.CallID() },
	"AllCount":   func(m *kemi.Msg) string { return fmt.Sprint(len(m.AllHeaderBodies())) },
	"ViaTargetAt 0": func(m *kemi.Msg) string {
		h, p, t, ok := m.ViaTargetAt(0)
		return fmt.Sprint(h, p, t, ok)
	},
	"ViaTargetAt 1": func(m *kemi.Msg) string {
		h, p, t, ok := m.ViaTargetAt(1)
		return fmt.Sprint(h, p, t, ok)
	},
	"ViaTargetAt 2": func(m *kemi.Msg) string {
		h, p, t, ok := m.ViaTargetAt(2)
		return fmt.Sprint(h, p, t, ok)
	},
}

func init() {
	parts := map[string]kemi.MsgPart{"URI": kemi.PartURI, "User": kemi.PartUser, "Host": kemi.PartHost,
		"Port": kemi.PartPort, "Scheme": kemi.PartScheme, "Transport": kemi.PartTransport,
		"Display": kemi.PartDisplay, "Tag": kemi.PartTag}
	for name, p := range parts {
		lazyReads["RURI"+name] = func(m *kemi.Msg) string { s, ok := m.RURIPart(p); return fmt.Sprintf("%q %v", s, ok) }
		lazyReads["From"+name] = func(m *kemi.Msg) string { s, ok := m.FromPart(p); return fmt.Sprintf("%q %v", s, ok) }
		lazyReads["To"+name] = func(m *kemi.Msg) string { s, ok := m.ToPart(p); return fmt.Sprintf("%q %v", s, ok) }
	}
	// headers whose value sipgo keeps as text (or renders as received),
	// one value per line: the same in both forms
	for _, h := range []string{"User-Agent", "user-agent", "Subject", "s", "X-Extra", "x-extra", "Call-ID", "i",
		"CSeq", "Max-Forwards", "Content-Type", "c", "Content-Length", "l", "Server", "X-None", ""} {
		lazyReads["HeaderBody "+h] = func(m *kemi.Msg) string { s, ok := m.HeaderBody(h); return fmt.Sprintf("%q %v", s, ok) }
		lazyReads["HeaderBodies "+h] = func(m *kemi.Msg) string { return fmt.Sprintf("%q", m.HeaderBodies(h)) }
		lazyReads["HeaderCount "+h] = func(m *kemi.Msg) string { return fmt.Sprint(m.HeaderCount(h)) }
		for _, i := range []int{0, 1, 2, -1, -2, -3} {
			lazyReads[fmt.Sprintf("HeaderBodyAt %s %d", h, i)] = func(m *kemi.Msg) string {
				s, ok := m.HeaderBodyAt(h, i)
				return fmt.Sprintf("%q %v", s, ok)
			}
		}
	}
	// presence and counts of the structured ones (one value per line here)
	for _, h := range []string{"Via", "v", "From", "f", "To", "t", "Contact", "m", "Record-Route"} {
		lazyReads["HeaderPresent "+h] = func(m *kemi.Msg) string { return fmt.Sprint(m.HeaderPresent(h)) }
		lazyReads["HeaderCount "+h] = func(m *kemi.Msg) string { return fmt.Sprint(m.HeaderCount(h)) }
	}
}

// TestLazyReadsMatchSipgo reads every accessor of lazyReads on the lazy and
// on the sipgo form of each message of lazyCorpus: the answers must be the
// same, and the lazy message must stay lazy.
func TestLazyReadsMatchSipgo(t *testing.T) {
	for name, text := range lazyCorpus {
		t.Run(name, func(t *testing.T) {
			lazy := kemitest.ParseLazyMsg(t, text)
			eager := kemitest.ParseMsg(t, text)
			for read, f := range lazyReads {
				if got, want := f(lazy), f(eager); got != want {
					t.Errorf("%s: lazy %s, sipgo %s", read, got, want)
				}
			}
			if lazy.Lazy() == nil {
				t.Error("a read gave the message its sipgo form")
			}
		})
	}
}

// TestLazyReadsAsReceived checks where the lazy form answers as Kamailio
// does and sipgo's form does not: a header line with several values is
// one body, counted once.
func TestLazyReadsAsReceived(t *testing.T) {
	text := `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-9, SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>
Route: <sip:p3.example.com;lr>
From: <sip:alice@example.com>;tag=1
To: <sip:bob@example.com>
Call-ID: r1
CSeq: 1 INVITE
X-Folded: a,
 b

`
	lazy := kemitest.ParseLazyMsg(t, text)
	eager := kemitest.ParseMsg(t, text)
	tests := []struct {
		read        func(m *kemi.Msg) string
		lazy, eager string
	}{
		{func(m *kemi.Msg) string { v, _ := m.HeaderBody("Via"); return v },
			"SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-9, SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1",
			"SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-9"},
		{func(m *kemi.Msg) string { return fmt.Sprint(m.HeaderCount("Via")) }, "1", "2"},
		{func(m *kemi.Msg) string { return fmt.Sprint(m.HeaderCount("Route")) }, "2", "3"},
		{func(m *kemi.Msg) string { v, _ := m.HeaderBodyAt("Route", -1); return v },
			"<sip:p3.example.com;lr>", "<sip:p3.example.com;lr>"},
		{func(m *kemi.Msg) string { return strings.Join(m.HeaderBodies("route"), "|") },
			"<sip:p1.example.com;lr>,<sip:p2.example.com;lr>|<sip:p3.example.com;lr>",
			"<sip:p1.example.com;lr>|<sip:p2.example.com;lr>|<sip:p3.example.com;lr>"},
		// folded lines are joined by one space in both forms
		{func(m *kemi.Msg) string { v, _ := m.HeaderBody("X-Folded"); return v }, "a, b", "a, b"},
	}
	for i, tc := range tests {
		if got := tc.read(lazy); got != tc.lazy {
			t.Errorf("%d: lazy %q, want %q", i, got, tc.lazy)
		}
		if got := tc.read(eager); got != tc.eager {
			t.Errorf("%d: sipgo %q, want %q", i, got, tc.eager)
		}
	}
	if lazy.Lazy() == nil {
		t.Error("a read gave the message its sipgo form")
	}
}

// TestLazyReadsSeeChanges checks that the lazy reads see the changes made
// to the lazy message at once, as the sipgo form's do.
func TestLazyReadsSeeChanges(t *testing.T) {
	m := kemitest.ParseLazyMsg(t, lazyCorpus["invite"])
	lm := m.Lazy()
	lm.Append([]byte("X-Added"), []byte("yes"))
	lm.Remove(lm.FindName([]byte("Subject")))
	lm.SetRURI([]byte("sip:carol@example.org:5080"))
	if v, ok := m.HeaderBody("x-added"); !ok || v != "yes" {
		t.Errorf("added header: %q %v", v, ok)
	}
	if m.HeaderPresent("Subject") {
		t.Error("removed header still present")
	}
	if u, _ := m.RURIPart(kemi.PartUser); u != "carol" {
		t.Errorf("R-URI user after SetRURI: %q", u)
	}
	if p, _ := m.RURIPart(kemi.PartPort); p != "5080" {
		t.Errorf("R-URI port after SetRURI: %q", p)
	}
	if !strings.Contains(m.Current(), "X-Added: yes\r\n") || strings.Contains(m.Current(), "Subject") {
		t.Errorf("Current does not show the changes:\n%s", m.Current())
	}
	if m.Lazy() == nil {
		t.Error("a read gave the message its sipgo form")
	}
}
