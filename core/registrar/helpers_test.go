package registrar_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/registrar"
)

// fixture is registrar loaded with a fakeLocation.
type fixture struct {
	e   *kemitest.Env
	loc *fakeLocation
}

func setup(t *testing.T, params map[string]any) *fixture {
	t.Helper()
	loc := newFakeLocation()
	e := kemitest.LoadOpts(t, kemitest.Options{
		Params: map[string]map[string]any{"registrar": params},
		Before: func(e *kemitest.Env) error { return e.Services.Provide(kemi.ServiceUsrloc, loc) },
	}, "registrar")
	t.Cleanup(e.Destroy)
	return &fixture{e: e, loc: loc}
}

// register builds a REGISTER of alice@example.com with the given Call-ID,
// CSeq and extra header lines.
func register(callID string, cseq int, hdrs ...string) string {
	return fmt.Sprintf("REGISTER sip:example.com SIP/2.0\n"+
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-%s-%d\n"+
		"From: <sip:alice@example.com>;tag=f1\n"+
		"To: <sip:alice@example.com>\n"+
		"Call-ID: %s\n"+
		"CSeq: %d REGISTER\n"+
		"Max-Forwards: 70\n%s\n", callID, cseq, callID, cseq, strings.Join(hdrs, "\n")+"\n")
}

// save runs KSR.registrar.save on the REGISTER text and returns its value
// and the reply sent (nil if none).
func (f *fixture) save(t *testing.T, text string, flags int) (int64, *sip.Response, *kemi.Msg) {
	t.Helper()
	f.e.Host.Reset()
	m := f.e.Prepare(kemitest.ParseMsg(t, text))
	v := f.e.Call(t, "KSR.registrar.save", m, "location", flags)
	return v.Int, f.lastReply(t), m
}

func (f *fixture) lastReply(t *testing.T) *sip.Response {
	t.Helper()
	var last string
	for _, s := range f.e.Host.Sent() {
		if s.Kind == "reply" {
			last = s.Msg
		}
	}
	if last == "" {
		return nil
	}
	msg, err := sip.ParseMessage([]byte(last))
	if err != nil {
		t.Fatalf("reply does not parse: %v\n%s", err, last)
	}
	return msg.(*sip.Response)
}

func hdr(res *sip.Response, name string) string {
	if res == nil {
		return ""
	}
	var vals []string
	for _, h := range res.Headers() {
		if strings.EqualFold(h.Name(), name) {
			vals = append(vals, h.Value())
		}
	}
	return strings.Join(vals, ", ")
}

func code(res *sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

func contacts(f *fixture) []string {
	var out []string
	for _, b := range f.loc.all("location", "alice") {
		out = append(out, b.Contact)
	}
	return out
}
