package rtpengine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/rtpengine"
)

const offerSDP = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"

const invite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-top\n" +
	"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-second\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: call-1@example.com\n" +
	"CSeq: 1 INVITE\n" +
	"Contact: <sip:alice@192.0.2.10:5062>\n" +
	"Content-Type: application/sdp\n\n" + offerSDP

const inviteNoSDP = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-late\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: call-late@example.com\n" +
	"CSeq: 7 INVITE\n\n"

const ok200 = "SIP/2.0 200 OK\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ours\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-top\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>;tag=tt2\n" +
	"Call-ID: call-1@example.com\n" +
	"CSeq: 1 INVITE\n" +
	"Content-Type: application/sdp\n\n" + offerSDP

const ackSDP = "ACK sip:bob@192.0.2.30 SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-ack\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>;tag=tt2\n" +
	"Call-ID: call-1@example.com\n" +
	"CSeq: 1 ACK\n" +
	"Content-Type: application/sdp\n\n" + offerSDP

const bye = "BYE sip:bob@192.0.2.30 SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-bye\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>;tag=tt2\n" +
	"Call-ID: call-1@example.com\n" +
	"CSeq: 2 BYE\n\n"

const busy486 = "SIP/2.0 486 Busy Here\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-ours\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-top\n" +
	"From: <sip:alice@example.com>;tag=ft1\n" +
	"To: <sip:bob@example.com>;tag=tt2\n" +
	"Call-ID: call-1@example.com\n" +
	"CSeq: 1 INVITE\n\n"

// load loads core and rtpengine with rtpengine_sock socks and the other
// parameters (short timeouts unless given).
func load(t *testing.T, socks any, params map[string]any) *kemitest.Env {
	t.Helper()
	p := map[string]any{"rtpengine_tout_ms": 100, "rtpengine_retr": 2}
	if socks != nil {
		p["rtpengine_sock"] = socks
	}
	for k, v := range params {
		p[k] = v
	}
	env := kemitest.Load(t, map[string]map[string]any{"rtpengine": p}, "core", "rtpengine")
	t.Cleanup(env.Destroy)
	return env
}

// norm turns what the peer decoded and what a test expects into the same
// shape: lists of strings as []any.
func norm(v any) any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	case int:
		return int64(x)
	}
	return v
}

func TestExportsMatchKamailio(t *testing.T) {
	env := load(t, "udp:127.0.0.1:2223", nil)
	env.CheckExports(t, "rtpengine")
}

// TestCommandDictionaries checks the exact ng dictionary each function
// sends for Kamailio's flag strings.
func TestCommandDictionaries(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), nil)
	rcvd := []string{"IP4", "192.0.2.10"}
	base := func(cmd string, extra map[string]any) map[string]any {
		d := map[string]any{"supports": []string{"load limit"}, "call-id": "call-1@example.com",
			"command": cmd, "received-from": rcvd}
		for k, v := range extra {
			if v == nil {
				delete(d, k)
				continue
			}
			d[k] = v
		}
		return d
	}
	tests := []struct {
		name string
		msg  string
		fn   string
		args []any
		want map[string]any
	}{
		{"webrtc offer", invite, "rtpengine_offer",
			[]any{"replace-origin replace-session-connection ICE=force DTLS=passive RTP/SAVPF"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"replace": []string{"origin", "session-connection"}, "ICE": "force", "DTLS": "passive",
				"transport-protocol": "RTP/SAVPF", "received-from": rcvd})},
		{"offer0", invite, "rtpengine_offer0", nil,
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1"})},
		{"plain offer with many flags", invite, "rtpengine_offer",
			[]any{"ICE=remove RTP/AVP trust-address SDES-off codec-strip-PCMA codec-offer=opus codec-transcode-G722 internal direction=external label=caller address-family=IP6 rtcp-mux-demux T.38-decode repacketize=20 TOS=184 delete-delay=5 received-from=198.51.100.7"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"ICE": "remove", "transport-protocol": "RTP/AVP", "flags": []string{"trust-address"},
				"SDES": []string{"off"}, "codec": map[string]any{"strip": []string{"PCMA"}, "offer": []string{"opus"}, "transcode": []string{"G722"}},
				"direction": []string{"internal", "external"}, "label": "caller", "address-family": "IP6",
				"rtcp-mux": []string{"demux"}, "T.38": []string{"decode"}, "repacketize": 20, "TOS": 184,
				"delete delay": 5, "delete-delay": "5"})},
		{"transport words", invite, "rtpengine_offer", []any{"RTP AVP SRTP AVPF"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"transport-protocol": "RTP/SAVPF", "received-from": rcvd})},
		{"DTLS word", invite, "rtpengine_offer", []any{"UDP/TLS/RTP/SAVPF"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"transport-protocol": "UDP/TLS/RTP/SAVPF", "received-from": rcvd})},
		{"overrides", invite, "rtpengine_offer", []any{"call-id=other from-tag=ftX to-tag=ttX"},
			base("offer", map[string]any{"sdp": offerSDP, "call-id": "other",
				"from-tag": "ftX", "to-tag": "ttX", "received-from": rcvd})},
		{"via-branch flag", invite, "rtpengine_offer", []any{"via-branch=2"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"via-branch": "z9hG4bK-second", "received-from": rcvd})},
		{"offer2 via argument", invite, "rtpengine_offer2", []any{"", "1"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"via-branch": "z9hG4bK-top", "received-from": rcvd})},
		{"force-answer", ok200, "rtpengine_offer", []any{"force-answer"},
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "ft1", "to-tag": "tt2",
				"received-from": rcvd})},
		{"answer in 200", ok200, "rtpengine_answer", []any{"replace-origin"},
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "ft1", "to-tag": "tt2",
				"replace": []string{"origin"}, "received-from": rcvd})},
		{"answer2 auto is the second Via of a reply", ok200, "rtpengine_answer2", []any{"", "auto"},
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "ft1", "to-tag": "tt2",
				"via-branch": "z9hG4bK-top", "received-from": rcvd})},
		{"answer in ACK swaps the tags", ackSDP, "rtpengine_answer0", nil,
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "tt2", "to-tag": "ft1"})},
		{"delete has no to-tag", bye, "rtpengine_delete0", nil,
			base("delete", map[string]any{"from-tag": "ft1"})},
		{"delete to-tag", bye, "rtpengine_delete", []any{"to-tag"},
			base("delete", map[string]any{"from-tag": "ft1", "to-tag": "tt2", "received-from": rcvd})},
		{"query", bye, "rtpengine_query0", nil,
			base("query", map[string]any{"from-tag": "ft1", "to-tag": "tt2"})},
		{"start recording", bye, "start_recording", nil,
			base("start recording", map[string]any{"from-tag": "ft1", "to-tag": "tt2"})},
		{"stop recording", bye, "stop_recording", nil,
			base("stop recording", map[string]any{"from-tag": "ft1", "to-tag": "tt2"})},
		{"block media of the whole call", bye, "block_media0", nil,
			base("block media", nil)},
		{"block media directional", bye, "block_media", []any{"directional"},
			base("block media", map[string]any{"from-tag": "ft1"})},
		{"unblock dtmf from a tag", bye, "unblock_dtmf", []any{"from-tag=ftZ"},
			base("unblock DTMF", map[string]any{"from-tag": "ftZ"})},
		{"silence media", bye, "silence_media0", nil, base("silence media", nil)},
		{"unsilence media", bye, "unsilence_media0", nil, base("unsilence media", nil)},
		{"start forwarding", bye, "start_forwarding0", nil, base("start forwarding", nil)},
		{"stop forwarding", bye, "stop_forwarding0", nil, base("stop forwarding", nil)},
		{"play media", bye, "play_media", []any{"file=/tmp/a.wav repeat-times=2"},
			base("play media", map[string]any{"from-tag": "ft1", "to-tag": "tt2",
				"file": "/tmp/a.wav", "repeat-times": "2", "received-from": rcvd})},
		{"stop media", bye, "stop_media0", nil,
			base("stop media", map[string]any{"from-tag": "ft1", "to-tag": "tt2"})},
		{"play dtmf", bye, "play_dtmf", []any{"code=5 duration=100"},
			base("play DTMF", map[string]any{"from-tag": "ft1", "to-tag": "tt2",
				"code": "5", "duration": "100", "received-from": rcvd})},
		{"connect", bye, "rtpengine_connect", []any{"to-call-id=other-call to-tag=tt2"},
			base("connect", map[string]any{"from-tag": "ft1", "to-tag": "tt2",
				"to-call-id": "other-call", "received-from": rcvd})},
		{"unsubscribe", bye, "rtpengine_unsubscribe", []any{"to-tag=sub1"},
			base("unsubscribe", map[string]any{"to-tag": "sub1", "received-from": rcvd})},
		{"manage on INVITE offers", invite, "rtpengine_manage", []any{"replace-origin"},
			base("offer", map[string]any{"sdp": offerSDP, "from-tag": "ft1",
				"replace": []string{"origin"}, "received-from": rcvd})},
		{"manage on 200 answers", ok200, "rtpengine_manage0", nil,
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "ft1", "to-tag": "tt2"})},
		{"manage on ACK with SDP answers", ackSDP, "rtpengine_manage0", nil,
			base("answer", map[string]any{"sdp": offerSDP, "from-tag": "tt2", "to-tag": "ft1"})},
		{"manage on BYE deletes", bye, "rtpengine_manage0", nil,
			base("delete", map[string]any{"from-tag": "ft1"})},
		{"manage on 486 deletes", busy486, "rtpengine_manage0", nil,
			base("delete", map[string]any{"from-tag": "ft1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.reset()
			m := kemitest.ParseMsg(t, tt.msg)
			if got := env.Call(t, "KSR.rtpengine."+tt.fn, m, tt.args...); got.AsInt() != 1 {
				t.Fatalf("%s returned %v\n%s", tt.fn, got, env.Logs())
			}
			if got, want := norm(p.last()), norm(tt.want); !reflect.DeepEqual(got, want) {
				t.Errorf("sent\n%v\nwant\n%v", describe(got), describe(want))
			}
			if v := tt.want["sdp"]; v != nil && string(m.Body()) != rewrittenSDP {
				t.Errorf("body after %s:\n%s\nwant rtpengine's SDP", tt.fn, m.Body())
			}
		})
	}
}

// describe prints a dictionary with sorted keys, one per line.
func describe(v any) string {
	d, _ := v.(map[string]any)
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %#v\n", k, d[k])
	}
	return b.String()
}

func TestFlagErrors(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), nil)
	for _, tt := range []struct{ msg, fn, flags string }{
		{bye, "rtpengine_delete", "call-id"},
		{bye, "rtpengine_delete", "from-tag"},
		{invite, "rtpengine_offer", "via-branch=7"},
		{invite, "rtpengine_offer", "via-branch=next"},
		{invite, "rtpengine_offer", "repacketize=x"},
		{ok200, "rtpengine_answer", "force-answer"},
		{bye, "rtpengine_offer", ""}, // no SDP
		{invite, "rtpengine_answer", ""},
	} {
		env.ResetLogs()
		if got := env.Call(t, "KSR.rtpengine."+tt.fn, kemitest.ParseMsg(t, tt.msg), tt.flags); got.AsInt() != -1 {
			t.Errorf("%s(%q) = %v, want -1", tt.fn, tt.flags, got)
		}
		if !strings.Contains(env.Logs(), "level=ERROR") {
			t.Errorf("%s(%q) logged no error:\n%s", tt.fn, tt.flags, env.Logs())
		}
	}
	if n := len(p.commands()); n != 0 {
		t.Errorf("%d commands sent for refused flags", n)
	}
}

// TestManageLateOffer: a 200 with SDP to an INVITE that had none is the
// offer; the ACK with SDP then answers.
func TestManageLateOffer(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), nil)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_manage0", kemitest.ParseMsg(t, inviteNoSDP)); got.AsInt() != -1 {
		t.Errorf("manage on an INVITE without SDP = %v, want -1", got)
	}
	reply := strings.NewReplacer("call-1@", "call-late@", "CSeq: 1 INVITE", "CSeq: 7 INVITE").Replace(ok200)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_manage0", kemitest.ParseMsg(t, reply)); got.AsInt() != 1 {
		t.Fatalf("manage on the 200 = %v\n%s", got, env.Logs())
	}
	if cmd := p.last()["command"]; cmd != "offer" {
		t.Errorf("200 to a late-offer INVITE sent %v, want offer", cmd)
	}
	ack := strings.NewReplacer("call-1@", "call-late@", "CSeq: 1 ACK", "CSeq: 7 ACK").Replace(ackSDP)
	env.Call(t, "KSR.rtpengine.rtpengine_manage0", kemitest.ParseMsg(t, ack))
	if cmd := p.last()["command"]; cmd != "answer" {
		t.Errorf("ACK with SDP sent %v, want answer", cmd)
	}
}

// TestCookieMatching: replies carrying another cookie (stale or foreign)
// are ignored; the one with the request's cookie is taken.
func TestCookieMatching(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), map[string]any{"rtpengine_tout_ms": 500})
	p.setHandler(func(cookie string, d map[string]any) []string {
		wrong := mustEncode(map[string]any{"result": "ok", "sdp": "v=0\r\ns=stale\r\n"})
		return []string{
			"stale_1 " + wrong,
			cookie + "x " + wrong,
			"nospace",
			cookie + " " + mustEncode(map[string]any{"result": "ok", "sdp": rewrittenSDP}),
			cookie + " " + wrong, // a duplicate after the answer: dropped
		}
	})
	for i := 0; i < 3; i++ {
		m := kemitest.ParseMsg(t, invite)
		if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
			t.Fatalf("offer = %v\n%s", got, env.Logs())
		}
		if string(m.Body()) != rewrittenSDP {
			t.Fatalf("body from a reply with the wrong cookie:\n%s", m.Body())
		}
	}
	cookies := map[string]bool{}
	for _, raw := range p.rawPackets() {
		c, _, _ := strings.Cut(raw, " ")
		if cookies[c] {
			t.Errorf("cookie %q used twice", c)
		}
		cookies[c] = true
	}
}

// silentPeer reads and counts packets and never answers.
func silentPeer(t *testing.T) (*ngPeer, func() int) {
	p := startPeer(t)
	p.setHandler(func(string, map[string]any) []string { return nil })
	return p, func() int { return len(p.rawPackets()) }
}

// TestTimeoutDisablesNode: a node that does not answer gets rtpengine_retr
// tries of rtpengine_tout_ms, is disabled, and the call goes to the next
// node of the set; while disabled it is not tried again.
func TestTimeoutDisablesNode(t *testing.T) {
	dead, deadCount := silentPeer(t)
	live := startPeer(t)
	env := load(t, dead.addr()+"=1000 "+live.addr()+"=1", map[string]any{"rtpengine_retr": 3, "rtpengine_disable_tout": 60})
	// a Call-ID whose hash picks the dead node first
	callID := ""
	for i := 0; callID == ""; i++ {
		if c := fmt.Sprintf("c%d", i); crc32.ChecksumIEEE([]byte(c))%1001 < 1000 {
			callID = c
		}
	}
	m := kemitest.ParseMsg(t, strings.Replace(invite, "call-1@example.com", callID, 1))
	start := time.Now()
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
		t.Fatalf("offer = %v\n%s", got, env.Logs())
	}
	took := time.Since(start)
	if n := deadCount(); n != 3 {
		t.Errorf("dead node got %d packets, want 3 (rtpengine_retr)", n)
	}
	if raw := dead.rawPackets(); len(raw) == 3 && (raw[0] != raw[1] || raw[1] != raw[2]) {
		t.Errorf("retransmissions differ: %q", raw)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("offer took %v, want about 3 x 100 ms", took)
	}
	if len(live.commands()) != 1 {
		t.Errorf("live node got %d commands, want 1", len(live.commands()))
	}
	page := scrape(env)
	for _, series := range []string{"kemi_rtpengine_timeouts_total 1", "kemi_rtpengine_nodes_disabled_total 1",
		"kemi_rtpengine_nodes_enabled 1", `kemi_rtpengine_requests_total{command="offer",result="ok"} 1`} {
		if !strings.Contains(page, series+"\n") {
			t.Errorf("metrics lack %q:\n%s", series, page)
		}
	}
	if !strings.Contains(env.Logs(), "rtpengine node disabled") {
		t.Errorf("no log of the disabled node:\n%s", env.Logs())
	}
	// the dead node is left out now, for every call
	for i := 0; i < 5; i++ {
		m := kemitest.ParseMsg(t, strings.Replace(invite, "call-1@example.com", fmt.Sprintf("%s-%d", callID, i), 1))
		if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
			t.Fatalf("offer = %v", got)
		}
	}
	if n := deadCount(); n != 3 {
		t.Errorf("disabled node got %d more packets", n-3)
	}
}

// TestNodeReenabled: after rtpengine_disable_tout the node is tried again.
func TestNodeReenabled(t *testing.T) {
	p := startPeer(t)
	p.setHandler(func(string, map[string]any) []string { return nil })
	env := load(t, p.addr(), map[string]any{"rtpengine_retr": 1, "rtpengine_disable_tout": 1})
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != -1 {
		t.Fatalf("query to a dead node = %v", got)
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != -1 {
		t.Fatalf("query to a disabled node = %v", got)
	}
	if n := len(p.rawPackets()); n != 1 {
		t.Fatalf("disabled node got %d packets, want 1", n)
	}
	if !strings.Contains(env.Logs(), "no available rtpengine") {
		t.Errorf("no log of the empty set:\n%s", env.Logs())
	}
	p.setHandler(okHandler)
	time.Sleep(1100 * time.Millisecond)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != 1 {
		t.Fatalf("query after rtpengine_disable_tout = %v\n%s", got, env.Logs())
	}
}

// TestBadReplies: an error reply, garbage, a reply without result or a
// silent node give -1 and an error log, within rtpengine_tout_ms x
// rtpengine_retr.
func TestBadReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply func(cookie string) []string
		log   string
	}{
		{"error", func(c string) []string {
			return []string{c + " " + mustEncode(map[string]any{"result": "error", "error-reason": "Unknown call-id"})}
		}, "Unknown call-id"},
		{"error without reason", func(c string) []string {
			return []string{c + " " + mustEncode(map[string]any{"result": "error"})}
		}, "error without a reason"},
		{"garbage", func(c string) []string { return []string{c + " this is not bencode"} }, "bad reply"},
		{"not a dictionary", func(c string) []string { return []string{c + " l2:oke"} }, "not a dictionary"},
		{"truncated", func(c string) []string { return []string{c + " d6:result2:o"} }, "truncated"},
		{"no result", func(c string) []string { return []string{c + " de"} }, "without a result"},
		{"offer reply without sdp", func(c string) []string {
			return []string{c + " " + mustEncode(map[string]any{"result": "ok"})}
		}, "without an SDP"},
		{"silence", func(string) []string { return nil }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPeer(t)
			p.setHandler(func(c string, _ map[string]any) []string { return tt.reply(c) })
			env := load(t, p.addr(), map[string]any{"rtpengine_retr": 3})
			m := kemitest.ParseMsg(t, invite)
			start := time.Now()
			if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != -1 {
				t.Errorf("offer = %v, want -1", got)
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("took %v, more than 3 x 100 ms", took)
			}
			logs := env.Logs()
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, tt.log) {
				t.Errorf("log lacks an error with %q:\n%s", tt.log, logs)
			}
			if string(m.Body()) != offerSDP {
				t.Errorf("body changed on failure:\n%s", m.Body())
			}
			if !strings.Contains(scrape(env), `kemi_rtpengine_requests_total{command="offer",result="failed"} 1`) {
				t.Errorf("failure not counted:\n%s", scrape(env))
			}
		})
	}
}

// TestLoadLimitTriesNextNode: a node that says it is full passes the
// command to the next node of the set.
func TestLoadLimitTriesNextNode(t *testing.T) {
	full := startPeer(t)
	full.setHandler(func(c string, _ map[string]any) []string {
		return []string{c + " " + mustEncode(map[string]any{"result": "load limit"})}
	})
	ports := startPeer(t)
	ports.setHandler(func(c string, _ map[string]any) []string {
		return []string{c + " " + mustEncode(map[string]any{"result": "error", "error-reason": "Ran out of ports"})}
	})
	live := startPeer(t)
	env := load(t, []any{full.addr() + "=1 " + ports.addr() + "=1", live.addr() + "=1"}, nil)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", kemitest.ParseMsg(t, invite)); got.AsInt() != 1 {
		t.Fatalf("offer = %v\n%s", got, env.Logs())
	}
	if len(full.commands()) != 1 || len(ports.commands()) != 1 || len(live.commands()) != 1 {
		t.Errorf("commands: full %d, out of ports %d, live %d; want 1 each", len(full.commands()), len(ports.commands()), len(live.commands()))
	}
	if strings.Contains(scrape(env), "kemi_rtpengine_nodes_disabled_total 1") {
		t.Error("a full node was disabled")
	}
}

// TestQueriedNodesLimit: no more than queried_nodes_limit nodes are tried.
func TestQueriedNodesLimit(t *testing.T) {
	var socks []string
	var peers []*ngPeer
	for i := 0; i < 3; i++ {
		p, _ := silentPeer(t)
		peers = append(peers, p)
		socks = append(socks, p.addr())
	}
	env := load(t, strings.Join(socks, " "), map[string]any{"queried_nodes_limit": 2, "rtpengine_retr": 1})
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != -1 {
		t.Fatalf("query = %v", got)
	}
	tried := 0
	for _, p := range peers {
		tried += len(p.rawPackets())
	}
	if tried != 2 {
		t.Errorf("%d nodes tried, want 2", tried)
	}
	if !strings.Contains(env.Logs(), "queried nodes limit") {
		t.Errorf("no log of the limit:\n%s", env.Logs())
	}
}

// TestStickyWeightedSelection: a call stays on its node; new calls spread
// by weight.
func TestStickyWeightedSelection(t *testing.T) {
	a, b := startPeer(t), startPeer(t)
	env := load(t, a.addr()+"=3 "+b.addr()+"=1", nil)
	const calls = 400
	for i := 0; i < calls; i++ {
		id := fmt.Sprintf("w%d@example.com", i)
		for _, msg := range []string{invite, ok200, bye} {
			m := kemitest.ParseMsg(t, strings.ReplaceAll(msg, "call-1@example.com", id))
			if got := env.Call(t, "KSR.rtpengine.rtpengine_manage0", m); got.AsInt() != 1 {
				t.Fatalf("manage = %v\n%s", got, env.Logs())
			}
		}
	}
	perCall := map[string]map[*ngPeer]bool{}
	for _, p := range []*ngPeer{a, b} {
		for _, d := range p.commands() {
			id := d["call-id"].(string)
			if perCall[id] == nil {
				perCall[id] = map[*ngPeer]bool{}
			}
			perCall[id][p] = true
		}
	}
	for id, nodes := range perCall {
		if len(nodes) != 1 {
			t.Errorf("call %s went to %d nodes", id, len(nodes))
		}
	}
	na, nb := len(a.commands())/3, len(b.commands())/3
	if na+nb != calls || na < calls*6/10 || na > calls*9/10 {
		t.Errorf("calls: %d to the weight-3 node, %d to the weight-1 node", na, nb)
	}
}

// TestSets: set_rtpengine_set picks a set for the message; set2 sends an
// offer through both sets in order, the answer in reverse.
func TestSets(t *testing.T) {
	one, two := startPeer(t), startPeer(t)
	env := load(t, []any{"1 == " + one.addr(), "2 == " + two.addr()}, map[string]any{"setid_default": 1})
	m := kemitest.ParseMsg(t, bye)
	if got := env.Call(t, "KSR.rtpengine.set_rtpengine_set", m, 2); got.AsInt() != 1 {
		t.Fatal(got)
	}
	env.Call(t, "KSR.rtpengine.rtpengine_query0", m)
	if len(one.commands()) != 0 || len(two.commands()) != 1 {
		t.Errorf("query went to set 1 %d times, set 2 %d times; want set 2 only", len(one.commands()), len(two.commands()))
	}
	if got := env.Call(t, "KSR.rtpengine.set_rtpengine_set", m, 9); got.AsInt() != -1 {
		t.Errorf("unknown set accepted: %v", got)
	}
	// set 1 rewrites to its own SDP, which set 2 must get
	one.setHandler(func(c string, d map[string]any) []string {
		return []string{c + " " + mustEncode(map[string]any{"result": "ok", "sdp": "v=0\r\ns=from-set-1\r\n"})}
	})
	one.reset()
	two.reset()
	m = kemitest.ParseMsg(t, invite)
	env.Call(t, "KSR.rtpengine.set_rtpengine_set2", m, 1, 2)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
		t.Fatalf("offer = %v\n%s", got, env.Logs())
	}
	if one.last()["sdp"] != offerSDP || two.last()["sdp"] != "v=0\r\ns=from-set-1\r\n" {
		t.Errorf("set 1 got %q, set 2 got %q", one.last()["sdp"], two.last()["sdp"])
	}
	if string(m.Body()) != rewrittenSDP {
		t.Errorf("body is not set 2's SDP: %q", m.Body())
	}
	// the answer goes through set 2 first
	one.reset()
	two.reset()
	m = kemitest.ParseMsg(t, ok200)
	env.Call(t, "KSR.rtpengine.set_rtpengine_set2", m, 1, 2)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_answer0", m); got.AsInt() != 1 {
		t.Fatalf("answer = %v\n%s", got, env.Logs())
	}
	if two.last()["sdp"] != offerSDP || one.last()["sdp"] != rewrittenSDP {
		t.Errorf("answer: set 2 got %q, set 1 got %q", two.last()["sdp"], one.last()["sdp"])
	}
}

func TestRtpstatAndQueryV(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), nil)
	m := env.Prepare(kemitest.ParseMsg(t, bye))
	v, err := env.PVs.Get(m, "$rtpstat")
	if err != nil {
		t.Fatal(err)
	}
	if want := "RTP: 1000 bytes, 10 packets, 0 errors; RTCP: 200 bytes, 2 packets, 1 errors"; v.String() != want {
		t.Errorf("$rtpstat = %q, want %q", v.String(), want)
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query_v", m, "j", "$var(q)"); got.AsInt() != 1 {
		t.Fatalf("query_v = %v\n%s", got, env.Logs())
	}
	q, _ := env.PVs.Get(m, "$var(q)")
	if !strings.Contains(q.String(), `"totals":{"RTCP":{"bytes":200`) {
		t.Errorf("$var(q) = %s", q.String())
	}
	p.setHandler(func(c string, _ map[string]any) []string {
		return []string{c + " " + mustEncode(map[string]any{"result": "error", "error-reason": "Unknown call-id"})}
	})
	if v, _ := env.PVs.Get(m, "$rtpstat"); !v.IsNull() {
		t.Errorf("$rtpstat after an error = %v, want null", v)
	}
}

func TestSubscribe(t *testing.T) {
	p := startPeer(t)
	p.setHandler(func(c string, d map[string]any) []string {
		return []string{c + " " + mustEncode(map[string]any{"result": "ok", "sdp": "v=0\r\ns=sub\r\n", "to-tag": "sub-tag"})}
	})
	env := load(t, p.addr(), nil)
	m := env.Prepare(kemitest.ParseMsg(t, bye))
	if got := env.Call(t, "KSR.rtpengine.rtpengine_subscribe_request", m, "all from-tags=ft1", "$var(sdp)", "$var(tt)", ""); got.AsInt() != 1 {
		t.Fatalf("subscribe_request = %v\n%s", got, env.Logs())
	}
	d := p.last()
	if d["command"] != "subscribe request" || !reflect.DeepEqual(d["from-tags"], []any{"ft1"}) || !reflect.DeepEqual(d["flags"], []any{"all"}) || d["to-tag"] != nil {
		t.Errorf("sent %s", describe(d))
	}
	sdp, _ := env.PVs.Get(m, "$var(sdp)")
	tt, _ := env.PVs.Get(m, "$var(tt)")
	if sdp.String() != "v=0\r\ns=sub\r\n" || tt.String() != "sub-tag" {
		t.Errorf("$var(sdp) = %q, $var(tt) = %q", sdp.String(), tt.String())
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_subscribe_request", m, "all", "$var(sdp)", "$var(tt)", "streams"); got.AsInt() != -1 {
		t.Errorf("a stream xavp was accepted: %v", got)
	}
	ans := kemitest.ParseMsg(t, strings.Replace(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=sub-tag", 1))
	if got := env.Call(t, "KSR.rtpengine.rtpengine_subscribe_answer", ans, ""); got.AsInt() != 1 {
		t.Fatalf("subscribe_answer = %v\n%s", got, env.Logs())
	}
	if d := p.last(); d["command"] != "subscribe answer" || d["to-tag"] != "sub-tag" || d["sdp"] != offerSDP {
		t.Errorf("sent %s", describe(d))
	}
}

func TestParams(t *testing.T) {
	for _, tt := range []struct {
		params map[string]any
		ok     bool
	}{
		{map[string]any{}, true}, // loaded by default: functions fail
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223=2 udp:localhost:2224=1"}, true},
		{map[string]any{"rtpengine_sock": "1 == udp:127.0.0.1:2223", "setid_default": 1}, true},
		{map[string]any{"rtpengine_sock": "2223"}, true},
		{map[string]any{"rtpengine_sock": "1 == udp:127.0.0.1:2223"}, false}, // default set 0 missing
		{map[string]any{"rtpengine_sock": "x == udp:127.0.0.1:2223"}, false},
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223=x"}, false},
		{map[string]any{"rtpengine_sock": "ws://127.0.0.1:8080"}, false},
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223", "rtpengine_tout_ms": 0}, false},
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223", "rtpengine_retr": 0}, false},
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223", "queried_nodes_limit": 0}, false},
		{map[string]any{"rtpengine_sock": "udp:127.0.0.1:2223", "no_such_param": 1}, false},
	} {
		env, err := kemitest.LoadErr(map[string]map[string]any{"rtpengine": tt.params}, "core", "rtpengine")
		if (err == nil) != tt.ok {
			t.Errorf("%v: err %v, want ok %v", tt.params, err, tt.ok)
		}
		if env != nil {
			env.Destroy()
		}
	}
	env := load(t, nil, nil)
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", kemitest.ParseMsg(t, invite)); got.AsInt() != -1 {
		t.Errorf("offer without rtpengine_sock = %v", got)
	}
	if !strings.Contains(env.Logs(), "no rtpengine configured") {
		t.Errorf("log: %s", env.Logs())
	}
}

func scrape(env *kemitest.Env) string {
	var b strings.Builder
	env.Metrics.WritePrometheus(&b)
	return b.String()
}

// TestConcurrentCommands: workers share a node's socket; each reply
// reaches the request with its cookie.
func TestConcurrentCommands(t *testing.T) {
	p := startPeer(t)
	p.setHandler(func(c string, d map[string]any) []string {
		// answer with the Call-ID in the SDP, so a mixed-up reply shows
		sdp := "v=0\r\ns=" + d["call-id"].(string) + "\r\n"
		return []string{c + " " + mustEncode(map[string]any{"result": "ok", "sdp": sdp})}
	})
	env := load(t, p.addr(), map[string]any{"rtpengine_tout_ms": 1000})
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				m := kemitest.ParseMsg(t, strings.Replace(invite, "call-1@example.com", id, 1))
				if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
					errs <- fmt.Sprintf("%s: offer = %v", id, got)
					continue
				}
				if want := "v=0\r\ns=" + id + "\r\n"; string(m.Body()) != want {
					errs <- fmt.Sprintf("%s got the SDP %q", id, m.Body())
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestSDPPseudoVariables: read_sdp_pv, write_sdp_pv and rtp_inst_pvar.
func TestSDPPseudoVariables(t *testing.T) {
	p := startPeer(t)
	env := load(t, p.addr(), map[string]any{"read_sdp_pv": "$avp(in)", "write_sdp_pv": "$var(out)", "rtp_inst_pvar": "$avp(inst)"})
	m := env.Prepare(kemitest.ParseMsg(t, invite))
	const in = "v=0\r\ns=from-a-variable\r\n"
	if err := env.PVs.Set(m, "$avp(in)", kemi.Str(in)); err != nil {
		t.Fatal(err)
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer0", m); got.AsInt() != 1 {
		t.Fatalf("offer = %v\n%s", got, env.Logs())
	}
	if p.last()["sdp"] != in {
		t.Errorf("sent the SDP %q, want $avp(in)", p.last()["sdp"])
	}
	if string(m.Body()) != offerSDP {
		t.Errorf("the body changed with write_sdp_pv set:\n%s", m.Body())
	}
	out, _ := env.PVs.Get(m, "$var(out)")
	inst, _ := env.PVs.Get(m, "$avp(inst)")
	if out.String() != rewrittenSDP || inst.String() != p.addr() {
		t.Errorf("$var(out) = %q, $avp(inst) = %q", out.String(), inst.String())
	}
	// $avp(in) unset: the body is read
	_ = env.PVs.Set(m, "$avp(in)", kemi.Null)
	env.Call(t, "KSR.rtpengine.rtpengine_offer0", m)
	if p.last()["sdp"] != offerSDP {
		t.Errorf("with $avp(in) unset sent %q, want the body", p.last()["sdp"])
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"rtpengine": {"rtpengine_sock": p.addr(), "write_sdp_pv": "$rm"}}, "core", "rtpengine"); err == nil {
		t.Error("a read-only write_sdp_pv was accepted")
	}
}

// rpcCall calls the RPC method name of env's modules with params and
// returns its result as JSON.
func rpcCall(t *testing.T, env *kemitest.Env, name string, params ...any) (string, error) {
	t.Helper()
	var ps kemi.RPCParams
	for _, p := range params {
		b, _ := json.Marshal(p)
		ps = append(ps, b)
	}
	for _, lm := range env.Set.Modules {
		for _, m := range lm.Env.RPCs() {
			if m.Name == name {
				res, err := m.Handler(context.Background(), ps)
				b, _ := json.Marshal(res)
				return string(b), err
			}
		}
	}
	t.Fatalf("no RPC method %s", name)
	return "", nil
}

func TestRPC(t *testing.T) {
	live := startPeer(t)
	dead, _ := silentPeer(t)
	env := load(t, []any{live.addr() + "=2", "1 == " + dead.addr()}, nil)
	show := func() string {
		t.Helper()
		out, err := rpcCall(t, env, "rtpengine.show", "all")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := fmt.Sprintf(`[{"url":%q,"set":0,"index":0,"weight":2,"disabled":0,"recheck_ticks":"0"},{"url":%q,"set":1,"index":0,"weight":1,"disabled":0,"recheck_ticks":"0"}]`, live.addr(), dead.addr())
	if got := show(); got != want {
		t.Errorf("rtpengine.show all = %s\nwant %s", got, want)
	}
	out, err := rpcCall(t, env, "rtpengine.ping", "all")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`[{"url":%q,"success":1},{"url":%q,"success":0}]`, live.addr(), dead.addr()); out != want {
		t.Errorf("rtpengine.ping all = %s\nwant %s", out, want)
	}
	if got := show(); !strings.Contains(got, `"weight":1,"disabled":1,"recheck_ticks":"60"`) {
		t.Errorf("after a failed ping: %s", got)
	}
	if _, err := rpcCall(t, env, "rtpengine.enable", live.addr(), 0); err != nil {
		t.Fatal(err)
	}
	if got := show(); !strings.Contains(got, `"weight":2,"disabled":1,"recheck_ticks":"N/A"`) {
		t.Errorf("after enable 0: %s", got)
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != -1 {
		t.Errorf("query with the only node of the set disabled = %v", got)
	}
	if _, err := rpcCall(t, env, "rtpengine.enable", "all", 1); err != nil {
		t.Fatal(err)
	}
	if got := show(); got != want {
		t.Errorf("after enable all 1: %s", got)
	}
	if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", kemitest.ParseMsg(t, bye)); got.AsInt() != 1 {
		t.Errorf("query after enable 1 = %v\n%s", got, env.Logs())
	}
	if _, err := rpcCall(t, env, "rtpengine.show", "udp:192.0.2.1:1"); err == nil {
		t.Error("an unknown node was shown")
	}
}
