package rtpengine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"
)

// TestEngineBadRepliesLogScriptLine: in a running engine, an error reply,
// garbage and a silent rtpengine each make rtpengine_offer return -1
// (the script answers 500) with an error log naming the script's line,
// and the worker goes on.
func TestEngineBadRepliesLogScriptLine(t *testing.T) {
	p := startPeer(t)
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.rtpengine.rtpengine_offer("replace-origin") < 0 then
		KSR.sl.sl_send_reply(500, "rtpengine failed")
		return
	end
	KSR.sl.sl_send_reply(200, "OK")
end`, enginetest.WithParams("rtpengine", map[string]any{
		"rtpengine_sock": p.addr(), "rtpengine_tout_ms": 100, "rtpengine_retr": 2, "rtpengine_disable_tout": 0}))

	ua, _ := sipgo.NewUA()
	defer ua.Close()
	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	send := func() (int, time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"})
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(offerSDP))
		req.SetDestination(s.UDP())
		start := time.Now()
		tx, err := client.TransactionRequest(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode >= 200 {
					return res.StatusCode, time.Since(start)
				}
			case <-ctx.Done():
				t.Fatalf("no final reply:\n%s", s.Logs())
			}
		}
	}
	if code, _ := send(); code != 200 {
		t.Fatalf("with a working rtpengine: %d\n%s", code, s.Logs())
	}
	for _, tt := range []struct {
		name  string
		reply func(c string) []string
		log   string
	}{
		{"error", func(c string) []string {
			return []string{c + " " + mustEncode(map[string]any{"result": "error", "error-reason": "Unsupported SDP"})}
		}, "Unsupported SDP"},
		{"garbage", func(c string) []string { return []string{c + " <html>garbage</html>"} }, "bad reply"},
		{"silence", func(string) []string { return nil }, "timeout"},
	} {
		p.setHandler(func(c string, _ map[string]any) []string { return tt.reply(c) })
		code, took := send()
		if code != 500 {
			t.Errorf("%s: reply %d, want 500", tt.name, code)
		}
		if took > time.Second {
			t.Errorf("%s: the route took %v", tt.name, took)
		}
		var line string
		for _, l := range strings.Split(s.Logs(), "\n") {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, tt.log) {
				line = l
			}
		}
		if !strings.Contains(line, "at=test.lua:3") {
			t.Errorf("%s: no error log with %q at test.lua:3:\n%s", tt.name, tt.log, s.Logs())
		}
	}
	p.setHandler(okHandler)
	if code, _ := send(); code != 200 {
		t.Errorf("after the failures: %d\n%s", code, s.Logs())
	}
}
