package kemi_test

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const req = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa
v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKb
From: <sip:alice@example.com>;tag=1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 INVITE
X-A: one
x-a: two
Route: <sip:10.0.0.9;lr>

`

func TestHeaderHelpers(t *testing.T) {
	m := kemitest.ParseMsg(t, req)
	if got := m.HeaderValues("X-A"); len(got) != 2 || got[1] != "two" {
		t.Fatalf("HeaderValues = %q", got)
	}
	if v, ok := m.HeaderAt("via", -1); !ok || !strings.Contains(v, "10.0.0.2") {
		t.Fatalf("HeaderAt(via,-1) = %q %v", v, ok)
	}
	// removing the top Via keeps the shortcut to the top Via right
	if !m.RemoveHeaderValue(m.Headers("Via")[0]) || m.Request().Via().Host != "10.0.0.2" {
		t.Fatalf("top Via after removal = %v", m.Request().Via())
	}
	if n := m.RemoveHeaders("x-A"); n != 2 || m.HasHeader("X-A") {
		t.Fatalf("RemoveHeaders = %d", n)
	}
	hs, err := kemi.ParseHeaders("Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKc\r\nX-B: 1\r\n")
	if err != nil || len(hs) != 2 {
		t.Fatalf("ParseHeaders = %v %v", hs, err)
	}
	m.InsertHeadersAt(0, hs[0])
	if m.Request().Via().Host != "10.0.0.3" {
		t.Fatalf("top Via after insert = %v", m.Request().Via())
	}
	idx := m.IndexOfHeader("Route")
	m.InsertHeadersAt(idx, hs[1])
	if m.HeaderList()[idx].Name() != "X-B" {
		t.Fatalf("insert at %d: %v", idx, m.Request().String())
	}
	r := &sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: "10.0.0.8"}}
	m.InsertHeadersAt(m.IndexOfHeader("Route"), r)
	if m.Request().Route().Address.Host != "10.0.0.8" {
		t.Fatalf("Route shortcut = %v", m.Request().Route())
	}
	if _, err := kemi.ParseHeaders("not a header"); err == nil {
		t.Fatal("ParseHeaders accepted junk")
	}
}

func TestNewReply(t *testing.T) {
	m := kemitest.ParseMsg(t, req)
	m.ReplyHeaders, _ = kemi.ParseHeaders("X-Reason: test\r\n")
	res := m.NewReply(404, "Not Found")
	text := res.String()
	for _, want := range []string{"SIP/2.0 404 Not Found", "received=192.0.2.10", "To: <sip:bob@example.com>;tag=", "X-Reason: test", "Content-Length: 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("reply lacks %q:\n%s", want, text)
		}
	}
	if again := m.NewReply(404, "Not Found"); again.To().Params.GetOr("tag", "") != res.To().Params.GetOr("tag", "") {
		t.Error("To-tag differs for the same request")
	}
	if trying := m.NewReply(100, "Trying"); trying.To().Params.Has("tag") {
		t.Error("100 Trying got a To-tag")
	}
}

func TestPVParse(t *testing.T) {
	pvs := kemi.NewPVTable()
	get := func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) { return kemi.Str(p.Key(m)), nil }
	pvs.Register(kemi.PVClass{Name: "var", Param: true, Get: get})
	pvs.Register(kemi.PVClass{Name: "si", Get: func(*kemi.Msg, *kemi.PVName) (kemi.Value, error) { return kemi.Str("1.2.3.4"), nil }})
	m := kemitest.ParseMsg(t, req)
	for in, want := range map[string]string{"$var(x)": "x", "$(var(y))": "y", "$var(a=>$si)": "a=>1.2.3.4", "$si": "1.2.3.4"} {
		v, err := pvs.Get(m, in)
		if err != nil || v.String() != want {
			t.Errorf("%s = %q %v, want %q", in, v.String(), err, want)
		}
	}
	for _, bad := range []string{"$nope", "$var", "$var(x", "si", "$si)"} {
		if _, err := pvs.Parse(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	f, err := pvs.CompileFormat("from $si to $var(z) costs $$5")
	if err != nil || f.Eval(m) != "from 1.2.3.4 to z costs $5" {
		t.Fatalf("format: %v %q", err, f.Eval(m))
	}
}
