package tm_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// statsScript relays a request for user "relay" to its Request-URI and
// answers the others itself with 404, statefully.
const statsScript = `
function ksr_request_route()
	if KSR.pv.get("$rU") == "relay" then
		KSR.tm.t_relay()
		return
	end
	KSR.tm.t_newtran()
	KSR.tm.t_reply(404, "Nobody")
end
`

// send sends a MESSAGE for ruri from c to the engine at addr and returns
// the status line of the final reply.
func sendMessage(t *testing.T, c *net.UDPConn, addr, ruri string) string {
	t.Helper()
	id := time.Now().UnixNano()
	req := fmt.Sprintf("MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <%s>\r\nCall-ID: tmstats-%d\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		ruri, c.LocalAddr(), id, ruri, id)
	dst, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP([]byte(req), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("MESSAGE %s: %v", ruri, err)
		}
		if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

// answer200 reads one request on peer and answers it 200 OK.
func answer200(t *testing.T, peer *net.UDPConn) {
	buf := make([]byte, 4096)
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Errorf("peer: %v", err)
		return
	}
	var res strings.Builder
	res.WriteString("SIP/2.0 200 OK\r\n")
	for _, l := range strings.Split(string(buf[:n]), "\r\n")[1:] {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(l, h) {
				res.WriteString(l + "\r\n")
			}
		}
	}
	res.WriteString("Content-Length: 0\r\n\r\n")
	peer.WriteToUDP([]byte(res.String()), from)
}

func udp(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRPCStats: tm.stats counts a transaction tm answered and one whose
// reply it relayed, with Kamailio's keys in Kamailio's order, and frees
// both after wt_timer.
func TestRPCStats(t *testing.T) {
	s := enginetest.Start(t, statsScript, enginetest.WithParams("tm", map[string]any{"wt_timer": 300}))
	if got, want := s.RPCResult("tm.stats"), `{"current":0,"waiting":0,"total":0,"total_local":0,"rpl_generated":0,"rpl_sent":0,"6xx":0,"5xx":0,"4xx":0,"3xx":0,"2xx":0,"created":0,"freed":0}`; got != want {
		t.Errorf("tm.stats at start = %s\nwant %s", got, want)
	}
	ua, peer := udp(t), udp(t)
	if got := sendMessage(t, ua, s.UDP(), "sip:bob@example.com"); got != "SIP/2.0 404 Nobody" {
		t.Fatalf("local reply: %q", got)
	}
	done := make(chan struct{})
	go func() { defer close(done); answer200(t, peer) }()
	if got := sendMessage(t, ua, s.UDP(), "sip:relay@"+peer.LocalAddr().String()); got != "SIP/2.0 200 OK" {
		t.Fatalf("relayed reply: %q", got)
	}
	<-done
	if got, want := s.RPCResult("tm.stats"), `{"current":2,"waiting":2,"total":2,"total_local":0,"rpl_generated":1,"rpl_sent":2,"6xx":0,"5xx":0,"4xx":1,"3xx":0,"2xx":1,"created":2,"freed":0}`; got != want {
		t.Errorf("tm.stats after two transactions = %s\nwant %s", got, want)
	}
	deadline := time.Now().Add(5 * time.Second)
	want := `{"current":0,"waiting":0,"total":2,"total_local":0,"rpl_generated":1,"rpl_sent":2,"6xx":0,"5xx":0,"4xx":1,"3xx":0,"2xx":1,"created":2,"freed":2}`
	for {
		got := s.RPCResult("tm.stats")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tm.stats after wt_timer = %s\nwant %s", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
