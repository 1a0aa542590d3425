package scripts_test

// scripts/webrtc.lua end to end with a real browser and a real media
// relay: headless Chromium runs JsSIP over WSS, rtpengine (userspace)
// rewrites the SDP, sipp is the SIP phone on UDP.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/browsertest"
	"github.com/kemisip/kemi/internal/testcert"
)

// webrtcLimit bounds the whole browser run.
const webrtcLimit = 60 * time.Second

// webrtcPage is the browser's part. Alice registers over WSS and calls
// the sipp UAS (UDP) through kemi; then Bob registers and calls Alice,
// who answers (WSS to WSS). Each call is held until audio flows both
// ways (at most 6 s, read with getStats), and hung up. Everything is posted to /result.
const webrtcPage = `<!DOCTYPE html>
<html><head><title>kemi webrtc gateway</title><script src="/jssip.js"></script></head><body><script>
const WSS = %q, DOMAIN = "127.0.0.1", UAS = %q;
const media = {audio: true, video: false};
const pcConfig = {iceServers: []};
const sleep = ms => new Promise(r => setTimeout(r, ms));

function startUA(user) {
  return new Promise((res, rej) => {
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(WSS)],
      uri: "sip:" + user + "@" + DOMAIN,
      register: true, register_expires: 120, session_timers: false,
      user_agent: "kemi-webrtc-test " + user,
    });
    ua.on("registered", e => res({ua, status: e.response.status_code}));
    ua.on("registrationFailed", e => rej(new Error(user + " registration failed: " + e.cause)));
    ua.start();
  });
}

async function mediaStats(pc) {
  const r = {sent: 0, received: 0, pair: ""};
  const stats = await pc.getStats();
  stats.forEach(s => {
    if (s.type === "outbound-rtp" && s.kind === "audio") r.sent += s.packetsSent || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") r.received += s.packetsReceived || 0;
    if (s.type === "candidate-pair" && s.nominated) r.pair = s.state;
  });
  return r;
}

// watch records a session's first SDP each way, every SDP in order
// (re-INVITEs included), and its end.
function watch(session, out) {
  out.sdps = [];
  session.on("sdp", e => {
    if (!out[e.originator + "Sdp"]) out[e.originator + "Sdp"] = e.sdp;
    out.sdps.push({originator: e.originator, type: e.type, sdp: e.sdp});
  });
  session.on("progress", e => { if (e.response) out.progress = e.response.status_code; });
  return new Promise(res => {
    session.on("confirmed", () => res("confirmed"));
    session.on("failed", e => res("failed: " + e.cause + (e.message && e.message.status_code ? " " + e.message.status_code : "")));
  });
}

// flowing waits up to 5 s for audio packets both ways.
async function flowing(pc) {
  let m;
  for (let i = 0; i < 20; i++) {
    m = await mediaStats(pc);
    if (m.sent > 0 && m.received > 0) break;
    await sleep(250);
  }
  return m;
}

// within bounds a promise to at most ms, then "timeout".
const within = (p, ms) => Promise.race([p, sleep(ms).then(() => "timeout")]);

// holdAndResume puts session on hold and resumes it (JsSIP re-INVITEs
// with a=sendonly, then a=sendrecv), then waits for the peer's own hold
// re-INVITE (a=sendonly from the SIP phone).
async function holdAndResume(session, out) {
  const remoteHold = new Promise(res => session.on("hold", e => { if (e.originator === "remote") res("remote hold"); }));
  out.hold = await within(new Promise(res => { if (!session.hold({}, () => res("ok"))) res("refused"); }), 5000);
  await sleep(500);
  out.unhold = await within(new Promise(res => { if (!session.unhold({}, () => res("ok"))) res("refused"); }), 5000);
  out.remoteHold = await within(remoteHold, 8000);
  await sleep(500); // the phone's ACK
}

async function talk(session, out, reinvites) {
  await sleep(1000);
  out.media = await flowing(session.connection);
  if (reinvites) await holdAndResume(session, out);
  const ended = new Promise(res => {
    session.on("ended", e => res("ended by " + e.originator));
    session.on("failed", e => res("failed: " + e.cause));
  });
  session.terminate();
  out.end = await Promise.race([ended, sleep(5000).then(() => "no end")]);
}

async function run() {
  const r = {call1: {}, call2: {}, callee2: {}};
  try {
    const alice = await startUA("alice");
    r.registerAlice = alice.status;

    // 1: Alice (WSS) calls the sipp UAS (UDP)
    const s1 = alice.ua.call(UAS, {mediaConstraints: media, pcConfig});
    r.call1.state = await watch(s1, r.call1);
    if (r.call1.state === "confirmed") await talk(s1, r.call1, true);

    // 2: Bob (WSS) calls Alice (WSS), who answers
    const answered = new Promise(res => {
      alice.ua.on("newRTCSession", e => {
        if (e.originator !== "remote") return;
        const done = watch(e.session, r.callee2);
        e.session.answer({mediaConstraints: media, pcConfig});
        done.then(state => { r.callee2.state = state; res(e.session); });
      });
    });
    const bob = await startUA("bob");
    r.registerBob = bob.status;
    const s2 = bob.ua.call("sip:alice@" + DOMAIN, {mediaConstraints: media, pcConfig});
    r.call2.state = await watch(s2, r.call2);
    const aliceSide = await Promise.race([answered, sleep(5000)]);
    if (r.call2.state === "confirmed") {
      if (aliceSide) r.callee2.media = await flowing(aliceSide.connection);
      await talk(s2, r.call2, false);
    }
    alice.ua.stop();
    bob.ua.stop();
  } catch (e) {
    r.error = String(e && e.stack || e);
  }
  await fetch("/result", {method: "POST", body: JSON.stringify(r)});
}
run();
</script></body></html>`

// webrtcMedia is what getStats said of a call's audio.
type webrtcMedia struct {
	Sent, Received int
	Pair           string
}

// webrtcSDP is one SDP of a call as JsSIP's "sdp" event gave it.
type webrtcSDP struct {
	Originator, Type, Sdp string
}

// webrtcCall is one side of a call as JsSIP saw it.
type webrtcCall struct {
	State     string
	Progress  int
	LocalSdp  string // the first of each side
	RemoteSdp string
	Sdps      []webrtcSDP
	End       string
	Media     *webrtcMedia
	// call 1: the browser's hold and resume, the phone's hold
	Hold, Unhold, RemoteHold string
}

// sdps returns the SDPs of c from originator of type, in order.
func (c webrtcCall) sdps(originator, typ string) []string {
	var out []string
	for _, s := range c.Sdps {
		if s.Originator == originator && s.Type == typ {
			out = append(out, s.Sdp)
		}
	}
	return out
}

type webrtcResult struct {
	RegisterAlice, RegisterBob int
	Call1, Call2, Callee2      webrtcCall
	Error                      string
}

// TestWebRTCGateway: a browser registers over WSS and calls a SIP phone on
// UDP, and a second browser user calls the first, through
// scripts/webrtc.lua with rtpengine rewriting the SDP each way.
func TestWebRTCGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := browsertest.Chromium(t)
	if _, err := os.Stat(filepath.Join(jssipDir, "jssip", "package.json")); err != nil {
		t.Skipf("JsSIP not installed in scripts/%s (make tools, or npm ci in scripts/testdata/webrtc): WebRTC test skipped", jssipDir)
	}
	enginetest.SippPath(t)
	rtp := enginetest.StartRTPEngine(t)
	bundle, err := bundleJsSIP(jssipDir)
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("webrtc.lua")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := testcert.SelfSigned(t).Files(t)
	s := enginetest.Start(t, string(script),
		enginetest.WithConfig(func(c *engine.Config) {
			c.ScriptPath = "webrtc.lua"
			c.Listen = []string{"udp:127.0.0.1:0", "wss:127.0.0.1:0"}
			c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
		}),
		enginetest.WithParams("rtpengine", map[string]any{"rtpengine_sock": "udp:" + rtp.NG}),
		// fix_nated_register hands the WebSocket connection's address to save
		enginetest.WithParams("nathelper", map[string]any{"received_avp": "$avp(RECEIVED)"}),
		enginetest.WithParams("registrar", map[string]any{"received_avp": "$avp(RECEIVED)"}))

	// the SIP phone: one call, checked by the scenario, echoing its RTP
	dir := t.TempDir()
	uasPort := enginetest.FreeUDPPort(t)
	uasLog := filepath.Join(dir, "uas.log")
	type sippEnd struct {
		code int
		out  string
	}
	uasDone := make(chan sippEnd, 1)
	go func() {
		code, out := enginetest.RunSipp(t, webrtcLimit, "-sf", "testdata/webrtc/uas_avp.xml",
			"-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-m", "1", "-rtp_echo",
			"-trace_msg", "-message_file", uasLog)
		uasDone <- sippEnd{code, out}
	}()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, webrtcPage, "wss://"+s.Addr("wss").String(), fmt.Sprintf("sip:uas@127.0.0.1:%d", uasPort))
	})
	mux.HandleFunc("GET /jssip.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		io.WriteString(w, bundle)
	})
	pageURL, results := browsertest.Serve[webrtcResult](t, mux)

	ctx, cancel := context.WithTimeout(context.Background(), webrtcLimit)
	defer cancel()
	browserOut, exited := browsertest.Start(t, chromium, pageURL,
		"--ignore-certificate-errors", "--use-fake-device-for-media-stream",
		"--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
		"--autoplay-policy=no-user-gesture-required")

	var res webrtcResult
	select {
	case res = <-results:
	case err := <-exited:
		b, _ := os.ReadFile(browserOut)
		t.Fatalf("chromium exited before reporting: %v\n%s", err, b)
	case <-ctx.Done():
		b, _ := os.ReadFile(browserOut)
		t.Fatalf("no result from the browser in %v\nchromium:\n%s", webrtcLimit, b)
	}
	var uas sippEnd
	select {
	case uas = <-uasDone:
	case <-ctx.Done():
		t.Fatalf("the sipp UAS did not end in %v", webrtcLimit)
	}
	uasMsgs, _ := os.ReadFile(uasLog)
	t.Logf("registrations %d %d; call 1 %s, %s, media %+v; call 2 %s, %s, media %+v, callee %s, media %+v",
		res.RegisterAlice, res.RegisterBob, res.Call1.State, res.Call1.End, res.Call1.Media,
		res.Call2.State, res.Call2.End, res.Call2.Media, res.Callee2.State, res.Callee2.Media)
	if res.Error != "" {
		t.Fatalf("page error: %s", res.Error)
	}

	// SIP: both registered, both calls answered and hung up by the caller
	if res.RegisterAlice != 200 || res.RegisterBob != 200 {
		t.Errorf("registrations: alice %d, bob %d, want 200", res.RegisterAlice, res.RegisterBob)
	}
	for name, c := range map[string]webrtcCall{"call 1 (alice to sipp)": res.Call1, "call 2 (bob to alice)": res.Call2} {
		if c.State != "confirmed" || c.End != "ended by local" {
			t.Errorf("%s: %q, %q; want confirmed and ended by local", name, c.State, c.End)
		}
	}
	// media: audio packets both ways on each browser's leg, as its
	// getStats counts them (SRTP to and from rtpengine; on call 1 sipp's
	// -rtp_echo sends the plain RTP back)
	for name, m := range map[string]*webrtcMedia{"alice (call 1)": res.Call1.Media, "bob (call 2)": res.Call2.Media, "alice (call 2)": res.Callee2.Media} {
		if m == nil || m.Sent == 0 || m.Received == 0 || m.Pair != "succeeded" {
			t.Errorf("%s: no audio both ways: %+v", name, m)
		}
	}
	if res.Callee2.State != "confirmed" {
		t.Errorf("alice as callee: %q, want confirmed", res.Callee2.State)
	}
	if uas.code != 0 {
		t.Errorf("sipp UAS: exit %d (the scenario checks the offer is RTP/AVP without ICE)\n%s", uas.code, uas.out)
	}

	// SDP: what the UDP phone got is plain RTP from rtpengine; what each
	// browser got is DTLS-SRTP with ICE candidates of rtpengine
	invite := enginetest.SippReceived(string(uasMsgs), "INVITE sip:")
	if invite == "" {
		t.Fatalf("no INVITE at the sipp UAS:\n%s", uasMsgs)
	}
	offer := enginetest.SIPBody(invite)
	checkSDP(rtp, t, "offer at the UDP phone", offer, "RTP/AVP", false)
	checkSDP(rtp, t, "answer at alice (call 1)", res.Call1.RemoteSdp, "RTP/SAVPF", true)
	checkSDP(rtp, t, "offer at alice (call 2)", res.Callee2.RemoteSdp, "RTP/SAVPF", true)
	checkSDP(rtp, t, "answer at bob (call 2)", res.Call2.RemoteSdp, "RTP/SAVPF", true)
	for what, sdp := range map[string]string{"alice's offer": res.Call1.LocalSdp, "bob's offer": res.Call2.LocalSdp} {
		if !strings.Contains(sdp, "a=fingerprint:") || !strings.Contains(sdp, "SAVPF") {
			t.Errorf("%s is not the browser's DTLS-SRTP offer:\n%s", what, sdp)
		}
	}
	checkReinvites(rtp, t, res.Call1, string(uasMsgs))

	if strings.Contains(s.Logs(), "rtpengine offer failed") || strings.Contains(s.Logs(), "rtpengine answer failed") {
		t.Errorf("rtpengine_manage failed:\n%s", s.Logs())
	}
	for _, series := range []string{
		// call 1's INVITE, its three re-INVITEs, call 2's INVITE
		`kemi_rtpengine_requests_total{command="offer",result="ok"} 5`,
		`kemi_rtpengine_requests_total{command="answer",result="ok"} 5`,
		`kemi_rtpengine_requests_total{command="delete",result="ok"}`,
	} {
		if !strings.Contains(s.Scrape(), series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}

// checkReinvites checks call 1's re-INVITEs as each side got them after
// rtpengine: the browser's hold (a=sendonly) and resume (a=sendrecv) at
// the UDP phone as plain RTP/AVP and their answers (a=recvonly,
// a=sendrecv) at the browser as DTLS-SRTP with ICE; the phone's hold
// (a=sendonly) at the browser as DTLS-SRTP with ICE and the browser's
// answer (a=recvonly) at the phone as plain RTP/AVP.
func checkReinvites(rtp *enginetest.RTPEngine, t *testing.T, call webrtcCall, uasLog string) {
	t.Helper()
	if call.Hold != "ok" || call.Unhold != "ok" || call.RemoteHold != "remote hold" {
		t.Errorf("call 1: hold %q, unhold %q, the phone's hold %q; want ok, ok, remote hold", call.Hold, call.Unhold, call.RemoteHold)
	}
	check := func(what, sdp, profile string, webrtc bool, dir string) {
		t.Helper()
		checkSDP(rtp, t, what, sdp, profile, webrtc)
		if got := sdpDirection(sdp); got != dir {
			t.Errorf("%s: direction %s, want %s:\n%s", what, got, dir, sdp)
		}
	}
	invites := enginetest.SippReceivedAll(uasLog, "INVITE sip:")
	if len(invites) != 3 {
		t.Errorf("the UDP phone got %d INVITEs, want 3 (the call, hold, resume)", len(invites))
	} else {
		check("hold re-INVITE at the UDP phone", enginetest.SIPBody(invites[1]), "RTP/AVP", false, "sendonly")
		check("resume re-INVITE at the UDP phone", enginetest.SIPBody(invites[2]), "RTP/AVP", false, "sendrecv")
	}
	if oks := enginetest.SippReceivedAll(uasLog, "SIP/2.0 200"); len(oks) != 1 {
		t.Errorf("the UDP phone got %d 200s, want 1 (to its re-INVITE)", len(oks))
	} else {
		check("the browser's answer to the phone's hold, at the phone", enginetest.SIPBody(oks[0]), "RTP/AVP", false, "recvonly")
	}
	// JsSIP tells each re-INVITE's offer twice, as made and as sent (its
	// hold mangled to a=sendonly): one sendonly, the last sendrecv
	offers := call.sdps("local", "offer")
	if !slices.ContainsFunc(offers, func(s string) bool { return sdpDirection(s) == "sendonly" }) ||
		len(offers) < 3 || sdpDirection(offers[len(offers)-1]) != "sendrecv" {
		t.Errorf("the browser's %d offers lack its hold (a=sendonly) then its resume (a=sendrecv)", len(offers))
	}
	if answers := call.sdps("remote", "answer"); len(answers) != 3 {
		t.Errorf("the browser got %d answers, want 3 (the call, hold, resume)", len(answers))
	} else {
		check("answer to hold at alice", answers[1], "RTP/SAVPF", true, "recvonly")
		check("answer to resume at alice", answers[2], "RTP/SAVPF", true, "sendrecv")
	}
	if offers := call.sdps("remote", "offer"); len(offers) != 1 {
		t.Errorf("the browser got %d offers, want 1 (the phone's hold)", len(offers))
	} else {
		check("the phone's hold at alice", offers[0], "RTP/SAVPF", true, "sendonly")
	}
}

// sdpDirection returns the direction attribute of an SDP's audio (the
// first one found), sendrecv when it has none (RFC 4566 §6).
func sdpDirection(sdp string) string {
	if m := sdpDir.FindStringSubmatch(sdp); m != nil {
		return m[1]
	}
	return "sendrecv"
}

var (
	sdpDir       = regexp.MustCompile(`(?m)^a=(sendrecv|sendonly|recvonly|inactive)\r?$`)
	sdpMedia     = regexp.MustCompile(`(?m)^m=audio (\d+) (\S+)`)
	sdpCandidate = regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ (?i:udp) \d+ (\S+) (\d+) typ host`)
)

// checkSDP checks that sdp is rtpengine's rewrite: its address and a
// media port of its range, the profile, and for a browser (webrtc) ICE
// candidates of rtpengine's and a DTLS fingerprint, or for a SIP phone
// none of them.
func checkSDP(r *enginetest.RTPEngine, t *testing.T, what, sdp, profile string, webrtc bool) {
	t.Helper()
	sdp = strings.ReplaceAll(sdp, "\r\n", "\n")
	m := sdpMedia.FindStringSubmatch(sdp)
	if m == nil {
		t.Errorf("%s: no m=audio line:\n%s", what, sdp)
		return
	}
	inRange := func(s string) bool {
		p, _ := strconv.Atoi(s)
		return p >= r.PortMin && p <= r.PortMax
	}
	if !inRange(m[1]) || !strings.HasSuffix(m[2], profile) {
		t.Errorf("%s: m=audio %s %s, want a port of rtpengine's %d-%d and %s:\n%s", what, m[1], m[2], r.PortMin, r.PortMax, profile, sdp)
	}
	if !strings.Contains(sdp, "c=IN IP4 127.0.0.1") {
		t.Errorf("%s: no c=IN IP4 127.0.0.1:\n%s", what, sdp)
	}
	cands := sdpCandidate.FindAllStringSubmatch(sdp, -1)
	if !webrtc {
		if len(cands) > 0 || strings.Contains(sdp, "a=ice-") || strings.Contains(sdp, "a=fingerprint") {
			t.Errorf("%s: ICE or DTLS left for a SIP phone:\n%s", what, sdp)
		}
		return
	}
	if len(cands) == 0 {
		t.Errorf("%s: no host ICE candidate:\n%s", what, sdp)
	}
	for _, c := range cands {
		if c[1] != "127.0.0.1" || !inRange(c[2]) {
			t.Errorf("%s: candidate %s:%s is not rtpengine's:\n%s", what, c[1], c[2], sdp)
		}
	}
	if !strings.Contains(sdp, "a=fingerprint:") || !strings.Contains(sdp, "a=ice-ufrag:") {
		t.Errorf("%s: no DTLS fingerprint or ICE credentials:\n%s", what, sdp)
	}
}

// webrtcConfig is the kemi.toml of scripts/webrtc.lua's header comment,
// with a test's certificate and ports.
const webrtcConfig = `[core]
script = %q
listen = ["udp:127.0.0.1:5060", "wss:127.0.0.1:4443"]

[tls]
certificate = %q
private_key = %q

[rtpengine]
rtpengine_sock = "udp:127.0.0.1:2223"

[nathelper]
received_avp = "$avp(RECEIVED)"

[registrar]
received_avp = "$avp(RECEIVED)"
`

// TestWebRTCScriptChecks: `kemi check` accepts the script with the
// configuration its header documents.
func TestWebRTCScriptChecks(t *testing.T) {
	script, err := filepath.Abs("webrtc.lua")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := testcert.SelfSigned(t).Files(t)
	cfg := filepath.Join(t.TempDir(), "kemi.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(webrtcConfig, script, cert, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kemiBinary(t), "check", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "webrtc.lua: ok") {
		t.Fatalf("kemi check: %v\n%s", err, out)
	}
}
