package main

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// TestCtlCfg reads and sets run-time parameters with kemi ctl, as kamcmd
// cfg.get / cfg.set do against Kamailio.
func TestCtlCfg(t *testing.T) {
	s := enginetest.Start(t, "function ksr_request_route() end", enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "sl", "tm", "maxfwd"}
	}))
	url := "http://" + s.MetricsAddr() + engine.RPCPath
	steps := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"cfg.get", "tm", "fr_timer"}, 0, "30000\n", ""},
		{[]string{"cfg.set", "tm", "fr_timer", "2500"}, 0, "null\n", ""},
		{[]string{"-s", "cfg.sets", "tm", "fr_timer", "2600"}, 0, "null\n", ""},
		{[]string{"cfg.get", "tm", "fr_timer"}, 0, "2600\n", ""},
		{[]string{"cfg.seti", "core", "trace", "1"}, 0, "null\n", ""},
		{[]string{"cfg.get", "core", "trace"}, 0, "1\n", ""},
		{[]string{"cfg.list", "maxfwd"}, 0, "[\n  \"maxfwd: max_limit\"\n]\n", ""},
		{[]string{"cfg.set", "tm", "fr_timer", "soon"}, 1, "", "Failed to set the variable"},
		{[]string{"cfg.get", "tm", "nosuch"}, 1, "", "Failed to get the variable"},
	}
	for _, st := range steps {
		code, out, errOut := runCLI(t, append([]string{"ctl", "--url", url}, st.args...)...)
		if code != st.code || out != st.out || !strings.Contains(errOut, st.err) {
			t.Errorf("kemi ctl %s = %d %q %q, want %d %q %q", strings.Join(st.args, " "), code, out, errOut, st.code, st.out, st.err)
		}
	}
	if !s.Engine.Tracing() {
		t.Error("kemi ctl cfg.seti core trace 1 did not turn tracing on")
	}
}
