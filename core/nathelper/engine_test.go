package nathelper_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"

	_ "github.com/kemisip/kemi/core/all"
)

// TestEngineNATedRegister runs the NAT detection of Kamailio's basic
// example on a sipgo client whose Via and Contact say 192.168.1.10 while
// its packets come from 127.0.0.1: nat_uac_test(19) finds the NAT, and the
// binding registrar stores carries the alias set_contact_alias added and
// the received address fix_nated_register gave it (the 200 lists both).
func TestEngineNATedRegister(t *testing.T) {
	s := enginetest.Start(t, `
function ksr_request_route()
	if KSR.nathelper.nat_uac_test(19) < 0 then
		KSR.sl.sl_send_reply(499, "No NAT Seen")
		return
	end
	KSR.nathelper.fix_nated_register()
	KSR.nathelper.set_contact_alias()
	KSR.registrar.save("location", 0)
end`,
		enginetest.WithParams("nathelper", map[string]any{"received_avp": "$avp(RECEIVED)"}),
		enginetest.WithParams("registrar", map[string]any{"received_avp": "$avp(RECEIVED)"}))

	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("natted"))
	defer ua.Close()
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("192.168.1.10"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reg := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.com"})
	reg.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}})
	reg.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.HeaderParams{{K: "tag", V: "n1"}}})
	reg.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "192.168.1.10", Port: 5060}})
	reg.SetDestination(s.UDP())
	res, err := client.Do(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER answered %d %s\n%s", res.StatusCode, res.Reason, s.Logs())
	}
	if v := res.Via(); v == nil || v.Host != "192.168.1.10" {
		t.Fatalf("the client's Via is %v, want host 192.168.1.10", v)
	}
	c := res.Contact()
	if c == nil {
		t.Fatalf("200 without Contact:\n%s", res)
	}
	got := c.Value()
	t.Logf("stored contact: %s", got)
	if !strings.Contains(got, "sip:alice@192.168.1.10:5060;alias=127.0.0.1~") || !strings.Contains(got, "~1>") {
		t.Errorf("stored contact %q lacks the alias of 127.0.0.1 over udp", got)
	}
	if !strings.Contains(got, `received="sip:127.0.0.1:`) {
		t.Errorf("stored contact %q lacks received=sip:127.0.0.1:PORT", got)
	}
}
