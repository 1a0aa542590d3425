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

// serialScript forks serially by q, as Kamailio's t_serial documents:
// lookup fills the destination set, t_load_contacts groups it by q,
// t_next_contacts takes the highest group, and the failure route the
// next one.
const serialScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then KSR.sl.sl_reply_error() end
		KSR.x.exit()
	end
	if KSR.is_ACK() then
		if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.tm.t_load_contacts()
	KSR.tm.t_next_contacts()
	KSR.tm.t_on_failure("ksr_failure_next")
	KSR.tm.t_relay()
end

function ksr_failure_next()
	if KSR.tm.t_next_contacts() > 0 then
		KSR.tm.t_on_failure("ksr_failure_next")
		KSR.tm.t_relay()
	end
end
`

// TestEngineSerialForkingByQ registers three devices of alice with q 1.0,
// 0.5 and 0.5 through the real registrar and usrloc, then calls alice:
// the q=1.0 device rings alone; when it is busy, both q=0.5 devices ring
// together; when they are busy too, the caller gets 486.
func TestEngineSerialForkingByQ(t *testing.T) {
	srv := enginetest.Start(t, serialScript, enginetest.WithConfig(func(c *engine.Config) {
		c.DBURL = "memory"
	}))
	devs := []*ua{newUA(t), newUA(t), newUA(t)}
	qs := []string{"1.0", "0.5", "0.5"}
	for i, d := range devs {
		d.send(srv.UDP(), fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-sreg%d;rport\n"+
			"From: <sip:alice@example.com>;tag=s%d\nTo: <sip:alice@example.com>\n"+
			"Call-ID: sreg-%d\nCSeq: 1 REGISTER\nMax-Forwards: 70\n"+
			"Contact: <sip:alice@127.0.0.1:%d>;q=%s;expires=600\nContent-Length: 0\n\n", d.port(), i, i, i, d.port(), qs[i]))
		if res, ok := d.recv().(*sip.Response); !ok || res.StatusCode != 200 {
			t.Fatalf("REGISTER %d: %v", i, res)
		}
	}
	caller := newUA(t)
	caller.send(srv.UDP(), fmt.Sprintf("INVITE sip:alice@example.com SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-sinv;rport\n"+
		"From: <sip:bob@example.com>;tag=b1\nTo: <sip:alice@example.com>\n"+
		"Call-ID: scall\nCSeq: 1 INVITE\nMax-Forwards: 70\nContact: <sip:bob@127.0.0.1:%d>\nContent-Length: 0\n\n",
		caller.port(), caller.port()))

	busy := func(d *ua) {
		t.Helper()
		req, ok := d.recv().(*sip.Request)
		if !ok || req.Method != sip.INVITE {
			t.Fatalf("device %d got %v, want the INVITE", d.port(), req)
		}
		d.send(srv.UDP(), sip.NewResponseFromRequest(req, 486, "Busy Here", nil).String())
		if ack, ok := d.recv().(*sip.Request); !ok || ack.Method != sip.ACK {
			t.Fatalf("device %d got %v, want the ACK of its 486", d.port(), ack)
		}
	}
	// the q=1.0 group alone: the q=0.5 devices get nothing until it
	// failed
	req, ok := devs[0].recv().(*sip.Request)
	if !ok || req.Method != sip.INVITE {
		t.Fatalf("q=1.0 device got %v, want the INVITE", req)
	}
	// 180 stops kemi's retransmissions while the test waits
	devs[0].send(srv.UDP(), sip.NewResponseFromRequest(req, 180, "Ringing", nil).String())
	for _, d := range devs[1:] {
		if got := d.pending(300 * time.Millisecond); got != nil {
			t.Fatalf("q=0.5 device got %s while the q=1.0 one rang", got)
		}
	}
	devs[0].send(srv.UDP(), sip.NewResponseFromRequest(req, 486, "Busy Here", nil).String())
	if ack, ok := devs[0].recv().(*sip.Request); !ok || ack.Method != sip.ACK {
		t.Fatalf("q=1.0 device got %v, want the ACK of its 486", ack)
	}
	busy(devs[1])
	busy(devs[2])
	res, ok := caller.recv().(*sip.Response)
	if ok && res.StatusCode == 180 { // the q=1.0 device's
		res, ok = caller.recv().(*sip.Response)
	}
	if !ok || res.StatusCode != 486 {
		t.Fatalf("caller got %v, want 486", res)
	}
}

// pending returns the first line of a message that arrives within d, or
// nil when none does.
func (u *ua) pending(d time.Duration) []byte {
	buf := make([]byte, 65535)
	_ = u.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.conn.ReadFromUDP(buf)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	if err != nil {
		u.t.Fatalf("ua %d: %v", u.port(), err)
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
	return []byte(line)
}
