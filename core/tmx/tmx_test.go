package tmx_test

import (
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/tm"
	_ "github.com/kemisip/kemi/core/tmx"
)

const invite = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtmx1\r\n" +
	"From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\n" +
	"Call-ID: tmx-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

func load(t *testing.T) *kemitest.Env { return kemitest.Load(t, nil, "tm", "tmx") }

func TestExports(t *testing.T) {
	// t_suspend/t_continue need an async resume source (async, rtimer,
	// http modules) and t_uac_ack_local local INVITE dialogs: left out
	load(t).CheckExports(t, "tmx", "t_suspend", "t_continue", "t_uac_ack_local")
}

func TestRouteType(t *testing.T) {
	env := load(t)
	fns := []string{"t_is_request_route", "t_is_failure_route", "t_is_branch_route", "t_is_reply_route"}
	tests := []struct {
		route kemi.RouteType
		want  string // the one function that answers 1
	}{
		{kemi.RouteRequest, "t_is_request_route"},
		{kemi.RouteFailure, "t_is_failure_route"},
		{kemi.RouteBranch, "t_is_branch_route"},
		{kemi.RouteTMReply, "t_is_reply_route"},
		{kemi.RouteReply, "t_is_reply_route"},
		{kemi.RouteBranchFailure, ""},
		{kemi.RouteOnsend, ""},
	}
	for _, tt := range tests {
		for _, fn := range fns {
			m := kemitest.ParseMsg(t, invite)
			m.Route = tt.route
			want := kemi.Fail
			if fn == tt.want {
				want = kemi.OK
			}
			if got := env.Call(t, "KSR.tmx."+fn, m); got != want {
				t.Errorf("%s in route %v = %v, want %v", fn, tt.route, got, want)
			}
		}
	}
}

// Without a transaction every helper fails instead of acting on nothing.
func TestWithoutTransaction(t *testing.T) {
	env := load(t)
	tests := []struct {
		fn   string
		args []any
	}{
		{"t_flush_flags", nil},
		{"t_flush_xflags", nil},
		{"t_cancel_branches", []any{"all"}},
		{"t_drop", nil},
		{"t_drop_rcode", []any{500}},
		{"t_reuse_branch", nil},
		{"t_reply_callid", []any{"no-such-call", "1", 404, "Not Here"}},
		{"t_cancel_callid", []any{"no-such-call", "1", 0}},
		{"t_cancel_callid_reason", []any{"no-such-call", "1", 0, 487}},
	}
	for _, tt := range tests {
		if got := env.Call(t, "KSR.tmx."+tt.fn, kemitest.ParseMsg(t, invite), tt.args...); got != kemi.Fail {
			t.Errorf("%s without a transaction = %v, want -1", tt.fn, got)
		}
	}
}

// t_precheck_trans marks a request as being routed: the same request in
// another worker meanwhile is a retransmission; ACKs are never tracked.
func TestPrecheckTrans(t *testing.T) {
	env := load(t)
	first, again := kemitest.ParseMsg(t, invite), kemitest.ParseMsg(t, invite)
	if got := env.Call(t, "KSR.tmx.t_precheck_trans", first); got != kemi.Fail {
		t.Fatalf("first t_precheck_trans = %v, want -1", got)
	}
	if got := env.Call(t, "KSR.tmx.t_precheck_trans", again); got != kemi.OK {
		t.Fatalf("t_precheck_trans of a retransmission in flight = %v, want 1", got)
	}
	ack := kemitest.ParseMsg(t, "ACK sip:bob@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtmx1\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\n"+
		"Call-ID: tmx-1\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	for i := 0; i < 2; i++ {
		if got := env.Call(t, "KSR.tmx.t_precheck_trans", ack); got != kemi.Fail {
			t.Fatalf("t_precheck_trans of an ACK = %v, want -1", got)
		}
	}
}
