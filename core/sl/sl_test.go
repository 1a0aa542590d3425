package sl_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/sl"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKinv;rport
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: call-1
CSeq: 10 INVITE
Max-Forwards: 70

`

const ack = `ACK sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKinv
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: call-1
CSeq: 10 ACK

`

const reply = `SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKout
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKinv
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: call-1
CSeq: 10 INVITE

`

// fakeTM answers send_reply statefully when the message is marked, and
// records the reply connection flags it found on the message.
type fakeTM struct {
	replies            []int
	noConnect, doClose bool
}

func (f *fakeTM) StatefulReply(m *kemi.Msg, code int, reason string) (bool, error) {
	if m.Value("has-tx") == nil {
		return false, nil
	}
	f.replies = append(f.replies, code)
	f.noConnect, f.doClose = m.ReplyNoConnect, m.ReplyClose
	return true, nil
}

func TestReplies(t *testing.T) {
	cases := []struct {
		name   string
		msg    string
		fn     string
		args   []any
		want   int64
		status string // first line of the reply sent, "" for none
	}{
		{"stateless 200", invite, "KSR.sl.sl_send_reply", []any{200, "OK"}, 1, "SIP/2.0 200 OK"},
		{"code as a string", invite, "KSR.sl.sl_send_reply", []any{"404", "Not Found"}, 1, "SIP/2.0 404 Not Found"},
		{"default reason", invite, "KSR.sl.sl_send_reply", []any{486, ""}, 1, "SIP/2.0 486 Busy Here"},
		{"send_reply without a transaction", invite, "KSR.sl.send_reply", []any{403, "Forbidden"}, 1, "SIP/2.0 403 Forbidden"},
		{"code too low", invite, "KSR.sl.sl_send_reply", []any{99, "No"}, -1, ""},
		{"code too high", invite, "KSR.sl.sl_send_reply", []any{700, "No"}, -1, ""},
		{"ACK is not replied", ack, "KSR.sl.sl_send_reply", []any{200, "OK"}, -1, ""},
		{"no reply to a reply", reply, "KSR.sl.sl_send_reply", []any{200, "OK"}, -1, ""},
		{"reply error without an error", invite, "KSR.sl.sl_reply_error", nil, 1, "SIP/2.0 500 Server Internal Error"},
		{"send_reply_error", invite, "KSR.sl.send_reply_error", nil, 1, "SIP/2.0 500 Server Internal Error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := kemitest.Load(t, nil, "core", "sl")
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			v := env.Call(t, c.fn, m, c.args...)
			if v.Int != c.want {
				t.Fatalf("%s = %d, want %d", c.fn, v.Int, c.want)
			}
			sent := env.Host.Sent()
			if c.status == "" {
				if len(sent) != 0 {
					t.Fatalf("sent %q", sent[0].Msg)
				}
				return
			}
			if len(sent) != 1 || !strings.HasPrefix(sent[0].Msg, c.status+"\r\n") {
				t.Fatalf("sent %+v, want %q", sent, c.status)
			}
			for _, want := range []string{"Call-ID: call-1", "CSeq: 10 INVITE", "received=192.0.2.10", "rport=5062"} {
				if !strings.Contains(sent[0].Msg, want) {
					t.Errorf("reply lacks %q:\n%s", want, sent[0].Msg)
				}
			}
			if !m.Handled {
				t.Error("message not marked handled")
			}
		})
	}
}

func TestReplyErrorUsesTheLastError(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sl")
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	m.SetError(478, "Unresolvable destination")
	env.Call(t, "KSR.sl.sl_reply_error", m)
	if got := env.Host.Last().Msg; !strings.HasPrefix(got, "SIP/2.0 478 Unresolvable destination") {
		t.Fatalf("reply %q", got)
	}
}

func TestSendReplyIsStatefulWithATransaction(t *testing.T) {
	env, err := kemitest.LoadErrWith(func(e *kemitest.Env) error {
		return e.Services.Provide(kemi.ServiceTM, &fakeTM{})
	}, nil, "core", "sl")
	if err != nil {
		t.Fatal(err)
	}
	tm := env.Services.Lookup(kemi.ServiceTM).(*fakeTM)
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	m.SetValue("has-tx", true)
	if v := env.Call(t, "KSR.sl.send_reply", m, 404, "Not Found"); v.Int != 1 {
		t.Fatalf("send_reply = %d", v.Int)
	}
	if len(tm.replies) != 1 || tm.replies[0] != 404 || len(env.Host.Sent()) != 0 {
		t.Fatalf("tm replies %v, stateless %d", tm.replies, len(env.Host.Sent()))
	}
	// sl_send_reply is always stateless
	env.Call(t, "KSR.sl.sl_send_reply", m, 200, "OK")
	if len(tm.replies) != 1 || len(env.Host.Sent()) != 1 {
		t.Fatalf("sl_send_reply went through tm")
	}
}

func TestRedirectListsTheDestinationSet(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sl")
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	if err := m.SetRURI("sip:bob@192.0.2.50"); err != nil {
		t.Fatal(err)
	}
	m.Branches = append(m.Branches, kemi.Branch{URI: "sip:bob@192.0.2.51", Q: 500})
	env.Call(t, "KSR.sl.sl_send_reply", m, 302, "Moved Temporarily")
	got := env.Host.Last().Msg
	for _, want := range []string{"Contact: <sip:bob@192.0.2.50>", "Contact: <sip:bob@192.0.2.51>;q=0.5"} {
		if !strings.Contains(got, want) {
			t.Errorf("302 lacks %q:\n%s", want, got)
		}
	}
}

func TestSendReplyMode(t *testing.T) {
	env, err := kemitest.LoadErrWith(func(e *kemitest.Env) error {
		return e.Services.Provide(kemi.ServiceTM, &fakeTM{})
	}, nil, "core", "sl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode               int
		noConnect, doClose bool
	}{{0, false, false}, {1, true, false}, {2, false, true}, {3, true, true}} {
		// stateless: the flags reach the destination of the reply
		m := env.Prepare(kemitest.ParseMsg(t, invite))
		m.Proto, m.ConnID = "tcp", 7
		if v := env.Call(t, "KSR.sl.send_reply_mode", m, 200, "OK", tc.mode); v.Int != 1 {
			t.Fatalf("mode %d: send_reply_mode = %d", tc.mode, v.Int)
		}
		if d := env.Host.Last().Dest; d.NoConnect != tc.noConnect || d.Close != tc.doClose {
			t.Errorf("mode %d: reply sent with no_connect=%v close=%v", tc.mode, d.NoConnect, d.Close)
		}
		// stateful: tm finds them on the message
		tm := env.Services.Lookup(kemi.ServiceTM).(*fakeTM)
		m = env.Prepare(kemitest.ParseMsg(t, invite))
		m.SetValue("has-tx", true)
		if v := env.Call(t, "KSR.sl.send_reply_mode", m, 200, "OK", tc.mode); v.Int != 1 {
			t.Fatalf("mode %d: stateful send_reply_mode = %d", tc.mode, v.Int)
		}
		if tm.noConnect != tc.noConnect || tm.doClose != tc.doClose {
			t.Errorf("mode %d: tm saw no_connect=%v close=%v", tc.mode, tm.noConnect, tm.doClose)
		}
	}
}

func TestForwardReply(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sl")
	m := env.Prepare(kemitest.ParseMsg(t, reply))
	if v := env.Call(t, "KSR.sl.sl_forward_reply", m, "480", "Gone Fishing"); v.Int != 1 {
		t.Fatalf("sl_forward_reply = %d", v.Int)
	}
	if got := env.Host.Last(); got.Kind != "forward" || !strings.HasPrefix(got.Msg, "SIP/2.0 480 Gone Fishing") {
		t.Fatalf("forwarded %+v", got)
	}
	m = env.Prepare(kemitest.ParseMsg(t, reply))
	if v := env.Call(t, "KSR.sl.sl_forward_reply", m, "200", ""); v.Int != -1 {
		t.Fatalf("turning a 486 into a 200 = %d, want -1", v.Int)
	}
	m = env.Prepare(kemitest.ParseMsg(t, invite))
	if v := env.Call(t, "KSR.sl.sl_forward_reply", m, "", ""); v.Int != -1 {
		t.Fatalf("sl_forward_reply on a request = %d", v.Int)
	}
}

func TestSendErrorsAreCounted(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sl")
	env.Host.FailSend = true
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	if v := env.Call(t, "KSR.sl.sl_send_reply", m, 200, "OK"); v.Int != -1 {
		t.Fatalf("failed send = %d", v.Int)
	}
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	if !strings.Contains(b.String(), "kemi_sl_send_errors_total 1") {
		t.Errorf("send error not counted:\n%s", b.String())
	}
}

// TestCountedCodesSeries checks that sl keeps one by-code series for
// every code of kemi.SLCountedCodes, the list the stats RPC reads, and
// names those codes in the family's description.
func TestCountedCodesSeries(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sl")
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	if v := env.Call(t, "KSR.sl.sl_send_reply", m, 404, "Not Here"); v.Int != 1 {
		t.Fatalf("sl_send_reply = %d", v.Int)
	}
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	page := b.String()
	codes := kemi.SLCountedCodes()
	var names []string
	for _, code := range codes {
		want := 0
		if code == 404 {
			want = 1
		}
		series := fmt.Sprintf(`kemi_sl_replies_sent_by_code_total{code="%d"} %d`+"\n", code, want)
		if !strings.Contains(page, series) {
			t.Errorf("no %q on the page", series)
		}
		names = append(names, strconv.Itoa(code))
	}
	if n := strings.Count(page, "kemi_sl_replies_sent_by_code_total{"); n != len(codes) {
		t.Errorf("%d by-code series, want %d", n, len(codes))
	}
	if help := "(" + strings.Join(names, ", ") + ")."; !strings.Contains(page, help) {
		t.Errorf("the description does not name the codes %s:\n%s", help, page)
	}
}
