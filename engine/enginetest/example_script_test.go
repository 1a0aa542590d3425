package enginetest_test

import (
	"fmt"

	"github.com/kemisip/kemi/engine/enginetest"
)

// A routing script tested from Go, with the engines in memory kemi test
// uses (see docs/testing.md). In a test, enginetest.NewScript(t, path,
// opts) does the first three steps and closes the engine at the end.
func ExampleProgram() {
	p, err := enginetest.NewProgram("../../scripts/proxy.lua", enginetest.ScriptOptions{
		Defines: map[string]string{"DST_bob": "sip:10.0.0.5:5060"},
		Aliases: []string{"example.com"},
	})
	if err != nil {
		panic(err)
	}
	s, err := p.Start()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	r := s.Run(enginetest.RequestSpec{Method: "INVITE", RURI: "sip:bob@example.com"}.Message())
	fmt.Println(r.Reply().Code, r.Relays[0].Dest)
	r = s.Run(enginetest.RequestSpec{Method: "INVITE", RURI: "sip:carol@example.com"}.Message())
	fmt.Println(r.Reply().Code, r.Reply().Reason)
	// Output:
	// 100 udp:10.0.0.5:5060
	// 404 Not Found
}
