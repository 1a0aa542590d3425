package rr_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/rr"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: rr-1
CSeq: 1 INVITE
Max-Forwards: 70

`

// inDialog returns a request with a To tag, the given R-URI, From tag and
// Route lines.
func inDialog(method, ruri, fromTag string, routes ...string) string {
	s := method + " " + ruri + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-2\n"
	for _, r := range routes {
		s += "Route: " + r + "\n"
	}
	to := "a1"
	if fromTag == "a1" {
		to = "b1"
	}
	return s + "From: <sip:x@example.com>;tag=" + fromTag + "\n" +
		"To: <sip:y@example.com>;tag=" + to + "\n" +
		"Call-ID: rr-2\nCSeq: 2 " + method + "\nMax-Forwards: 70\n\n"
}

// initial returns an INVITE without To tag with the given Route lines.
func initial(routes ...string) string {
	s := "INVITE sip:bob@192.0.2.20:5070 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-3\n"
	for _, r := range routes {
		s += "Route: " + r + "\n"
	}
	return s + "From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\nCall-ID: rr-3\nCSeq: 1 INVITE\n\n"
}

// headers returns the values of the header lines called name in a SIP text.
func headers(text, name string) []string {
	var out []string
	for _, l := range strings.Split(text, "\r\n") {
		if l == "" {
			break
		}
		if v, ok := strings.CutPrefix(l, name+": "); ok {
			out = append(out, v)
		}
	}
	return out
}

func load(t testing.TB, params map[string]any) *kemitest.Env {
	t.Helper()
	var p map[string]map[string]any
	if params != nil {
		p = map[string]map[string]any{"rr": params}
	}
	return kemitest.Load(t, p, "core", "rr")
}

func call(t *testing.T, env *kemitest.Env, m *kemi.Msg, fn string, args ...any) int64 {
	t.Helper()
	return env.Call(t, "KSR.rr."+fn, m, args...).Int
}

type step struct {
	fn   string
	args []any
	want int64
}

func TestExports(t *testing.T) {
	load(t, nil).CheckExports(t, "rr")
}

// upstreamRR is the Record-Route of a proxy before us.
const upstreamRR = "<sip:192.0.2.1;lr>"

func TestRecordRoute(t *testing.T) {
	tcp := &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
	cases := []struct {
		name   string
		params map[string]any
		msg    string
		prep   func(m *kemi.Msg)
		steps  []step
		want   []string // Record-Route values afterwards
	}{
		{"plain", nil, invite, nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"no from tag param", map[string]any{"append_fromtag": 0}, invite, nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr>"}},
		{"full lr", map[string]any{"enable_full_lr": true}, invite, nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr=on;ftag=a1>"}},
		{"received over tcp", nil, invite, func(m *kemi.Msg) { m.Rcv, m.Proto = tcp, "tcp" },
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;transport=tcp;lr;ftag=a1>"}},
		// Kamailio's way to WebSocket: upgraded on a tcp or tls listener
		{"received over ws on a tcp listener", nil, invite, func(m *kemi.Msg) { m.Rcv, m.Proto = tcp, "ws" },
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;transport=ws;lr;ftag=a1>"}},
		{"received over wss on a tls listener", nil, invite, func(m *kemi.Msg) {
			m.Rcv, m.Proto = &kemi.Socket{Proto: "tls", Addr: netip.MustParseAddrPort("127.0.0.1:5061")}, "wss"
		},
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5061;transport=ws;lr;ftag=a1>"}},
		{"received on a wss listener", nil, invite, func(m *kemi.Msg) {
			m.Rcv, m.Proto = &kemi.Socket{Proto: "wss", Addr: netip.MustParseAddrPort("127.0.0.1:4443")}, "wss"
		},
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:4443;transport=ws;lr;ftag=a1>"}},
		{"socket name in sockname_mode", map[string]any{"sockname_mode": 1}, invite, func(m *kemi.Msg) {
			m.Rcv = &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060"), Name: "lan"}
		},
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;transport=tcp;sn=lan;lr;ftag=a1>"}},
		{"advertised socket", nil, invite, func(m *kemi.Msg) {
			m.Rcv = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("10.0.0.1:5060"), AdvHost: "203.0.113.1", AdvPort: 5070}
		},
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:203.0.113.1:5070;lr;ftag=a1>"}},
		{"advertised for the message", nil, invite, func(m *kemi.Msg) { m.AdvHost, m.AdvPort = "proxy.example.com", 5080 },
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:proxy.example.com:5080;lr;ftag=a1>"}},
		{"ipv6 socket", nil, invite, func(m *kemi.Msg) {
			m.Rcv = &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("[2001:db8::1]:5060")}
		},
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:[2001:db8::1]:5060;lr;ftag=a1>"}},
		{"above an upstream Record-Route", nil,
			strings.Replace(invite, "Max-Forwards: 70\n", "Max-Forwards: 70\nRecord-Route: "+upstreamRR+"\n", 1), nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>", upstreamRR}},
		{"twice is refused", nil, invite, nil,
			[]step{{"record_route", nil, 1}, {"record_route", nil, -1}, {"record_route_preset_one", []any{"192.0.2.9"}, -1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"twice in a branch route", nil, invite, func(m *kemi.Msg) { m.Route = kemi.RouteBranch },
			[]step{{"record_route", nil, 1}, {"remove_record_route", nil, 1}, {"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"params", nil, invite, nil,
			[]step{{"record_route_params", []any{";nat=yes;x"}, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1;nat=yes;x>"}},
		{"empty params", nil, invite, nil,
			[]step{{"record_route_params", []any{""}, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"params without ;", nil, invite, nil,
			[]step{{"record_route_params", []any{"nat=yes"}, -1}},
			nil},
		{"params with a bad character", nil, invite, nil,
			[]step{{"record_route_params", []any{";a=<b>"}, -1}},
			nil},
		{"add_rr_param before", nil, invite, nil,
			[]step{{"add_rr_param", []any{";a=1"}, 1}, {"add_rr_param", []any{";b"}, 1}, {"record_route_params", []any{";p=2"}, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1;p=2;a=1;b>"}},
		{"add_rr_param after", nil, invite, nil,
			[]step{{"record_route", nil, 1}, {"add_rr_param", []any{";nat=yes"}, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1;nat=yes>"}},
		{"add_rr_param before and after", nil, invite, nil,
			[]step{{"add_rr_param", []any{";a=1"}, 1}, {"record_route", nil, 1}, {"add_rr_param", []any{";b=2"}, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1;a=1;b=2>"}},
		{"add_rr_param bad", nil, invite, nil,
			[]step{{"add_rr_param", []any{""}, -1}, {"add_rr_param", []any{"x=1"}, -1}, {"add_rr_param", []any{";a b"}, -1},
				{"add_rr_param", []any{";=v"}, -1}, {"add_rr_param", []any{";a;;b"}, -1}, {"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"add_rr_param too long", nil, invite, nil,
			[]step{{"add_rr_param", []any{";a=" + strings.Repeat("x", 600)}, -1}},
			nil},
		{"sips R-URI", nil, strings.Replace(invite, "sip:bob@example.com SIP", "sips:bob@example.com SIP", 1), nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sips:127.0.0.1:5060;lr;ftag=a1>"}},
		{"ignore_sips", map[string]any{"ignore_sips": 1}, strings.Replace(invite, "sip:bob@example.com SIP", "sips:bob@example.com SIP", 1), nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"add_username", map[string]any{"add_username": 1}, invite, nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:bob@127.0.0.1:5060;lr;ftag=a1>"}},
		{"add_username with a custom user", map[string]any{"add_username": 1, "custom_user_avp": "$avp(rruser)"}, invite,
			func(m *kemi.Msg) { m.AVPs.Add("rruser", kemi.Str("carol")) },
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:carol@127.0.0.1:5060;lr;ftag=a1>"}},
		{"preset one", nil, invite, nil,
			[]step{{"add_rr_param", []any{";q=1"}, 1}, {"record_route_preset_one", []any{"203.0.113.9:5090;x=y"}, 1}, {"add_rr_param", []any{";z"}, 1}},
			[]string{"<sip:203.0.113.9:5090;x=y;ftag=a1;q=1;lr;z>"}},
		{"preset two", nil, invite, nil,
			[]step{{"record_route_preset", []any{"203.0.113.9;r2=on", "10.0.0.1:5070;r2=on"}, 1}, {"add_rr_param", []any{";n=1"}, 1}},
			[]string{"<sip:203.0.113.9;r2=on;ftag=a1;lr;n=1>", "<sip:10.0.0.1:5070;r2=on;ftag=a1;lr;n=1>"}},
		{"preset with an empty second", nil, invite, nil,
			[]step{{"record_route_preset", []any{"203.0.113.9", ""}, 1}},
			[]string{"<sip:203.0.113.9;ftag=a1;lr>"}},
		{"preset two without double rr", map[string]any{"enable_double_rr": 0}, invite, nil,
			[]step{{"record_route_preset", []any{"203.0.113.9", "10.0.0.1"}, -1}},
			nil},
		{"preset bad", nil, invite, nil,
			[]step{{"record_route_preset_one", []any{""}, -1}, {"record_route_preset_one", []any{"sip:1.2.3.4"}, -1},
				{"record_route_preset_one", []any{"a b"}, -1}, {"record_route_preset", []any{"1.2.3.4", "<x>"}, -1}},
			nil},
		{"advertised address", nil, invite, nil,
			[]step{{"record_route_advertised_address", []any{"203.0.113.9:5090"}, 1}, {"add_rr_param", []any{";n=1"}, 1}},
			[]string{"<sip:203.0.113.9:5090;ftag=a1;lr;n=1>"}},
		{"advertised address bad", nil, invite, nil,
			[]step{{"record_route_advertised_address", []any{"sips:h"}, -1}, {"record_route_advertised_address", []any{""}, -1}},
			nil},
		{"remove", nil,
			strings.Replace(invite, "Max-Forwards: 70\n", "Max-Forwards: 70\nRecord-Route: "+upstreamRR+"\n", 1), nil,
			[]step{{"record_route", nil, 1}, {"remove_record_route", nil, 1}, {"record_route", nil, -1}, {"remove_record_route", nil, 1}},
			[]string{upstreamRR}},
		{"remove preset two", nil, invite, nil,
			[]step{{"record_route_preset", []any{"203.0.113.9", "10.0.0.1"}, 1}, {"remove_record_route", nil, 1}},
			nil},
		{"remove without record_route", nil, invite, nil,
			[]step{{"remove_record_route", nil, 1}, {"add_rr_param", []any{";a=1"}, 1}, {"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1;a=1>"}},
		{"no receiving socket", nil, invite, func(m *kemi.Msg) { m.Rcv = nil },
			[]step{{"record_route", nil, -1}, {"record_route_advertised_address", []any{"192.0.2.9"}, 1}},
			[]string{"<sip:192.0.2.9;ftag=a1;lr>"}},
		{"no From tag", nil, strings.Replace(invite, ";tag=a1", "", 1), nil,
			[]step{{"record_route", nil, 1}},
			[]string{"<sip:127.0.0.1:5060;lr>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, c.params)
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			if c.prep != nil {
				c.prep(m)
			}
			for i, s := range c.steps {
				if got := call(t, env, m, s.fn, s.args...); got != s.want {
					t.Fatalf("step %d: %s%v = %d, want %d", i, s.fn, s.args, got, s.want)
				}
			}
			text := m.Request().String()
			got := headers(text, "Record-Route")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("Record-Route\n got %q\nwant %q\n%s", got, c.want, text)
			}
			if len(got) > 0 {
				// ours is the first header, as Kamailio writes it
				_, hs, _ := strings.Cut(text, "\r\n")
				if got[0] != upstreamRR && !strings.HasPrefix(hs, "Record-Route: "+got[0]+"\r\n") {
					t.Errorf("our Record-Route is not the first header:\n%s", text)
				}
				if rr := m.Request().RecordRoute(); rr == nil || "<"+rr.Address.String()+">" != got[0] {
					t.Errorf("sipgo's first Record-Route is %v, want %s", rr, got[0])
				}
			}
		})
	}
}

func TestRecordRouteUpstreamKeepsCallerTag(t *testing.T) {
	env := load(t, nil)
	// the callee (tag b1) sends a re-INVITE back to the caller (tag a1)
	m := env.Prepare(kemitest.ParseMsg(t, inDialog("INVITE", "sip:alice@192.0.2.10:5062", "b1",
		"<sip:127.0.0.1:5060;lr;ftag=a1>")))
	if got := call(t, env, m, "loose_route"); got != 1 {
		t.Fatalf("loose_route = %d", got)
	}
	call(t, env, m, "record_route")
	if got := headers(m.Request().String(), "Record-Route"); len(got) != 1 || got[0] != "<sip:127.0.0.1:5060;lr;ftag=a1>" {
		t.Fatalf("Record-Route %q", got)
	}
}

func TestRecordRouteReply(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-9\n"+
		"From: <sip:a@example.com>;tag=a1\nTo: <sip:b@example.com>;tag=b1\nCall-ID: r\nCSeq: 1 INVITE\n\n"))
	for _, s := range []step{
		{"record_route", nil, -1}, {"record_route_params", []any{";a"}, -1}, {"record_route_preset_one", []any{"h"}, -1},
		{"record_route_preset", []any{"h", "i"}, -1}, {"record_route_advertised_address", []any{"h"}, -1},
		{"add_rr_param", []any{";a"}, -1}, {"remove_record_route", nil, 1}, {"loose_route", nil, -1},
		{"loose_route_mode", []any{1}, -1}, {"loose_route_preloaded", nil, -1}, {"next_hop_route", nil, -1},
		{"check_route_param", []any{"a"}, -1}, {"is_direction", []any{"upstream"}, -1},
	} {
		if got := call(t, env, m, s.fn, s.args...); got != s.want {
			t.Errorf("%s on a reply = %d, want %d", s.fn, got, s.want)
		}
	}
}

// relay record-routes an INVITE that came in over UDP and sends a copy of
// it (as tm does) to dst; it returns the Record-Route values sent and
// those left in the routed message.
func relay(t *testing.T, env *kemitest.Env, m *kemi.Msg, dst kemi.Dest) (sent, kept []string) {
	t.Helper()
	env.Host.Reset()
	if err := env.Host.SendRequest(m, m.Request().Clone(), dst); err != nil {
		t.Fatal(err)
	}
	out := env.Host.Sent()
	if len(out) != 1 {
		t.Fatalf("sent %d messages", len(out))
	}
	return headers(out[0].Msg, "Record-Route"), headers(m.Request().String(), "Record-Route")
}

var (
	tcpDst = kemi.Dest{Proto: "tcp", Addr: netip.MustParseAddrPort("192.0.2.20:5060")}
	udpDst = kemi.Dest{Proto: "udp", Addr: netip.MustParseAddrPort("192.0.2.20:5060")}
	// a WebSocket client connected by an upgrade on a tcp listener
	wsOnTCP = kemi.Dest{Proto: "ws", Addr: netip.MustParseAddrPort("192.0.2.20:50000"),
		Sock: &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5080")}}
	otherIP = kemi.Dest{Proto: "udp", Addr: netip.MustParseAddrPort("198.51.100.7:5060"),
		Sock: &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("198.51.100.1:5060")}}
)

func TestDoubleRecordRoute(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		steps  []step
		dst    kemi.Dest
		want   []string
	}{
		{"udp to tcp", nil, []step{{"record_route", nil, 1}}, tcpDst,
			[]string{"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"}},
		{"udp to ws on a tcp listener", nil, []step{{"record_route", nil, 1}}, wsOnTCP,
			[]string{"<sip:127.0.0.1:5080;transport=ws;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"}},
		{"udp to udp", nil, []step{{"record_route", nil, 1}}, udpDst,
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"another interface", nil, []step{{"record_route", nil, 1}}, otherIP,
			[]string{"<sip:198.51.100.1:5060;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"}},
		{"off", map[string]any{"enable_double_rr": 0}, []step{{"record_route", nil, 1}}, tcpDst,
			[]string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}},
		{"always", map[string]any{"enable_double_rr": 2}, []step{{"record_route", nil, 1}}, udpDst,
			[]string{"<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"}},
		{"with params", nil, []step{{"add_rr_param", []any{";a=1"}, 1}, {"record_route_params", []any{";p"}, 1}, {"add_rr_param", []any{";b=2"}, 1}}, tcpDst,
			[]string{"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1;p;a=1;b=2>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1;p;a=1;b=2>"}},
		{"advertised address", nil, []step{{"record_route_advertised_address", []any{"203.0.113.9:5090"}, 1}}, tcpDst,
			[]string{"<sip:203.0.113.9:5090;transport=tcp;r2=on;ftag=a1;lr>", "<sip:203.0.113.9:5090;transport=udp;r2=on;ftag=a1;lr>"}},
		{"advertised address, same transport", nil, []step{{"record_route_advertised_address", []any{"203.0.113.9:5090"}, 1}}, otherIP,
			[]string{"<sip:203.0.113.9:5090;ftag=a1;lr>"}},
		{"preset is never doubled", nil, []step{{"record_route_preset_one", []any{"203.0.113.9"}, 1}}, tcpDst,
			[]string{"<sip:203.0.113.9;ftag=a1;lr>"}},
		{"not record-routed", nil, nil, tcpDst, nil},
		{"removed", nil, []step{{"record_route", nil, 1}, {"remove_record_route", nil, 1}}, tcpDst, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, c.params)
			m := env.Prepare(kemitest.ParseMsg(t, invite))
			for i, s := range c.steps {
				if got := call(t, env, m, s.fn, s.args...); got != s.want {
					t.Fatalf("step %d: %s = %d, want %d", i, s.fn, got, s.want)
				}
			}
			before := headers(m.Request().String(), "Record-Route")
			sent, kept := relay(t, env, m, c.dst)
			if strings.Join(sent, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("sent Record-Route\n got %q\nwant %q", sent, c.want)
			}
			if strings.Join(kept, "\n") != strings.Join(before, "\n") {
				t.Fatalf("the routed message changed: %q, was %q", kept, before)
			}
		})
	}
}

func TestDoubleRecordRouteMetric(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	call(t, env, m, "record_route")
	relay(t, env, m, tcpDst)
	relay(t, env, m, udpDst)
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	for _, want := range []string{"kemi_rr_record_routes_total 1", "kemi_rr_double_record_routes_total 1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// TestDoubleRecordRouteStateless sends the routed request itself, as a
// stateless forward does: the double Record-Route is in the request while
// it is sent and is undone by the next send.
func TestDoubleRecordRouteStateless(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	call(t, env, m, "record_route")
	double := []string{"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"}
	single := []string{"<sip:127.0.0.1:5060;lr;ftag=a1>"}
	for i, c := range []struct {
		dst  kemi.Dest
		want []string
	}{{tcpDst, double}, {tcpDst, double}, {udpDst, single}, {tcpDst, double}} {
		env.Host.Reset()
		if err := env.Host.SendRequest(m, m.Request(), c.dst); err != nil {
			t.Fatal(err)
		}
		got := headers(env.Host.Last().Msg, "Record-Route")
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Fatalf("send %d: Record-Route %q, want %q", i, got, c.want)
		}
	}
	// a branch copied from the request as the last send left it is fixed
	sent, _ := relay(t, env, m, udpDst)
	if strings.Join(sent, "\n") != strings.Join(single, "\n") {
		t.Fatalf("copy: Record-Route %q, want %q", sent, single)
	}
	// add_rr_param reaches the double Record-Route too, remove_record_route
	// takes both out
	call(t, env, m, "add_rr_param", ";n=1")
	for _, h := range headers(m.Request().String(), "Record-Route") {
		if !strings.HasSuffix(h, ";n=1>") {
			t.Errorf("add_rr_param missed %s", h)
		}
	}
	call(t, env, m, "remove_record_route")
	if got := headers(m.Request().String(), "Record-Route"); len(got) != 0 {
		t.Fatalf("after remove_record_route: %q", got)
	}
}

func TestDoubleRecordRouteLeavesOthersAlone(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	call(t, env, m, "record_route")
	// the script put another Record-Route on top of ours
	hs, err := kemi.ParseHeaders("Record-Route: <sip:192.0.2.99;lr>")
	if err != nil {
		t.Fatal(err)
	}
	m.InsertHeadersAt(m.IndexOfHeader("Record-Route"), hs...)
	want := []string{"<sip:192.0.2.99;lr>", "<sip:127.0.0.1:5060;lr;ftag=a1>"}
	sent, _ := relay(t, env, m, tcpDst)
	if strings.Join(sent, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Record-Route %q, want %q", sent, want)
	}
	// and a request of another message is never touched
	other := env.Prepare(kemitest.ParseMsg(t, invite))
	env.Host.Reset()
	if err := env.Host.SendRequest(other, other.Request(), tcpDst); err != nil {
		t.Fatal(err)
	}
	if got := headers(env.Host.Last().Msg, "Record-Route"); len(got) != 0 {
		t.Fatalf("Record-Route %q added to a request rr did not record-route", got)
	}
}

func TestLooseRoute(t *testing.T) {
	const bobURI = "sip:bob@192.0.2.20:5070"
	cases := []struct {
		name     string
		params   map[string]any
		msg      string
		fn       string // loose_route unless set
		args     []any
		want     int64
		du       string
		ruri     string // "" : unchanged
		routes   []string
		nextHop  int64
		sendSock string
	}{
		{name: "no Route", msg: inDialog("BYE", bobURI, "a1"), want: -1},
		{name: "in-dialog, our Route only", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1:5060;lr;ftag=a1>"),
			want: 1, nextHop: -1},
		{name: "in-dialog, our Route and the next", msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;lr;ftag=a1>", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: 1},
		{name: "comma separated", msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;lr;ftag=a1>, <sip:192.0.2.30;lr>, <sip:192.0.2.31;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>", "<sip:192.0.2.31;lr>"}, nextHop: 1},
		{name: "our Route without port", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1;lr>", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: 1},
		{name: "Route to another port is not ours", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1:5070;lr>"),
			want: 1, du: "sip:127.0.0.1:5070;lr", routes: []string{"<sip:127.0.0.1:5070;lr>"}, nextHop: -1},
		{name: "a GRUU is not ours", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1:5060;lr;gr=x>"),
			want: 1, du: "sip:127.0.0.1:5060;lr;gr=x", routes: []string{"<sip:127.0.0.1:5060;lr;gr=x>"}, nextHop: -1},
		{name: "double Record-Route", msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: 1, sendSock: "tcp:127.0.0.1:5060"},
		{name: "double Record-Route only", msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:5060;r2=on;lr;ftag=a1>"),
			want: 1, nextHop: -1, sendSock: "udp:127.0.0.1:5060"},
		{name: "double Record-Route, off", params: map[string]any{"enable_double_rr": 0}, msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;r2=on;lr>", "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>"),
			want: 1, du: "sip:127.0.0.1:5060;transport=tcp;r2=on;lr", routes: []string{"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>"}, nextHop: 1},
		{name: "force_send_socket", params: map[string]any{"force_send_socket": 1}, msg: inDialog("BYE", bobURI, "a1",
			"<sip:127.0.0.1:5060;transport=tcp;lr>"),
			want: 1, nextHop: -1, sendSock: "tcp:127.0.0.1:5060"},
		{name: "strict next hop", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1:5060;lr>", "<sip:192.0.2.40:5060>", "<sip:192.0.2.41;lr>"),
			want: 1, ruri: "sip:192.0.2.40:5060", routes: []string{"<sip:192.0.2.41;lr>", "<" + bobURI + ">"}, nextHop: 1},
		{name: "maddr", msg: inDialog("BYE", bobURI, "a1", "<sip:127.0.0.1;lr>", "<sip:proxy.example.com:5080;maddr=192.0.2.50;lr>"),
			want: 1, du: "sip:192.0.2.50:5080", routes: []string{"<sip:proxy.example.com:5080;maddr=192.0.2.50;lr>"}, nextHop: 1},
		{name: "after a strict router", msg: inDialog("BYE", "sip:127.0.0.1:5060;lr;ftag=a1", "a1",
			"<sip:192.0.2.30;lr>", "<"+bobURI+">"),
			want: 1, du: "sip:192.0.2.30;lr", ruri: bobURI, routes: []string{"<sip:192.0.2.30;lr>"}},
		{name: "after a strict router, strict next hop", msg: inDialog("BYE", "sip:127.0.0.1:5060;ftag=a1", "a1", "<"+bobURI+">"),
			want: 1, ruri: bobURI},
		{name: "after a strict router, double Record-Route", msg: inDialog("BYE", "sip:127.0.0.1:5060;r2=on;lr", "a1",
			"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>", "<"+bobURI+">"),
			want: 1, ruri: bobURI, sendSock: "tcp:127.0.0.1:5060"},
		{name: "after a strict router, nothing left", msg: inDialog("BYE", "sip:127.0.0.1:5060;r2=on;lr", "a1",
			"<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>"),
			want: -1, sendSock: "tcp:127.0.0.1:5060"},
		{name: "loose only mode", fn: "loose_route_mode", args: []any{1}, msg: inDialog("BYE", "sip:127.0.0.1:5060", "a1", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}},
		{name: "loose only parameter", params: map[string]any{"loose_route_mode": 1}, msg: inDialog("BYE", "sip:127.0.0.1:5060", "a1", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}},
		{name: "initial, our Route only", msg: initial("<sip:127.0.0.1:5060;lr>"), want: -3, nextHop: -1},
		{name: "initial, our Route only, preloaded", fn: "loose_route_preloaded", msg: initial("<sip:127.0.0.1:5060;lr>"), want: 1, nextHop: -1},
		{name: "initial, both of a double Record-Route", msg: initial("<sip:127.0.0.1:5060;r2=on;lr>", "<sip:127.0.0.1:5060;transport=tcp;r2=on;lr>"),
			want: -3, nextHop: -1, sendSock: "tcp:127.0.0.1:5060"},
		{name: "initial, preloaded to another proxy", msg: initial("<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: -1},
		{name: "initial, preloaded through us", msg: initial("<sip:127.0.0.1:5060;lr>", "<sip:192.0.2.30;lr>"),
			want: 1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: 1},
		{name: "initial, preloaded through us, loose_route_preloaded", fn: "loose_route_preloaded", msg: initial("<sip:127.0.0.1:5060;lr>", "<sip:192.0.2.30;lr>"),
			want: -1, du: "sip:192.0.2.30;lr", routes: []string{"<sip:192.0.2.30;lr>"}, nextHop: 1},
		{name: "initial, strict preloaded route", msg: initial("<sip:192.0.2.40>"),
			want: 1, ruri: "sip:192.0.2.40", routes: []string{"<sip:bob@192.0.2.20:5070>"}, nextHop: -1},
		{name: "initial without Route", fn: "loose_route_preloaded", msg: initial(), want: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, c.params)
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			ruri := m.RURI()
			fn := c.fn
			if fn == "" {
				fn = "loose_route"
			}
			if got := call(t, env, m, fn, c.args...); got != c.want {
				t.Fatalf("%s = %d, want %d\n%s", fn, got, c.want, m.Request().String())
			}
			if m.DstURI != c.du {
				t.Errorf("$du = %q, want %q", m.DstURI, c.du)
			}
			if c.ruri != "" {
				ruri = c.ruri
			}
			if m.RURI() != ruri {
				t.Errorf("R-URI = %q, want %q", m.RURI(), ruri)
			}
			text := m.Request().String()
			if got := headers(text, "Route"); strings.Join(got, "\n") != strings.Join(c.routes, "\n") {
				t.Errorf("Route\n got %q\nwant %q\n%s", got, c.routes, text)
			}
			if c.nextHop != 0 {
				if got := call(t, env, m, "next_hop_route"); got != c.nextHop {
					t.Errorf("next_hop_route = %d, want %d", got, c.nextHop)
				}
			}
			if got := m.SendSock.String(); got != c.sendSock {
				t.Errorf("send socket %q, want %q", got, c.sendSock)
			}
		})
	}
}

func TestLooseRouteBadInput(t *testing.T) {
	env := load(t, nil)
	// a Route header kept as text that does not parse
	m := env.Prepare(kemitest.ParseMsg(t, inDialog("BYE", "sip:bob@192.0.2.20", "a1")))
	m.InsertHeadersAt(1, sip.NewHeader("route", "<sip:127.0.0.1;lr"))
	if got := call(t, env, m, "loose_route"); got != -1 {
		t.Fatalf("loose_route with a broken Route = %d", got)
	}
	// a Route header kept as text that parses is used
	m = env.Prepare(kemitest.ParseMsg(t, inDialog("BYE", "sip:bob@192.0.2.20", "a1")))
	m.InsertHeadersAt(1, sip.NewHeader("Route", "<sip:127.0.0.1;lr>, <sip:192.0.2.30;lr>"))
	if got := call(t, env, m, "loose_route"); got != 1 || m.DstURI != "sip:192.0.2.30;lr" {
		t.Fatalf("loose_route with a text Route = %d, $du %q\n%s", got, m.DstURI, m.Request().String())
	}
	// no To header
	m = env.Prepare(kemitest.ParseMsg(t, "BYE sip:bob@192.0.2.20 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-4\n"+
		"Route: <sip:127.0.0.1;lr>\nFrom: <sip:a@example.com>;tag=a1\nCall-ID: x\nCSeq: 1 BYE\n\n"))
	if got := call(t, env, m, "loose_route"); got != -1 {
		t.Fatalf("loose_route without To = %d", got)
	}
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	for _, want := range []string{`kemi_rr_loose_routes_total{result="error"} 2`, `kemi_rr_loose_routes_total{result="routed"} 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestCheckRouteParam(t *testing.T) {
	ours := "<sip:127.0.0.1:5060;lr;ftag=a1;nat=yes>"
	cases := []struct {
		name  string
		msg   string
		loose bool // call loose_route first
		re    string
		want  int64
	}{
		{"match", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), true, "nat=yes", 1},
		{"ignores case", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), true, "NAT=YES", 1},
		{"anchored", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), true, "^;lr;ftag=a1;nat=yes$", 1},
		{"no match", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), true, "nat=no", -1},
		{"before loose_route", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), false, "nat=yes", 1},
		{"after a strict router", inDialog("BYE", "sip:127.0.0.1:5060;lr;nat=yes", "a1", "<sip:bob@192.0.2.20>"), true, "nat=yes", 1},
		{"not our Route", inDialog("BYE", "sip:bob@192.0.2.20", "a1", "<sip:192.0.2.30;lr;nat=yes>"), true, "nat=yes", -1},
		{"no Route", inDialog("BYE", "sip:bob@192.0.2.20", "a1"), true, "lr", -1},
		{"bad expression", inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), true, "(", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, nil)
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			if c.loose {
				call(t, env, m, "loose_route")
			}
			if got := call(t, env, m, "check_route_param", c.re); got != c.want {
				t.Fatalf("check_route_param(%q) = %d, want %d", c.re, got, c.want)
			}
		})
	}
}

func TestIsDirection(t *testing.T) {
	ours := "<sip:127.0.0.1:5060;lr;ftag=a1>"
	cases := []struct {
		name     string
		params   map[string]any
		msg      string
		dir      string
		want     int64
		rdir     string
		fti, tti string
	}{
		{"caller to callee", nil, inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), "downstream", 1, "downstream", "a1", "b1"},
		{"caller to callee, upstream?", nil, inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), "upstream", -1, "downstream", "a1", "b1"},
		{"callee to caller", nil, inDialog("BYE", "sip:alice@192.0.2.10", "b1", ours), "upstream", 1, "upstream", "a1", "b1"},
		{"callee to caller, downstream?", nil, inDialog("BYE", "sip:alice@192.0.2.10", "b1", ours), "DownStream", -1, "upstream", "a1", "b1"},
		{"no ftag", nil, inDialog("BYE", "sip:alice@192.0.2.10", "b1", "<sip:127.0.0.1:5060;lr>"), "downstream", 1, "downstream", "b1", "a1"},
		{"unknown direction", nil, inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), "sideways", -6, "downstream", "a1", "b1"},
		{"append_fromtag off", map[string]any{"append_fromtag": false}, inDialog("BYE", "sip:bob@192.0.2.20", "a1", ours), "downstream", -6, "downstream", "a1", "b1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, c.params)
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			if got := call(t, env, m, "loose_route"); got != 1 {
				t.Fatalf("loose_route = %d", got)
			}
			if got := call(t, env, m, "is_direction", c.dir); got != c.want {
				t.Fatalf("is_direction(%q) = %d, want %d", c.dir, got, c.want)
			}
			for pv, want := range map[string]string{"$rdir(name)": c.rdir, "$fti": c.fti, "$tti": c.tti} {
				v, err := env.PVs.Get(m, pv)
				if err != nil || v.String() != want {
					t.Errorf("%s = %q (%v), want %q", pv, v.String(), err, want)
				}
			}
		})
	}
}

func TestPseudoVariables(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, inDialog("BYE", "sip:alice@192.0.2.10", "b1", "<sip:127.0.0.1:5060;lr;ftag=a1>", "<sip:192.0.2.30;lr>")))
	if v, _ := env.PVs.Get(m, "$route_uri"); v.String() != "sip:127.0.0.1:5060;lr;ftag=a1" {
		t.Errorf("$route_uri = %q", v.String())
	}
	if v, _ := env.PVs.Get(m, "$rdir(id)"); v.Int != 2 {
		t.Errorf("$rdir(id) = %v before loose_route, want 2 (upstream)", v)
	}
	call(t, env, m, "loose_route")
	if v, _ := env.PVs.Get(m, "$route_uri"); v.String() != "sip:192.0.2.30;lr" {
		t.Errorf("$route_uri after loose_route = %q", v.String())
	}
	if _, err := env.PVs.Get(m, "$rdir(what)"); err == nil {
		t.Error("$rdir(what) gave no error")
	}
	m = env.Prepare(kemitest.ParseMsg(t, invite))
	if v, _ := env.PVs.Get(m, "$route_uri"); !v.IsNull() {
		t.Errorf("$route_uri without Route = %v", v)
	}
	if v, _ := env.PVs.Get(m, "$tti"); !v.IsNull() {
		t.Errorf("$tti without To tag = %v", v)
	}
}

func TestParameters(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]any
		ok     bool
	}{
		{"defaults", nil, true},
		{"all", map[string]any{"append_fromtag": 1, "enable_double_rr": 2, "enable_full_lr": 0, "add_username": "yes",
			"enable_socket_mismatch_warning": false, "custom_user_avp": "$avp(u)", "force_send_socket": 1,
			"ignore_sips": 0, "sockname_mode": 0, "loose_route_mode": 3}, true},
		{"double rr out of range", map[string]any{"enable_double_rr": 3}, false},
		{"loose_route_mode out of range", map[string]any{"loose_route_mode": 4}, false},
		{"custom user not an avp", map[string]any{"custom_user_avp": "$ru"}, false},
		{"custom user not a pv", map[string]any{"custom_user_avp": "user"}, false},
		{"wrong type", map[string]any{"append_fromtag": "maybe"}, false},
		{"unknown", map[string]any{"enable_triple_rr": 1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := kemitest.LoadErr(map[string]map[string]any{"rr": c.params}, "core", "rr")
			if (err == nil) != c.ok {
				t.Fatalf("load: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestNoPanicOnOddMessages(t *testing.T) {
	env := load(t, nil)
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	m.Host = nil
	// without a host nothing is ours: the Route is followed
	m.Request().AppendHeader(&sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", UriParams: sip.HeaderParams{{K: "lr"}}}})
	if got := env.Export(t, "KSR.rr.loose_route").Func(m, kemi.Args{}); got.Int != 1 || m.DstURI != "sip:127.0.0.1;lr" {
		t.Fatalf("loose_route without host = %d, $du %q", got.Int, m.DstURI)
	}
	var nilReq kemi.Msg
	for name, x := range env.Exports() {
		if x.Module != "rr" {
			continue
		}
		a := kemi.MakeArgs("x", "y")
		x.Func(&nilReq, a) // must not panic
		_ = name
	}
	env.Mods["rr"].(kemi.SendHook).BeforeSend(nil, nil, nil)
	env.Mods["rr"].(kemi.SendHook).BeforeSend(&nilReq, &sip.Request{}, &kemi.Dest{})
}

// TestLooseRouteMarksRURINew: when loose_route sets the next hop ($du, or
// the R-URI after a strict router) the R-URI may be relayed again, as
// Kamailio's loose_route marks it (t_relay in a failure route forks it);
// a request it leaves alone keeps its state.
func TestLooseRouteMarksRURINew(t *testing.T) {
	cases := []struct {
		name string
		msg  string
		new  bool
	}{
		{"loose next hop", initial("<sip:192.0.2.30;lr>"), true},
		{"strict next hop", inDialog("BYE", "sip:bob@192.0.2.20", "a1", "<sip:192.0.2.30>"), true},
		{"in-dialog, loose", inDialog("BYE", "sip:bob@192.0.2.20", "a1", "<sip:127.0.0.1:5060;lr>", "<sip:192.0.2.30;lr>"), true},
		{"no Route", initial(), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := load(t, nil)
			m := env.Prepare(kemitest.ParseMsg(t, c.msg))
			m.RURIUsed = true // as in a failure route
			call(t, env, m, "loose_route")
			if m.RURIUsed == c.new {
				t.Errorf("RURIUsed = %v after loose_route ($du %q, R-URI %s), want %v", m.RURIUsed, m.DstURI, m.RURI(), !c.new)
			}
		})
	}
}
