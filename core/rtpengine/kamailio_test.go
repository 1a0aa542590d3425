package rtpengine_test

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/kamailiotest"
)

// sipSender sends requests from a UDP socket of its own and reads the
// replies.
type sipSender struct {
	conn *net.UDPConn
	n    int
}

func newSIPSender(t *testing.T) *sipSender {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipSender{conn: conn}
}

// send sends the request text (LF line ends, Content-Length added) with
// X-Fn and X-Flags headers to addr, and returns the X-Ret of the reply
// ("" for an ACK or no reply in wait).
func (s *sipSender) send(addr, text, fn, flags string, hasFlags bool, wait time.Duration) string {
	s.n++
	head, body, _ := strings.Cut(text, "\n\n")
	head = strings.Replace(head, "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-top",
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-top", s.conn.LocalAddr()), 1)
	head = strings.Replace(head, "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-",
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-", s.conn.LocalAddr()), 1)
	head += "\nMax-Forwards: 70\nX-Fn: " + fn
	if hasFlags {
		head += "\nX-Flags: " + flags
	}
	head += fmt.Sprintf("\nContent-Length: %d", len(body))
	msg := strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	dst, _ := net.ResolveUDPAddr("udp", addr)
	_, _ = s.conn.WriteToUDP([]byte(msg), dst)
	buf := make([]byte, 65536)
	_ = s.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		reply := string(buf[:n])
		if !strings.HasPrefix(reply, "SIP/2.0 200") {
			continue
		}
		return headerValue(reply, "X-Ret")
	}
}

// TestSameDictionariesAsKamailio runs testdata/flags.lua in Kamailio 5.6
// (with its rtpengine module) and in kemi, each talking to an ng peer of
// the test's, sends both the same requests, and compares the ng
// dictionaries they send and what the functions return.
func TestSameDictionariesAsKamailio(t *testing.T) {
	kamPeer, kemiPeer := startPeer(t), startPeer(t)
	sender := newSIPSender(t)
	dir, _ := os.Getwd()
	ready := func(addr string) bool {
		return sender.send(addr, bye, "rtpengine_query0", "", false, 300*time.Millisecond) != ""
	}
	kam := kamailiotest.Start(t, "testdata/kamailio.cfg", []string{"app_lua.so", "rtpengine.so"},
		"kamailio and kamailio-lua-modules", ready,
		`SCRIPT="`+dir+`/testdata/flags.lua"`, `NGSOCK="`+kamPeer.addr()+`"`)
	script, err := os.ReadFile("testdata/flags.lua")
	if err != nil {
		t.Fatal(err)
	}
	kemiSrv := enginetest.Start(t, string(script), enginetest.WithParams("rtpengine", map[string]any{
		"rtpengine_sock": kemiPeer.addr(), "rtpengine_tout_ms": 500, "rtpengine_retr": 1}))

	tests := []struct {
		msg, fn, flags string
		hasFlags       bool
	}{
		{invite, "rtpengine_offer", "replace-origin replace-session-connection ICE=force DTLS=passive RTP/SAVPF", true},
		{invite, "rtpengine_offer", "ICE=remove RTP/AVP", true},
		{invite, "rtpengine_offer0", "", false},
		{invite, "rtpengine_offer", "trust-address SDES-off codec-strip-PCMA codec-offer=opus codec-transcode-G722 internal direction=external label=caller address-family=IP6 rtcp-mux-demux T.38-decode repacketize=20 TOS=184 delete-delay=5 received-from=198.51.100.7", true},
		{invite, "rtpengine_offer", "RTP AVP SRTP AVPF", true},
		{invite, "rtpengine_offer", "UDP/TLS/RTP/SAVPF", true},
		{invite, "rtpengine_offer", "call-id=other from-tag=ftX to-tag=ttX", true},
		{invite, "rtpengine_offer", "via-branch=1", true},
		{invite, "rtpengine_manage", "replace-origin", true},
		{ackSDP, "rtpengine_answer0", "", false},
		{ackSDP, "rtpengine_manage0", "", false},
		{bye, "rtpengine_delete0", "", false},
		{bye, "rtpengine_delete", "to-tag", true},
		{bye, "rtpengine_manage0", "", false},
		{bye, "rtpengine_query0", "", false},
		{bye, "start_recording", "", false},
		{bye, "stop_recording", "", false},
		{bye, "block_media0", "", false},
		{bye, "unblock_media0", "", false},
		{bye, "block_dtmf0", "", false},
		{bye, "unsilence_media0", "", false},
		{bye, "stop_media0", "", false},
		{bye, "play_media", "file=/tmp/a.wav repeat-times=2", true},
		{invite, "rtpengine_offer", "SDES-no-AES_CM_128_HMAC_SHA1_32 SDES-pad rtcp-mux-offer T38-force codec-mask-all codec-except-PCMU codec-set-PCMU/8000 codec-accept-opus codec-consume-G722 transcode=G729 record-call=yes media-address=198.51.100.1 symmetric asymmetric strict-source", true},
		{invite, "rtpengine_offer", "force-answer", true},
		{invite, "rtpengine_offer", "  replace-origin   ICE=force  ", true},
		{invite, "rtpengine_offer", "replace=origin SDES=off T38=decode", true},
		{invite, "rtpengine_offer", "directional from-tag=abc", true},
		{bye, "block_media", "directional", true},
		{bye, "unblock_dtmf", "from-tag=ftZ", true},
		{bye, "silence_media", "directional to-tag=ttQ", true},
		{bye, "rtpengine_query", "to-tag call-id=elsewhere", true},
		{bye, "rtpengine_offer", "", true}, // no SDP: -1
		{bye, "rtpengine_delete", "via-branch=7", true},
	}
	for _, tt := range tests {
		name := tt.fn + "(" + tt.flags + ")"
		run := func(addr string, p *ngPeer) (string, map[string]any) {
			p.reset()
			wait := 2 * time.Second
			if strings.HasPrefix(tt.msg, "ACK") {
				wait = 300 * time.Millisecond
			}
			ret := sender.send(addr, tt.msg, tt.fn, tt.flags, tt.hasFlags, wait)
			c := p.commands()
			if len(c) == 0 {
				return ret, nil
			}
			return ret, c[len(c)-1]
		}
		kamRet, kamCmd := run(kam, kamPeer)
		kemiRet, kemiCmd := run(kemiSrv.UDP(), kemiPeer)
		if kamRet != kemiRet {
			t.Errorf("%s on %.6s: Kamailio returns %q, kemi %q", name, tt.msg, kamRet, kemiRet)
		}
		if !reflect.DeepEqual(norm(kamCmd), norm(kemiCmd)) {
			t.Errorf("%s on %.6s:\nKamailio sends\n%s\nkemi sends\n%s", name, tt.msg, describe(kamCmd), describe(kemiCmd))
		}
	}
}
