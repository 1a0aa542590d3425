package rr_test

import (
	"net/netip"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestBothForms runs record-routing and loose routing on both forms of a
// message: same answers and logs, same reads after, the same headers
// written, and the lazy form still lazy unless a strict router makes the
// R-URI and the Route set change places.
func TestBothForms(t *testing.T) {
	const (
		ours     = "<sip:127.0.0.1;lr;ftag=a1>"
		next     = "<sip:192.0.2.50;lr>"
		oursR2   = "<sip:127.0.0.1;r2=on;lr;ftag=a1>"
		oursR2T  = "<sip:127.0.0.1;transport=tcp;r2=on;lr;ftag=a1>"
		strictRR = "<sip:192.0.2.60>"
	)
	tests := []struct {
		name   string
		params map[string]any
		msg    string
		steps  []step
		// sipgoForm: the steps need sipgo's form (strict routing)
		sipgoForm bool
	}{
		{"record_route", nil, invite, []step{
			{"record_route", nil, 1},
			{"add_rr_param", []any{";nat=yes"}, 1},
			{"record_route", nil, -1},
		}, false},
		{"params before", nil, invite, []step{
			{"add_rr_param", []any{";p=1"}, 1},
			{"record_route_params", []any{";q=2"}, 1},
		}, false},
		{"preset", nil, invite, []step{
			{"record_route_preset", []any{"10.0.0.1:5090;transport=tcp", ""}, 1},
		}, false},
		{"preset twice", map[string]any{"enable_double_rr": 1}, invite, []step{
			{"record_route_preset", []any{"10.0.0.1:5090", "10.0.0.2:5090"}, 1},
		}, false},
		{"advertised", nil, invite, []step{
			{"record_route_advertised_address", []any{"203.0.113.9:5090"}, 1},
		}, false},
		{"removed", nil, invite, []step{
			{"record_route", nil, 1},
			{"remove_record_route", nil, 1},
			{"add_rr_param", []any{";late=1"}, 1},
		}, false},
		{"bad input", nil, invite, []step{
			{"record_route_preset", []any{"sip:10.0.0.1", ""}, -1},
			{"record_route_params", []any{"nat=yes"}, -1},
			{"add_rr_param", []any{";a b"}, -1},
			{"record_route_advertised_address", []any{"bad host\r\nX: 1"}, -1},
		}, false},
		{"loose", nil, inDialog("BYE", "sip:y@192.0.2.30", "a1", ours, next), []step{
			{"check_route_param", []any{"ftag=a1"}, 1},
			{"loose_route", nil, 1},
			{"check_route_param", []any{"ftag=a1"}, 1},
			{"is_direction", []any{"downstream"}, 1},
		}, false},
		{"loose, one Route header", nil, inDialog("BYE", "sip:y@192.0.2.30", "b1", ours+", "+next), []step{
			{"loose_route", nil, 1},
			{"is_direction", []any{"upstream"}, 1},
		}, false},
		{"loose, ours only", nil, inDialog("BYE", "sip:y@192.0.2.30", "a1", ours), []step{
			{"loose_route", nil, 1},
		}, false},
		{"preloaded", nil, initial("<sip:127.0.0.1;lr>"), []step{
			{"loose_route", nil, -3},
		}, false},
		{"double", map[string]any{"enable_double_rr": 1}, inDialog("ACK", "sip:y@192.0.2.30", "a1", oursR2, oursR2T+", "+next), []step{
			{"loose_route", nil, 1},
		}, false},
		{"not ours", nil, inDialog("BYE", "sip:y@192.0.2.30", "a1", next), []step{
			{"loose_route", nil, 1},
		}, false},
		{"no Route", nil, inDialog("BYE", "sip:y@192.0.2.30", "a1"), []step{
			{"loose_route", nil, -1},
		}, false},
		{"strict next hop", nil, inDialog("BYE", "sip:y@192.0.2.30", "a1", ours, strictRR, next), []step{
			{"loose_route", nil, 1},
		}, true},
		{"after a strict router", nil, inDialog("BYE", "sip:127.0.0.1;lr;ftag=a1", "a1", next, "<sip:y@192.0.2.30>"), []step{
			{"loose_route", nil, 1},
		}, true},
	}
	reads := []string{"$du", "$ru", "$route_uri", "$hdr(Route)", "$hdrc(Route)", "$hdr(Record-Route)", "$hdrc(Record-Route)", "$fti", "$tti", "$rdir(name)"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := load(t, tc.params)
			lazy, eager := env.BothForms(t, tc.msg)
			for _, s := range tc.steps {
				if got := env.CallBoth(t, "KSR.rr."+s.fn, lazy, eager, s.args...); got.Int != s.want {
					t.Errorf("%s%q = %v, want %d", s.fn, s.args, got, s.want)
				}
			}
			for _, pv := range reads {
				env.CallBoth(t, "KSR.pv.get", lazy, eager, pv)
			}
			kemitest.SameWire(t, lazy, eager, !tc.sipgoForm)
		})
	}
}

// TestBeforeSendLazy sends a record-routed request over another socket
// than it came in on: BeforeSendLazy writes into the lazy form the double
// Record-Route BeforeSend writes into sipgo's, for that send only.
func TestBeforeSendLazy(t *testing.T) {
	tcp := &kemi.Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
	udp2 := &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("127.0.0.2:5070")}
	tests := []struct {
		name   string
		params map[string]any
		steps  []step
		sock   *kemi.Socket
		double bool
	}{
		{"over tcp", nil, []step{{"record_route", nil, 1}}, tcp, true},
		{"another address", nil, []step{{"record_route", nil, 1}, {"add_rr_param", []any{";x=1"}, 1}}, udp2, true},
		{"same socket", nil, []step{{"record_route", nil, 1}}, nil, false},
		{"always", map[string]any{"enable_double_rr": 2}, []step{{"record_route", nil, 1}}, nil, true},
		{"off", map[string]any{"enable_double_rr": 0}, []step{{"record_route", nil, 1}}, tcp, false},
		{"advertised", nil, []step{{"record_route_advertised_address", []any{"203.0.113.9:5090"}, 1}}, tcp, true},
		{"preset", nil, []step{{"record_route_preset", []any{"10.0.0.1", ""}, 1}}, tcp, false},
		{"removed", nil, []step{{"record_route", nil, 1}, {"remove_record_route", nil, 1}}, tcp, false},
		{"not ours on top", nil, []step{{"record_route", nil, 1}}, tcp, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := load(t, tc.params)
			lazy, eager := env.BothForms(t, invite)
			if tc.name == "not ours on top" {
				// record_route puts ours below the headers inserted before
				env.CallBoth(t, "KSR.hdr.insert", lazy, eager, "Record-Route: <sip:192.0.2.99;lr>\r\n")
			}
			for _, s := range tc.steps {
				env.CallBoth(t, "KSR.rr."+s.fn, lazy, eager, s.args...)
			}
			sock := tc.sock
			if sock == nil {
				sock = lazy.Rcv
			}
			dst := func() *kemi.Dest {
				return &kemi.Dest{Proto: sock.Proto, Addr: netip.MustParseAddrPort("192.0.2.20:5060"), Sock: sock}
			}
			hook := env.Mods["rr"].(interface {
				kemi.SendHook
				kemi.LazySendHook
			})
			before := string(kemitest.Written(lazy))
			mk := lazy.Lazy().Mark()
			if !hook.BeforeSendLazy(lazy, dst()) {
				t.Fatal("BeforeSendLazy could not")
			}
			hook.BeforeSend(eager, eager.Request(), dst())
			kemitest.SameWire(t, lazy, eager, true)
			if n := len(kemitest.WireLines(t, lazy)) - len(kemitest.WireLines(t, kemitest.ParseMsg(t, before))); tc.double != (n > 0) {
				t.Errorf("%d headers added for the send, want a double Record-Route: %v", n, tc.double)
			}
			lazy.Lazy().Rollback(mk)
			if after := string(kemitest.Written(lazy)); after != before {
				t.Errorf("the send's changes stayed:\n%s", after)
			}
		})
	}
}
