package enginetest_test

import (
	"testing"

	"github.com/kemisip/kemi/engine/enginetest"
)

func TestScriptExperiment(t *testing.T) {
	s := enginetest.NewScript(t, "../../scripts/proxy.lua", enginetest.ScriptOptions{Defines: map[string]string{"DST_bob": "sip:10.0.0.5:5060", "ALT_bob": "sip:10.0.0.6:5060"}})
	inv := enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@127.0.0.1"}
	r := s.Run(inv.Message())
	t.Logf("%+v", r.Relays[0].Dest)
	f := s.Fail(486, "Busy")
	t.Logf("FAIL: %s\nlogs:\n%s %+v", f, f.Logs, f.Relays)
}
