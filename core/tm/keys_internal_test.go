package tm

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi/kemitest"
)

// The keys that match requests to transactions are the same whichever
// form the request is in: a retransmission that comes lazy finds the
// transaction a request in sipgo's form made, and the other way round.
func TestServerKeySameInBothForms(t *testing.T) {
	req := func(method, ruri string, hdrs ...string) string {
		base := map[string]string{
			"Via":     "SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKk1;rport",
			"From":    "<sip:alice@example.com>;tag=a1",
			"To":      "<sip:bob@example.com>",
			"Call-ID": "c1@192.0.2.10",
			"CSeq":    "7 " + method,
		}
		order := []string{"Via", "From", "To", "Call-ID", "CSeq"}
		var names []string
		for _, h := range hdrs {
			name, value, _ := strings.Cut(h, ": ")
			long := name
			switch name {
			case "v":
				long = "Via"
			case "f":
				long = "From"
			case "t":
				long = "To"
			case "i":
				long = "Call-ID"
			}
			delete(base, long)
			names = append(names, name+": "+value)
		}
		var b strings.Builder
		b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
		for _, n := range order {
			if v, ok := base[n]; ok {
				b.WriteString(n + ": " + v + "\r\n")
			}
		}
		for _, n := range names {
			b.WriteString(n + "\r\n")
		}
		b.WriteString("Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		return b.String()
	}
	tests := []struct {
		name, msg, method string
		rfc2543           bool
	}{
		{name: "invite", msg: req("INVITE", "sip:bob@example.com")},
		{name: "ack to invite", msg: req("ACK", "sip:bob@example.com"), method: "INVITE"},
		{name: "cancel to invite", msg: req("CANCEL", "sip:bob@example.com"), method: "INVITE"},
		{name: "ack own key", msg: req("ACK", "sip:bob@example.com")},
		{name: "message", msg: req("MESSAGE", "sip:bob@example.com")},
		{name: "compact headers", msg: req("INVITE", "sip:bob@example.com",
			"v: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKcompact", "f: <sip:alice@example.com>;tag=a1",
			"t: <sip:bob@example.com>", "i: compact@192.0.2.10")},
		{name: "branch name in capitals", msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP 192.0.2.10:5070;BRANCH=z9hG4bKcaps;rport")},
		{name: "sent-by in capitals", msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP PC33.Example.COM;branch=z9hG4bKhost")},
		{name: "IPv6 sent-by", msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP [2001:db8::10]:5070;branch=z9hG4bKv6")},
		{name: "IPv6 sent-by without port", msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/TCP [2001:DB8::10];branch=z9hG4bKv6np")},
		{name: "two Vias in one header", msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKtop, SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKbelow")},
		{name: "no branch (RFC 2543)", rfc2543: true, msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP 192.0.2.10:5070")},
		{name: "RFC 2543 ACK", rfc2543: true, method: "INVITE", msg: req("ACK", "sip:bob@example.com",
			"Via: SIP/2.0/UDP 192.0.2.10:5070")},
		{name: "branch without the cookie", rfc2543: true, msg: req("INVITE", "sip:bob@Example.com:5062;transport=udp",
			"Via: SIP/2.0/UDP 192.0.2.10:5070;branch=1234")},
		{name: "RFC 2543 IPv6 everywhere", rfc2543: true, msg: req("OPTIONS", "sip:[2001:db8::20]:5080",
			"Via: SIP/2.0/UDP [2001:db8::10]:5070", "From: <sip:alice@[2001:db8::10]>;tag=v6")},
		{name: "RFC 2543 no From tag", rfc2543: true, msg: req("INVITE", "sip:bob@example.com",
			"Via: SIP/2.0/UDP 192.0.2.10", "From: <sip:alice@example.com>")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := kemitest.ParseMsg(t, tt.msg)
			lm := kemitest.ParseLazyMsg(t, tt.msg)
			ks, kl := serverKey(sm, tt.method), serverKey(lm, tt.method)
			if ks == "" || ks != kl {
				t.Fatalf("keys differ:\nsipgo %q\nlazy  %q", ks, kl)
			}
			if got := strings.HasPrefix(ks, "2543|"); got != tt.rfc2543 {
				t.Errorf("key %q: RFC 2543 = %v, want %v", ks, got, tt.rfc2543)
			}
			if lm.Lazy() == nil {
				t.Errorf("the key of the lazy form built sipgo's form")
			}
			cs, ns := reqCall(sm)
			cl, nl := reqCall(lm)
			if cs != cl || ns != nl || cs == "" || ns != 7 {
				t.Errorf("call keys differ: sipgo %q %d, lazy %q %d", cs, ns, cl, nl)
			}
		})
	}
}

// A retransmission matches and a different request does not, in either
// form: the key tells them apart on each field it is made of.
func TestServerKeyTellsRequestsApart(t *testing.T) {
	base := "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKk1\r\n" +
		"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" +
		"Content-Length: 0\r\n\r\n"
	old2543 := strings.Replace(base, ";branch=z9hG4bKk1", "", 1)
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"retransmission", base, base, true},
		{"other branch", base, strings.Replace(base, "z9hG4bKk1", "z9hG4bKk2", 1), false},
		{"other sent-by port", base, strings.Replace(base, ":5070", ":5071", 1), false},
		{"sent-by case", strings.Replace(base, "192.0.2.10", "pc33.example.com", 1), strings.Replace(base, "192.0.2.10", "PC33.Example.COM", 1), true},
		{"2543 retransmission", old2543, old2543, true},
		{"2543 other CSeq", old2543, strings.Replace(old2543, "CSeq: 1", "CSeq: 2", 1), false},
		{"2543 other Call-ID", old2543, strings.Replace(old2543, "Call-ID: c1", "Call-ID: c2", 1), false},
		{"2543 other From tag", old2543, strings.Replace(old2543, "tag=a1", "tag=a2", 1), false},
		{"2543 other R-URI", old2543, strings.Replace(old2543, "sip:bob@example.com SIP", "sip:carol@example.com SIP", 1), false},
	}
	for _, tt := range tests {
		for _, form := range []string{"sipgo", "lazy", "mixed"} {
			t.Run(tt.name+"/"+form, func(t *testing.T) {
				a, b := kemitest.ParseMsg(t, tt.a), kemitest.ParseMsg(t, tt.b)
				switch form {
				case "lazy":
					a, b = kemitest.ParseLazyMsg(t, tt.a), kemitest.ParseLazyMsg(t, tt.b)
				case "mixed":
					b = kemitest.ParseLazyMsg(t, tt.b)
				}
				ka, kb := serverKey(a, ""), serverKey(b, "")
				if (ka == kb) != tt.same {
					t.Errorf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tt.same)
				}
			})
		}
	}
}
