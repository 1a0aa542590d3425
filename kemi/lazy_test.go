package kemi

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/internal/sipmsg"
)

// lazyMsg parses text (LF line ends are fine) into a lazy message.
func lazyMsg(t *testing.T, text string) *Msg {
	t.Helper()
	lm := new(sipmsg.Msg)
	if err := lm.Parse([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	m := &Msg{Proto: "udp"}
	m.SetLazy(lm, nil)
	return m
}

const lazyInvite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\n" +
	"Max-Forwards: 70\n" +
	"From: <sip:alice@example.com>;tag=a\nTo: <sip:bob@example.com>\n" +
	"Call-ID: lazy-1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"

// TestMaterializeKeepsChanges: the sipgo form is the lazy message with
// the changes made so far, and then it is the message.
func TestMaterializeKeepsChanges(t *testing.T) {
	m := lazyMsg(t, lazyInvite)
	lm := m.Lazy()
	lm.SetValue(lm.Find(sipmsg.HdrMaxForwards), []byte("69"))
	if v, _ := m.firstMaxForwards(); v != 69 {
		t.Fatalf("lazy Max-Forwards = %d, want 69", v)
	}
	req := m.Request()
	if req == nil || m.Lazy() != nil {
		t.Fatalf("Request() = %v, Lazy() = %v after it", req, m.Lazy())
	}
	if mf := req.MaxForwards(); mf == nil || *mf != 69 {
		t.Errorf("sipgo Max-Forwards = %v, want 69", mf)
	}
	if req.Transport() != "UDP" || m.Method() != "INVITE" || m.RURI() != "sip:bob@example.com" {
		t.Errorf("transport %q, method %q, R-URI %q", req.Transport(), m.Method(), m.RURI())
	}
}

// TestMaterializeRefusesWhatSipgoBreaks: a Via with white space before
// its first ';' parses in sipmsg, but sipgo would lose its sent-by: the
// code asking for the sipgo form gets a panic (the route's recovery
// turns it into an error), never a message sent on with a broken Via.
func TestMaterializeRefusesWhatSipgoBreaks(t *testing.T) {
	m := lazyMsg(t, strings.Replace(lazyInvite, "5060;branch", "5060 ;branch", 1))
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmtAny(r), "sent-by") {
			t.Fatalf("recover() = %v, want the sent-by error", r)
		}
	}()
	m.Request()
}

func fmtAny(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}
