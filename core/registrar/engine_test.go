package registrar_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

const registrarScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.tm.t_relay()
end
`

// ua is a UDP endpoint of the test.
type ua struct {
	t    *testing.T
	conn *net.UDPConn
}

func newUA(t *testing.T) *ua {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ua{t: t, conn: c}
}

func (u *ua) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *ua) send(to string, msg string) {
	u.t.Helper()
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		u.t.Fatal(err)
	}
	if !strings.Contains(msg, "\r\n") {
		msg = strings.ReplaceAll(msg, "\n", "\r\n")
	}
	if _, err := u.conn.WriteToUDP([]byte(msg), addr); err != nil {
		u.t.Fatal(err)
	}
}

// recv returns the next SIP message, skipping 100 Trying.
func (u *ua) recv() sip.Message {
	u.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = u.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			u.t.Fatalf("ua %d: %v", u.port(), err)
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			u.t.Fatalf("ua %d: %v", u.port(), err)
		}
		if res, ok := msg.(*sip.Response); ok && res.StatusCode == 100 {
			continue
		}
		return msg
	}
}

// TestEngineRegisterAndFork registers two devices of alice through a real
// engine, then calls alice: the INVITE forks in parallel to both.
func TestEngineRegisterAndFork(t *testing.T) {
	srv := enginetest.Start(t, registrarScript, enginetest.WithConfig(func(c *engine.Config) {
		c.DBURL = "memory" // the real usrloc, on its memory backend
	}))
	dev1, dev2, caller := newUA(t), newUA(t), newUA(t)
	for i, d := range []*ua{dev1, dev2} {
		d.send(srv.UDP(), fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-reg%d;rport\n"+
			"From: <sip:alice@example.com>;tag=r%d\nTo: <sip:alice@example.com>\n"+
			"Call-ID: reg-%d\nCSeq: 1 REGISTER\nMax-Forwards: 70\n"+
			"Contact: <sip:alice@127.0.0.1:%d>;expires=600\nContent-Length: 0\n\n", d.port(), i, i, i, d.port()))
		res, ok := d.recv().(*sip.Response)
		if !ok || res.StatusCode != 200 {
			t.Fatalf("REGISTER %d: %v", i, res)
		}
		if i == 1 {
			var cs []string
			for _, h := range res.GetHeaders("Contact") {
				cs = append(cs, h.Value())
			}
			c := strings.Join(cs, ", ")
			if !strings.Contains(c, fmt.Sprintf("127.0.0.1:%d>;expires=", dev1.port())) ||
				!strings.Contains(c, fmt.Sprintf("127.0.0.1:%d>;expires=", dev2.port())) {
				t.Fatalf("200 OK lists %v (devices %d %d)", c, dev1.port(), dev2.port())
			}
		}
	}
	caller.send(srv.UDP(), fmt.Sprintf("INVITE sip:alice@example.com SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-inv1;rport\n"+
		"From: <sip:bob@example.com>;tag=b1\nTo: <sip:alice@example.com>\n"+
		"Call-ID: call-1\nCSeq: 1 INVITE\nMax-Forwards: 70\nContact: <sip:bob@127.0.0.1:%d>\nContent-Length: 0\n\n", caller.port(), caller.port()))
	for _, d := range []*ua{dev1, dev2} {
		req, ok := d.recv().(*sip.Request)
		if !ok || req.Method != sip.INVITE {
			t.Fatalf("device %d got %v", d.port(), req)
		}
		if want := fmt.Sprintf("sip:alice@127.0.0.1:%d", d.port()); req.Recipient.String() != want {
			t.Errorf("device got R-URI %s, want %s", req.Recipient.String(), want)
		}
		res := sip.NewResponseFromRequest(req, 486, "Busy Here", nil)
		d.send(srv.UDP(), res.String())
	}
	res, ok := caller.recv().(*sip.Response)
	if !ok || res.StatusCode != 486 {
		t.Fatalf("caller got %v", res)
	}
	caller.send(srv.UDP(), fmt.Sprintf("ACK sip:alice@example.com SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-inv1;rport\n"+
		"From: <sip:bob@example.com>;tag=b1\n%s\nCall-ID: call-1\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n",
		caller.port(), "To: "+res.To().Value()))
	if got := srv.WaitMetric("kemi_registrar_accepted_total", 2, 2*time.Second); got != 2 {
		t.Errorf("accepted %v", got)
	}
}
