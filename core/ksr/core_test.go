package ksr_test

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

var (
	tru = kemi.True
	fls = kemi.False
)

// setProto makes the message arrive over proto.
func setProto(p string) func(m *kemi.Msg) { return func(m *kemi.Msg) { m.Proto = p } }

func TestMethodTests(t *testing.T) {
	env := load(t)
	methods := []string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "SUBSCRIBE",
		"PUBLISH", "NOTIFY", "REFER", "INFO", "UPDATE", "PRACK", "MESSAGE", "KDMQ", "GET", "POST", "PUT", "DELETE"}
	var cases []callCase
	for _, method := range methods {
		other := "is_INVITE"
		if method == "INVITE" {
			other = "is_BYE"
		}
		cases = append(cases,
			callCase{name: method, msg: request(method, "sip:bob@example.com"), fn: "is_" + method, want: tru},
			callCase{name: method + " not " + other, msg: request(method, "sip:bob@example.com"), fn: other, want: fls},
		)
	}
	foo := request("FOO", "sip:bob@example.com")
	cases = append(cases, []callCase{
		{name: "reply uses cseq method", msg: ringing, fn: "is_INVITE", want: tru},
		{name: "is_method case", fn: "is_method", args: args("invite"), want: tru},
		{name: "is_method other", fn: "is_method", args: args("BYE"), want: fls},
		{name: "is_method list", fn: "is_method", args: args("BYE|invite"), want: tru},
		{name: "is_method list miss", fn: "is_method", args: args("BYE|CANCEL"), want: fls},
		{name: "is_method unknown in list", fn: "is_method", args: args("INVITE|FOO"), want: fls},
		{name: "is_method empty", fn: "is_method", args: args(""), want: fls},
		{name: "is_method reply", msg: ringing, fn: "is_method", args: args("INVITE"), want: tru},
		{name: "non-standard method", msg: foo, fn: "is_method", args: args("foo"), want: tru},
		{name: "non-standard method no list", msg: foo, fn: "is_method", args: args("FOO|BAR"), want: fls},
		{name: "is_method_in", fn: "is_method_in", args: args("bi"), want: tru},
		{name: "is_method_in miss", fn: "is_method_in", args: args("BCR"), want: fls},
		{name: "is_method_in bad letter skipped", fn: "is_method_in", args: args("xI"), want: tru},
		{name: "is_method_in no INFO letter", msg: request("INFO", "sip:b@example.com"), fn: "is_method_in", args: args("IABCMREPSNOFGUKDTV"), want: fls},
		{name: "is_method_in non-standard", msg: foo, fn: "is_method_in", args: args("IABCMREPSNOFGUKDTV"), want: fls},
		{name: "is_method_in all letters", msg: request("PUT", "sip:b@example.com"), fn: "is_method_in", args: args("v"), want: tru},
	}...)
	runCases(t, env, cases)
}

func TestTransportTests(t *testing.T) {
	env := load(t)
	v6 := func(m *kemi.Msg) {
		m.Rcv = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("[2001:db8::1]:5060")}
	}
	runCases(t, env, []callCase{
		{name: "udp", fn: "is_UDP", want: tru},
		{name: "udp not tcp", fn: "is_TCP", want: fls},
		{name: "udp not tcpx", fn: "is_TCPX", want: fls},
		{name: "tcp", prep: setProto("tcp"), fn: "is_TCP", want: tru},
		{name: "tcp is tcpx", prep: setProto("tcp"), fn: "is_TCPX", want: tru},
		{name: "tls", prep: setProto("tls"), fn: "is_TLS", want: tru},
		{name: "tls is tcpx", prep: setProto("tls"), fn: "is_TCPX", want: tru},
		{name: "sctp", prep: setProto("sctp"), fn: "is_SCTP", want: tru},
		{name: "ws", prep: setProto("ws"), fn: "is_WS", want: tru},
		{name: "ws is wsx", prep: setProto("ws"), fn: "is_WSX", want: tru},
		{name: "wss", prep: setProto("wss"), fn: "is_WSS", want: tru},
		{name: "wss is wsx", prep: setProto("wss"), fn: "is_WSX", want: tru},
		{name: "wss is tcpx", prep: setProto("wss"), fn: "is_TCPX", want: tru},
		{name: "udp not wsx", fn: "is_WSX", want: fls},
		{name: "is_proto u", fn: "is_proto", args: args("tu"), want: tru},
		{name: "is_proto e", prep: setProto("tls"), fn: "is_proto", args: args("E"), want: tru},
		{name: "is_proto miss", fn: "is_proto", args: args("etsvw"), want: fls},
		{name: "ipv4", fn: "is_IPv4", want: tru},
		{name: "ipv4 not ipv6", fn: "is_IPv6", want: fls},
		{name: "ipv6", prep: v6, fn: "is_IPv6", want: tru},
		{name: "ipv6 not ipv4", prep: v6, fn: "is_IPv4", want: fls},
		{name: "no socket", prep: func(m *kemi.Msg) { m.Rcv = nil }, fn: "is_IPv4", want: fls},
		{name: "src port", fn: "is_src_port", args: args(5062), want: tru},
		{name: "src port miss", fn: "is_src_port", args: args(5060), want: fls},
		{name: "dst port", fn: "is_dst_port", args: args(5060), want: tru},
		{name: "dst port miss", fn: "is_dst_port", args: args(5062), want: fls},
	})
}

func TestNextHopTests(t *testing.T) {
	env := load(t)
	du := func(uri string) func(m *kemi.Msg) { return func(m *kemi.Msg) { m.DstURI = uri } }
	runCases(t, env, []callCase{
		{name: "no transport param is not udp", fn: "to_UDP", want: fls},
		{name: "ruri transport", msg: request("INVITE", "sip:bob@example.com;transport=tcp"), fn: "to_TCP", want: tru},
		{name: "du before ruri", msg: request("INVITE", "sip:bob@example.com;transport=tcp"), prep: du("sip:10.0.0.1;transport=udp"), fn: "to_UDP", want: tru},
		{name: "du before ruri not tcp", msg: request("INVITE", "sip:bob@example.com;transport=tcp"), prep: du("sip:10.0.0.1;transport=udp"), fn: "to_TCP", want: fls},
		{name: "tls", prep: du("sip:10.0.0.1;transport=TLS"), fn: "to_TLS", want: tru},
		{name: "sctp", prep: du("sip:10.0.0.1;transport=sctp"), fn: "to_SCTP", want: tru},
		{name: "ws", prep: du("sip:10.0.0.1;transport=ws"), fn: "to_WS", want: tru},
		{name: "ws is wsx", prep: du("sip:10.0.0.1;transport=ws"), fn: "to_WSX", want: tru},
		{name: "wss", prep: du("sip:10.0.0.1;transport=wss"), fn: "to_WSS", want: tru},
		{name: "ipv4 host", msg: request("INVITE", "sip:bob@192.0.2.5:5070"), fn: "to_IPv4", want: tru},
		{name: "name is no family", fn: "to_IPv4", want: fls},
		{name: "ipv6 host", msg: request("INVITE", "sip:bob@[2001:db8::5]"), fn: "to_IPv6", want: tru},
		{name: "ipv6 not ipv4", msg: request("INVITE", "sip:bob@[2001:db8::5]"), fn: "to_IPv4", want: fls},
		{name: "bad du", prep: du("garbage"), fn: "to_UDP", want: fls},
		{name: "reply second via", msg: ringing, fn: "to_TCP", want: tru},
		{name: "reply second via not udp", msg: ringing, fn: "to_UDP", want: fls},
		{name: "reply received", msg: ringing, fn: "to_IPv4", want: tru},
		{name: "reply one via", msg: strings.Replace(ringing, "Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000\n", "", 1), fn: "to_TCP", want: fls},
	})
}

func TestIsMyself(t *testing.T) {
	env := load(t)
	env.Host.Aliases = []string{"proxy.example.net"}
	ruri := func(uri string) string { return request("INVITE", uri) }
	runCases(t, env, []callCase{
		{name: "ip", fn: "is_myself", args: args("127.0.0.1"), want: tru},
		{name: "uri", fn: "is_myself", args: args("sip:127.0.0.1:5060"), want: tru},
		{name: "uri other port", fn: "is_myself", args: args("sip:127.0.0.1:5070"), want: fls},
		{name: "uri transport", fn: "is_myself", args: args("sip:bob@127.0.0.1;transport=tcp"), want: tru},
		{name: "uri transport we lack", fn: "is_myself", args: args("sip:bob@127.0.0.1;transport=sctp"), want: fls},
		{name: "alias", fn: "is_myself", args: args("sips:proxy.example.net"), want: tru},
		{name: "other host", fn: "is_myself", args: args("example.com"), want: fls},
		{name: "empty", fn: "is_myself", args: args(""), want: fls},
		{name: "bad uri", fn: "is_myself", args: args("sip:a b"), want: fls},
		{name: "ruri", msg: ruri("sip:bob@127.0.0.1"), fn: "is_myself_ruri", want: tru},
		{name: "ruri not", fn: "is_myself_ruri", want: fls},
		{name: "ruri of reply", msg: ringing, fn: "is_myself_ruri", want: fls},
		{name: "duri unset", msg: ruri("sip:bob@127.0.0.1"), fn: "is_myself_duri", want: fls},
		{name: "duri", prep: func(m *kemi.Msg) { m.DstURI = "sip:127.0.0.1" }, fn: "is_myself_duri", want: tru},
		{name: "nhuri du first", msg: ruri("sip:bob@127.0.0.1"), prep: func(m *kemi.Msg) { m.DstURI = "sip:10.1.1.1" }, fn: "is_myself_nhuri", want: fls},
		{name: "nhuri ruri", msg: ruri("sip:bob@127.0.0.1"), fn: "is_myself_nhuri", want: tru},
		{name: "furi", msg: strings.Replace(invite, "alice@atlanta.example.com", "alice@proxy.example.net", 1), fn: "is_myself_furi", want: tru},
		{name: "furi not", fn: "is_myself_furi", want: fls},
		{name: "turi", msg: strings.Replace(invite, "To: Bob <sip:bob@example.com>", "To: <sip:bob@127.0.0.1>", 1), fn: "is_myself_turi", want: tru},
		{name: "turi not", fn: "is_myself_turi", want: fls},
		{name: "suri", prep: func(m *kemi.Msg) { m.Src = netip.MustParseAddrPort("127.0.0.1:5060") }, fn: "is_myself_suri", want: tru},
		{name: "suri other port", prep: func(m *kemi.Msg) { m.Src = netip.MustParseAddrPort("127.0.0.1:40000") }, fn: "is_myself_suri", want: fls},
		{name: "suri not", fn: "is_myself_suri", want: fls},
		{name: "srcip", prep: func(m *kemi.Msg) { m.Src = netip.MustParseAddrPort("127.0.0.1:5060") }, fn: "is_myself_srcip", want: tru},
		{name: "srcip not", fn: "is_myself_srcip", want: fls},
	})
}

func TestFlags(t *testing.T) {
	env := load(t)
	withBranch := func(m *kemi.Msg) { m.Branches = []kemi.Branch{{URI: "sip:c@example.com", Q: -1}} }
	flagsAre := func(get func(m *kemi.Msg) uint32, want uint32) func(t *testing.T, m *kemi.Msg) {
		return func(t *testing.T, m *kemi.Msg) {
			if got := get(m); got != want {
				t.Errorf("flags = %#x, want %#x", got, want)
			}
		}
	}
	mf := func(m *kemi.Msg) uint32 { return m.Flags }
	bf := func(m *kemi.Msg) uint32 { return m.BFlags }
	sf := func(m *kemi.Msg) uint32 { return m.SFlags }
	b1 := func(m *kemi.Msg) uint32 { return m.Branches[0].Flags }
	runCases(t, env, []callCase{
		{name: "setflag", fn: "setflag", args: args(3), want: tru, check: flagsAre(mf, 8)},
		{name: "setflag 31", fn: "setflag", args: args(31), want: tru, check: flagsAre(mf, 1<<31)},
		{name: "setflag 32", fn: "setflag", args: args(32), want: fls, check: flagsAre(mf, 0)},
		{name: "setflag -1", fn: "setflag", args: args(-1), want: fls},
		{name: "setflag numeric string", fn: "setflag", args: args("4"), want: tru, check: flagsAre(mf, 16)},
		{name: "resetflag", prep: func(m *kemi.Msg) { m.Flags = 0xc }, fn: "resetflag", args: args(2), want: tru, check: flagsAre(mf, 8)},
		{name: "isflagset", prep: func(m *kemi.Msg) { m.Flags = 8 }, fn: "isflagset", args: args(3), want: tru},
		{name: "isflagset not", prep: func(m *kemi.Msg) { m.Flags = 8 }, fn: "isflagset", args: args(2), want: fls},
		{name: "isflagset out of range", fn: "isflagset", args: args(40), want: fls},
		{name: "setbflag", fn: "setbflag", args: args(1), want: tru, check: flagsAre(bf, 2)},
		{name: "resetbflag", prep: func(m *kemi.Msg) { m.BFlags = 3 }, fn: "resetbflag", args: args(0), want: tru, check: flagsAre(bf, 2)},
		{name: "isbflagset", prep: func(m *kemi.Msg) { m.BFlags = 2 }, fn: "isbflagset", args: args(1), want: tru},
		{name: "isbflagset not", fn: "isbflagset", args: args(1), want: fls},
		{name: "setbflag out of range", fn: "setbflag", args: args(99), want: fls},
		{name: "setbiflag branch 0", fn: "setbiflag", args: args(5, 0), want: tru, check: flagsAre(bf, 32)},
		{name: "setbiflag branch 1", prep: withBranch, fn: "setbiflag", args: args(5, 1), want: tru, check: flagsAre(b1, 32)},
		{name: "setbiflag no branch", prep: withBranch, fn: "setbiflag", args: args(5, 2), want: fls},
		{name: "setbiflag bad flag", prep: withBranch, fn: "setbiflag", args: args(32, 1), want: fls},
		{name: "resetbiflag", prep: func(m *kemi.Msg) { withBranch(m); m.Branches[0].Flags = 6 }, fn: "resetbiflag", args: args(1, 1), want: tru, check: flagsAre(b1, 4)},
		{name: "isbiflagset", prep: func(m *kemi.Msg) { withBranch(m); m.Branches[0].Flags = 4 }, fn: "isbiflagset", args: args(2, 1), want: tru},
		{name: "isbiflagset branch 0", prep: func(m *kemi.Msg) { withBranch(m); m.Branches[0].Flags = 4 }, fn: "isbiflagset", args: args(2, 0), want: fls},
		{name: "isbiflagset no branch", fn: "isbiflagset", args: args(2, -1), want: fls},
		{name: "setsflag", fn: "setsflag", args: args(0), want: tru, check: flagsAre(sf, 1)},
		{name: "resetsflag", prep: func(m *kemi.Msg) { m.SFlags = 1 }, fn: "resetsflag", args: args(0), want: tru, check: flagsAre(sf, 0)},
		{name: "issflagset", prep: func(m *kemi.Msg) { m.SFlags = 1 }, fn: "issflagset", args: args(0), want: tru},
		{name: "issflagset not", fn: "issflagset", args: args(0), want: fls},
		{name: "issflagset out of range", fn: "issflagset", args: args(32), want: fls},
	})
}

func TestURIFunctions(t *testing.T) {
	env := load(t)
	ruriIs := func(want string) func(t *testing.T, m *kemi.Msg) {
		return func(t *testing.T, m *kemi.Msg) {
			if got := m.RURI(); got != want {
				t.Errorf("R-URI = %q, want %q", got, want)
			}
			contains(t, "message", m.Request().String(), "INVITE "+want+" SIP/2.0")
		}
	}
	duIs := func(want string) func(t *testing.T, m *kemi.Msg) {
		return func(t *testing.T, m *kemi.Msg) {
			if m.DstURI != want {
				t.Errorf("$du = %q, want %q", m.DstURI, want)
			}
		}
	}
	withDu := func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.1" }
	runCases(t, env, []callCase{
		{name: "seturi", fn: "seturi", args: args("sip:carol@example.org;transport=tcp"), want: tru, check: ruriIs("sip:carol@example.org;transport=tcp")},
		{name: "seturi garbage", fn: "seturi", args: args("garbage"), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "seturi bad host", fn: "seturi", args: args("sip:a b@x y"), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "seturi bad port", fn: "seturi", args: args("sip:carol@example.org:99999"), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "seturi unknown scheme", fn: "seturi", args: args("foo:bar"), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "seturi tel", fn: "seturi", args: args("tel:+15551234567"), want: tru, check: ruriIs("tel:+15551234567")},
		{name: "seturi reply", msg: ringing, fn: "seturi", args: args("sip:x@example.org"), want: fls},
		{name: "setuser", fn: "setuser", args: args("carol"), want: tru, check: ruriIs("sip:carol@example.com")},
		{name: "setuser empty removes", fn: "setuser", args: args(""), want: tru, check: ruriIs("sip:example.com")},
		{name: "setuser bad", fn: "setuser", args: args("a@b"), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "setuser reply", msg: ringing, fn: "setuser", args: args("carol"), want: fls},
		{name: "sethost", msg: request("INVITE", "sip:bob@example.com:5070"), fn: "sethost", args: args("10.0.0.1"), want: tru,
			check: func(t *testing.T, m *kemi.Msg) { contains(t, "R-URI", m.RURI(), "sip:bob@10.0.0.1:5070") }},
		{name: "sethost ipv6", fn: "sethost", args: args("2001:db8::1"), want: tru, check: ruriIs("sip:bob@[2001:db8::1]")},
		{name: "sethost empty", fn: "sethost", args: args(""), want: fls, check: ruriIs("sip:bob@example.com")},
		{name: "sethost bad", fn: "sethost", args: args("a b"), want: fls},
		{name: "setdsturi", fn: "setdsturi", args: args("sip:10.0.0.1:5070;transport=tcp"), want: tru, check: duIs("sip:10.0.0.1:5070;transport=tcp")},
		{name: "setdsturi invalid keeps du but is true", prep: withDu, fn: "setdsturi", args: args("not a uri"), want: tru, check: duIs("sip:10.0.0.1")},
		{name: "resetdsturi", prep: withDu, fn: "resetdsturi", want: tru, check: duIs("")},
		{name: "isdsturiset", prep: withDu, fn: "isdsturiset", want: tru},
		{name: "isdsturiset not", fn: "isdsturiset", want: fls},
	})
}

func TestSendOptions(t *testing.T) {
	env := load(t)
	is := func(what string, get func(m *kemi.Msg) bool) func(t *testing.T, m *kemi.Msg) {
		return func(t *testing.T, m *kemi.Msg) {
			if !get(m) {
				t.Errorf("%s not set", what)
			}
		}
	}
	advIs := func(host string, port int) func(t *testing.T, m *kemi.Msg) {
		return func(t *testing.T, m *kemi.Msg) {
			if m.AdvHost != host || m.AdvPort != port {
				t.Errorf("advertised %q:%d, want %q:%d", m.AdvHost, m.AdvPort, host, port)
			}
		}
	}
	adv := func(m *kemi.Msg) { m.AdvHost, m.AdvPort = "old.example.net", 5090 }
	runCases(t, env, []callCase{
		{name: "force_rport", fn: "force_rport", want: tru, check: is("ForceRport", func(m *kemi.Msg) bool { return m.ForceRport })},
		{name: "add_local_rport", fn: "add_local_rport", want: tru, check: is("LocalRport", func(m *kemi.Msg) bool { return m.LocalRport })},
		{name: "set_forward_close", fn: "set_forward_close", want: tru, check: is("ForwardClose", func(m *kemi.Msg) bool { return m.ForwardClose })},
		{name: "set_forward_no_connect", fn: "set_forward_no_connect", want: tru, check: is("ForwardNoConnect", func(m *kemi.Msg) bool { return m.ForwardNoConnect })},
		{name: "set_reply_close", fn: "set_reply_close", want: tru, check: is("ReplyClose", func(m *kemi.Msg) bool { return m.ReplyClose })},
		{name: "set_reply_no_connect", fn: "set_reply_no_connect", want: tru, check: is("ReplyNoConnect", func(m *kemi.Msg) bool { return m.ReplyNoConnect })},
		{name: "set_drop", fn: "set_drop", want: kemi.Null, check: is("Drop", func(m *kemi.Msg) bool { return m.Drop })},
		{name: "advertised address", fn: "set_advertised_address", args: args("pub.example.net"), want: kemi.Int(1), check: advIs("pub.example.net", 0)},
		{name: "advertised address cleared", prep: adv, fn: "set_advertised_address", args: args(""), want: kemi.Int(1), check: advIs("", 5090)},
		{name: "advertised address invalid is 0", prep: adv, fn: "set_advertised_address", args: args("bad host"), want: kemi.Int(0), check: advIs("old.example.net", 5090)},
		{name: "advertised address too long is 0", fn: "set_advertised_address", args: args(strings.Repeat("a", 128)), want: kemi.Int(0)},
		{name: "advertised port", fn: "set_advertised_port", args: args("5080"), want: kemi.Int(1), check: advIs("", 5080)},
		{name: "advertised port cleared", prep: adv, fn: "set_advertised_port", args: args(""), want: kemi.Int(1), check: advIs("old.example.net", 0)},
		{name: "advertised port invalid is 0", prep: adv, fn: "set_advertised_port", args: args("abc"), want: kemi.Int(0), check: advIs("old.example.net", 5090)},
		{name: "advertised port out of range is 0", fn: "set_advertised_port", args: args("70000"), want: kemi.Int(0)},
	})
}

func TestTCPAlias(t *testing.T) {
	env := load(t)
	cases := []struct {
		name     string
		fn       string
		args     []any
		proto    string
		conn     uint64
		want     kemi.Value
		wantAddr string // "" when the host must not be asked
	}{
		{"udp has nothing to alias", "add_tcp_alias", args(5070), "udp", 0, kemi.Int(1), ""},
		{"tcp", "add_tcp_alias", args(5070), "tcp", 7, kemi.Int(1), "192.0.2.10:5070"},
		{"tls", "add_tcp_alias", args(5071), "tls", 8, kemi.Int(1), "192.0.2.10:5071"},
		{"bad port is 0", "add_tcp_alias", args(0), "tcp", 7, kemi.Int(0), ""},
		{"host refuses is 0", "add_tcp_alias", args(5070), "tcp", 0, kemi.Int(0), "192.0.2.10:5070"},
		{"via port", "add_tcp_alias_via", nil, "tcp", 9, kemi.Int(1), "192.0.2.10:5062"},
		{"via on udp", "add_tcp_alias_via", nil, "udp", 0, kemi.Int(1), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &aliasHost{Host: env.Host}
			m := parse(t, env, invite)
			m.Host, m.Proto, m.ConnID = h, c.proto, c.conn
			wantValue(t, c.fn, env.Call(t, "KSR."+c.fn, m, c.args...), c.want)
			got := ""
			if h.alias.IsValid() {
				got = h.alias.String()
			}
			if got != c.wantAddr || (got != "" && h.conn != c.conn) {
				t.Errorf("alias %q on conn %d, want %q on %d", got, h.conn, c.wantAddr, c.conn)
			}
		})
	}
}

func TestForward(t *testing.T) {
	env := load(t)
	cases := []struct {
		name    string
		msg     string
		prep    func(m *kemi.Msg)
		fn      string
		args    []any
		fail    bool
		want    kemi.Value
		wantURI string // "" when nothing must be sent
	}{
		{"forward to ruri", invite, nil, "forward", nil, false, kemi.OK, "sip:bob@example.com"},
		{"forward to du", invite, func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.1:5070" }, "forward", nil, false, kemi.OK, "sip:10.0.0.1:5070"},
		{"forward_uri", invite, nil, "forward_uri", args("sip:10.0.0.2;transport=tcp"), false, kemi.OK, "sip:10.0.0.2;transport=tcp"},
		{"forward_uri empty is forward", invite, nil, "forward_uri", args(""), false, kemi.OK, "sip:bob@example.com"},
		{"forward_uri bad", invite, nil, "forward_uri", args("no uri"), false, kemi.Fail, ""},
		{"forward bad du", invite, func(m *kemi.Msg) { m.DstURI = "sip:a b" }, "forward", nil, false, kemi.Fail, ""},
		{"forward reply", ringing, nil, "forward", nil, false, kemi.Fail, ""},
		{"send fails", invite, nil, "forward", nil, true, kemi.Fail, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env.Host.Reset()
			env.Host.FailSend = c.fail
			defer func() { env.Host.FailSend = false }()
			m := parse(t, env, c.msg)
			if c.prep != nil {
				c.prep(m)
			}
			wantValue(t, c.fn, env.Call(t, "KSR."+c.fn, m, c.args...), c.want)
			sent := env.Host.Sent()
			if c.wantURI == "" {
				if len(sent) != 0 {
					t.Fatalf("sent %d messages, want none", len(sent))
				}
				return
			}
			if len(sent) != 1 || sent[0].Kind != "forward" || sent[0].URI != c.wantURI {
				t.Fatalf("sent %+v, want one forward to %s", sent, c.wantURI)
			}
			contains(t, "forwarded message", sent[0].Msg, "Call-ID: a84b4c76e66710@pc33.atlanta.example.com")
			if !m.Handled {
				t.Error("message not marked handled")
			}
		})
	}
}

func TestGetDebug(t *testing.T) {
	env := load(t)
	cases := []struct {
		level slog.Level
		want  int
	}{
		{slog.LevelDebug - 4, 3}, {slog.LevelDebug, 3}, {slog.LevelInfo, 2}, {kemi.LevelNotice, 1},
		{slog.LevelWarn, 0}, {slog.LevelError, -1}, {kemi.LevelCrit, -2}, {kemi.LevelAlert, -5},
	}
	for _, c := range cases {
		env.Host.Level = c.level
		m := parse(t, env, invite)
		wantValue(t, "get_debug at "+c.level.String(), env.Call(t, "KSR.get_debug", m), kemi.Int(c.want))
	}
}

func TestLogging(t *testing.T) {
	env := load(t)
	cases := []struct {
		fn    string
		args  []any
		level string
	}{
		{"dbg", args("d1\n"), "level=DEBUG"},
		{"info", args("i1"), "level=INFO"},
		{"notice", args("n1"), "level=INFO+2"},
		{"warn", args("w1"), "level=WARN"},
		{"err", args("e1"), "level=ERROR"},
		{"crit", args("c1"), "level=ERROR+4"},
		{"log", args("WARN", "l1"), "level=WARN"},
		{"log", args("dbg", "l2"), "level=DEBUG"},
		{"log", args("notice", "l3"), "level=INFO+2"},
		{"log", args("crit", "l4"), "level=ERROR+4"},
		{"log", args("info", "l5"), "level=INFO"},
		{"log", args("err", "l6"), "level=ERROR"},
		{"log", args("debug", "unknown level is error"), "level=ERROR"},
		{"log", args("alert", "xlog-only name"), "level=ERROR"},
		{"log", args("L_INFO", "no L_ prefix"), "level=ERROR"},
	}
	for _, c := range cases {
		env.ResetLogs()
		m := parse(t, env, invite)
		wantValue(t, c.fn, env.Call(t, "KSR."+c.fn, m, c.args...), kemi.Null)
		out := env.Logs()
		text := c.args[len(c.args)-1].(string)
		contains(t, "log of "+c.fn, out, c.level+" ")
		contains(t, "log of "+c.fn, out, "msg="+quoteLog(strings.TrimRight(text, "\n")))
		contains(t, "log of "+c.fn, out, "module=script")
	}
}

// quoteLog quotes a message the way slog's text handler does.
func quoteLog(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return `"` + s + `"`
	}
	return s
}

func TestRoute(t *testing.T) {
	env := load(t)
	run := &fakeRunner{funcs: map[string]func(m *kemi.Msg) (kemi.CallResult, error){
		"ksr_route_ok": func(m *kemi.Msg) (kemi.CallResult, error) {
			m.Flags |= 1 << 1
			return kemi.CallResult{Ran: true}, nil
		},
		"ksr_route_exit": func(m *kemi.Msg) (kemi.CallResult, error) {
			return kemi.CallResult{Ran: true, Exited: true}, nil
		},
		"ksr_route_err": func(m *kemi.Msg) (kemi.CallResult, error) {
			return kemi.CallResult{Ran: true}, errTest("boom")
		},
	}}
	// A Lua error in the route is logged by the Runner (the engine's runs
	// every route and logs it with its traceback): KSR.route logs it at
	// debug level only, so it is not logged twice.
	cases := []struct {
		name   string
		route  string
		runner kemi.Runner
		want   kemi.Value
		log    string
		level  string
	}{
		{"returns", "ksr_route_ok", run, kemi.Int(1), "", ""},
		{"exit gives 0", "ksr_route_exit", run, kemi.Int(0), "", ""},
		{"missing", "ksr_route_none", run, kemi.Int(-1), "no function ksr_route_none", "level=ERROR"},
		{"lua error", "ksr_route_err", run, kemi.Int(-1), "boom", "level=DEBUG"},
		{"empty name", "", run, kemi.Int(-1), "empty route name", "level=ERROR"},
		{"no script", "ksr_route_ok", nil, kemi.Int(-1), "no script is running", "level=ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env.ResetLogs()
			run.calls = nil
			m := parse(t, env, invite)
			m.Run = c.runner
			wantValue(t, "KSR.route", env.Call(t, "KSR.route", m, c.route), c.want)
			logs := env.Logs()
			if c.log != "" {
				contains(t, "log", logs, c.log)
				contains(t, "log", logs, c.level)
			}
			if c.level == "level=DEBUG" && strings.Contains(logs, "level=ERROR") {
				t.Errorf("a Lua error in the route was logged at error level by KSR.route too:\n%s", logs)
			}
			if c.name == "returns" {
				if m.Flags&(1<<1) == 0 || len(run.calls) != 1 || run.calls[0] != "ksr_route_ok@request_route" {
					t.Errorf("route did not run on the message in its route type: calls %v, flags %#x", run.calls, m.Flags)
				}
			}
		})
	}
}

// errTest is an error with a fixed text.
type errTest string

// Error returns the text.
func (e errTest) Error() string { return string(e) }
