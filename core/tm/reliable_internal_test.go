package tm

import (
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

func reliableRequest(method, ruri, branch string) string {
	return method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + branch + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\n" +
		"Call-ID: " + branch + "\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
}

// Over a reliable transport nothing is retransmitted (RFC 3261 §17.1.1.2,
// §17.2.1): a branch over TCP arms no timer A, a negative reply to an
// INVITE that came over TCP no timer G (wt_timer starts at once); over
// UDP both are armed.
func TestReliableTransportsAreNotRetransmitted(t *testing.T) {
	env := kemitest.Load(t, nil, "tm")
	mod := env.Mods["tm"].(*Module)
	t.Run("client", func(t *testing.T) {
		tests := []struct {
			ruri  string
			retry bool
		}{
			{"sip:bob@127.0.0.1:5080", true},
			{"sip:bob@127.0.0.1:5080;transport=tcp", false},
		}
		for i, tt := range tests {
			m := kemitest.ParseMsg(t, reliableRequest("INVITE", tt.ruri, "rc"+string(rune('a'+i))))
			if got := env.Call(t, "KSR.tm.t_relay", m); got != kemi.OK {
				t.Fatalf("%s: t_relay = %v", tt.ruri, got)
			}
			r := peekRef(m)
			r.t.mu.Lock()
			b := r.t.branches[0]
			kind, queued := mod.wheel.armed(&b.retr)
			_, fr := mod.wheel.armed(&b.fr)
			r.t.mu.Unlock()
			if queued != tt.retry || (queued && kind != tkRequest) {
				t.Errorf("%s: retransmission timer armed %v (kind %d), want %v", tt.ruri, queued, kind, tt.retry)
			}
			if !fr {
				t.Errorf("%s: no fr_timer", tt.ruri)
			}
		}
	})
	t.Run("server", func(t *testing.T) {
		tests := []struct {
			proto string
			want  timerKind
		}{
			{"udp", tkReplyRetr},
			{"tcp", tkWait},
		}
		for _, tt := range tests {
			m := kemitest.ParseMsg(t, reliableRequest("INVITE", "sip:bob@127.0.0.1", "rs"+tt.proto))
			m.Proto = tt.proto
			if got := env.Call(t, "KSR.tm.t_newtran", m); got != kemi.OK {
				t.Fatalf("%s: t_newtran = %v", tt.proto, got)
			}
			if got := env.Call(t, "KSR.tm.t_reply", m, 486, "Busy Here"); got != kemi.OK {
				t.Fatalf("%s: t_reply = %v", tt.proto, got)
			}
			r := peekRef(m)
			r.t.mu.Lock()
			kind, queued := mod.wheel.armed(&r.t.tm)
			r.t.mu.Unlock()
			if !queued || kind != tt.want {
				t.Errorf("%s: after a 486 the transaction's timer is %d (armed %v), want %d", tt.proto, kind, queued, tt.want)
			}
		}
	})
}

// A host that cannot send raw bytes gets the kept messages parsed again.
func TestReparserSendsKeptBytes(t *testing.T) {
	h := kemitest.NewHost()
	r := reparser{h}
	tests := []struct {
		text, kind string
		ok         bool
	}{
		{reliableRequest("ACK", "sip:bob@127.0.0.1", "rp1"), "request", true},
		{"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKrp2\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>;tag=b\r\nCall-ID: rp2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", "send-reply", true},
		{"not SIP", "", false},
	}
	for _, tt := range tests {
		h.Reset()
		err := r.SendRaw(kemi.Dest{Proto: "udp"}, []byte(tt.text))
		if (err == nil) != tt.ok {
			t.Errorf("%.20q: err %v, want ok %v", tt.text, err, tt.ok)
			continue
		}
		if tt.ok && h.Last().Kind != tt.kind {
			t.Errorf("%.20q: sent as %q, want %q", tt.text, h.Last().Kind, tt.kind)
		}
	}
	if err := (reparser{}).SendRaw(kemi.Dest{}, []byte(tests[0].text)); err == nil {
		t.Error("no host: no error")
	}
}

// t_set_retr sets T1 and T2 of the branches a transaction sends from then
// on (before the transaction exists: of the transaction t_relay makes); 0
// keeps a value, t_reset_retr goes back to retr_timer1 / retr_timer2.
func TestSetRetr(t *testing.T) {
	env := kemitest.Load(t, map[string]map[string]any{"tm": {"retr_timer1": 300, "retr_timer2": 3000}}, "tm")
	m := kemitest.ParseMsg(t, reliableRequest("INVITE", "sip:bob@127.0.0.1:5080", "sr1"))
	env.Call(t, "KSR.tm.t_set_retr", m, 200, 800)
	if got := env.Call(t, "KSR.tm.t_relay", m); got != kemi.OK {
		t.Fatalf("t_relay = %v", got)
	}
	r := peekRef(m)
	check := func(what string, want1, want2 time.Duration) {
		t.Helper()
		r.t.mu.Lock()
		defer r.t.mu.Unlock()
		if r.t.t1 != want1 || r.t.t2 != want2 {
			t.Errorf("%s: T1 %v T2 %v, want %v %v", what, r.t.t1, r.t.t2, want1, want2)
		}
	}
	check("set before the transaction", 200*time.Millisecond, 800*time.Millisecond)
	r.t.mu.Lock()
	b := r.t.branches[0]
	if b.retrIv != 200*time.Millisecond || b.t2 != 800*time.Millisecond {
		t.Errorf("branch: first interval %v, T2 %v", b.retrIv, b.t2)
	}
	r.t.mu.Unlock()
	env.Call(t, "KSR.tm.t_set_retr", m, 0, 1000)
	check("T2 changed, T1 kept", 200*time.Millisecond, time.Second)
	env.Call(t, "KSR.tm.t_reset_retr", m)
	check("reset", 300*time.Millisecond, 3*time.Second)
}
