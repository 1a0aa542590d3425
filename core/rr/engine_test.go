package rr_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// forwardScript record-routes, changes headers and the R-URI, and
// forwards statelessly: the changes of a route that stay lumps on the
// lazy message until the forward writes it.
const forwardScript = `
function ksr_request_route()
	KSR.rr.record_route()
	KSR.hdr.append("X-Lazy: yes\r\n")
	KSR.textops.remove_hf("User-Agent")
	KSR.pv.sets("$ru", "sip:carol@%s")
	%s
end
`

// TestForwardChanged sends an INVITE through an engine running
// forwardScript to a UDP socket standing for the next hop, with one
// listening socket (the request stays lazy up to the send: rr wants no
// double Record-Route) and with two (rr may double it: the stateless
// forward writes it on the lazy message, tm's branch on sipgo's form):
// the next hop gets the same request, forwarded or relayed by tm.
func TestForwardChanged(t *testing.T) {
	tests := []struct {
		listen []string
		double int // enable_double_rr
	}{
		{[]string{"udp:127.0.0.1:0"}, 1},
		{[]string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}, 1},
		{[]string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}, 2},
	}
	for _, tc := range tests {
		for _, send := range []string{"KSR.forward()", "KSR.tm.t_relay()"} {
			testForwardChanged(t, tc.listen, tc.double, send)
		}
	}
}

func testForwardChanged(t *testing.T, listen []string, double int, send string) {
	tc := struct{ double int }{double}
	t.Run(fmt.Sprintf("%s %s double_rr=%d", send, strings.Join(listen, ","), tc.double), func(t *testing.T) {
		peer, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		srv := enginetest.Start(t, fmt.Sprintf(forwardScript, peer.LocalAddr(), send),
			enginetest.WithConfig(func(c *engine.Config) { c.Listen = listen }),
			enginetest.WithParams("rr", map[string]any{"enable_double_rr": tc.double}))
		ua, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ua.Close()
		invite := strings.ReplaceAll(`INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP `+ua.LocalAddr().String()+`;branch=z9hG4bK-e1
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: lazy-forward-1
CSeq: 1 INVITE
User-Agent: test
Content-Length: 0

`, "\n", "\r\n")
		dst, err := net.ResolveUDPAddr("udp", srv.UDP())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ua.WriteTo([]byte(invite), dst); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := peer.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the next hop got nothing: %v\n%s", err, srv.Logs())
		}
		var got sipmsg.Msg
		if err := got.Parse(buf[:n]); err != nil {
			t.Fatalf("the next hop got a message that does not parse: %v\n%s", err, buf[:n])
		}
		if ru := string(got.RURI()); ru != "sip:carol@"+peer.LocalAddr().String() {
			t.Errorf("R-URI %q", ru)
		}
		rr := "<sip:" + srv.UDP() + ";lr;ftag=a1>"
		if tc.double == 2 {
			// both sides are the UDP socket: the same URI twice
			rr = "<sip:" + srv.UDP() + ";r2=on;lr;ftag=a1>"
		}
		want := map[string]string{
			"Record-Route": rr,
			"X-Lazy":       "yes",
			"Max-Forwards": "69",
			"User-Agent":   "",
		}
		for name, v := range want {
			if got := string(got.GetName([]byte(name))); got != v {
				t.Errorf("%s: %q, want %q", name, got, v)
			}
		}
		var vias []string
		for v := range got.Values(sipmsg.HdrVia) {
			vias = append(vias, string(v))
		}
		if len(vias) != 2 || !strings.HasPrefix(vias[0], "SIP/2.0/UDP "+srv.UDP()+";branch=z9hG4bK") ||
			!strings.HasPrefix(vias[1], "SIP/2.0/UDP "+ua.LocalAddr().String()+";branch=z9hG4bK-e1") {
			t.Errorf("Via %q", vias)
		}
		// the Record-Route and the changes come first, the Via right
		// above the caller's, as Kamailio writes them
		var names []string
		for id := range got.Headers() {
			names = append(names, kemi.CanonicalHeader(string(got.Name(id))))
		}
		wantNames := "record-route,via,via,max-forwards,from,to,call-id,cseq,content-length,x-lazy"
		if tc.double == 2 {
			wantNames = "record-route," + wantNames
		}
		if strings.Join(names, ",") != wantNames {
			t.Errorf("headers %v", names)
		}
	})
}
