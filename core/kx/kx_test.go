package kx_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/kx"
)

const fullText = "INVITE sip:bob@biloxi.example.com;transport=udp SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-kx1\n" +
	"Max-Forwards: 70\n" +
	"From: \"Alice\" <sip:alice@atlanta.example.com>;tag=a1\n" +
	"To: <sip:bob@biloxi.example.com>\n" +
	"Call-ID: kx-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"Contact: <sip:alice@192.0.2.10:5062;transport=udp>;expires=60\n" +
	"Contact: <sip:alice2@192.0.2.11>\n" +
	"User-Agent: kemi-test/1.0\n" +
	"Authorization: Digest username=\"other\", realm=\"x\"\n" +
	"Proxy-Authorization: Digest realm=\"atlanta.example.com\", username=\"alice@atlanta.example.com\", nonce=\"n,1\", uri=\"sip:bob@biloxi.example.com\", response=\"0\"\n" +
	"Content-Type: application/sdp\n" +
	"\n" +
	"v=0\n"

const bareText = "OPTIONS sip:biloxi.example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-kx2\n" +
	"From: <sip:atlanta.example.com>;tag=a2\n" +
	"To: <sip:biloxi.example.com>\n" +
	"Call-ID: kx-2@192.0.2.10\n" +
	"CSeq: 1 OPTIONS\n" +
	"\n"

const replyText = "SIP/2.0 183 Session Progress\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-kx1\n" +
	"From: <sip:alice@atlanta.example.com>;tag=a1\n" +
	"To: <sip:bob@biloxi.example.com>;tag=b1\n" +
	"Call-ID: kx-1@192.0.2.10\n" +
	"CSeq: 7 INVITE\n" +
	"Contact: *\n" +
	"\n"

type msgFn func(t *testing.T) *kemi.Msg

func parse(text string, change ...func(m *kemi.Msg)) msgFn {
	return func(t *testing.T) *kemi.Msg {
		m := kemitest.ParseMsg(t, text)
		for _, c := range change {
			c(m)
		}
		return m
	}
}

var (
	full  = parse(fullText)
	bare  = parse(bareText)
	reply = parse(replyText)
)

func tcpSockets(m *kemi.Msg) {
	m.Proto = "tcp"
	m.ConnID = 42
	m.Src = netip.MustParseAddrPort("[2001:db8::10]:40000")
	m.Rcv = &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("10.0.0.1:5060"), AdvHost: "203.0.113.1", AdvPort: 5070, Name: "pub"}
	m.SendSock = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("10.0.0.2:5080"), Name: "out"}
}

var (
	str  = kemi.Str
	num  = kemi.Int
	null = kemi.Null
)

func TestGetters(t *testing.T) {
	tests := []struct {
		fn   string
		m    msgFn
		args []any
		want kemi.Value
	}{
		// R-URI
		{"get_ruri", full, nil, str("sip:bob@biloxi.example.com;transport=udp")},
		{"get_ruri", parse(fullText, func(m *kemi.Msg) { _ = m.SetRURI("sip:carol@example.net") }), nil, str("sip:carol@example.net")},
		{"get_ruri", reply, nil, null},
		{"get_ruser", full, nil, str("bob")},
		{"get_ruser", bare, nil, null},
		{"gete_ruser", bare, nil, str("")},
		{"getw_ruser", bare, nil, str("<null>")},
		{"getw_ruser", full, nil, str("bob")},
		{"get_ruser", reply, nil, null},
		{"get_rhost", full, nil, str("biloxi.example.com")},
		{"get_rhost", reply, nil, null},
		{"gete_rhost", reply, nil, str("")},
		{"gete_rhost", full, nil, str("biloxi.example.com")},
		{"getw_rhost", reply, nil, str("<null>")},
		{"get_rhost", parse(strings.Replace(bareText, "sip:biloxi.example.com SIP", "sip:[2001:db8::1]:5070 SIP", 1)), nil, str("[2001:db8::1]")},
		{"get_ouri", parse(fullText, func(m *kemi.Msg) { _ = m.SetRURI("sip:carol@example.net") }), nil, str("sip:bob@biloxi.example.com;transport=udp")},
		{"get_ouri", reply, nil, null},

		// From, To
		{"get_furi", full, nil, str("sip:alice@atlanta.example.com")},
		{"get_furi", reply, nil, str("sip:alice@atlanta.example.com")},
		{"get_fuser", full, nil, str("alice")},
		{"get_fuser", bare, nil, null},
		{"gete_fuser", bare, nil, str("")},
		{"getw_fuser", bare, nil, str("<null>")},
		{"get_fhost", full, nil, str("atlanta.example.com")},
		{"gete_fhost", full, nil, str("atlanta.example.com")},
		{"getw_fhost", bare, nil, str("atlanta.example.com")},
		{"get_fhost", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("From") }), nil, null},
		{"gete_fhost", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("From") }), nil, str("")},
		{"getw_fhost", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("From") }), nil, str("<null>")},
		{"get_furi", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("From") }), nil, null},
		{"get_turi", full, nil, str("sip:bob@biloxi.example.com")},
		{"get_turi", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("To") }), nil, null},
		{"get_tuser", reply, nil, str("bob")},
		{"get_tuser", bare, nil, null},
		{"gete_tuser", bare, nil, str("")},
		{"getw_tuser", bare, nil, str("<null>")},
		{"get_thost", full, nil, str("biloxi.example.com")},
		{"gete_thost", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("To") }), nil, str("")},
		{"getw_thost", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("To") }), nil, str("<null>")},
		{"getw_thost", bare, nil, str("biloxi.example.com")},

		// $du and next hop
		{"get_duri", full, nil, null},
		{"gete_duri", full, nil, str("")},
		{"getw_duri", full, nil, str("<null>")},
		{"get_duri", parse(fullText, func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.9:5060" }), nil, str("sip:10.0.0.9:5060")},
		{"gete_duri", parse(fullText, func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.9" }), nil, str("sip:10.0.0.9")},
		{"getw_duri", parse(fullText, func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.9" }), nil, str("sip:10.0.0.9")},
		{"get_nhuri", full, nil, str("sip:bob@biloxi.example.com;transport=udp")},
		{"get_nhuri", parse(fullText, func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.9:5060" }), nil, str("sip:10.0.0.9:5060")},
		{"get_nhuri", reply, nil, null},

		// Contact
		{"get_cturi", full, nil, str("sip:alice@192.0.2.10:5062;transport=udp")},
		{"gete_cturi", full, nil, str("sip:alice@192.0.2.10:5062;transport=udp")},
		{"getw_cturi", full, nil, str("sip:alice@192.0.2.10:5062;transport=udp")},
		{"get_cturi", bare, nil, null},
		{"gete_cturi", bare, nil, str("")},
		{"getw_cturi", bare, nil, str("<null>")},
		{"get_cturi", reply, nil, null},
		{"getw_cturi", reply, nil, str("<null>")},
		{"get_cturi", parse(bareText, func(m *kemi.Msg) { m.AppendHeaders(sip.NewHeader("m", "<sip:x@192.0.2.99>;q=0.5")) }), nil, str("sip:x@192.0.2.99")},

		// User-Agent
		{"get_ua", full, nil, str("kemi-test/1.0")},
		{"gete_ua", full, nil, str("kemi-test/1.0")},
		{"getw_ua", full, nil, str("kemi-test/1.0")},
		{"get_ua", bare, nil, null},
		{"gete_ua", bare, nil, str("")},
		{"getw_ua", bare, nil, str("<null>")},

		// credentials: Proxy-Authorization first, user part only
		{"get_au", full, nil, str("alice")},
		{"gete_au", full, nil, str("alice")},
		{"getw_au", full, nil, str("alice")},
		{"get_au", parse(fullText, func(m *kemi.Msg) { m.RemoveHeaders("Proxy-Authorization") }), nil, str("other")},
		{"get_au", parse(bareText, func(m *kemi.Msg) {
			m.AppendHeaders(sip.NewHeader("Authorization", `Digest username="sip:bob@example.com", realm="r"`))
		}), nil, str("bob")},
		{"get_au", parse(bareText, func(m *kemi.Msg) {
			m.AppendHeaders(sip.NewHeader("Authorization", `Digest realm="r", username=carol, nonce="1"`))
		}), nil, str("carol")},
		{"get_au", parse(bareText, func(m *kemi.Msg) {
			m.AppendHeaders(sip.NewHeader("Authorization", `Basic YWxpY2U6c2VjcmV0`))
		}), nil, null},
		{"get_au", parse(bareText, func(m *kemi.Msg) {
			m.AppendHeaders(sip.NewHeader("Authorization", `Digest username="unterminated`))
		}), nil, null},
		{"get_au", bare, nil, null},
		{"gete_au", bare, nil, str("")},
		{"getw_au", bare, nil, str("<null>")},
		{"get_au", parse(strings.NewReplacer("INVITE sip", "CANCEL sip", "7 INVITE", "7 CANCEL").Replace(fullText)), nil, null},

		// body
		{"get_body", full, nil, str("v=0\n")},
		{"gete_body", full, nil, str("v=0\n")},
		{"getw_body", full, nil, str("v=0\n")},
		{"get_body", bare, nil, null},
		{"gete_body", bare, nil, str("")},
		{"getw_body", bare, nil, str("<null>")},
		{"get_bodylen", full, nil, num(4)},
		{"get_bodylen", bare, nil, num(0)},

		// source (kemitest: udp from 192.0.2.10:5062 to 127.0.0.1:5060)
		{"get_srcip", full, nil, str("192.0.2.10")},
		{"get_srcip", parse(bareText, tcpSockets), nil, str("2001:db8::10")},
		{"get_srcip", parse(bareText, func(m *kemi.Msg) { m.Src = netip.AddrPort{} }), nil, null},
		{"get_srcport", full, nil, num(5062)},
		{"get_srcport", parse(bareText, func(m *kemi.Msg) { m.Src = netip.AddrPort{} }), nil, num(0)},
		{"get_srcuri", full, nil, str("sip:192.0.2.10:5062")},
		{"get_srcuri", parse(bareText, tcpSockets), nil, str("sip:[2001:db8::10]:40000;transport=tcp")},
		{"get_srcuri", parse(bareText, func(m *kemi.Msg) { m.Proto = "wss" }), nil, str("sip:192.0.2.10:5062;transport=ws")},
		{"get_srcuri", parse(bareText, func(m *kemi.Msg) { m.Proto = "TLS" }), nil, str("sip:192.0.2.10:5062;transport=tls")},
		{"get_srcuri", parse(bareText, func(m *kemi.Msg) { m.Proto = "quic" }), nil, str("")},
		{"get_srcuri", parse(bareText, func(m *kemi.Msg) { m.Src = netip.AddrPort{} }), nil, str("")},
		{"get_srcaddr_sock", full, nil, str("udp:192.0.2.10:5062")},
		{"get_srcaddr_sock", parse(bareText, tcpSockets), nil, str("tcp:[2001:db8::10]:40000")},
		{"get_srcaddr_sock", parse(bareText, func(m *kemi.Msg) { m.Proto = "" }), nil, str("")},

		// receiving socket
		{"get_rcvip", full, nil, str("127.0.0.1")},
		{"get_rcvip", parse(bareText, tcpSockets), nil, str("10.0.0.1")},
		{"get_rcvip", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, null},
		{"get_rcvport", full, nil, num(5060)},
		{"get_rcvport", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, num(0)},
		{"get_rcv_sock_name", full, nil, null},
		{"get_rcv_sock_name", parse(bareText, tcpSockets), nil, str("pub")},
		{"get_rcv_sock_name", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, null},
		{"get_rcvadvip", full, nil, str("127.0.0.1")},
		{"get_rcvadvip", parse(bareText, tcpSockets), nil, str("203.0.113.1")},
		{"get_rcvadvip", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, null},
		{"get_rcvadvport", full, nil, num(5060)},
		{"get_rcvadvport", parse(bareText, tcpSockets), nil, num(5070)},
		{"get_rcvadvport", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, num(0)},
		{"get_rcvaddr_sock", full, nil, str("udp:127.0.0.1:5060")},
		{"get_rcvaddr_sock", parse(bareText, tcpSockets), nil, str("tcp:10.0.0.1:5060")},
		{"get_rcvaddr_sock", parse(bareText, func(m *kemi.Msg) { m.Rcv = nil }), nil, str("")},

		// forced send socket
		{"get_send_sock", full, nil, null},
		{"get_send_sock", parse(bareText, tcpSockets), nil, str("udp:10.0.0.2:5080")},
		{"get_send_sock_name", full, nil, null},
		{"get_send_sock_name", parse(bareText, tcpSockets), nil, str("out")},
		{"get_send_sock_name", parse(bareText, func(m *kemi.Msg) { m.SendSock = &kemi.Socket{Proto: "udp"} }), nil, null},
		{"get_send_sock_port", full, nil, num(0)},
		{"get_send_sock_port", parse(bareText, tcpSockets), nil, num(5080)},

		// transport
		{"get_proto", full, nil, str("udp")},
		{"get_proto", parse(bareText, tcpSockets), nil, str("tcp")},
		{"get_proto", parse(bareText, func(m *kemi.Msg) { m.Proto = "wss" }), nil, str("wss")},
		{"get_proto", parse(bareText, func(m *kemi.Msg) { m.Proto = "" }), nil, str("")},
		{"get_protoid", full, nil, num(1)},
		{"get_protoid", parse(bareText, tcpSockets), nil, num(2)},
		{"get_protoid", parse(bareText, func(m *kemi.Msg) { m.Proto = "tls" }), nil, num(3)},
		{"get_protoid", parse(bareText, func(m *kemi.Msg) { m.Proto = "sctp" }), nil, num(4)},
		{"get_protoid", parse(bareText, func(m *kemi.Msg) { m.Proto = "ws" }), nil, num(5)},
		{"get_protoid", parse(bareText, func(m *kemi.Msg) { m.Proto = "WSS" }), nil, num(6)},
		{"get_protoid", parse(bareText, func(m *kemi.Msg) { m.Proto = "" }), nil, num(0)},
		{"get_conid", full, nil, num(-1)},
		{"get_conid", parse(bareText, tcpSockets), nil, num(42)},

		// first line and headers
		{"get_method", full, nil, str("INVITE")},
		{"get_method", reply, nil, str("INVITE")},
		{"get_method", parse(replyText, func(m *kemi.Msg) { m.RemoveHeaders("CSeq") }), nil, null},
		{"get_status", full, nil, num(-1)},
		{"get_status", reply, nil, num(183)},
		{"gets_status", full, nil, null},
		{"gets_status", reply, nil, str("183")},
		{"get_callid", full, nil, str("kx-1@192.0.2.10")},
		{"get_callid", parse(bareText, func(m *kemi.Msg) { m.RemoveHeaders("Call-ID") }), nil, str("")},
		{"get_msgtype", full, nil, num(1)},
		{"get_msgtype", reply, nil, num(2)},
		{"get_msgtype", func(t *testing.T) *kemi.Msg { return &kemi.Msg{} }, nil, num(0)},

		// defines (set in the test below) and environment
		{"get_def", full, []any{"WITH_NAT"}, str("1")},
		{"get_def", full, []any{"FLAG_ONLY"}, str("")},
		{"get_def", full, []any{"MISSING"}, str("")},
		{"get_def", full, []any{""}, str("")},
		{"get_defn", full, []any{"PORT"}, num(5080)},
		{"get_defn", full, []any{"NEG"}, num(-12)},
		{"get_defn", full, []any{"WORD"}, num(0)},
		{"get_defn", full, []any{"BIG"}, num(2147483647)},
		{"get_defn", full, []any{"MISSING"}, num(0)},
		{"ifdef", full, []any{"WITH_NAT"}, kemi.True},
		{"ifdef", full, []any{"FLAG_ONLY"}, kemi.True},
		{"ifdef", full, []any{"MISSING"}, kemi.False},
		{"ifdef", full, []any{""}, kemi.False},
		{"ifndef", full, []any{"WITH_NAT"}, kemi.False},
		{"ifndef", full, []any{"MISSING"}, kemi.True},
		{"ifndef", full, []any{""}, kemi.True},
		{"get_env", full, []any{"KEMI_KX_TEST"}, str("42abc")},
		{"get_env", full, []any{"KEMI_KX_TEST_EMPTY"}, str("")},
		{"get_env", full, []any{"KEMI_KX_TEST_UNSET"}, str("")},
		{"get_env", full, []any{""}, str("")},
		{"get_envn", full, []any{"KEMI_KX_TEST"}, num(42)},
		{"get_envn", full, []any{"KEMI_KX_TEST_NEG"}, num(-7)},
		{"get_envn", full, []any{"KEMI_KX_TEST_UNSET"}, num(0)},
		{"get_envn", full, []any{""}, num(0)},
	}

	t.Setenv("KEMI_KX_TEST", "42abc")
	t.Setenv("KEMI_KX_TEST_EMPTY", "")
	t.Setenv("KEMI_KX_TEST_NEG", "-7")
	env := kemitest.Load(t, nil, "kx")
	env.Defines["WITH_NAT"] = "1"
	env.Defines["FLAG_ONLY"] = ""
	env.Defines["PORT"] = "5080"
	env.Defines["NEG"] = "-12x"
	env.Defines["WORD"] = "yes"
	env.Defines["BIG"] = "99999999999"

	covered := map[string]bool{}
	for _, tc := range tests {
		covered["KSR.kx."+tc.fn] = true
		m := tc.m(t)
		if got := env.Call(t, "KSR.kx."+tc.fn, m, tc.args...); got != tc.want {
			t.Errorf("%s(%v) = %+v, want %+v", tc.fn, tc.args, got, tc.want)
		}
	}
	covered["KSR.kx.get_timestamp"] = true
	covered["KSR.kx.get_msgbuf"] = true
	covered["KSR.kx.get_msglen"] = true
	for name := range env.Exports() {
		if !covered[name] {
			t.Errorf("%s has no test", name)
		}
	}
}

func TestTimestamp(t *testing.T) {
	env := kemitest.Load(t, nil, "kx")
	before := time.Now().Unix()
	v := env.Call(t, "KSR.kx.get_timestamp", full(t))
	after := time.Now().Unix()
	if v.Kind != kemi.KindInt || v.Int < before || v.Int > after {
		t.Fatalf("get_timestamp = %+v, want between %d and %d", v, before, after)
	}
}

func TestMsgBuf(t *testing.T) {
	env := kemitest.Load(t, nil, "kx")
	m := full(t)
	raw := string(m.Raw)
	if v := env.Call(t, "KSR.kx.get_msgbuf", m); v != kemi.Str(raw) {
		t.Fatalf("get_msgbuf = %q, want %q", v.Str, raw)
	}
	if v := env.Call(t, "KSR.kx.get_msglen", m); v != kemi.Int(len(raw)) {
		t.Fatalf("get_msglen = %+v, want %d", v, len(raw))
	}
	// the buffer is what was received, whatever the script changed
	m.RemoveHeaders("User-Agent")
	if v := env.Call(t, "KSR.kx.get_msgbuf", m); !strings.Contains(v.Str, "User-Agent: kemi-test/1.0") {
		t.Fatalf("get_msgbuf after a change = %q", v.Str)
	}

	// a message built locally (no buffer) gives its text
	m = bare(t)
	m.Raw = nil
	want := m.Request().String()
	if v := env.Call(t, "KSR.kx.get_msgbuf", m); v != kemi.Str(want) {
		t.Fatalf("get_msgbuf of a built message = %q, want %q", v.Str, want)
	}
	if v := env.Call(t, "KSR.kx.get_msglen", m); v != kemi.Int(len(want)) {
		t.Fatalf("get_msglen of a built message = %+v", v)
	}
	if v := env.Call(t, "KSR.kx.get_msgbuf", &kemi.Msg{}); v != kemi.Str("") {
		t.Fatalf("get_msgbuf of an empty message = %+v", v)
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	kemitest.Load(t, nil, "kx").CheckExports(t, "kx")
}
