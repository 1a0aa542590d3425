package xhttp

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// recorder is an HTTP request whose Reply records what it is given.
type recorder struct {
	code       int
	reason, ct string
	body       string
	fail       error
	kemi.HTTPRequest
}

func newRecorder(url string) *recorder {
	r := &recorder{}
	r.URL = url
	r.Reply = func(code int, reason, ct string, body []byte) error {
		if r.fail != nil {
			return r.fail
		}
		r.code, r.reason, r.ct, r.body = code, reason, ct, string(body)
		return nil
	}
	return r
}

func TestReply(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	args := kemi.MakeArgs("200", "OK", "text/html", "<p>hi</p>")
	for _, tc := range []struct {
		name string
		req  *recorder
		want kemi.Value
	}{
		{"answered", newRecorder("/"), kemi.Int(1)},
		{"refused by the engine", func() *recorder { r := newRecorder("/"); r.fail = errors.New("upgraded"); return r }(), kemi.Int(-1)},
		{"no http request", nil, kemi.Int(-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &kemi.Msg{Host: kemitest.NewHost()}
			if tc.req != nil {
				kemi.SetHTTPRequest(m, &tc.req.HTTPRequest)
			}
			if got := mod.reply(m, args); got != tc.want {
				t.Fatalf("xhttp_reply = %v, want %v", got, tc.want)
			}
			if tc.want == kemi.Int(1) {
				r := tc.req
				if r.code != 200 || r.reason != "OK" || r.ct != "text/html" || r.body != "<p>hi</p>" {
					t.Errorf("reply recorded %d %q %q %q", r.code, r.reason, r.ct, r.body)
				}
			}
		})
	}
}

func TestHU(t *testing.T) {
	pvs := kemi.NewPVTable()
	env := kemi.NewEnv("xhttp", kemitest.NewHost(), pvs, nil, nil, nil, nil)
	mod := &Module{}
	if err := mod.ModInit(env); err != nil {
		t.Fatal(err)
	}
	pv, err := pvs.Parse("$hu")
	if err != nil {
		t.Fatal(err)
	}
	m := &kemi.Msg{Host: kemitest.NewHost()}
	if got := mod.getHU(m, kemi.Args{}); !got.IsNull() {
		t.Errorf("get_hu outside a request = %#v", got)
	}
	if got, _ := pv.Class.Get(m, pv); !got.IsNull() {
		t.Errorf("$hu outside a request = %#v", got)
	}
	kemi.SetHTTPRequest(m, &newRecorder("/ws?room=1").HTTPRequest)
	if got := mod.getHU(m, kemi.Args{}); got != kemi.Str("/ws?room=1") {
		t.Errorf("get_hu = %#v", got)
	}
	if got, _ := pv.Class.Get(m, pv); got != kemi.Str("/ws?room=1") {
		t.Errorf("$hu = %#v", got)
	}
}
