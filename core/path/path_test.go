package path_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/path"
	_ "github.com/kemisip/kemi/core/rr"
)

// register is a REGISTER from 192.0.2.10:5062 over UDP (kemitest.Parse).
const register = "REGISTER sip:registrar.example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-r1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:alice@example.com>\n" +
	"Call-ID: path-1@192.0.2.10\n" +
	"CSeq: 1 REGISTER\n" +
	"Contact: <sip:alice@192.0.2.10:5062>\n"

// sentPaths sends m's request to dst through the fake host (which runs
// path's BeforeSend) and returns the Path header lines that left.
func sentPaths(t *testing.T, env *kemitest.Env, m *kemi.Msg, proto string) []string {
	t.Helper()
	env.Host.Reset()
	dst := kemi.Dest{Proto: proto, Addr: netip.MustParseAddrPort("192.0.2.99:5060")}
	if err := env.Host.SendRequest(m, m.Request(), dst); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(env.Host.Last().Msg, "\r\n") {
		if strings.HasPrefix(l, "Path:") {
			out = append(out, l)
		}
	}
	return out
}

func TestExportsMatchKamailio(t *testing.T) {
	env := kemitest.Load(t, nil, "rr", "path")
	env.CheckExports(t, "path")
}

// TestAddPath covers every export: the Path header that leaves, built
// from the outgoing socket (127.0.0.1:5060 udp, 127.0.0.1:5060 tcp in
// kemitest) or the advertised address, with the user, the source address
// in received and the extra parameters.
func TestAddPath(t *testing.T) {
	const rcvUDP = ";received=sip:192.0.2.10:5062"
	cases := []struct {
		fn     string
		args   []any
		params map[string]any
		proto  string
		want   []string // Path lines; nil with ret -1
		ret    int64
	}{
		{fn: "add_path", want: []string{"Path: <sip:127.0.0.1:5060;lr>"}},
		{fn: "add_path", proto: "tcp", want: []string{"Path: <sip:127.0.0.1:5060;transport=tcp;lr>"}},
		{fn: "add_path_user", args: []any{"edge"}, want: []string{"Path: <sip:edge@127.0.0.1:5060;lr>"}},
		{fn: "add_path_user_params", args: []any{"edge", "ob;x=1"}, want: []string{"Path: <sip:edge@127.0.0.1:5060;lr;ob;x=1>"}},
		{fn: "add_path_received", want: []string{"Path: <sip:127.0.0.1:5060;lr" + rcvUDP + ">"}},
		{fn: "add_path_received_user", args: []any{"in"}, want: []string{"Path: <sip:in@127.0.0.1:5060;lr" + rcvUDP + ">"}},
		{fn: "add_path_received_user_params", args: []any{"in", "ob"}, want: []string{"Path: <sip:in@127.0.0.1:5060;lr" + rcvUDP + ";ob>"}},
		{fn: "add_path_advertised_address", args: []any{"edge.example.com"}, want: []string{"Path: <sip:edge.example.com;transport=udp;lr>"}},
		{fn: "add_path_advertised_address_user", args: []any{"edge.example.com:5080", "lb"}, want: []string{"Path: <sip:lb@edge.example.com:5080;transport=udp;lr>"}},
		{fn: "add_path_advertised_address_user_params", args: []any{"198.51.100.1", "lb", "x=y"}, want: []string{"Path: <sip:lb@198.51.100.1;transport=udp;lr;x=y>"}},
		{fn: "add_path_received_advertised_address", args: []any{"edge.example.com"}, want: []string{"Path: <sip:edge.example.com;transport=udp;lr" + rcvUDP + ">"}},
		{fn: "add_path_received_advertised_address_user", args: []any{"edge.example.com", "lb"}, want: []string{"Path: <sip:lb@edge.example.com;transport=udp;lr" + rcvUDP + ">"}},
		{fn: "add_path_received_advertised_address_user_params", args: []any{"edge.example.com", "lb", "ob"}, want: []string{"Path: <sip:lb@edge.example.com;transport=udp;lr" + rcvUDP + ";ob>"}},
		{fn: "add_path_advertised_address", args: []any{"bad address"}, ret: -1},
		{fn: "add_path_advertised_address", args: []any{""}, ret: -1},
		{fn: "add_path_user", args: []any{"a>b"}, ret: -1},
		// parameters
		{fn: "add_path_received", params: map[string]any{"received_format": 1}, want: []string{"Path: <sip:127.0.0.1:5060;lr;received=192.0.2.10~5062~1>"}},
		{fn: "add_path_received", params: map[string]any{"received_name": "rcv"}, want: []string{"Path: <sip:127.0.0.1:5060;lr;rcv=sip:192.0.2.10:5062>"}},
		{fn: "add_path", params: map[string]any{"enable_r2": 1}, proto: "tcp",
			want: []string{"Path: <sip:127.0.0.1:5060;transport=tcp;lr;r2=on>", "Path: <sip:127.0.0.1;lr;r2=on>"}},
	}
	for _, c := range cases {
		name := c.fn + "(" + strings.Trim(strings.ReplaceAll(strings.Trim(strings.Join(strArgs(c.args), ","), "[]"), " ", "_"), ",") + ")"
		t.Run(name, func(t *testing.T) {
			env := kemitest.Load(t, map[string]map[string]any{"path": c.params}, "rr", "path")
			m := env.Prepare(kemitest.ParseMsg(t, register+"\n"))
			want := c.ret
			if want == 0 {
				want = 1
			}
			if got := env.Call(t, "KSR.path."+c.fn, m, c.args...); got.Int != want {
				t.Fatalf("returned %d, want %d; log:\n%s", got.Int, want, env.Logs())
			}
			if m.HasHeader("Path") {
				t.Errorf("the Path header is in the script's request before it is sent")
			}
			proto := c.proto
			if proto == "" {
				proto = "udp"
			}
			got := sentPaths(t, env, m, proto)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func strArgs(args []any) []string {
	var out []string
	for _, a := range args {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestAddPathPlacement checks that our Path goes above the Path headers
// the REGISTER came with (RFC 3327 §5.3: each proxy adds its own on top),
// after them in order of calls, and that a second send does not add it
// twice.
func TestAddPathPlacement(t *testing.T) {
	env := kemitest.Load(t, nil, "rr", "path")
	m := env.Prepare(kemitest.ParseMsg(t, register+"Path: <sip:inner.example.com;lr>\nX-After: 1\n\n"))
	env.Call(t, "KSR.path.add_path_user", m, "first")
	env.Call(t, "KSR.path.add_path_user", m, "second")
	want := []string{"Path: <sip:first@127.0.0.1:5060;lr>", "Path: <sip:second@127.0.0.1:5060;lr>", "Path: <sip:inner.example.com;lr>"}
	for i := 0; i < 2; i++ {
		if got := sentPaths(t, env, m, "udp"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("send %d:\n%s\nwant\n%s", i+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// no Path there: ours is appended after the last header
	m = env.Prepare(kemitest.ParseMsg(t, register+"\n"))
	env.Call(t, "KSR.path.add_path", m)
	sentPaths(t, env, m, "udp")
	lines := strings.Split(strings.TrimSpace(env.Host.Last().Msg), "\r\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "Path:") {
		t.Errorf("last header %q, want our Path", last)
	}
}

// TestUseReceived checks the rr callback: loose_route consuming our Route
// with a received parameter sets $du to it (escaped URI or ip~port~proto),
// only with use_received.
func TestUseReceived(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		route  string
		want   string
	}{
		{"received URI", map[string]any{"use_received": 1}, "<sip:127.0.0.1:5060;lr;received=sip:192.0.2.50:5070%3Btransport%3Dtcp>", "sip:192.0.2.50:5070;transport=tcp"},
		{"received udp", map[string]any{"use_received": 1}, "<sip:127.0.0.1;lr;received=sip:192.0.2.50:5070>", "sip:192.0.2.50:5070"},
		{"format 1", map[string]any{"use_received": 1, "received_format": 1}, "<sip:127.0.0.1;lr;received=192.0.2.50~5070~2>", "sip:192.0.2.50:5070;transport=tcp"},
		{"received_name", map[string]any{"use_received": 1, "received_name": "rcv"}, "<sip:127.0.0.1;lr;rcv=sip:192.0.2.50:5070>", "sip:192.0.2.50:5070"},
		{"off", nil, "<sip:127.0.0.1;lr;received=sip:192.0.2.50:5070>", ""},
		{"no received", map[string]any{"use_received": 1}, "<sip:127.0.0.1;lr;ftag=x>", ""},
		{"not our Route", map[string]any{"use_received": 1}, "<sip:192.0.2.77;lr;received=sip:192.0.2.50:5070>", "sip:192.0.2.77;lr;received=sip:192.0.2.50:5070"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := kemitest.Load(t, map[string]map[string]any{"path": c.params}, "rr", "path")
			m := env.Prepare(kemitest.ParseMsg(t, "INVITE sip:alice@192.0.2.10:5062 SIP/2.0\n"+
				"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-i1\n"+
				"Route: "+c.route+"\n"+
				"From: <sip:bob@example.com>;tag=b1\nTo: <sip:alice@example.com>\n"+
				"Call-ID: path-2\nCSeq: 1 INVITE\n\n"))
			m.RURIUsed = true
			env.Call(t, "KSR.rr.loose_route", m)
			if m.DstURI != c.want {
				t.Errorf("$du %q, want %q; log:\n%s", m.DstURI, c.want, env.Logs())
			}
			if c.want != "" && c.name != "not our Route" && m.RURIUsed {
				t.Errorf("the R-URI is not new again after $du changed")
			}
		})
	}
}

// TestParams checks the parameters Kamailio's path refuses.
func TestParams(t *testing.T) {
	for _, p := range []map[string]any{{"received_format": 2}, {"received_name": "a b"}, {"nope": 1}} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"path": p}, "rr", "path"); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"path": {"use_received": 1}}, "path"); err == nil || !strings.Contains(err.Error(), "rr") {
		t.Errorf("use_received without rr: %v", err)
	}
}
