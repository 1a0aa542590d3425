package nathelper_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/kamailiotest"
)

// startKamailio runs Kamailio 5.6 with testdata/kamailio.cfg and
// testdata/natuac.lua on a free loopback port (skipping the test when it
// is not installed) and returns its address.
func startKamailio(t *testing.T, defines ...string) string {
	t.Helper()
	script, _ := os.Getwd()
	defines = append([]string{`SCRIPT="` + script + `/testdata/natuac.lua"`}, defines...)
	p := newNATPeer(t, "127.0.0.1:9")
	ready := func(addr string) bool {
		return p.tryRequest(addr, natOptions("127.0.0.1", 1, "<sip:alice@127.0.0.1>"), 300*time.Millisecond) != ""
	}
	return kamailiotest.Start(t, "testdata/kamailio.cfg", []string{"app_lua.so", "nathelper.so", "registrar.so", "usrloc.so", "textops.so"},
		"kamailio and kamailio-lua-modules", ready, defines...)
}

// natOptions is an OPTIONS whose top Via says viaHost:viaPort (no port
// when 0) and whose Contact is contact.
func natOptions(viaHost string, viaPort int, contact string) string {
	sentBy := viaHost
	if viaPort != 0 {
		sentBy = fmt.Sprintf("%s:%d", viaHost, viaPort)
	}
	return "OPTIONS sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + sentBy + ";rport;branch=z9hG4bK-nat" + fmt.Sprint(time.Now().UnixNano()) + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@example.com>;tag=n1\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"Call-ID: natuac-" + fmt.Sprint(time.Now().UnixNano()) + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Contact: " + contact + "\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// natUACCases are requests from 127.0.0.1 (port P, the peer's), with what
// Kamailio 5.6.3 answers for nat_uac_test bits 1, 2, 4, 16, 32 and 128.
var natUACCases = []struct {
	name    string
	viaHost string
	viaPort int // -1: the peer's port
	contact string
	want    string
}{
	{"Via and Contact private", "192.168.1.10", 5060, "<sip:alice@192.168.1.10:5060>", "1=1;2=1;4=1;16=1;32=-1;128=1;"},
	{"direct", "127.0.0.1", -1, "<sip:alice@127.0.0.1:P>", "1=-1;2=-1;4=-1;16=-1;32=-1;128=-1;"},
	{"no ports, 10/8 Contact", "127.0.0.1", 0, "<sip:alice@10.1.2.3>", "1=1;2=-1;4=-1;16=1;32=-1;128=1;"},
	{"Via host a name, 172.16/12 Contact", "ua.example.com", -1, "<sip:alice@172.20.0.1:P;transport=udp>", "1=1;2=1;4=-1;16=-1;32=-1;128=-1;"},
	{"100.64/10 Via, public Contact", "100.64.0.1", -1, "<sip:alice@203.0.113.5:P>", "1=-1;2=1;4=1;16=-1;32=-1;128=-1;"},
}

// natUAC sends each case to addr and returns the X-NAT answers.
func natUAC(t *testing.T, addr string) []string {
	t.Helper()
	p := newNATPeer(t, addr)
	var out []string
	for _, tc := range natUACCases {
		vp := tc.viaPort
		if vp == -1 {
			vp = p.port()
		}
		res := p.tryRequest(addr, natOptions(tc.viaHost, vp, strings.ReplaceAll(tc.contact, ":P", fmt.Sprintf(":%d", p.port()))), 3*time.Second)
		if res == "" {
			t.Fatalf("%s: no answer from %s", tc.name, addr)
		}
		got := ""
		for _, line := range strings.Split(res, "\r\n") {
			if v, ok := strings.CutPrefix(line, "X-NAT: "); ok {
				got = v
			}
		}
		out = append(out, got)
	}
	return out
}

// TestNATUACTestSameAsKamailio sends requests from 127.0.0.1 whose Via
// and Contact carry private or other addresses, to kemi and to Kamailio
// 5.6 running the same Lua script, and compares what nat_uac_test
// answers for bits 1, 2, 4, 16, 32 and 128. The expected answers are
// Kamailio 5.6.3's; the Kamailio half skips when it is not installed.
func TestNATUACTestSameAsKamailio(t *testing.T) {
	script, err := os.ReadFile("testdata/natuac.lua")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("kemi", func(t *testing.T) {
		s := enginetest.Start(t, string(script))
		for i, got := range natUAC(t, s.UDP()) {
			if got != natUACCases[i].want {
				t.Errorf("%s: kemi answers %q, Kamailio 5.6.3 %q", natUACCases[i].name, got, natUACCases[i].want)
			}
		}
	})
	t.Run("kamailio", func(t *testing.T) {
		addr := startKamailio(t)
		for i, got := range natUAC(t, addr) {
			if got != natUACCases[i].want {
				t.Errorf("%s: Kamailio answers %q, the test expects %q", natUACCases[i].name, got, natUACCases[i].want)
			}
		}
	})
}

// TestNATKeepaliveShapeOfKamailio registers the NATed client with
// Kamailio 5.6 running the basic example's keepalive settings and checks
// that its first ping has the shape kemi's pings are checked against
// (pingShape in TestEngineNATKeepalive).
func TestNATKeepaliveShapeOfKamailio(t *testing.T) {
	addr := startKamailio(t, "NATPING=1")
	p := newNATPeer(t, addr)
	if res := p.register(true); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("Kamailio answered the REGISTER:\n%s", res)
	}
	got := p.pings(2500*time.Millisecond, true)
	if len(got) == 0 {
		t.Fatal("Kamailio sent no ping in 2.5 s")
	}
	t.Logf("Kamailio's ping:\n%s", got[0])
	if !pingShape.MatchString(got[0]) {
		t.Errorf("Kamailio's ping does not have the shape kemi's are checked against:\n%s", got[0])
	}
}
