package rr_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// benchInvite is a 12-header INVITE with a small SDP body.
const benchInvite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
To: <sip:bob@example.com>
Call-ID: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10:5062>
User-Agent: bench/1.0
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
Supported: replaces, timer
Content-Type: application/sdp

v=0
o=alice 1 1 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 4000 RTP/AVP 0
`

// benchRoute is a proxy route's changes, as a script makes them, then
// the message written as a forward writes it. Each round parses the
// received bytes again, lazy as the engine does (into a reused
// sipmsg.Msg), or with sipgo.
func benchRoute(b *testing.B, lazy, write bool) {
	env := load(b, nil)
	tmpl := env.Prepare(kemitest.ParseLazyMsg(b, benchInvite))
	raw := tmpl.Raw
	var lm sipmsg.Msg
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		m := *tmpl
		if lazy {
			if err := lm.Parse(raw); err != nil {
				b.Fatal(err)
			}
			if err := lm.Check(); err != nil {
				b.Fatal(err)
			}
			m.SetLazy(&lm, nil)
		} else {
			msg, err := sip.ParseMessage(raw)
			if err != nil {
				b.Fatal(err)
			}
			m.SetRequest(msg.(*sip.Request))
		}
		if write {
			env.Call(b, "KSR.rr.record_route", &m)
			env.Call(b, "KSR.hdr.append", &m, "X-Routed: yes\r\n")
			env.Call(b, "KSR.hdr.remove", &m, "User-Agent")
			env.Call(b, "KSR.pv.sets", &m, "$ru", "sip:bob@192.0.2.20:5070")
		} else {
			// as many calls that change nothing: what the calls cost
			for range 4 {
				env.Call(b, "KSR.pv.get", &m, "$ci")
			}
		}
		if lm := m.Lazy(); lm != nil {
			out = lm.AppendTo(out[:0])
		} else {
			out = append(out[:0], m.Request().String()...)
		}
	}
}

// BenchmarkRouteLazy runs benchRoute on a message received in the lazy
// form, as the engine receives it.
func BenchmarkRouteLazy(b *testing.B) { benchRoute(b, true, true) }

// BenchmarkRouteSipgo runs benchRoute on a message parsed by sipgo.
func BenchmarkRouteSipgo(b *testing.B) { benchRoute(b, false, true) }

// BenchmarkRouteLazyReadOnly is BenchmarkRouteLazy with four reads ($ci)
// instead of the four changes: the parse, the script calls and the
// write, the floor under BenchmarkRouteLazy.
func BenchmarkRouteLazyReadOnly(b *testing.B) { benchRoute(b, true, false) }
