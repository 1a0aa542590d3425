package ksr_test

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// auth is invite with credentials.
var auth = strings.Replace(invite, "Content-Type", `Authorization: Digest username="alice@atlanta.example.com", realm="atlanta.example.com", nonce="84a4cc6f3082121f32b42a2187831a9e", uri="sip:bob@example.com", response="7587245234b3434cc3412213e5f113a5432"
Content-Type`, 1)

// pvCase is one KSR.pv.get on a fresh message.
type pvCase struct {
	msg  string
	prep func(m *kemi.Msg)
	pv   string
	want kemi.Value
}

// runPVGets checks KSR.pv.get for each case.
func runPVGets(t *testing.T, cases []pvCase) {
	t.Helper()
	env := load(t)
	for _, c := range cases {
		t.Run(c.pv, func(t *testing.T) {
			text := c.msg
			if text == "" {
				text = invite
			}
			m := parse(t, env, text)
			if c.prep != nil {
				c.prep(m)
			}
			wantValue(t, "KSR.pv.get "+c.pv, env.Call(t, "KSR.pv.get", m, c.pv), c.want)
		})
	}
}

func TestPVMessageGetters(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	withDu := func(du string) func(m *kemi.Msg) { return func(m *kemi.Msg) { m.DstURI = du } }
	body := "v=0\n"
	runPVGets(t, []pvCase{
		{pv: "$ru", want: s("sip:bob@example.com")},
		{pv: "$rU", want: s("bob")},
		{pv: "$rd", want: s("example.com")},
		{pv: "$rp", want: i(5060)},
		{msg: request("INVITE", "sip:bob@example.com;transport=tls"), pv: "$(rp)", want: i(5061)},
		{msg: request("INVITE", "sip:bob@example.com:5070"), pv: "$rp", want: i(5070)},
		{msg: request("INVITE", "sips:example.com"), pv: "$rz", want: s("sips")},
		{msg: request("INVITE", "sip:example.com"), pv: "$rU", want: null},
		{pv: "$rz", want: s("sip")},
		{pv: "$ou", prep: func(m *kemi.Msg) { m.Request().Recipient.User = "changed" }, want: s("sip:bob@example.com")},
		{pv: "$du", want: null},
		{pv: "$du", prep: withDu("sip:10.0.0.1:5070"), want: s("sip:10.0.0.1:5070")},
		{pv: "$dd", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: s("10.0.0.1")},
		{pv: "$dp", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: i(5070)},
		{pv: "$dp", prep: withDu("sip:10.0.0.1;transport=tls"), want: i(5061)},
		{pv: "$dP", prep: withDu("sip:10.0.0.1:5070;transport=TCP"), want: s("tcp")},
		{pv: "$dP", prep: withDu("sip:10.0.0.1"), want: s("udp")},
		{pv: "$dd", want: null},
		{pv: "$nh(u)", want: s("sip:bob@example.com")},
		{pv: "$nh(u)", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: s("sip:10.0.0.1:5070;transport=tcp")},
		{pv: "$nh(U)", want: s("bob")},
		{pv: "$nh(d)", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: s("10.0.0.1")},
		{pv: "$nh(p)", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: i(5070)},
		{pv: "$nh(p)", want: i(5060)},
		{pv: "$nh(P)", prep: withDu("sip:10.0.0.1:5070;transport=tcp"), want: s("tcp")},
		{pv: "$nh(P)", want: s("udp")},
		{pv: "$nh(i)", prep: withDu("sip:[2001:db8::1]"), want: i(6)},
		{pv: "$nh(i)", want: i(0)},
		{pv: "$fu", want: s("sip:alice@atlanta.example.com")},
		{pv: "$fU", want: s("alice")},
		{pv: "$fd", want: s("atlanta.example.com")},
		{pv: "$fn", want: s("Alice")},
		{pv: "$ft", want: s("1928301774")},
		{pv: "$tu", want: s("sip:bob@example.com")},
		{pv: "$tU", want: s("bob")},
		{pv: "$td", want: s("example.com")},
		{pv: "$tn", want: s("Bob")},
		{pv: "$tt", want: null},
		{msg: request("INVITE", "sip:b@example.com"), pv: "$fn", want: null},
		{pv: "$ci", want: s("a84b4c76e66710@pc33.atlanta.example.com")},
		{pv: "$cs", want: s("314159")},
		{pv: "$rm", want: s("INVITE")},
		{pv: "$rs", want: null},
		{pv: "$rr", want: null},
		{pv: "$si", want: s("192.0.2.10")},
		{pv: "$sp", want: i(5062)},
		{pv: "$su", want: s("sip:192.0.2.10:5062")},
		{pv: "$su", prep: func(m *kemi.Msg) { m.Proto = "tcp" }, want: s("sip:192.0.2.10:5062;transport=tcp")},
		{pv: "$su", prep: func(m *kemi.Msg) { m.Src = netip.MustParseAddrPort("[2001:db8::9]:5070") }, want: s("sip:[2001:db8::9]:5070")},
		{pv: "$su", prep: func(m *kemi.Msg) { m.Proto = "wss" }, want: s("sip:192.0.2.10:5062;transport=ws")},
		{pv: "$su", prep: func(m *kemi.Msg) { m.Proto = "quic" }, want: null}, // Kamailio knows no such transport
		{pv: "$Ri", want: s("127.0.0.1")},
		{pv: "$Rp", want: i(5060)},
		{pv: "$Ri", prep: func(m *kemi.Msg) { m.Rcv = nil }, want: null},
		{pv: "$pr", want: s("udp")},
		{pv: "$proto", prep: func(m *kemi.Msg) { m.Proto = "TCP" }, want: s("tcp")},
		{pv: "$ua", want: s("kemi-test/1.0")},
		{pv: "$ct", want: s("<sip:alice@192.0.2.10:5062>")},
		{pv: "$hdr(CSeq)", want: s("314159 INVITE")},
		{pv: "$hdr(v)", want: s("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport")},
		{pv: "$hdr(X-None)", want: null},
		{pv: "$hdrc(Via)", want: i(1)},
		{pv: "$hdrc(X-None)", want: i(0)},
		{pv: "$rb", want: s(body)},
		{pv: "$cl", want: i(len(body))},
		{pv: "$cT", want: s("application/sdp")},
		{msg: request("OPTIONS", "sip:b@example.com"), pv: "$cT", want: null},
		{msg: request("OPTIONS", "sip:b@example.com"), pv: "$rb", want: s("")},
		{pv: "$ml", want: i(len(kemiRaw(t, invite)))},
		{pv: "$mb", want: s(kemiRaw(t, invite))},
		{pv: "$mbu", prep: func(m *kemi.Msg) { m.RemoveHeaders("User-Agent") }, want: s(strings.Replace(kemiMsgText(t), "User-Agent: kemi-test/1.0\r\n", "", 1))},
		{pv: "$au", want: null},
		{msg: auth, pv: "$au", want: s("alice")},
		{msg: auth, pv: "$aU", want: s("alice@atlanta.example.com")},
		{msg: auth, pv: "$ad", want: s("atlanta.example.com")},
		{msg: auth, pv: "$ar", want: s("atlanta.example.com")},
		{msg: strings.Replace(auth, "Authorization:", "Proxy-Authorization:", 1), pv: "$ar", want: s("atlanta.example.com")},
		{msg: strings.Replace(auth, "INVITE sip", "ACK sip", 1), pv: "$au", want: null},
		// the username split as Kamailio's parse_username, like KSR.kx.get_au
		{msg: strings.Replace(auth, `username="alice@`, `username="sip:alice@`, 1), pv: "$aU", want: s("sip:alice@atlanta.example.com")},
		{msg: strings.Replace(auth, `username="alice@`, `username="sip:alice@`, 1), pv: "$au", want: s("alice")},
		{msg: strings.Replace(auth, `username="alice@atlanta.example.com"`, `username="alice"`, 1), pv: "$ad", want: s("")},
		// Digest credentials only, and only when they parse
		{msg: strings.Replace(auth, "Digest username", "Basic username", 1), pv: "$au", want: null},
		{msg: strings.Replace(auth, `response="7587245234b3434cc3412213e5f113a5432"`, `response="7587`, 1), pv: "$ar", want: null},
		{pv: "$null", want: null},
		{pv: "$retcode", want: i(1)},
		{pv: "$rc", want: i(1)},
		{pv: "$pp", want: i(os.Getpid())},
		{pv: "$fs", want: null},
	})
}

// kemiRaw returns the raw buffer kemitest builds from text.
func kemiRaw(t *testing.T, text string) string {
	env := load(t)
	return string(parse(t, env, text).Raw)
}

func TestPVReplyGetters(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	runPVGets(t, []pvCase{
		{msg: ringing, pv: "$rs", want: i(180)},
		{msg: ringing, pv: "$rr", want: s("Ringing")},
		{msg: ringing, pv: "$rm", want: s("INVITE")},
		{msg: ringing, pv: "$ru", want: null},
		{msg: ringing, pv: "$rU", want: null},
		{msg: ringing, pv: "$rp", want: null},
		{msg: ringing, pv: "$ou", want: null},
		{msg: ringing, pv: "$tt", want: s("a6c85cf")},
		{msg: ringing, pv: "$hdrc(Via)", want: i(2)},
		{msg: ringing, pv: "$hdr(Via)[1]", want: s("SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000")},
		{msg: ringing, pv: "$hdr(Via)[-1]", want: s("SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000")},
		{msg: ringing, pv: "$hdr(Via)[-2]", want: s("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy")},
		{msg: ringing, pv: "$hdr(Via)[2]", want: null},
		{msg: ringing, pv: "$hdr(Via)[-3]", want: null},
		{msg: ringing, pv: "$hdr(Via)[*]", want: s("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy,SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK776;received=198.51.100.7;rport=6000")},
		{msg: ringing, pv: "$nh(u)", want: s("sip:198.51.100.7:6000;transport=tcp")},
		{msg: ringing, pv: "$nh(d)", want: s("198.51.100.7")},
		{msg: ringing, pv: "$nh(p)", want: i(6000)},
		{msg: ringing, pv: "$nh(P)", want: s("tcp")},
		{msg: ringing, pv: "$nh(i)", want: i(4)},
		{msg: ringing, pv: "$nh(U)", want: null},
		{msg: ringing, pv: "$cl", want: i(0)},
		{msg: ringing, pv: "$au", want: null},
		{msg: ringing, pv: "$br", want: null},
	})
}

func TestPVBranchesAndFlags(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	branches := func(m *kemi.Msg) {
		m.Branches = []kemi.Branch{{URI: "sip:c@10.0.0.3", Q: 500}, {URI: "sip:d@10.0.0.4", Q: -1}}
	}
	newRURI := func(m *kemi.Msg) { m.Request().Recipient.User = "carol" }
	flags := func(m *kemi.Msg) { m.Flags, m.BFlags, m.SFlags = 10, 0x1f, 0xdeadbeef }
	runPVGets(t, []pvCase{
		{pv: "$br", want: null},
		{pv: "$bR", want: null},
		{pv: "$ds", want: null},
		{prep: branches, pv: "$br", want: s("sip:c@10.0.0.3")},
		{prep: branches, pv: "$bR", want: s("<sip:c@10.0.0.3>;q=0.5, sip:d@10.0.0.4")},
		{prep: branches, pv: "$ds", want: s("Contact: <sip:c@10.0.0.3>;q=0.5, <sip:d@10.0.0.4>")},
		{prep: newRURI, pv: "$ds", want: s("Contact: <sip:carol@example.com>")},
		{prep: flags, pv: "$mf", want: i(10)},
		{prep: flags, pv: "$mF", want: s("0000000a")},
		{prep: flags, pv: "$bf", want: i(31)},
		{prep: flags, pv: "$bF", want: s("0000001f")},
		{prep: flags, pv: "$sf", want: kemi.Int64(0xdeadbeef)},
		{prep: flags, pv: "$sF", want: s("deadbeef")},
	})
}

func TestPVSendAndTime(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	snd := func(m *kemi.Msg) {
		m.Snd = &kemi.Dest{Proto: "tcp", Addr: netip.MustParseAddrPort("10.0.0.7:5070"),
			Sock: &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}}
	}
	at := time.Unix(1700000000, 123456000)
	received := func(m *kemi.Msg) { m.Received = at }
	runPVGets(t, []pvCase{
		{pv: "$snd(ip)", want: null},
		{prep: snd, pv: "$snd(ip)", want: s("10.0.0.7")},
		{prep: snd, pv: "$snd(port)", want: i(5070)},
		{prep: snd, pv: "$snd(proto)", want: i(2)},
		{prep: snd, pv: "$snd(sproto)", want: s("tcp")},
		{prep: snd, pv: "$snd(af)", want: i(2)},
		{prep: snd, pv: "$sndto(ip)", want: s("10.0.0.7")},
		{prep: snd, pv: "$sndfrom(ip)", want: s("127.0.0.1")},
		{prep: snd, pv: "$sndfrom(port)", want: i(5060)},
		{prep: snd, pv: "$snd(len)", want: i(len(kemiMsgText(t)))},
		{prep: received, pv: "$Ts", want: kemi.Int64(1700000000)},
		{prep: received, pv: "$TV(s)", want: kemi.Int64(1700000000)},
		{prep: received, pv: "$TV(u)", want: i(123456)},
	})
	env := load(t)
	m := parse(t, env, invite)
	for _, name := range []string{"$TV(sn)", "$TV(un)", "$TV(Sn)", "$TV(Fn)", "$TV(Sm)"} {
		if v := env.Call(t, "KSR.pv.get", m, name); v.IsNull() {
			t.Errorf("%s is null", name)
		}
	}
	now := time.Now().Unix()
	if v := env.Call(t, "KSR.pv.get", m, "$TV(sn)"); v.Int < now-5 || v.Int > now+5 {
		t.Errorf("$TV(sn) = %d, now %d", v.Int, now)
	}
	if v := env.Call(t, "KSR.pv.get", m, "$TV(Sn)"); !strings.Contains(v.Str, ".") || len(v.Str) < 12 {
		t.Errorf("$TV(Sn) = %q", v.Str)
	}
	m.Received = time.Time{}
	first := env.Call(t, "KSR.pv.get", m, "$TV(u)")
	time.Sleep(2 * time.Millisecond)
	if again := env.Call(t, "KSR.pv.get", m, "$TV(u)"); again != first {
		t.Errorf("message time moved: %v then %v", first, again)
	}
}

// kemiMsgText is invite as the message prints it.
func kemiMsgText(t *testing.T) string {
	env := load(t)
	return parse(t, env, invite).Request().String()
}

// setCase is one assignment through KSR.pv, then checks.
type setCase struct {
	name  string
	msg   string
	prep  func(m *kemi.Msg)
	fn    string // sets, seti or unset
	pv    string
	val   any
	want  kemi.Value // what the setter returns
	after kemi.Value // KSR.pv.get of pv afterwards, when not nil-checked
	check func(t *testing.T, m *kemi.Msg)
}

func runPVSets(t *testing.T, cases []setCase) {
	t.Helper()
	env := load(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := c.msg
			if text == "" {
				text = invite
			}
			m := parse(t, env, text)
			if c.prep != nil {
				c.prep(m)
			}
			a := []any{c.pv}
			if c.fn != "unset" {
				a = append(a, c.val)
			}
			wantValue(t, "KSR.pv."+c.fn+" "+c.pv, env.Call(t, "KSR.pv."+c.fn, m, a...), c.want)
			if c.want == kemi.True {
				wantValue(t, "KSR.pv.get "+c.pv, env.Call(t, "KSR.pv.get", m, c.pv), c.after)
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
}

// inMsg checks that the printed message contains each text.
func inMsg(texts ...string) func(t *testing.T, m *kemi.Msg) {
	return func(t *testing.T, m *kemi.Msg) {
		t.Helper()
		for _, s := range texts {
			contains(t, "message", m.SIP().String(), s)
		}
	}
}

func TestPVSetters(t *testing.T) {
	s, i, null := kemi.Str, kemi.Int, kemi.Null
	ok, no := kemi.True, kemi.False
	runPVSets(t, []setCase{
		{name: "ru", fn: "sets", pv: "$ru", val: "sip:carol@example.org:5070", want: ok, after: s("sip:carol@example.org:5070"),
			check: inMsg("INVITE sip:carol@example.org:5070 SIP/2.0\r\n")},
		{name: "ru invalid", fn: "sets", pv: "$ru", val: "nonsense", want: no, check: inMsg("INVITE sip:bob@example.com SIP/2.0")},
		{name: "ru unset", fn: "unset", pv: "$ru", want: no},
		{name: "ru on reply", msg: ringing, fn: "sets", pv: "$ru", val: "sip:a@b.c", want: no},
		{name: "rU", fn: "sets", pv: "$rU", val: "carol", want: ok, after: s("carol"), check: inMsg("INVITE sip:carol@example.com SIP/2.0")},
		{name: "rU unset", fn: "unset", pv: "$rU", want: ok, after: null, check: inMsg("INVITE sip:example.com SIP/2.0")},
		{name: "rU invalid", fn: "sets", pv: "$rU", val: "a b", want: no},
		{name: "rd", fn: "sets", pv: "$rd", val: "10.0.0.1", want: ok, after: s("10.0.0.1"), check: inMsg("INVITE sip:bob@10.0.0.1 SIP/2.0")},
		{name: "rd unset", fn: "unset", pv: "$rd", want: no},
		{name: "rp int", fn: "seti", pv: "$rp", val: 5080, want: ok, after: i(5080), check: inMsg("INVITE sip:bob@example.com:5080 SIP/2.0")},
		{name: "rp string", fn: "sets", pv: "$rp", val: "5090", want: ok, after: i(5090)},
		{name: "rp invalid", fn: "sets", pv: "$rp", val: "x", want: no},
		{name: "rp unset", msg: request("INVITE", "sip:bob@example.com:5070"), fn: "unset", pv: "$rp", want: ok, after: i(5060),
			check: inMsg("INVITE sip:bob@example.com SIP/2.0")},
		{name: "du", fn: "sets", pv: "$du", val: "sip:10.0.0.1;transport=tcp", want: ok, after: s("sip:10.0.0.1;transport=tcp")},
		{name: "du invalid", fn: "sets", pv: "$du", val: "sip:", want: no},
		{name: "du unset", prep: func(m *kemi.Msg) { m.DstURI = "sip:10.0.0.1" }, fn: "unset", pv: "$du", want: ok, after: null},
		{name: "fu", fn: "sets", pv: "$fu", val: "sip:anon@anonymous.invalid", want: ok, after: s("sip:anon@anonymous.invalid"),
			check: inMsg("From: \"Alice\" <sip:anon@anonymous.invalid>;tag=1928301774\r\n")},
		{name: "fu invalid", fn: "sets", pv: "$fu", val: "x", want: no},
		{name: "fu unset", fn: "unset", pv: "$fu", want: no},
		{name: "fU", fn: "sets", pv: "$fU", val: "alicia", want: ok, after: s("alicia"), check: inMsg("<sip:alicia@atlanta.example.com>;tag=1928301774")},
		{name: "fU unset", fn: "unset", pv: "$fU", want: ok, after: null, check: inMsg("From: \"Alice\" <sip:atlanta.example.com>")},
		{name: "fd", fn: "sets", pv: "$fd", val: "example.net", want: ok, after: s("example.net"), check: inMsg("<sip:alice@example.net>;tag=1928301774")},
		{name: "fd bad", fn: "sets", pv: "$fd", val: "a b", want: no},
		{name: "fn", fn: "sets", pv: "$fn", val: "Alice Liddell", want: ok, after: s("Alice Liddell"), check: inMsg("From: \"Alice Liddell\" <sip:alice@")},
		{name: "fn quoted", fn: "sets", pv: "$fn", val: `"Al"`, want: ok, after: s("Al"), check: inMsg("From: \"Al\" <sip:alice@")},
		{name: "fn unset", fn: "unset", pv: "$fn", want: ok, after: null, check: inMsg("From: <sip:alice@atlanta.example.com>;tag=1928301774")},
		{name: "fn bad", fn: "sets", pv: "$fn", val: "a\"b", want: no},
		{name: "tu", fn: "sets", pv: "$tu", val: "sip:carol@example.org", want: ok, after: s("sip:carol@example.org"), check: inMsg("To: \"Bob\" <sip:carol@example.org>\r\n")},
		{name: "tU", fn: "sets", pv: "$tU", val: "robert", want: ok, after: s("robert"), check: inMsg("To: \"Bob\" <sip:robert@example.com>")},
		{name: "td", fn: "sets", pv: "$td", val: "example.org", want: ok, after: s("example.org"), check: inMsg("To: \"Bob\" <sip:bob@example.org>")},
		{name: "tn", fn: "sets", pv: "$tn", val: "Robert", want: ok, after: s("Robert"), check: inMsg("To: \"Robert\" <sip:bob@example.com>")},
		{name: "tt read-only", fn: "sets", pv: "$tt", val: "x", want: no},
		{name: "ft read-only", fn: "sets", pv: "$ft", val: "x", want: no},
		{name: "ci read-only", fn: "sets", pv: "$ci", val: "x", want: no, check: inMsg("Call-ID: a84b4c76e66710@pc33.atlanta.example.com")},
		{name: "unset read-only", fn: "unset", pv: "$si", want: no},
		{name: "mf", fn: "seti", pv: "$mf", val: 6, want: ok, after: i(6), check: func(t *testing.T, m *kemi.Msg) {
			if m.Flags != 6 {
				t.Errorf("flags %d", m.Flags)
			}
		}},
		{name: "mF hex", fn: "sets", pv: "$mF", val: "ff", want: ok, after: s("000000ff")},
		{name: "mF 0x", fn: "sets", pv: "$mF", val: "0x10", want: ok, after: s("00000010")},
		{name: "mf bad", fn: "sets", pv: "$mf", val: "x", want: no},
		{name: "mf unset", prep: func(m *kemi.Msg) { m.Flags = 3 }, fn: "unset", pv: "$mf", want: ok, after: i(0)},
		{name: "bf", fn: "seti", pv: "$bf", val: 2, want: ok, after: i(2), check: func(t *testing.T, m *kemi.Msg) {
			if m.BFlags != 2 {
				t.Errorf("branch flags %d", m.BFlags)
			}
		}},
		{name: "bF", fn: "sets", pv: "$bF", val: "0000000a", want: ok, after: s("0000000a")},
		{name: "sf", fn: "seti", pv: "$sf", val: -1, want: ok, after: kemi.Int64(0xffffffff)},
		{name: "sF", fn: "seti", pv: "$sF", val: 17, want: ok, after: s("00000011")},
		{name: "sf too big", fn: "sets", pv: "$sf", val: "0x1ffffffff", want: no},
		{name: "br appends", fn: "sets", pv: "$br", val: "sip:c@10.0.0.3", want: ok, after: s("sip:c@10.0.0.3"), check: func(t *testing.T, m *kemi.Msg) {
			if len(m.Branches) != 1 || m.Branches[0].Q != -1 {
				t.Errorf("branches %+v", m.Branches)
			}
		}},
		{name: "br invalid", fn: "sets", pv: "$br", val: "x", want: no},
		{name: "br unset", fn: "unset", pv: "$br", want: no},
		{name: "fs", fn: "sets", pv: "$fs", val: "tcp:127.0.0.1:5060", want: ok, after: s("tcp:127.0.0.1:5060"), check: func(t *testing.T, m *kemi.Msg) {
			if m.SendSock == nil || m.SendSock.Proto != "tcp" {
				t.Errorf("send socket %v", m.SendSock)
			}
		}},
		{name: "fs without port", fn: "sets", pv: "$fs", val: "tcp:127.0.0.1", want: ok, after: s("tcp:127.0.0.1:5060")},
		{name: "fs host only", fn: "sets", pv: "$fs", val: "127.0.0.1:5060", want: ok, after: s("udp:127.0.0.1:5060")},
		{name: "fs unknown", fn: "sets", pv: "$fs", val: "udp:10.9.9.9:5060", want: no},
		{name: "fs bad", fn: "sets", pv: "$fs", val: "udp:[::1", want: no},
		{name: "fs unset", prep: func(m *kemi.Msg) { m.SendSock = m.Rcv }, fn: "unset", pv: "$fs", want: ok, after: null},
		{name: "var string", fn: "sets", pv: "$var(x)", val: "abc", want: ok, after: s("abc")},
		{name: "var int", fn: "seti", pv: "$var(x)", val: 42, want: ok, after: i(42)},
		{name: "var unset is 0", fn: "unset", pv: "$var(x)", want: ok, after: i(0)},
		{name: "var nested name", prep: func(m *kemi.Msg) { m.Proc.Vars["192.0.2.10"] = kemi.Int(1) }, fn: "seti", pv: "$var($si)", val: 7, want: ok, after: i(7),
			check: func(t *testing.T, m *kemi.Msg) { wantValue(t, "var by ip", m.Proc.Vars["192.0.2.10"], i(7)) }},
		{name: "avp", fn: "sets", pv: "$avp(a)", val: "x", want: ok, after: s("x")},
		{name: "avp s: prefix", fn: "seti", pv: "$avp(s:a)", val: 3, want: ok, after: i(3),
			check: func(t *testing.T, m *kemi.Msg) { v, _ := m.AVPs.Get("a", 0); wantValue(t, "avp a", v, i(3)) }},
		{name: "setl", fn: "setl", pv: "$var(big)", val: int64(1) << 40, want: ok, after: kemi.Int64(1 << 40)},
		{name: "invalid name", fn: "sets", pv: "$nosuch", val: "x", want: no},
		{name: "garbage name", fn: "seti", pv: "ru", val: 1, want: no},
	})
}

func TestPVAVPs(t *testing.T) {
	env := load(t)
	m := parse(t, env, invite)
	get := func(name string) kemi.Value { return env.Call(t, "KSR.pv.get", m, name) }
	set := func(fn, name string, v any) {
		t.Helper()
		if got := env.Call(t, "KSR.pv."+fn, m, name, v); got != kemi.True {
			t.Fatalf("KSR.pv.%s(%s) = %v", fn, name, got)
		}
	}
	set("seti", "$avp(x)", 1)
	set("sets", "$avp(x)", "two")
	set("seti", "$avp(x)", 3)
	set("sets", "$avp(other)", "o")
	checks := []struct {
		pv   string
		want kemi.Value
	}{
		{"$avp(x)", kemi.Int(3)}, {"$avp(x)[0]", kemi.Int(3)}, {"$avp(x)[1]", kemi.Str("two")},
		{"$avp(x)[2]", kemi.Int(1)}, {"$avp(x)[3]", kemi.Null}, {"$avp(x)[-1]", kemi.Int(1)},
		{"$avp(x)[-4]", kemi.Null}, {"$avp(x)[*]", kemi.Str("3,two,1")}, {"$avp(none)", kemi.Null},
		{"$avp(none)[*]", kemi.Null},
	}
	for _, c := range checks {
		wantValue(t, c.pv, get(c.pv), c.want)
	}
	set("sets", "$avp(x)[1]", "TWO")
	wantValue(t, "after [1] set", get("$avp(x)[*]"), kemi.Str("3,TWO,1"))
	wantValue(t, "set missing index", env.Call(t, "KSR.pv.sets", m, "$avp(x)[7]", "z"), kemi.False)
	wantValue(t, "unset newest", env.Call(t, "KSR.pv.unset", m, "$avp(x)"), kemi.True)
	wantValue(t, "after unset", get("$avp(x)[*]"), kemi.Str("TWO,1"))
	wantValue(t, "unset [-1]", env.Call(t, "KSR.pv.unset", m, "$avp(x)[-1]"), kemi.True)
	wantValue(t, "after unset [-1]", get("$avp(x)[*]"), kemi.Str("TWO"))
	set("seti", "$avp(x)", 9)
	set("sets", "$avp(x)[*]", "only")
	wantValue(t, "after [*] set", get("$avp(x)[*]"), kemi.Str("only"))
	wantValue(t, "unset all", env.Call(t, "KSR.pv.unset", m, "$avp(x)[*]"), kemi.True)
	wantValue(t, "after unset all", get("$avp(x)"), kemi.Null)
	wantValue(t, "other untouched", get("$avp(other)"), kemi.Str("o"))
	if m2 := parse(t, env, invite); !env.Call(t, "KSR.pv.get", m2, "$avp(other)").IsNull() {
		t.Error("AVPs leaked into another message")
	}
}

func TestPVVarPerWorker(t *testing.T) {
	env := load(t)
	m1 := parse(t, env, invite)
	m2 := parse(t, env, invite)
	m2.Proc = m1.Proc
	env.Call(t, "KSR.pv.seti", m1, "$var(count)", 5)
	wantValue(t, "same worker, next message", env.Call(t, "KSR.pv.get", m2, "$var(count)"), kemi.Int(5))
	m3 := parse(t, env, invite)
	wantValue(t, "other worker", env.Call(t, "KSR.pv.get", m3, "$var(count)"), kemi.Null)
}

func TestPVExports(t *testing.T) {
	env := load(t)
	m := parse(t, env, invite)
	env.Call(t, "KSR.pv.sets", m, "$var(s)", "12abc")
	env.Call(t, "KSR.pv.sets", m, "$var(n)", "42")
	cases := []struct {
		fn   string
		args []any
		want kemi.Value
	}{
		{"get", args("$rm"), kemi.Str("INVITE")},
		{"get", args("$sp"), kemi.Int(5062)},
		{"get", args("$tt"), kemi.Null},
		{"gete", args("$tt"), kemi.Str("")},
		{"gete", args("$rm"), kemi.Str("INVITE")},
		{"getw", args("$tt"), kemi.Str("<null>")},
		{"getw", args("$sp"), kemi.Int(5062)},
		{"getvn", args("$tt", 7), kemi.Int(7)},
		{"getvn", args("$rm", 7), kemi.Str("INVITE")},
		{"getvs", args("$tt", "none"), kemi.Str("none")},
		{"getvs", args("$sp", "none"), kemi.Int(5062)},
		{"geti", args("$sp"), kemi.Int(5062)},
		{"geti", args("$var(n)"), kemi.Int(42)},
		{"geti", args("$var(s)"), kemi.Int(0)},
		{"geti", args("$tt"), kemi.Int(0)},
		{"geti", args("$bad("), kemi.Int(0)},
		{"getl", args("$var(n)"), kemi.Int(42)},
		{"getl", args("$tt"), kemi.Int(0)},
		{"is_null", args("$tt"), kemi.True},
		{"is_null", args("$rm"), kemi.False},
		{"is_null", args("$nosuch"), kemi.True},
		{"is_null", args("garbage"), kemi.True},
		{"get", args("$nosuch"), kemi.Null},
		{"get", args("$hdr(Via"), kemi.Null},
		{"get", args("rm"), kemi.Null},
		{"get", args(""), kemi.Null},
		{"get", args("$nh(x)"), kemi.Null},
		{"get", args("$snd(x)"), kemi.Null},
		{"get", args("$TV(x)"), kemi.Null},
		{"getw", args("$nosuch"), kemi.Str("<null>")},
		{"gete", args("$nosuch"), kemi.Str("")},
		{"getvn", args("$nosuch", 3), kemi.Int(3)},
		{"getvs", args("$nosuch", "d"), kemi.Str("d")},
		{"sets", args("$var(a)", "b"), kemi.True},
		{"seti", args("$var(a)", 1), kemi.True},
		{"setl", args("$var(a)", 1), kemi.True},
		{"unset", args("$var(a)"), kemi.True},
		{"unset", args("$nosuch"), kemi.False},
	}
	for _, c := range cases {
		name := fmt.Sprintf("KSR.pv.%s%v", c.fn, c.args)
		wantValue(t, name, env.Call(t, "KSR.pv."+c.fn, m, c.args...), c.want)
	}
}

// TestPVNoPanic reads and writes every registered class with odd names and
// values on a request, a reply and an empty message.
func TestPVNoPanic(t *testing.T) {
	env := load(t)
	msgs := []*kemi.Msg{parse(t, env, invite), parse(t, env, ringing), {Host: env.Host}}
	for _, name := range env.PVs.Names() {
		refs := []string{"$" + name}
		if c := env.PVs.Class(name); c.Param {
			refs = []string{"$" + name + "(x)", "$" + name + "()", "$" + name + "(u)[-5]", "$" + name + "(*)[*]"}
		}
		for _, ref := range refs {
			for _, m := range msgs {
				for _, v := range []kemi.Value{kemi.Null, kemi.Str(""), kemi.Str("x"), kemi.Int(-1)} {
					_, _ = env.PVs.Get(m, ref)
					_ = env.PVs.Set(m, ref, v)
				}
			}
		}
	}
}

// TestPVOnlyCore checks that core registers no pseudo-variable of other
// modules.
func TestPVOnlyCore(t *testing.T) {
	env := load(t)
	for _, name := range env.PVs.Names() {
		if strings.HasPrefix(name, "T_") || name == "sht" || name == "shv" {
			t.Errorf("core registers $%s, which belongs to another module", name)
		}
	}
}
