package kemi

import (
	"hash/fnv"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// A reply written from the lazy request says what NewReply's says from
// sipgo's form: the same Vias (the top one stamped), Record-Route set,
// From, To with the same tag, Call-ID, CSeq and Timestamp, no body.
func TestAppendLazyReplyMatchesNewReply(t *testing.T) {
	const req = "INVITE sip:bob@example.com SIP/2.0\n" +
		"Record-Route: <sip:p1.example.com;lr>\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKr1;rport\n" +
		"v: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKr0\n" +
		"f: \"Alice\" <sip:alice@example.com>;tag=a1\n" +
		"To: <sip:bob@example.com>\n" +
		"i: reply-1@192.0.2.10\n" +
		"CSeq: 3 INVITE\n" +
		"Timestamp: 54\n" +
		"Contact: <sip:alice@192.0.2.10:5070>\n" +
		"Content-Length: 0\n\n"
	for _, tt := range []struct {
		code   int
		reason string
	}{{100, "Trying"}, {180, "Ringing"}, {200, "OK"}, {408, "Request Timeout"}, {486, "Busy Here"}, {603, "Decline"}} {
		lm := lazyMsg(t, req)
		lm.Src = netip.MustParseAddrPort("198.51.100.7:5099")
		wire, ok := lm.AppendLazyReply(nil, tt.code, tt.reason)
		if !ok {
			t.Fatalf("%d: no lazy reply", tt.code)
		}
		msg, err := sip.ParseMessage(wire)
		if err != nil {
			t.Fatalf("%d: the lazy reply does not parse: %v\n%s", tt.code, err, wire)
		}
		got := msg.(*sip.Response)
		sm := lazyMsg(t, req)
		sm.Src = lm.Src
		want := sm.NewReply(tt.code, tt.reason)
		if sm.Lazy() != nil {
			t.Fatal("NewReply kept the lazy form")
		}
		if lm.Lazy() == nil {
			t.Fatal("AppendLazyReply built sipgo's form")
		}
		if got.StatusCode != tt.code || got.Reason != tt.reason {
			t.Errorf("%d: status %d %q", tt.code, got.StatusCode, got.Reason)
		}
		for _, name := range []string{"Via", "Record-Route", "From", "To", "Call-ID", "CSeq", "Timestamp", "Content-Length"} {
			g, w := headerValues(got, name), headerValues(want, name)
			if g != w {
				t.Errorf("%d: %s\n got %q\nwant %q", tt.code, name, g, w)
			}
		}
		if len(got.Body()) != 0 {
			t.Errorf("%d: a body: %q", tt.code, got.Body())
		}
	}
}

// The replies AppendLazyReply leaves to NewReply: a 3xx (Contacts), and
// any reply with headers or a body the script queued.
func TestAppendLazyReplyRefuses(t *testing.T) {
	const req = "OPTIONS sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKo1\n" +
		"From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: o1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"
	m := lazyMsg(t, req)
	if _, ok := m.AppendLazyReply(nil, 302, "Moved Temporarily"); ok {
		t.Errorf("a 3xx written lazily")
	}
	m.ReplyHeaders = append(m.ReplyHeaders, sip.NewHeader("X-A", "1"))
	if _, ok := m.AppendLazyReply(nil, 404, "Not Found"); ok {
		t.Errorf("a reply with queued headers written lazily")
	}
	if _, ok := RequestMsg(sip.NewRequest(sip.OPTIONS, sip.Uri{Host: "example.com"})).AppendLazyReply(nil, 404, "Not Found"); ok {
		t.Errorf("a reply written from sipgo's form")
	}
}

// headerValues returns the values of the headers called name, one line.
func headerValues(res *sip.Response, name string) string {
	var vs []string
	for _, h := range res.GetHeaders(name) {
		vs = append(vs, h.Value())
	}
	return strings.Join(vs, " | ")
}

// replyTagHash is FNV-1a over the concatenated values, the hash the tags
// were made with before both forms shared it: tags do not change across
// an upgrade, so a retransmission straddling a restart still matches.
func TestReplyTagHashIsFNV1a(t *testing.T) {
	for _, tt := range []struct {
		branch, host, callID, fromTag string
		cseq                          int64
		joined                        string
	}{
		{"z9hG4bKr1", "192.0.2.10", "c1", "a1", 3, "z9hG4bKr1192.0.2.10c1a13"},
		{"", "::1", "c2", "", -1, "::1c2"},
		{"b", "h", "", "t", 0, "bht0"},
	} {
		f := fnv.New64a()
		f.Write([]byte(tt.joined))
		want := f.Sum64()
		if got := replyTagHash(tt.branch, tt.host, tt.callID, tt.fromTag, tt.cseq); got != want {
			t.Errorf("%q: string form %x, want %x", tt.joined, got, want)
		}
		if got := replyTagHash([]byte(tt.branch), []byte(tt.host), []byte(tt.callID), []byte(tt.fromTag), tt.cseq); got != want {
			t.Errorf("%q: byte form %x, want %x", tt.joined, got, want)
		}
	}
}
