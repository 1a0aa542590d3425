// Package examples shows how to embed kemi in a Go program or test.
package examples_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	// the standard modules (KSR.sl, KSR.tm, ...): the engine links none
	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine"
)

const script = `
function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "Alive")
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(403, "Forbidden")
end
`

// Example starts an engine on a free port, sends it an OPTIONS request and
// prints the status line of the reply.
func Example() {
	e, err := engine.New(engine.Config{
		Script:  []byte(script),
		Listen:  []string{"udp:127.0.0.1:0"},
		Workers: 1,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer e.Stop(context.Background())

	c, _ := net.Dial("udp", e.Addr("udp").String())
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	fmt.Fprintf(c, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-example\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\n"+
		"Call-ID: example\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port)
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _ := c.Read(buf)
	fmt.Println(strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	// Output: SIP/2.0 200 Alive
}
