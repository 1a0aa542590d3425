package nathelper_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/nathelper"
)

// natReq builds a request from src (udp) with the given Via and Contact
// host:port and an optional SDP body.
func natReq(t *testing.T, via, contact, sdp string, src string) *kemi.Msg {
	t.Helper()
	text := "INVITE sip:bob@example.com SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + via + ";branch=z9hG4bK-1\n" +
		"From: <sip:alice@example.com>;tag=a\n" +
		"To: <sip:bob@example.com>\n" +
		"Call-ID: nh-1\n" +
		"CSeq: 1 INVITE\n"
	if contact != "" {
		text += "Contact: <sip:alice@" + contact + ">\n"
	}
	if sdp != "" {
		text += "Content-Type: application/sdp\n\n" + sdp
	} else {
		text = strings.TrimSuffix(text, "\n")
	}
	m := kemitest.ParseMsg(t, text)
	m.Src = netip.MustParseAddrPort(src)
	return m
}

func sdpWith(conn, media string) string {
	s := "v=0\r\no=- 1 1 IN IP4 " + conn + "\r\ns=-\r\nc=IN IP4 " + conn + "\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	if media != "" {
		s += "c=IN IP4 " + media + "\r\n"
	}
	return s
}

func TestExportsMatchKamailio(t *testing.T) {
	env := kemitest.Load(t, nil, "nathelper")
	env.CheckExports(t, "nathelper")
}

// TestNatUACTest covers every bit of nat_uac_test, each alone and with
// the message that trips it and one that does not.
func TestNatUACTest(t *testing.T) {
	const pub = "203.0.113.5:5060"
	cases := []struct {
		name  string
		flags int
		m     func(t *testing.T) *kemi.Msg
		want  int64
	}{
		{"1 contact private", 1, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "192.168.1.10:5060", "", pub) }, 1},
		{"1 contact public", 1, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"1 contact cgnat", 1, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "100.64.0.1", "", pub) }, 1},
		{"1 no contact", 1, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "", "", pub) }, -1},
		{"2 via host not source", 2, func(t *testing.T) *kemi.Msg { return natReq(t, "198.51.100.1:5060", "203.0.113.5", "", pub) }, 1},
		{"2 via host is source", 2, func(t *testing.T) *kemi.Msg { return natReq(t, "203.0.113.5:5070", "203.0.113.5", "", pub) }, -1},
		{"2 via name", 2, func(t *testing.T) *kemi.Msg { return natReq(t, "ua.example.com", "203.0.113.5", "", pub) }, 1},
		{"4 via private", 4, func(t *testing.T) *kemi.Msg { return natReq(t, "10.0.0.2:5060", "203.0.113.5", "", pub) }, 1},
		{"4 via public", 4, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "10.0.0.2", "", pub) }, -1},
		{"8 sdp session private", 8, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", sdpWith("172.16.3.4", ""), pub) }, 1},
		{"8 sdp media private", 8, func(t *testing.T) *kemi.Msg {
			return natReq(t, pub, "203.0.113.5", sdpWith("203.0.113.5", "192.168.0.9"), pub)
		}, 1},
		{"8 sdp public", 8, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", sdpWith("203.0.113.5", ""), pub) }, -1},
		{"8 sdp on hold", 8, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", sdpWith("0.0.0.0", ""), pub) }, -1},
		{"16 via port not source", 16, func(t *testing.T) *kemi.Msg { return natReq(t, "203.0.113.5:5062", "203.0.113.5", "", pub) }, 1},
		{"16 via no port, source 5060", 16, func(t *testing.T) *kemi.Msg { return natReq(t, "203.0.113.5", "203.0.113.5", "", pub) }, -1},
		{"16 via no port, source 5070", 16, func(t *testing.T) *kemi.Msg {
			return natReq(t, "203.0.113.5", "203.0.113.5", "", "203.0.113.5:5070")
		}, 1},
		{"32 source private", 32, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", "10.1.2.3:5060") }, 1},
		{"32 source public", 32, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"64 websocket", 64, func(t *testing.T) *kemi.Msg {
			m := natReq(t, pub, "203.0.113.5", "", pub)
			m.Proto = "ws"
			return m
		}, 1},
		{"64 udp", 64, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"128 contact port not source", 128, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5:5080", "", pub) }, 1},
		{"128 contact no port, source 5060", 128, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"256 sdp c= not source", 256, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", sdpWith("198.51.100.7", ""), pub) }, 1},
		{"256 sdp c= is source", 256, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", sdpWith("203.0.113.5", ""), pub) }, -1},
		{"256 no sdp", 256, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"512 du elsewhere", 512, func(t *testing.T) *kemi.Msg {
			m := natReq(t, pub, "203.0.113.5", "", pub)
			m.DstURI = "sip:198.51.100.9:5060"
			return m
		}, 1},
		{"512 du same as ruri", 512, func(t *testing.T) *kemi.Msg {
			m := natReq(t, pub, "203.0.113.5", "", pub)
			m.DstURI = "sip:example.com"
			return m
		}, -1},
		{"512 no du", 512, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"19 private client from loopback", 19, func(t *testing.T) *kemi.Msg {
			return natReq(t, "192.168.1.10:5060", "192.168.1.10:5060", "", "127.0.0.1:40000")
		}, 1},
		{"19 public client", 19, func(t *testing.T) *kemi.Msg { return natReq(t, pub, "203.0.113.5", "", pub) }, -1},
		{"0 no test", 0, func(t *testing.T) *kemi.Msg { return natReq(t, "10.0.0.1", "10.0.0.1", "", pub) }, -1},
	}
	env := kemitest.Load(t, nil, "nathelper")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := env.Call(t, "KSR.nathelper.nat_uac_test", c.m(t), c.flags).AsInt(); got != c.want {
				t.Errorf("nat_uac_test(%d) = %d, want %d", c.flags, got, c.want)
			}
		})
	}
}

func TestIsRFC1918(t *testing.T) {
	cases := []struct {
		addr string
		mode int
		want int64
	}{
		{"10.0.0.1", 1, 1}, {"172.16.0.1", 1, 1}, {"172.31.255.255", 1, 1}, {"172.32.0.1", 1, -1},
		{"192.168.1.10", 1, 1}, {"100.64.0.1", 1, 1}, {"100.127.255.255", 1, 1}, {"100.128.0.1", 1, -1},
		{"192.0.0.7", 1, 1}, {"192.0.0.9", 1, 1}, {"192.0.0.9", 0, -1}, {"192.0.0.7", 0, 1},
		{"8.8.8.8", 1, -1}, {"127.0.0.1", 1, -1}, {"fd00::1", 1, -1}, {"example.com", 1, -1}, {"", 1, -2},
	}
	for _, c := range cases {
		env := kemitest.Load(t, map[string]map[string]any{"nathelper": {"nat_addr_mode": c.mode}}, "nathelper")
		m := natReq(t, "203.0.113.5", "", "", "203.0.113.5:5060")
		if got := env.Call(t, "KSR.nathelper.is_rfc1918", m, c.addr).AsInt(); got != c.want {
			t.Errorf("is_rfc1918(%q) with nat_addr_mode %d = %d, want %d", c.addr, c.mode, got, c.want)
		}
	}
}

// contactOf returns the first Contact header value of m.
func contactOf(m *kemi.Msg) string {
	v, _ := m.HeaderValue("Contact")
	return v
}

// TestContactFunctions covers the Contact rewrites and their return codes.
func TestContactFunctions(t *testing.T) {
	const src = "203.0.113.7:40000"
	cases := []struct {
		name    string
		fn      string
		args    []any
		contact string
		proto   string
		twice   bool // call it again: Kamailio refuses the second rewrite
		want    int64
		wantHdr string
	}{
		{name: "fix_nated_contact", fn: "fix_nated_contact", contact: "192.168.1.10:5060;transport=udp;maddr=192.168.1.1",
			want: 1, wantHdr: "<sip:alice@203.0.113.7:40000;transport=udp>"},
		{name: "fix_nated_contact twice", fn: "fix_nated_contact", contact: "192.168.1.10", twice: true, want: -1},
		{name: "fix_nated_contact no contact", fn: "fix_nated_contact", want: -1},
		{name: "add_contact_alias", fn: "add_contact_alias", contact: "192.168.1.10:5060;ob",
			want: 1, wantHdr: "<sip:alice@192.168.1.10:5060;alias=203.0.113.7~40000~1;ob>"},
		{name: "add_contact_alias tcp", fn: "add_contact_alias", contact: "192.168.1.10", proto: "tcp",
			want: 1, wantHdr: "<sip:alice@192.168.1.10;alias=203.0.113.7~40000~2>"},
		{name: "add_contact_alias not needed", fn: "add_contact_alias", contact: "203.0.113.7:40000;transport=udp", want: 2,
			wantHdr: "<sip:alice@203.0.113.7:40000;transport=udp>"},
		// Kamailio compares the URI's transport as parsed: none is not udp
		{name: "add_contact_alias no transport", fn: "add_contact_alias", contact: "203.0.113.7:40000", want: 1,
			wantHdr: "<sip:alice@203.0.113.7:40000;alias=203.0.113.7~40000~1>"},
		{name: "add_contact_alias no contact", fn: "add_contact_alias", want: 2},
		{name: "add_contact_alias_addr", fn: "add_contact_alias_addr", args: []any{"198.51.100.1", "5080", "tls"}, contact: "192.168.1.10",
			want: 1, wantHdr: "<sip:alice@192.168.1.10;alias=198.51.100.1~5080~3>"},
		{name: "add_contact_alias_addr bad ip", fn: "add_contact_alias_addr", args: []any{"nohost", "5080", "udp"}, contact: "192.168.1.10", want: -1},
		{name: "add_contact_alias_addr bad port", fn: "add_contact_alias_addr", args: []any{"198.51.100.1", "0", "udp"}, contact: "192.168.1.10", want: -1},
		{name: "add_contact_alias_addr bad proto", fn: "add_contact_alias_addr", args: []any{"198.51.100.1", "5060", "xyz"}, contact: "192.168.1.10", want: -1},
		{name: "set_contact_alias", fn: "set_contact_alias", contact: "192.168.1.10:5060;ob",
			want: 1, wantHdr: "<sip:alice@192.168.1.10:5060;ob;alias=203.0.113.7~40000~1>"},
		{name: "set_contact_alias twice", fn: "set_contact_alias", contact: "192.168.1.10", twice: true, want: -1},
		{name: "set_contact_alias_trim", fn: "set_contact_alias_trim", contact: "192.168.1.10;alias=10.0.0.1~5060~1",
			want: 1, wantHdr: "<sip:alice@192.168.1.10;alias=203.0.113.7~40000~1>"},
		{name: "set_contact_alias no trim", fn: "set_contact_alias", contact: "192.168.1.10;alias=10.0.0.1~5060~1",
			want: 1, wantHdr: "<sip:alice@192.168.1.10;alias=10.0.0.1~5060~1;alias=203.0.113.7~40000~1>"},
		{name: "add_rcv_param header", fn: "add_rcv_param", args: []any{0}, contact: "192.168.1.10",
			want: 1, wantHdr: `<sip:alice@192.168.1.10>;received="sip:203.0.113.7:40000"`},
		{name: "add_rcv_param uri", fn: "add_rcv_param", args: []any{1}, contact: "192.168.1.10",
			want: 1, wantHdr: `<sip:alice@192.168.1.10;received=sip:203.0.113.7:40000>`},
		{name: "add_rcv_param uri tcp", fn: "add_rcv_param", args: []any{1}, contact: "192.168.1.10", proto: "tcp", want: -1},
		{name: "add_rcv_param header tcp", fn: "add_rcv_param", args: []any{0}, contact: "192.168.1.10", proto: "tcp",
			want: 1, wantHdr: `<sip:alice@192.168.1.10>;received="sip:203.0.113.7:40000;transport=tcp"`},
	}
	env := kemitest.Load(t, nil, "nathelper")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := natReq(t, "192.168.1.10", c.contact, "", src)
			if c.proto != "" {
				m.Proto = c.proto
			}
			got := env.Call(t, "KSR.nathelper."+c.fn, m, c.args...).AsInt()
			if c.twice {
				got = env.Call(t, "KSR.nathelper."+c.fn, m, c.args...).AsInt()
			}
			if got != c.want {
				t.Fatalf("%s = %d, want %d\n%s", c.fn, got, c.want, env.Logs())
			}
			if c.wantHdr != "" {
				if h := contactOf(m); h != c.wantHdr {
					t.Errorf("Contact %q, want %q", h, c.wantHdr)
				}
			}
		})
	}
}

func TestFixNatedRegister(t *testing.T) {
	m := natReq(t, "192.168.1.10", "192.168.1.10", "", "203.0.113.7:40000")
	env := kemitest.Load(t, map[string]map[string]any{"nathelper": {"received_avp": "$avp(RECEIVED)"}}, "nathelper")
	if got := env.Call(t, "KSR.nathelper.fix_nated_register", m).AsInt(); got != 1 {
		t.Fatalf("fix_nated_register = %d", got)
	}
	if v, ok := m.AVPs.Get("RECEIVED", 0); !ok || v.String() != "sip:203.0.113.7:40000" {
		t.Errorf("received AVP %v %v", v, ok)
	}
	// without received_avp it does nothing and succeeds, as Kamailio
	env = kemitest.Load(t, nil, "nathelper")
	m = natReq(t, "192.168.1.10", "192.168.1.10", "", "203.0.113.7:40000")
	if got := env.Call(t, "KSR.nathelper.fix_nated_register", m).AsInt(); got != 1 || m.AVPs.Len() != 0 {
		t.Errorf("fix_nated_register without received_avp = %d, %d AVPs", got, m.AVPs.Len())
	}
}

func TestHandleRURIAlias(t *testing.T) {
	cases := []struct {
		ruri   string
		mode   int
		want   int64
		du, ru string
	}{
		{"sip:alice@192.168.1.10;alias=203.0.113.7~40000~1", 0, 1, "sip:203.0.113.7:40000", "sip:alice@192.168.1.10"},
		{"sip:alice@192.168.1.10;ob;alias=203.0.113.7~40000~2;x=1", 0, 1, "sip:203.0.113.7:40000;transport=tcp", "sip:alice@192.168.1.10;ob;x=1"},
		{"sip:a@h;alias=2.2.2.2~2~6", 1, 1, "sip:2.2.2.2:2;transport=wss", "sip:a@h"},
		{"sip:alice@192.168.1.10", 0, 2, "", "sip:alice@192.168.1.10"},
		{"sip:alice@192.168.1.10;alias=203.0.113.7", 0, -1, "", ""},
		{"sip:alice@192.168.1.10;alias=203.0.113.7~5060~9", 0, -1, "", ""},
		{"sip:alice@192.168.1.10;alias=203.0.113.7~5060~", 0, -1, "", ""},
	}
	env := kemitest.Load(t, nil, "nathelper")
	for _, c := range cases {
		m := kemitest.ParseMsg(t, "BYE "+c.ruri+" SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-2\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@y>;tag=2\nCall-ID: c\nCSeq: 2 BYE\n")
		fn, args := "KSR.nathelper.handle_ruri_alias", []any{}
		if c.mode != 0 {
			fn, args = "KSR.nathelper.handle_ruri_alias_mode", []any{c.mode}
		}
		got := env.Call(t, fn, m, args...).AsInt()
		if got != c.want {
			t.Errorf("%s on %s = %d, want %d", fn, c.ruri, got, c.want)
			continue
		}
		if c.want < 0 {
			continue
		}
		if m.DstURI != c.du || m.RURI() != c.ru {
			t.Errorf("%s on %s: $du %q $ru %q, want %q %q", fn, c.ruri, m.DstURI, m.RURI(), c.du, c.ru)
		}
	}
}

func TestSetAliasToPV(t *testing.T) {
	cases := []struct {
		contact string
		want    int64
		val     string
	}{
		{"192.168.1.10;alias=203.0.113.7~40000~1", 1, "sip:203.0.113.7:40000;transport=udp"},
		{"192.168.1.10;alias=203.0.113.7~40000~2", 1, "sip:203.0.113.7:40000;transport=tcp"},
		{"192.168.1.10", -1, ""},
		{"192.168.1.10;alias=203.0.113.7", -1, ""},
	}
	env := kemitest.Load(t, nil, "core", "nathelper")
	for _, c := range cases {
		m := natReq(t, "192.168.1.10", c.contact, "", "203.0.113.7:40000")
		got := env.Call(t, "KSR.nathelper.set_alias_to_pv", m, "$avp(aliasuri)").AsInt()
		if got != c.want {
			t.Errorf("set_alias_to_pv with %s = %d, want %d", c.contact, got, c.want)
			continue
		}
		if c.want > 0 {
			if v, _ := m.AVPs.Get("aliasuri", 0); v.String() != c.val {
				t.Errorf("set_alias_to_pv with %s: %q, want %q", c.contact, v.String(), c.val)
			}
		}
	}
}

func TestFixNatedSDP(t *testing.T) {
	const body = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 192.168.1.10\r\na=rtcp-mux\r\n"
	cases := []struct {
		name   string
		fn     string
		args   []any
		body   string
		params map[string]any
		want   int64
		has    []string
		hasNot []string
	}{
		{name: "2 c= and rtcp", fn: "fix_nated_sdp", args: []any{2}, body: body, want: 1,
			has:    []string{"c=IN IP4 203.0.113.7\r\n", "a=rtcp:4001 IN IP4 203.0.113.7\r\n", "o=- 1 1 IN IP4 192.168.1.10\r\n", "a=oldmediaip:192.168.1.10\r\n", "a=rtcp-mux\r\n"},
			hasNot: []string{"c=IN IP4 192.168.1.10"}},
		{name: "8 o= and rtcp", fn: "fix_nated_sdp", args: []any{8}, body: body, want: 1,
			has: []string{"o=- 1 1 IN IP4 203.0.113.7\r\n", "c=IN IP4 192.168.1.10\r\n", "a=rtcp:4001 IN IP4 203.0.113.7\r\n"}},
		{name: "2 with ip", fn: "fix_nated_sdp_ip", args: []any{2, "198.51.100.4"}, body: body, want: 1,
			has: []string{"c=IN IP4 198.51.100.4\r\n"}},
		{name: "2 no oldmediaip", fn: "fix_nated_sdp", args: []any{2}, body: body, params: map[string]any{"append_sdp_oldmediaip": 0}, want: 1,
			hasNot: []string{"oldmediaip"}},
		{name: "1 and 4 only", fn: "fix_nated_sdp", args: []any{5}, body: body, want: 2,
			has: []string{"a=rtcp-mux\r\na=direction:active\r\n", "a=nortpproxy:yes\r\n", "c=IN IP4 192.168.1.10\r\n"}},
		{name: "2 on hold", fn: "fix_nated_sdp", args: []any{2}, body: strings.ReplaceAll(body, "c=IN IP4 192.168.1.10", "c=IN IP4 0.0.0.0"), want: 1,
			has: []string{"c=IN IP4 0.0.0.0\r\n"}},
		{name: "2 already source", fn: "fix_nated_sdp", args: []any{2}, body: strings.ReplaceAll(body, "192.168.1.10", "203.0.113.7"), want: 2},
		{name: "2 c= without address", fn: "fix_nated_sdp", args: []any{2}, body: strings.ReplaceAll(body, "c=IN IP4 192.168.1.10", "c=IN"), want: -1},
		{name: "no body", fn: "fix_nated_sdp", args: []any{2}, want: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := kemitest.Load(t, map[string]map[string]any{"nathelper": c.params}, "nathelper")
			m := natReq(t, "192.168.1.10", "192.168.1.10", c.body, "203.0.113.7:40000")
			got := env.Call(t, "KSR.nathelper."+c.fn, m, c.args...).AsInt()
			if got != c.want {
				t.Fatalf("%s%v = %d, want %d\n%s", c.fn, c.args, got, c.want, env.Logs())
			}
			out := string(m.Body())
			for _, s := range c.has {
				if !strings.Contains(out, s) {
					t.Errorf("body lacks %q:\n%s", s, out)
				}
			}
			for _, s := range c.hasNot {
				if strings.Contains(out, s) {
					t.Errorf("body has %q:\n%s", s, out)
				}
			}
		})
	}
}
