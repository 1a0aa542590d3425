package enginetest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

const options = "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"

// TestRouteHasTheEnginesLimits: Route runs a route under the engine's
// default limits, as production does: a route that builds too much or
// loops is stopped with the engine's error, not left to run.
func TestRouteHasTheEnginesLimits(t *testing.T) {
	cases := []struct {
		name, script, want string
	}{
		{"memory", `function ksr_request_route() local s = string.rep("x", 100 * 1024 * 1024) end`, "built more than 64 MiB of strings"},
		{"time", `function ksr_request_route() while true do end end`, "stopped: ran longer than 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan *enginetest.Result, 1)
			go func() { done <- enginetest.Route(t, c.script, options, "sl") }()
			select {
			case r := <-done:
				if r.Err == nil || !strings.Contains(r.Err.Error(), c.want) {
					t.Errorf("route error %v, want one with %q", r.Err, c.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the route was not stopped")
			}
		})
	}
}

// TestRouteSends: Route records what the route sent.
func TestRouteSends(t *testing.T) {
	r := enginetest.Route(t, `function ksr_request_route() KSR.sl.sl_send_reply(200, "Alive") end`, options, "sl")
	if r.Err != nil || len(r.Sent) != 1 || !strings.HasPrefix(r.Sent[0].Msg, "SIP/2.0 200 Alive") {
		t.Fatalf("%v", r)
	}
}
