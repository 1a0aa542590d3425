package engine_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
)

// TestCheck runs engine.Check on scripts a new user writes: what kemi check
// reports as problems (exit 1), as information, or as an error (the script
// cannot start).
func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		script   string
		unsafe   bool
		problems []string // each a line of the report, in order
		info     []string
		err      string // Check fails with this
	}{
		{
			name:   "clean",
			script: "function ksr_request_route()\n  KSR.sl.sl_send_reply(200, 'OK' .. '')\nend\n",
		},
		{
			name: "unsafe calls without allow_unsafe_lua",
			script: "local home = 'x'\nfunction ksr_request_route()\n  local f = io.open('/etc/passwd')\n" +
				"  KSR.sl.sl_send_reply(200, f:read('*a') .. os.getenv('HOME'))\n  os.execute('true')\nend\n",
			problems: []string{
				"script.lua:3: io.open needs allow_unsafe_lua",
				"script.lua:4: os.getenv needs allow_unsafe_lua",
				"script.lua:5: os.execute needs allow_unsafe_lua",
			},
		},
		{
			name:   "unsafe calls with allow_unsafe_lua",
			script: "function ksr_request_route()\n  local f = io.open('/etc/passwd')\n  dofile('/x.lua')\nend\n",
			unsafe: true,
			info: []string{
				"script.lua:2: io.open is allowed by allow_unsafe_lua",
				"script.lua:3: dofile is allowed by allow_unsafe_lua",
			},
		},
		{
			name:   "KSR call at the top level",
			script: "KSR.info('starting')\nlocal ok = KSR.is_INVITE()\nfunction ksr_request_route() end\n",
			problems: []string{
				"script.lua:1: KSR.info is called at the script's top level, where there is no SIP message: it fails there (as in Kamailio); call it from a route",
				"script.lua:2: KSR.is_INVITE is called at the script's top level",
			},
		},
		{
			name:   "unsafe call at the top level cannot start",
			script: "local uas = os.getenv('UAS')\nfunction ksr_request_route() end\n",
			err:    "script.lua:1: os.getenv is disabled in kemi: scripts get no environment access; set allow_unsafe_lua = true in [core] to allow it",
		},
		{
			name:   "missing end",
			script: "function ksr_request_route()\n  if KSR.is_INVITE() then\n    KSR.sl.sl_send_reply(200, 'OK')\n\nfunction other()\nend\n",
			// as Lua 5.1 says it: the innermost block left open
			err: "script.lua:6: 'end' expected (to close 'if' at line 2) near '<eof>'",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := engine.Check(engine.Config{Script: []byte(c.script), ScriptPath: "script.lua", AllowUnsafeLua: c.unsafe,
				Logger: slog.New(slog.DiscardHandler)})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			compare := func(what string, got []engine.Problem, want []string) {
				if len(got) != len(want) {
					t.Fatalf("%s = %v, want %q", what, got, want)
				}
				for i := range want {
					if !strings.HasPrefix(got[i].String(), want[i]) {
						t.Errorf("%s[%d] = %q, want %q", what, i, got[i], want[i])
					}
				}
			}
			compare("problems", rep.Problems, c.problems)
			compare("info", rep.Info, c.info)
		})
	}
}
