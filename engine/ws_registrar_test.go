package engine_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// registerScript is the registrar part of Kamailio's WebSocket example:
// a WebSocket client's contact is saved with the alias of its
// connection, and a call to it goes over that connection.
const registerScript = `
function ksr_request_route()
	if KSR.is_method("REGISTER") then
		if KSR.is_WSX() then KSR.nathelper.add_contact_alias() end
		KSR.registrar.save("location", 0)
		return
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		return
	end
	KSR.nathelper.handle_ruri_alias()
	if KSR.tm.t_relay() < 0 then
		KSR.sl.sl_reply_error()
	end
end`

func TestWSRegisterAndLookup(t *testing.T) {
	s := enginetest.Start(t, registerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0"}
	}))
	w, err := dialWS(t, s.Addr("ws").String(), nil, "sip")
	if err != nil {
		t.Fatal(err)
	}
	reg := strings.Replace(sipOptions("WS", "reg"), "OPTIONS sip:kemi@127.0.0.1", "REGISTER sip:127.0.0.1", 1)
	reg = strings.Replace(reg, "CSeq: 1 OPTIONS", "CSeq: 1 REGISTER", 1)
	reg = strings.Replace(reg, "To: <sip:kemi@127.0.0.1>", "To: <sip:bob@127.0.0.1>", 1)
	reg = strings.Replace(reg, "Content-Length", "Contact: <sip:bob@df7jal23ls0d.invalid;transport=ws>;expires=600\r\nContent-Length", 1)
	w.send(reg)
	if msg, err := w.read("SIP/2.0 "); err != nil || !strings.HasPrefix(msg, "SIP/2.0 200") {
		t.Fatalf("REGISTER: %v\n%s\n%s", err, msg, s.Logs())
	}
	c, err := net.Dial("udp", s.UDP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(id string) {
		inv := strings.Replace(inviteWith("UDP", id, ""), "INVITE sip:kemi@127.0.0.1", "INVITE sip:bob@127.0.0.1", 1)
		inv = strings.Replace(inv, "127.0.0.1:5999", c.LocalAddr().String(), 1)
		if _, err := c.Write([]byte(inv)); err != nil {
			t.Fatal(err)
		}
	}
	call("call1")
	got, err := w.read("INVITE ")
	if err != nil {
		t.Fatalf("the call did not reach the WebSocket client: %v\n%s", err, s.Logs())
	}
	if !strings.HasPrefix(got, "INVITE sip:bob@df7jal23ls0d.invalid;transport=ws SIP/2.0\r\n") {
		t.Errorf("INVITE to the registered contact, alias removed, expected:\n%s", got)
	}
	w.send(reply(got, 486, "Busy Here"))

	// once the connection is gone, a call to the client fails at once
	// rather than waiting for a timeout
	w.nc.Close()
	time.Sleep(100 * time.Millisecond)
	call("call2")
	b := make([]byte, 65536)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := c.Read(b)
		if err != nil {
			t.Fatalf("no final reply to the call after the connection closed: %v\n%s", err, s.Logs())
		}
		msg := string(b[:n])
		if strings.Contains(msg, "Call-ID: call2") && !strings.HasPrefix(msg, "SIP/2.0 1") {
			// usrloc removed the binding with its connection: not found
			// (477 if the close had not been seen yet)
			if !strings.HasPrefix(msg, "SIP/2.0 404 ") {
				t.Errorf("after the close: %s, want 404", strings.SplitN(msg, "\r\n", 2)[0])
			}
			break
		}
	}
}
