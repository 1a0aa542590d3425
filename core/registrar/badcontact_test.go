package registrar_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// TestEngineBrokenContact: a REGISTER whose Contact does not parse reaches
// the script, and save answers 400 with Kamailio's P-Registrar-Error,
// storing nothing; the next good REGISTER is saved.
func TestEngineBrokenContact(t *testing.T) {
	srv := enginetest.Start(t, registrarScript, enginetest.WithConfig(func(c *engine.Config) {
		c.DBURL = "memory"
	}))
	d := newUA(t)
	for i, contact := range []string{
		"<sip:alice@127.0.0.1:%d",     // no closing bracket
		"<sip:alice@127.0.0.1:%d>;;=", // a parameter without a name
		"<sip:alice@127.0.0.1:%d>",
	} {
		d.send(srv.UDP(), fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-bad%d;rport\n"+
			"From: <sip:alice@example.com>;tag=x%d\nTo: <sip:alice@example.com>\n"+
			"Call-ID: bad-%d\nCSeq: 1 REGISTER\nMax-Forwards: 70\n"+
			"Contact: "+contact+"\nExpires: 600\nContent-Length: 0\n\n", d.port(), i, i, i, d.port()))
		res, ok := d.recv().(*sip.Response)
		if !ok {
			t.Fatalf("contact %d: no reply", i)
		}
		if i < 2 {
			if res.StatusCode != 400 || res.GetHeader("P-Registrar-Error") == nil || res.GetHeader("P-Registrar-Error").Value() != "Contact parse error" {
				t.Errorf("contact %d: %d %s %v, want 400 with P-Registrar-Error: Contact parse error", i, res.StatusCode, res.Reason, res.GetHeader("P-Registrar-Error"))
			}
			continue
		}
		if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 1 {
			t.Errorf("good REGISTER: %d %s, contacts %v", res.StatusCode, res.Reason, res.GetHeaders("Contact"))
		}
	}
}

// TestEngineRefusalListsBindings: a refresh with a lower CSeq of the same
// Call-ID gets 400 Invalid CSeq number listing the bindings it left as
// they were, as Kamailio's reply does.
func TestEngineRefusalListsBindings(t *testing.T) {
	srv := enginetest.Start(t, registrarScript, enginetest.WithConfig(func(c *engine.Config) {
		c.DBURL = "memory"
	}))
	d := newUA(t)
	for i, cseq := range []int{5, 4} {
		d.send(srv.UDP(), fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-cs%d;rport\n"+
			"From: <sip:alice@example.com>;tag=c%d\nTo: <sip:alice@example.com>\n"+
			"Call-ID: cseq-1\nCSeq: %d REGISTER\nMax-Forwards: 70\n"+
			"Contact: <sip:alice@127.0.0.1:%d>\nExpires: 600\nContent-Length: 0\n\n", d.port(), i, i, cseq, d.port()))
		res, ok := d.recv().(*sip.Response)
		if !ok {
			t.Fatalf("CSeq %d: no reply", cseq)
		}
		want := 200
		if i == 1 {
			want = 400
		}
		if res.StatusCode != want || len(res.GetHeaders("Contact")) != 1 ||
			!strings.Contains(res.GetHeaders("Contact")[0].Value(), fmt.Sprintf("127.0.0.1:%d>;expires=", d.port())) {
			t.Errorf("CSeq %d: %d %s, Contact %v; want %d listing the binding", cseq, res.StatusCode, res.Reason, res.GetHeaders("Contact"), want)
		}
	}
}
