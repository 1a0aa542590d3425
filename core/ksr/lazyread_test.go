package ksr_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// lazyMsgs are the messages the lazy-form tests read: the test messages
// of this package and a few with compact forms, IPv6, ports, transports,
// escapes and quoted display names.
var lazyMsgs = map[string]string{
	"invite":  invite,
	"ringing": ringing,
	"auth":    auth,
	"bye":     request("BYE", "sip:bob@192.0.2.20:5070;transport=tcp"),
	"myself": strings.Replace(strings.Replace(request("INVITE", "sip:127.0.0.1;transport=udp"),
		"From: <sip:alice@atlanta.example.com>", "From: <sip:alice@127.0.0.1:5060>", 1),
		"To: <sip:bob@example.com>", "To: \"Bob\" <sip:bob@127.0.0.1>", 1),
	"compact": `OPTIONS sips:carol@[2001:db8::10]:5071;transport=TLS SIP/2.0
v: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK-c1
f: Carol <sips:carol@[2001:db8::1]>;tag=f-1
t: "Carol \"C\"" <sips:carol@example.com>;tag=t-9
i: c2@host
CSeq: 7 OPTIONS
Max-Forwards: 10
m: <sips:carol@[2001:db8::1]:5061;transport=tls>
c: text/plain
Content-Length: 2

hi`,
	"escapes": `MESSAGE sip:%61lice@example.com;user=phone SIP/2.0
Via: SIP/2.0/TCP 192.0.2.10:5062;branch=z9hG4bK-m1
From: sip:bob%20smith@example.net;tag=abc
To: sip:alice@example.com
Call-ID: m1
CSeq: 2 MESSAGE
User-Agent: UA  with   spaces
Content-Type: text/plain

hello
`,
	"ringing6": `SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKproxy
Via: SIP/2.0/TLS [2001:db8::7];branch=z9hG4bK776
From: <sip:alice@atlanta.example.com>;tag=1
To: <sip:bob@example.com>;tag=2
Call-ID: r6
CSeq: 9 INVITE
Content-Length: 0

`,
	"tel": `INVITE tel:+15551234567 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-t1
From: <tel:+15550000000>;tag=1
To: <tel:+15551234567>
Call-ID: t1
CSeq: 1 INVITE

`,
}

// lazyPVs are the pseudo-variables that must read the same on both forms
// of every message of lazyMsgs, without giving the lazy one its sipgo
// form.
var lazyPVs = []string{
	"$rm", "$ru", "$rU", "$rd", "$rp", "$rz", "$ou", "$ci", "$cs", "$rs", "$rr",
	"$fu", "$fU", "$fd", "$fn", "$ft", "$tu", "$tU", "$td", "$tn", "$tt",
	"$ua", "$ct", "$cT", "$cl", "$rb", "$mb", "$ml",
	"$si", "$sp", "$su", "$pr", "$Ri", "$Rp",
	"$nh(u)", "$nh(U)", "$nh(d)", "$nh(p)", "$nh(P)", "$nh(i)",
	"$hdr(Call-ID)", "$hdr(i)", "$hdr(CSeq)", "$hdr(User-Agent)", "$hdr(user-agent)",
	"$hdr(Max-Forwards)", "$hdr(Content-Type)", "$hdr(c)", "$hdr(Authorization)",
	"$hdr(X-None)", "$hdr(CSeq)[0]", "$hdr(CSeq)[-1]", "$hdr(CSeq)[1]", "$hdr(CSeq)[*]",
	"$hdr(Contact)", "$hdr(m)", "$hdr(Via)[-1]", "$hdr(Via)[1]", "$hdr(v)",
	"$hdrc(Via)", "$hdrc(Call-ID)", "$hdrc(X-None)", "$hdrc(Contact)",
}

// TestLazyPVsMatchSipgo reads each of lazyPVs on the lazy and on the sipgo
// form of each message: same values, and no materialization.
func TestLazyPVsMatchSipgo(t *testing.T) {
	env := load(t)
	for name, text := range lazyMsgs {
		t.Run(name, func(t *testing.T) {
			lazy := env.Prepare(kemitest.ParseLazyMsg(t, text))
			eager := parse(t, env, text)
			for _, pv := range lazyPVs {
				got, want := env.Call(t, "KSR.pv.get", lazy, pv), env.Call(t, "KSR.pv.get", eager, pv)
				if got != want {
					t.Errorf("%s: lazy %s, sipgo %s", pv, show(got), show(want))
				}
			}
			if lazy.Lazy() == nil {
				t.Error("a pseudo-variable read gave the message its sipgo form")
			}
		})
	}
}

// TestLazyPVsAsReceived checks the pseudo-variables whose lazy answer is
// Kamailio's (the value as received) where sipgo's form re-renders it or
// splits a header line into values.
func TestLazyPVsAsReceived(t *testing.T) {
	env := load(t)
	text := strings.Replace(invite, "Contact: <sip:alice@192.0.2.10:5062>",
		"Contact: <sip:alice@192.0.2.10:5062>;expires=60, <sip:alice@198.51.100.1>\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK-2, SIP/2.0/UDP 198.51.100.8;branch=z9hG4bK-3", 1)
	text = strings.Replace(text, "From: \"Alice\" <sip:alice@atlanta.example.com>", "From:   \"Alice\"   <SIP:alice@atlanta.example.com>", 1)
	s, i := kemi.Str, kemi.Int
	tests := []struct {
		pv          string
		lazy, eager kemi.Value
	}{
		{"$ct", s("<sip:alice@192.0.2.10:5062>;expires=60, <sip:alice@198.51.100.1>"), s("<sip:alice@192.0.2.10:5062>;expires=60")},
		{"$hdrc(Contact)", i(1), i(2)},
		{"$hdrc(Via)", i(2), i(3)},
		{"$hdr(Via)[1]", s("SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK-2, SIP/2.0/UDP 198.51.100.8;branch=z9hG4bK-3"), s("SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK-2")},
		{"$hdr(From)", s("\"Alice\"   <SIP:alice@atlanta.example.com>;tag=1928301774"), s("\"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774")},
		{"$fu", s("SIP:alice@atlanta.example.com"), s("sip:alice@atlanta.example.com")},
		// the parts are the same
		{"$fU", s("alice"), s("alice")},
		{"$fn", s("Alice"), s("Alice")},
	}
	lazy := env.Prepare(kemitest.ParseLazyMsg(t, text))
	eager := parse(t, env, text)
	for _, tc := range tests {
		wantValue(t, "lazy "+tc.pv, env.Call(t, "KSR.pv.get", lazy, tc.pv), tc.lazy)
		wantValue(t, "sipgo "+tc.pv, env.Call(t, "KSR.pv.get", eager, tc.pv), tc.eager)
	}
	// $mbu: the message as it would be written, the received text
	// without changes
	wantValue(t, "lazy $mbu", env.Call(t, "KSR.pv.get", lazy, "$mbu"), s(string(lazy.Raw)))
	if lazy.Lazy() == nil {
		t.Error("a pseudo-variable read gave the message its sipgo form")
	}
}

// lazyCalls are read-only KSR calls that must answer the same on both
// forms without giving the lazy one its sipgo form.
var lazyCalls = []struct {
	fn   string
	args []any
}{
	{"KSR.is_method", []any{"INVITE"}},
	{"KSR.is_method", []any{"invite|bye"}},
	{"KSR.is_method", []any{"OPTIONS"}},
	{"KSR.is_method_in", []any{"IBO"}},
	{"KSR.is_method_in", []any{"m"}},
	{"KSR.is_INVITE", nil},
	{"KSR.is_BYE", nil},
	{"KSR.is_OPTIONS", nil},
	{"KSR.is_MESSAGE", nil},
	{"KSR.hdr.get", []any{"User-Agent"}},
	{"KSR.hdr.get", []any{"call-id"}},
	{"KSR.hdr.get", []any{"i"}},
	{"KSR.hdr.gete", []any{"X-None"}},
	{"KSR.hdr.getw", []any{"X-None"}},
	{"KSR.hdr.get_idx", []any{"Via", 1}},
	{"KSR.hdr.get_idx", []any{"Via", -1}},
	{"KSR.hdr.gete_idx", []any{"CSeq", 0}},
	{"KSR.hdr.getw_idx", []any{"CSeq", 3}},
	{"KSR.hdr.is_present", []any{"Contact"}},
	{"KSR.hdr.is_present", []any{"m"}},
	{"KSR.hdr.is_present", []any{"Authorization"}},
	{"KSR.hdr.is_present", []any{"X-None"}},
	{"KSR.hdr.match_content", []any{"CSeq", "in", "invite", "f"}},
	{"KSR.hdr.match_content", []any{"User-Agent", "sw", "kemi", "a"}},
	{"KSR.is_myself_ruri", nil},
	{"KSR.is_myself_furi", nil},
	{"KSR.is_myself_turi", nil},
	{"KSR.is_myself_nhuri", nil},
	{"KSR.is_myself_srcip", nil},
	{"KSR.is_myself_suri", nil},
	{"KSR.is_myself", []any{"sip:127.0.0.1"}},
	{"KSR.to_UDP", nil},
	{"KSR.to_TCP", nil},
	{"KSR.to_TLS", nil},
	{"KSR.to_IPv4", nil},
	{"KSR.to_IPv6", nil},
}

// TestLazyCallsMatchSipgo makes each of lazyCalls on both forms of each
// message of lazyMsgs.
func TestLazyCallsMatchSipgo(t *testing.T) {
	env := load(t)
	msgs := map[string]string{
		// is_myself takes a URI whose scheme is written in capitals
		"myself-caps": strings.ReplaceAll(lazyMsgs["myself"], "sip:", "SIP:"),
	}
	maps.Copy(msgs, lazyMsgs)
	for name, text := range msgs {
		t.Run(name, func(t *testing.T) {
			lazy := env.Prepare(kemitest.ParseLazyMsg(t, text))
			eager := parse(t, env, text)
			for _, c := range lazyCalls {
				got, want := env.Call(t, c.fn, lazy, c.args...), env.Call(t, c.fn, eager, c.args...)
				if got != want {
					t.Errorf("%s%v: lazy %s, sipgo %s", c.fn, c.args, show(got), show(want))
				}
			}
			if lazy.Lazy() == nil {
				t.Error("a read-only call gave the message its sipgo form")
			}
		})
	}
}

// TestLazyWritesSeenAtOnce checks that writes are recorded on the lazy
// form, and the reads after them see them.
func TestLazyWritesSeenAtOnce(t *testing.T) {
	env := load(t)
	m := env.Prepare(kemitest.ParseLazyMsg(t, invite))
	wantValue(t, "KSR.hdr.append", env.Call(t, "KSR.hdr.append", m, "X-New: 1\r\n"), kemi.OK)
	wantValue(t, "$hdr(X-New)", env.Call(t, "KSR.pv.get", m, "$hdr(X-New)"), kemi.Str("1"))
	env.Call(t, "KSR.pv.sets", m, "$rU", "carol")
	wantValue(t, "$ru", env.Call(t, "KSR.pv.get", m, "$ru"), kemi.Str("sip:carol@example.com"))
	wantValue(t, "$ou", env.Call(t, "KSR.pv.get", m, "$ou"), kemi.Str("sip:bob@example.com"))
	if m.Lazy() == nil {
		t.Error("a header or R-URI write gave the message its sipgo form")
	}
}

// TestReadOnlyRouteStaysLazy runs what a stateless script's request route
// typically reads, one call after the other on one message: it must not
// have sipgo parse the message.
func TestReadOnlyRouteStaysLazy(t *testing.T) {
	env := load(t)
	m := env.Prepare(kemitest.ParseLazyMsg(t, invite))
	route := []struct {
		fn   string
		args []any
		want kemi.Value
	}{
		{"KSR.is_method_in", []any{"IBC"}, kemi.True},
		{"KSR.is_INVITE", nil, kemi.True},
		{"KSR.pv.get", []any{"$ru"}, kemi.Str("sip:bob@example.com")},
		{"KSR.pv.get", []any{"$rU"}, kemi.Str("bob")},
		{"KSR.pv.get", []any{"$fU"}, kemi.Str("alice")},
		{"KSR.pv.get", []any{"$ft"}, kemi.Str("1928301774")},
		{"KSR.pv.get", []any{"$tt"}, kemi.Null},
		{"KSR.pv.get", []any{"$ci"}, kemi.Str("a84b4c76e66710@pc33.atlanta.example.com")},
		{"KSR.pv.get", []any{"$hdr(User-Agent)"}, kemi.Str("kemi-test/1.0")},
		{"KSR.pv.get", []any{"$si"}, kemi.Str("192.0.2.10")},
		{"KSR.pv.get", []any{"$ua"}, kemi.Str("kemi-test/1.0")},
		{"KSR.hdr.is_present", []any{"Contact"}, kemi.OK},
		{"KSR.is_myself_ruri", nil, kemi.False},
		{"KSR.pv.get", []any{"$rb"}, kemi.Str("v=0\n")},
	}
	for _, c := range route {
		wantValue(t, c.fn, env.Call(t, c.fn, m, c.args...), c.want)
	}
	if m.Lazy() == nil {
		t.Error("a read-only route gave the message its sipgo form")
	}
}
