package engine_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// xhttpBodyScript answers an HTTP POST with what the route read of it,
// as a Kamailio script does with $rb and $hdr(...): the body, its type
// and its length, and one field picked out of the JSON.
const xhttpBodyScript = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "OK")
end

function ksr_xhttp_event(evname)
	local body = KSR.pv.gete("$rb")
	local user = string.match(body, '"user"%s*:%s*"([^"]*)"') or "-"
	KSR.xhttp.xhttp_reply(200, "OK", KSR.pv.gete("$hdr(Content-Type)"),
		KSR.pv.get("$rm") .. " " .. KSR.pv.gete("$cT") .. " " .. tostring(KSR.pv.get("$cl")) ..
		" user=" .. user .. " body=" .. body)
end
`

// readHTTPReply reads one HTTP reply with a Content-Length from r.
func readHTTPReply(t *testing.T, c net.Conn, r *bufio.Reader) (head, body string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	head, err := readSIP(t, c, r)
	if err != nil {
		t.Fatalf("no HTTP reply: %v", err)
	}
	n, _ := strconv.Atoi(header(head, "Content-Length"))
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("reply body: %v", err)
	}
	return head, string(b)
}

// TestXHTTPBody posts JSON bodies to ksr_xhttp_event and checks that the
// route reads them ($rb, $cT, $cl, $hdr(Content-Type)) and echoes them:
// one body sent with its head, one sent after it in two pieces, and a
// GET without body between them (Content-Length 0, from the stand-in
// message), all on one keep-alive connection.
func TestXHTTPBody(t *testing.T) {
	s := enginetest.Start(t, xhttpBodyScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	c, err := net.DialTimeout("tcp", s.TCP(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	post := func(body string) string {
		return "POST /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n"
	}

	one := `{"user":"alice","n":1}`
	if _, err := io.WriteString(c, post(one)+one); err != nil {
		t.Fatal(err)
	}
	head, body := readHTTPReply(t, c, r)
	want := "POST application/json " + strconv.Itoa(len(one)) + " user=alice body=" + one
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK") || header(head, "Content-Type") != "application/json" || body != want {
		t.Errorf("reply %q body %q, want body %q\n%s", head, body, want, s.Logs())
	}

	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, body := readHTTPReply(t, c, r); body != "GET  0 user=- body=" {
		t.Errorf("GET without body: %q", body)
	}

	two := `{"user":"bob","list":[1,2,3],"text":"a\r\nb"}`
	if _, err := io.WriteString(c, post(two)+two[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the rest comes later
	if _, err := io.WriteString(c, two[10:]); err != nil {
		t.Fatal(err)
	}
	_, body = readHTTPReply(t, c, r)
	if want := "POST application/json " + strconv.Itoa(len(two)) + " user=bob body=" + two; body != want {
		t.Errorf("body sent in pieces: %q, want %q", body, want)
	}
}

// TestXHTTPBodyTooLarge checks that a body longer than max_message_size
// is refused with 413 before it is read.
func TestXHTTPBodyTooLarge(t *testing.T) {
	s := enginetest.Start(t, xhttpBodyScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	got := rawUpgrade(t, s.TCP(), "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{")
	if !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("reply %q, want 413", got)
	}
}
