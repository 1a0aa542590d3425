package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/browsertest"
)

// wsBrowserPage sends an OPTIONS over a WebSocket to kemi's ws: listener
// and one to its tcp listener (upgraded by ksr_xhttp_event), and posts
// the first line and X-Proto of each reply to /result.
const wsBrowserPage = `<!DOCTYPE html>
<html><head><title>kemi sip over websocket</title></head><body><script>
function options(url, id) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, "sip");
    ws.onerror = () => rej(new Error("websocket to " + url + " failed"));
    ws.onopen = () => ws.send("OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\n" +
      "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-" + id + "\r\n" +
      "From: <sip:browser@invalid>;tag=" + id + "\r\nTo: <sip:kemi@127.0.0.1>\r\n" +
      "Call-ID: " + id + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    ws.onmessage = e => {
      const lines = e.data.split("\r\n");
      const proto = lines.find(l => l.startsWith("X-Proto:")) || "";
      ws.close(1000, "bye");
      res({protocol: ws.protocol, status: lines[0], proto: proto.slice(8).trim()});
    };
  });
}
async function run() {
  const r = {};
  try {
    r.listener = await options("ws://%s/", "browser-ws");
    r.xhttp = await options("ws://%s/ws", "browser-xhttp");
  } catch (e) {
    r.error = String(e);
  }
  await fetch("/result", {method: "POST", body: JSON.stringify(r)});
}
run();
</script></body></html>`

type wsBrowserReply struct{ Protocol, Status, Proto string }

type wsBrowserResult struct {
	Listener, XHTTP wsBrowserReply
	Error           string
}

// TestWSBrowser runs the page above in headless Chromium against kemi.
func TestWSBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	s := enginetest.Start(t, xhttpScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0", "ws:127.0.0.1:0"}
	}))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, wsBrowserPage, s.Addr("ws"), s.Addr("tcp"))
	})
	pageURL, results := browsertest.Serve[wsBrowserResult](t, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, exited := browsertest.Start(t, chromium, pageURL)

	var res wsBrowserResult
	select {
	case res = <-results:
	case err := <-exited:
		b, _ := os.ReadFile(out)
		t.Fatalf("chromium exited before reporting: %v\n%s", err, b)
	case <-ctx.Done():
		t.Fatalf("no result from the browser in 30 s\n%s", s.Logs())
	}
	t.Logf("browser: %+v", res)
	if res.Error != "" {
		t.Fatalf("page error: %s\n%s", res.Error, s.Logs())
	}
	for name, r := range map[string]wsBrowserReply{"ws: listener": res.Listener, "xhttp upgrade": res.XHTTP} {
		if r.Protocol != "sip" || !strings.HasPrefix(r.Status, "SIP/2.0 200") || r.Proto != "ws" {
			t.Errorf("%s: %+v, want sip, a 200 and X-Proto ws", name, r)
		}
	}
}
