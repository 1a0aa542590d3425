package rtpengine_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/core/rtpengine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// daemon is a real rtpengine started for a test, userspace only.
type daemon struct {
	ng               string // "127.0.0.1:PORT"
	portMin, portMax int
	cookies          int // the test's own commands: rtpengine answers a repeated cookie from its cache
}

// startDaemon starts rtpengine (enginetest.StartRTPEngine), or skips the
// test when it is not installed. It is stopped when the test ends.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	r := enginetest.StartRTPEngine(t)
	return &daemon{ng: r.NG, portMin: r.PortMin, portMax: r.PortMax}
}

// command sends one ng command to the daemon itself, as the test's own
// client, and returns the reply.
func (d *daemon) command(cmd map[string]any) (map[string]any, error) {
	conn, err := net.Dial("udp", d.ng)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	body, err := rtpengine.Encode(cmd)
	if err != nil {
		return nil, err
	}
	d.cookies++
	if _, err := conn.Write(append([]byte(fmt.Sprintf("test%d ", d.cookies)), body...)); err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	_, rest, _ := strings.Cut(string(buf[:n]), " ")
	v, err := rtpengine.Decode([]byte(rest))
	if err != nil {
		return nil, err
	}
	reply, _ := v.(map[string]any)
	return reply, nil
}

var mediaLine = regexp.MustCompile(`(?m)^m=audio (\d+) (\S+)`)

// checkRewritten checks that sdp is rtpengine's: a c= line of 127.0.0.1
// and media ports in the daemon's range.
func (d *daemon) checkRewritten(t *testing.T, what, sdp string) {
	t.Helper()
	if !strings.Contains(sdp, "c=IN IP4 127.0.0.1") {
		t.Errorf("%s: no c=IN IP4 127.0.0.1:\n%s", what, sdp)
	}
	ms := mediaLine.FindAllStringSubmatch(sdp, -1)
	if len(ms) == 0 {
		t.Errorf("%s: no m=audio line:\n%s", what, sdp)
	}
	for _, m := range ms {
		if p, _ := strconv.Atoi(m[1]); p < d.portMin || p > d.portMax {
			t.Errorf("%s: media port %d outside rtpengine's %d-%d:\n%s", what, p, d.portMin, d.portMax, sdp)
		}
	}
}

// TestDaemonCallThroughEngine relays a sipp call through an engine whose
// script calls rtpengine_manage on the INVITE, its replies and the BYE:
// both sides see rtpengine's SDP, and after the BYE the daemon knows no
// such call.
func TestDaemonCallThroughEngine(t *testing.T) {
	d := startDaemon(t)
	enginetest.SippPath(t)
	s := enginetest.Start(t, `
local flags = "replace-origin replace-session-connection"
function ksr_request_route()
	local m = KSR.pv.get("$rm")
	if m == "INVITE" or m == "BYE" or m == "CANCEL" then
		if KSR.rtpengine.rtpengine_manage(flags) < 0 then
			KSR.err("rtpengine_manage failed on " .. m .. "\n")
		end
	end
	if m == "INVITE" then KSR.rr.record_route() end
	if KSR.siputils.has_totag() > 0 then KSR.rr.loose_route() end
	KSR.tm.t_relay()
end
function ksr_reply_route()
	if KSR.pv.get("$rs") == 200 and KSR.pv.get("$rm") == "INVITE" then
		if KSR.rtpengine.rtpengine_manage(flags) < 0 then
			KSR.err("rtpengine_manage failed on the 200\n")
		end
	end
end`, enginetest.WithParams("rtpengine", map[string]any{"rtpengine_sock": "udp:" + d.ng}))

	dir := t.TempDir()
	uasLog, uacLog := filepath.Join(dir, "uas.log"), filepath.Join(dir, "uac.log")
	uasPort := enginetest.FreeUDPPort(t)
	enginetest.StartSipp(t, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-trace_msg", "-message_file", uasLog)
	r := enginetest.RunUAC(t, 1, 1, fmt.Sprintf("127.0.0.1:%d", uasPort), "-rsa", s.UDP(), "-sn", "uac",
		"-trace_msg", "-message_file", uacLog)
	if r.Successful != 1 {
		t.Fatalf("sipp: %d successful calls, want 1 (exit %d)\n%s\nengine:\n%s", r.Successful, r.Exit, r.Output, s.Logs())
	}
	uas, _ := os.ReadFile(uasLog)
	uac, _ := os.ReadFile(uacLog)
	invite := enginetest.SippReceived(string(uas), "INVITE sip:")
	ok := enginetest.SippReceived(string(uac), "SIP/2.0 200 OK")
	if invite == "" || ok == "" {
		t.Fatalf("no INVITE at the uas or no 200 at the uac:\nuas:\n%s\nuac:\n%s", uas, uac)
	}
	d.checkRewritten(t, "INVITE at the callee", enginetest.SIPBody(invite))
	d.checkRewritten(t, "200 at the caller", enginetest.SIPBody(ok))
	if strings.Contains(invite, "m=audio 6000 ") || strings.Contains(ok, "m=audio 6000 ") {
		t.Error("sipp's own media port 6000 went through")
	}
	for _, series := range []string{
		`kemi_rtpengine_requests_total{command="offer",result="ok"} 1`,
		`kemi_rtpengine_requests_total{command="answer",result="ok"} 1`,
		`kemi_rtpengine_requests_total{command="delete",result="ok"} 1`,
	} {
		if !strings.Contains(s.Scrape(), series) {
			t.Errorf("metrics lack %s", series)
		}
	}
	callID := headerValue(invite, "Call-ID")
	reply, err := d.command(map[string]any{"command": "query", "call-id": callID})
	if err != nil {
		t.Fatal(err)
	}
	if reply["result"] != "error" {
		t.Errorf("after the BYE the daemon still has call %s: %v", callID, reply)
	}
	if strings.Contains(s.Logs(), "rtpengine_manage failed") {
		t.Errorf("engine logs:\n%s", s.Logs())
	}
}

func headerValue(msg, name string) string {
	for _, l := range strings.Split(strings.ReplaceAll(msg, "\r\n", "\n"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// webrtcSDP is a browser's offer: ICE, DTLS-SRTP, rtcp-mux.
const webrtcSDP = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0\r\n" +
	"m=audio 50000 UDP/TLS/RTP/SAVPF 111 0\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"a=rtcp:50000 IN IP4 127.0.0.1\r\n" +
	"a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0\r\n" +
	"a=ice-ufrag:abcd\r\n" +
	"a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0\r\n" +
	"a=setup:actpass\r\n" +
	"a=mid:0\r\n" +
	"a=sendrecv\r\n" +
	"a=rtcp-mux\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

// TestDaemonWebRTCBridging runs the WebRTC gateway's two offers through
// the real daemon: a browser's DTLS-SRTP offer becomes plain RTP for a
// SIP phone (ICE=remove RTP/AVP), and a phone's plain RTP offer becomes
// ICE and DTLS-SRTP for a browser (ICE=force DTLS=passive RTP/SAVPF).
func TestDaemonWebRTCBridging(t *testing.T) {
	d := startDaemon(t)
	env := kemitest.Load(t, map[string]map[string]any{"rtpengine": {"rtpengine_sock": "udp:" + d.ng}}, "core", "rtpengine")
	t.Cleanup(env.Destroy)

	msg := func(callID, sdp string) string {
		return strings.NewReplacer("call-1@example.com", callID, offerSDP, sdp).Replace(invite)
	}
	m := kemitest.ParseMsg(t, msg("webrtc-to-sip", webrtcSDP))
	if got := env.Call(t, "KSR.rtpengine.rtpengine_offer", m, "ICE=remove RTP/AVP replace-origin replace-session-connection"); got.AsInt() != 1 {
		t.Fatalf("offer = %v\n%s", got, env.Logs())
	}
	plain := string(m.Body())
	d.checkRewritten(t, "browser offer for a phone", plain)
	for _, gone := range []string{"a=candidate", "a=ice-ufrag", "a=fingerprint", "SAVPF"} {
		if strings.Contains(plain, gone) {
			t.Errorf("plain RTP offer still has %q:\n%s", gone, plain)
		}
	}
	if !strings.Contains(plain, " RTP/AVP ") {
		t.Errorf("plain RTP offer is not RTP/AVP:\n%s", plain)
	}

	// Kamailio's WebRTC flags; rtpengine 10.5 answers RTP/SAVPF with DTLS
	// and SDES both offered (a=setup:actpass), and UDP/TLS/RTP/SAVPF with
	// SDES-off with DTLS alone, in the passive role asked for
	for _, tt := range []struct {
		callID, flags string
		want          []string
	}{
		{"sip-to-webrtc", "ICE=force DTLS=passive RTP/SAVPF replace-origin replace-session-connection",
			[]string{"a=candidate", "a=ice-ufrag", "a=ice-pwd", " RTP/SAVPF ", "a=fingerprint", "a=rtcp"}},
		{"sip-to-webrtc-dtls", "ICE=force DTLS=passive UDP/TLS/RTP/SAVPF SDES-off replace-origin replace-session-connection",
			[]string{"a=candidate", "a=ice-ufrag", " UDP/TLS/RTP/SAVPF ", "a=fingerprint", "a=setup:actpass"}},
	} {
		m = kemitest.ParseMsg(t, msg(tt.callID, offerSDP))
		if got := env.Call(t, "KSR.rtpengine.rtpengine_offer", m, tt.flags); got.AsInt() != 1 {
			t.Fatalf("offer = %v\n%s", got, env.Logs())
		}
		webrtc := string(m.Body())
		d.checkRewritten(t, "phone offer for a browser ("+tt.flags+")", webrtc)
		for _, want := range tt.want {
			if !strings.Contains(webrtc, want) {
				t.Errorf("WebRTC offer (%s) lacks %q:\n%s", tt.flags, want, webrtc)
			}
		}
		if strings.Contains(webrtc, " RTP/AVP ") {
			t.Errorf("WebRTC offer (%s) is still plain RTP:\n%s", tt.flags, webrtc)
		}
	}
	// each call ends with a delete; a query then finds nothing
	for _, id := range []string{"webrtc-to-sip", "sip-to-webrtc", "sip-to-webrtc-dtls"} {
		b := kemitest.ParseMsg(t, strings.Replace(bye, "call-1@example.com", id, 1))
		if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", b); got.AsInt() != 1 {
			t.Errorf("query %s before the delete = %v\n%s", id, got, env.Logs())
		}
		if got := env.Call(t, "KSR.rtpengine.rtpengine_delete0", b); got.AsInt() != 1 {
			t.Errorf("delete %s = %v\n%s", id, got, env.Logs())
		}
		env.ResetLogs()
		if got := env.Call(t, "KSR.rtpengine.rtpengine_query0", b); got.AsInt() != -1 {
			t.Errorf("query %s after the delete = %v", id, got)
		}
		if !strings.Contains(env.Logs(), "Unknown call-id") {
			t.Errorf("query after the delete did not log the daemon's error:\n%s", env.Logs())
		}
	}
}
