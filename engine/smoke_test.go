package engine_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
)

func TestSmoke(t *testing.T) {
	e, err := engine.New(engine.Config{Script: []byte(`
function ksr_request_route()
  KSR.info("got " .. KSR.pv.get("$rm") .. " from " .. KSR.pv.get("$si"))
  if KSR.is_OPTIONS() then
    KSR.sl.sl_send_reply(200, "Alive")
    KSR.x.exit()
  end
  KSR.sl.sl_send_reply("404", "Nope")
end`), Listen: []string{"udp:127.0.0.1:0"}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	c, _ := net.Dial("udp", e.Addr("udp").String())
	msg := "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK123;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4000)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", buf[:n])
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 Alive") {
		t.Fatal("bad reply")
	}
}
