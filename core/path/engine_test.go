package path_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"

	_ "github.com/kemisip/kemi/core/all"
)

// listenUDP opens a loopback UDP socket closed when the test ends.
func listenUDP(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEdgeAddsPathToRegister runs kemi as an edge proxy in front of a
// sipgo registrar: the REGISTER of a sipgo client reaches the registrar
// with our Path (address of the socket it left over, received = the
// client's address), and the 200 comes back to the client.
func TestEdgeAddsPathToRegister(t *testing.T) {
	regConn := listenUDP(t)
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.path.add_path_received_user("edge") < 0 then
			KSR.sl.sl_send_reply(503, "Internal Path Error")
			return
		end
		KSR.setdsturi("sip:`+regConn.LocalAddr().String()+`")
		KSR.tm.t_relay()
	end
end`)

	regUA, _ := sipgo.NewUA(sipgo.WithUserAgent("registrar"))
	defer regUA.Close()
	srv, _ := sipgo.NewServer(regUA)
	paths := make(chan []string, 1)
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		var ps []string
		for _, h := range req.GetHeaders("Path") {
			ps = append(ps, h.Value())
		}
		paths <- ps
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go srv.ServeUDP(regConn)

	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("alice"))
	defer ua.Close()
	client, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reg := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.com"})
	reg.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "192.0.2.10", Port: 5062}})
	reg.SetDestination(s.UDP())
	res, err := client.Do(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER answered %d", res.StatusCode)
	}
	var got []string
	select {
	case got = <-paths:
	case <-time.After(2 * time.Second):
		t.Fatal("the registrar got no REGISTER")
	}
	// the client's port is its own ephemeral one
	prefix := "<sip:edge@" + s.UDP() + ";lr;received=sip:127.0.0.1:"
	if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || !strings.HasSuffix(got[0], ">") {
		t.Fatalf("the registrar saw Path %q, want [%s<port>>]", got, prefix)
	}
	if port, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(got[0], prefix), ">")); err != nil || port == 0 {
		t.Errorf("received port in %q", got[0])
	}
}

// TestUseReceivedRoutesToReceived checks use_received on an edge: an
// INVITE the registrar sends along the stored Path comes with our Route
// carrying received; loose_route consumes it and the request goes to the
// received address, not to the (private) Contact in the R-URI.
func TestUseReceivedRoutesToReceived(t *testing.T) {
	device := listenUDP(t)
	s := enginetest.Start(t, `
function ksr_request_route()
	local r = KSR.rr.loose_route()
	if r > 0 or r == -3 then
		KSR.tm.t_relay()
		return
	end
	KSR.sl.sl_send_reply(404, "No Route")
end`, enginetest.WithParams("path", map[string]any{"use_received": 1}))

	caller := listenUDP(t)
	devAddr := device.LocalAddr().String()
	invite := "INVITE sip:alice@192.0.2.10:5062 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + caller.LocalAddr().String() + ";branch=z9hG4bKur1;rport\r\n" +
		"Route: <sip:" + s.UDP() + ";lr;received=sip:" + devAddr + ">\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>\r\n" +
		"Call-ID: use-received-1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@" + caller.LocalAddr().String() + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
	dst, _ := net.ResolveUDPAddr("udp", s.UDP())
	if _, err := caller.WriteToUDP([]byte(invite), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	device.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := device.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing reached the received address: %v; log:\n%s", err, s.Logs())
	}
	got := string(buf[:n])
	if !strings.HasPrefix(got, "INVITE sip:alice@192.0.2.10:5062 SIP/2.0\r\n") {
		t.Errorf("received %q", strings.SplitN(got, "\r\n", 2)[0])
	}
	if strings.Contains(got, "\r\nRoute:") {
		t.Errorf("our Route was not consumed:\n%s", got)
	}
	if v := s.Metric("kemi_path_received_routes_total"); v != 1 {
		t.Errorf("kemi_path_received_routes_total = %v, want 1", v)
	}
}
