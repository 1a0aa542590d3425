package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/browsertest"
)

// browserPage opens three WebSockets to the test server and posts what
// happened to /result: a SIP message and a 70 KB binary message echoed on
// "/", the same binary message refused with 1009 on "/small" (64 KB
// limit), and a request without the sip subprotocol refused.
const browserPage = `<!DOCTYPE html>
<html><head><title>kemi websocket</title></head><body><script>
const base = "ws://127.0.0.1:%d";
function opened(ws) {
  return new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error("open failed")); });
}
function closed(ws) {
  return new Promise(res => { ws.onclose = e => res({code: e.code, reason: e.reason}); });
}
function nextMessage(ws) {
  return new Promise(res => { ws.onmessage = e => res(e.data); });
}
async function run() {
  const r = {};
  try {
    const ws = new WebSocket(base + "/", "sip");
    ws.binaryType = "arraybuffer";
    const wsClosed = closed(ws);
    await opened(ws);
    r.protocol = ws.protocol;
    const sip = "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\n" +
      "Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-browser\r\n" +
      "From: <sip:browser@invalid>;tag=b1\r\nTo: <sip:kemi@127.0.0.1>\r\n" +
      "Call-ID: browser-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let p = nextMessage(ws);
    ws.send(sip);
    r.textEcho = (await p) === sip;
    const big = new Uint8Array(70 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    p = nextMessage(ws);
    ws.send(big);
    const back = new Uint8Array(await p);
    r.binaryLen = back.length;
    r.binaryEcho = back.length === big.length && back.every((v, i) => v === big[i]);
    ws.close(1000, "bye");
    r.close1 = await wsClosed;

    const ws2 = new WebSocket(base + "/small", "sip");
    const ws2Closed = closed(ws2);
    await opened(ws2);
    ws2.send(big);
    r.close2 = await ws2Closed;

    const ws3 = new WebSocket(base + "/", "xmpp");
    r.refused = await new Promise(res => {
      ws3.onopen = () => res("opened");
      ws3.onclose = e => res(e.code);
    });
  } catch (e) {
    r.error = String(e);
  }
  await fetch("/result", {method: "POST", body: JSON.stringify(r)});
}
run();
</script></body></html>`

type browserResult struct {
	Protocol   string
	TextEcho   bool
	BinaryLen  int
	BinaryEcho bool
	Close1     struct{ Code int }
	Close2     struct{ Code int }
	Refused    any
	Error      string
}

// wsTestServer is a raw TCP server built on this package: it reads the
// request head itself, upgrades with "sip", echoes every message, and
// reports how each connection ended.
type wsTestServer struct {
	ln      net.Listener
	mu      sync.Mutex
	origins []string
	ends    map[string][]error // path -> how its connections ended
	refusal []error
}

func (s *wsTestServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(nc)
	}
}

func (s *wsTestServer) handle(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	req, rest, err := ReadRequest(nc, 0)
	if err != nil {
		return
	}
	u, err := CheckUpgrade(req, []string{"sip"})
	if err != nil {
		s.mu.Lock()
		s.refusal = append(s.refusal, err)
		s.mu.Unlock()
		_, _ = nc.Write(AppendReject(nil, err))
		return
	}
	cfg := Config{MaxMessageSize: 128 << 10}
	if u.Target == "/small" {
		cfg.MaxMessageSize = 64 << 10
	}
	if _, err := nc.Write(AppendAccept(nil, u, Header{{"Access-Control-Allow-Origin", u.Origin}})); err != nil {
		return
	}
	s.mu.Lock()
	s.origins = append(s.origins, u.Origin)
	s.mu.Unlock()
	c := NewServer(nc, rest, cfg)
	var buf []byte
	for {
		op, msg, err := c.ReadMessage(buf)
		if err != nil {
			s.mu.Lock()
			s.ends[u.Target] = append(s.ends[u.Target], err)
			s.mu.Unlock()
			// Let the peer read the close frame before the socket goes.
			_ = c.CloseLingering(2 * time.Second)
			return
		}
		buf = msg
		if err := c.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

// TestBrowser runs the page above in a real headless Chromium against a
// server built on this package.
func TestBrowser(t *testing.T) {
	chromium := browsertest.Chromium(t)
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}

	wln := listen(t)
	ws := &wsTestServer{ln: wln, ends: map[string][]error{}}
	go ws.serve()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, browserPage, wln.Addr().(*net.TCPAddr).Port)
	})
	pageURL, results := browsertest.Serve[browserResult](t, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, exited := browsertest.Start(t, chromium, pageURL)

	var res browserResult
	select {
	case res = <-results:
	case err := <-exited:
		t.Fatalf("chromium exited before reporting: %v\n%s", err, tail(out))
	case <-ctx.Done():
		t.Fatalf("no result from the browser in 30 s\n%s", tail(out))
	}
	t.Logf("browser: %+v", res)
	if res.Error != "" {
		t.Fatalf("page error: %s", res.Error)
	}
	if res.Protocol != "sip" || !res.TextEcho || !res.BinaryEcho || res.BinaryLen != 70*1024 {
		t.Errorf("echo connection: %+v", res)
	}
	if res.Close1.Code != CloseNormal {
		t.Errorf("first connection closed with %d, want 1000", res.Close1.Code)
	}
	if res.Close2.Code != CloseMessageTooBig {
		t.Errorf("70 KB over a 64 KB limit: browser saw close %d, want 1009", res.Close2.Code)
	}
	if res.Refused == "opened" {
		t.Errorf("connection without sip subprotocol opened")
	}

	ws.mu.Lock()
	defer ws.mu.Unlock()
	pageOrigin := strings.TrimSuffix(pageURL, "/")
	if len(ws.origins) != 2 || ws.origins[0] != pageOrigin {
		t.Errorf("origins %q, want the page's %q", ws.origins, pageOrigin)
	}
	var ce *CloseError
	if e := ws.ends["/"]; len(e) != 1 || !errors.As(e[0], &ce) || !ce.Remote || ce.Code != CloseNormal || ce.Reason != "bye" {
		t.Errorf("server saw / end with %v", e)
	}
	if e := ws.ends["/small"]; len(e) != 1 || !errors.Is(e[0], ErrMessageTooBig) {
		t.Errorf("server saw /small end with %v", e)
	}
	var he *HandshakeError
	if len(ws.refusal) != 1 || !errors.As(ws.refusal[0], &he) || he.Status != 400 {
		t.Errorf("refusals %v", ws.refusal)
	}
}

// tail returns the end of the file name.
func tail(name string) string {
	b, _ := os.ReadFile(name)
	s := string(b)
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
