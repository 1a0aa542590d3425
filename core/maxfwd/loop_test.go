package maxfwd_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// loopScript sends every request back to the address it arrived on: a
// forwarding loop. MAXFWD makes the script handle Max-Forwards itself,
// STATEFUL relays with tm. The Via count guard only bounds the test when
// core forwarding does not stop the loop.
const loopScript = `
function ksr_request_route()
	if KSR.pv.get("$hdrc(Via)") > 150 then
		KSR.sl.sl_send_reply(500, "Loop guard")
		return
	end
	if KSR.kx.ifdef("MAXFWD") and KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return
	end
	KSR.setdsturi("sip:" .. KSR.pv.get("$Ri") .. ":" .. KSR.pv.get("$Rp"))
	if KSR.kx.ifdef("STATEFUL") then
		if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
	else
		KSR.forward()
	end
end
`

// caller is a UDP socket that sends one request and reads the replies.
type caller struct {
	t *testing.T
	c *net.UDPConn
}

func newCaller(t *testing.T) *caller {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &caller{t: t, c: c}
}

func (c *caller) addr() string { return c.c.LocalAddr().String() }

func (c *caller) send(to, text string) {
	c.t.Helper()
	a, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.c.WriteToUDP([]byte(text), a); err != nil {
		c.t.Fatal(err)
	}
}

// finalReply waits for the first reply of 200 or more and returns its
// status line.
func (c *caller) finalReply(timeout time.Duration) string {
	c.t.Helper()
	buf := make([]byte, 65536)
	deadline := time.Now().Add(timeout)
	for {
		_ = c.c.SetReadDeadline(deadline)
		n, _, err := c.c.ReadFromUDP(buf)
		if err != nil {
			c.t.Fatalf("no final reply within %v: %v", timeout, err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if strings.HasPrefix(line, "SIP/2.0 ") && !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

func (c *caller) invite(proxy, callID string, maxFwd int) string {
	return fmt.Sprintf("INVITE sip:loop@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s\r\n"+
		"Max-Forwards: %d\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a1\r\n"+
		"To: <sip:loop@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:alice@%s>\r\n"+
		"Content-Length: 0\r\n\r\n", proxy, c.addr(), callID, maxFwd, proxy, callID, c.addr())
}

// TestForwardingLoopStoppedByMaxForwards: a script that forwards to
// itself without looking at Max-Forwards is stopped by core forwarding
// after Max-Forwards hops (RFC 3261 §16.6 step 3, §16.3 step 3), and the
// caller gets 483; a script that runs process_maxfwd is not decremented a
// second time by the core.
func TestForwardingLoopStoppedByMaxForwards(t *testing.T) {
	tests := []struct {
		name    string
		defines []string
		maxFwd  int
		want    string
		invites float64 // INVITEs the proxy received, the caller's included
		txs     float64 // transactions created
		mfLines string  // Max-Forwards lines sent instead of "Max-Forwards: maxFwd"
	}{
		// tm sends a request over 1300 bytes by TCP (RFC 3261 §18.1.1):
		// a dozen hops keep the loop on UDP
		{"stateless", nil, 12, "SIP/2.0 483 Too Many Hops", 13, 0, ""},
		{"stateful", []string{"STATEFUL"}, 12, "SIP/2.0 483 Too Many Hops", 13, 13, ""},
		// the script's own 483 after 12 hops: a second decrement by the
		// core would have stopped it after 6
		{"stateless with process_maxfwd", []string{"MAXFWD"}, 12, "SIP/2.0 483 Too Many Hops", 13, 0, ""},
		{"stateful with process_maxfwd", []string{"MAXFWD", "STATEFUL"}, 12, "SIP/2.0 483 Too Many Hops", 13, 12, ""},
		// Max-Forwards: 70 added, then 70 hops
		{"stateless without Max-Forwards", nil, -1, "SIP/2.0 483 Too Many Hops", 72, 0, ""},
		// how the sender writes the header does not make the core think the
		// script changed it (the loop guard would answer 500)
		{"stateless with two Max-Forwards", nil, 12, "SIP/2.0 483 Too Many Hops", 13, 0, "Max-Forwards: 12\r\nMax-Forwards: 40\r\n"},
		{"stateful with a folded Max-Forwards", []string{"STATEFUL"}, 12, "SIP/2.0 483 Too Many Hops", 13, 13, "Max-Forwards:\r\n 12\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defines := map[string]string{}
			for _, d := range tc.defines {
				defines[d] = "1"
			}
			s := enginetest.Start(t, loopScript, enginetest.WithConfig(func(c *engine.Config) { c.Defines = defines }))
			c := newCaller(t)
			msg := c.invite(s.UDP(), "loop-"+strings.ReplaceAll(tc.name, " ", "-"), tc.maxFwd)
			if tc.maxFwd < 0 {
				msg = strings.Replace(msg, "Max-Forwards: -1\r\n", "", 1)
			}
			if tc.mfLines != "" {
				msg = strings.Replace(msg, fmt.Sprintf("Max-Forwards: %d\r\n", tc.maxFwd), tc.mfLines, 1)
			}
			c.send(s.UDP(), msg)
			if got := c.finalReply(10 * time.Second); got != tc.want {
				t.Errorf("caller got %q, want %q", got, tc.want)
			}
			if v := s.Metric(`kemi_core_requests_received_total{method="INVITE"}`); v != tc.invites {
				t.Errorf("INVITEs received = %v, want %v", v, tc.invites)
			}
			if v := s.Metric(`kemi_tm_transactions_total`); v != tc.txs {
				t.Errorf("transactions = %v, want %v", v, tc.txs)
			}
		})
	}
}

// TestMaxForwardsZeroIsNotForwarded: a request that arrives with
// Max-Forwards 0 is not forwarded; the sender gets 483, except for an
// ACK, which is dropped.
func TestMaxForwardsZeroIsNotForwarded(t *testing.T) {
	for _, stateful := range []bool{false, true} {
		t.Run(fmt.Sprintf("stateful=%v", stateful), func(t *testing.T) {
			callee := newCaller(t)
			defines := map[string]string{"callee": "sip:" + callee.addr()}
			if stateful {
				defines["STATEFUL"] = "1"
			}
			s := enginetest.Start(t, `
function ksr_request_route()
	KSR.setdsturi(KSR.kx.get_def("callee"))
	if KSR.kx.ifdef("STATEFUL") then KSR.tm.t_relay() else KSR.forward() end
end`, enginetest.WithConfig(func(c *engine.Config) { c.Defines = defines }))
			c := newCaller(t)
			c.send(s.UDP(), strings.ReplaceAll(c.invite(s.UDP(), "zero-ack", 0), "INVITE", "ACK"))
			nothing(t, c, "the caller, for the ACK")
			c.send(s.UDP(), c.invite(s.UDP(), "zero-inv", 0))
			if got := c.finalReply(5 * time.Second); got != "SIP/2.0 483 Too Many Hops" {
				t.Errorf("caller got %q, want 483", got)
			}
			nothing(t, callee, "the callee")
			if v := s.Metric(`kemi_core_requests_received_total{method="ACK"}`); v != 1 {
				t.Errorf("ACKs received = %v, want 1", v)
			}
		})
	}
}

// nothing checks that c receives nothing for a moment.
func nothing(t *testing.T, c *caller, who string) {
	t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 65536)
	if n, _, err := c.c.ReadFromUDP(buf); err == nil {
		t.Errorf("%s received:\n%s", who, buf[:n])
	}
}

// TestScriptMaxForwardsIsLeftAlone: a Max-Forwards header the script
// changed or removed is forwarded as the script left it, statelessly and
// through tm; one it left alone is decremented.
func TestScriptMaxForwardsIsLeftAlone(t *testing.T) {
	tests := []struct {
		name string
		lua  string
		want string // the Max-Forwards line the callee gets, "" for none
	}{
		{"untouched", ``, "Max-Forwards: 11"},
		{"changed", `KSR.hdr.remove("Max-Forwards") KSR.hdr.insert("Max-Forwards: 5\r\n")`, "Max-Forwards: 5"},
		{"removed", `KSR.hdr.remove("Max-Forwards")`, ""},
	}
	for _, stateful := range []bool{false, true} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/stateful=%v", tc.name, stateful), func(t *testing.T) {
				callee := newCaller(t)
				defines := map[string]string{"callee": "sip:" + callee.addr()}
				if stateful {
					defines["STATEFUL"] = "1"
				}
				s := enginetest.Start(t, `
function ksr_request_route()
	`+tc.lua+`
	KSR.setdsturi(KSR.kx.get_def("callee"))
	if KSR.kx.ifdef("STATEFUL") then KSR.tm.t_relay() else KSR.forward() end
end`, enginetest.WithConfig(func(c *engine.Config) { c.Defines = defines }))
				c := newCaller(t)
				c.send(s.UDP(), c.invite(s.UDP(), "mf-script-"+tc.name, 12))
				buf := make([]byte, 65536)
				_ = callee.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _, err := callee.c.ReadFromUDP(buf)
				if err != nil {
					t.Fatalf("the callee got nothing: %v", err)
				}
				var got []string
				for _, l := range strings.Split(string(buf[:n]), "\r\n") {
					if strings.HasPrefix(l, "Max-Forwards:") {
						got = append(got, l)
					}
				}
				if strings.Join(got, "|") != tc.want {
					t.Errorf("callee got %q, want %q\n%s", got, tc.want, buf[:n])
				}
			})
		}
	}
}
