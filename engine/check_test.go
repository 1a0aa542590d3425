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
			// the guard forms of Kamailio's kamailio-basic-kemi-lua.lua,
			// on modules kemi lacks (sipt, cnxcc, rtpproxy; lcr stands for rtpengine,
			// which kemi has)
			name: "calls the script guards are information",
			script: `function ksr_request_route()
	ksr_route_auth()
	ksr_route_natdetect()
	ksr_route_natmanage()
end
function ksr_route_auth()
	if not KSR.auth then
		return 1;
	end
	if KSR.sipt and not KSR.is_REGISTER() then
		if KSR.sipt.sipt_destination("a", "b", "c")>0 then
			return 1;
		end
	end
	return 1;
end
function ksr_route_natdetect()
	if not KSR.cnxcc then
		return 1;
	end
	if KSR.cnxcc.get_channel_count("a", "b")>0 then
		KSR.setflag(5);
	end
	return 1;
end
function ksr_route_natmanage()
	if not KSR.rtpproxy and not KSR.lcr then
		return 1;
	end
	if KSR.kx.ifdef('WITH_RTPENGINE') then
		KSR.lcr.from_any_gw();
	else
		KSR.rtpproxy.rtpproxy_manage("co");
	end
	if KSR.sipt ~= nil then KSR.sipt.sipt_destination("a", "b", "c") end
	local n = KSR.cnxcc and KSR.cnxcc.get_channel_count("a", "b")
	KSR.sipt.sipt_destination("unguarded", "b", "c")
	return 1;
end
function ksr_other()
	-- the guard in ksr_route_natdetect does not reach here
	KSR.cnxcc.get_channel_count("a", "b")
	-- a guard on a module kemi has does not excuse its missing function
	if KSR.sl then KSR.sl.no_such_function() end
end
`,
			info: []string{
				"script.lua:11: KSR.sipt.sipt_destination: module sipt is not implemented in kemi (the script tests for KSR.sipt first: the call is skipped)",
				"script.lua:21: KSR.cnxcc.get_channel_count: module cnxcc is not implemented in kemi (the script tests for KSR.cnxcc first",
				"script.lua:31: KSR.lcr.from_any_gw: module lcr is not implemented in kemi (the script tests",
				"script.lua:33: KSR.rtpproxy.rtpproxy_manage: module rtpproxy is not implemented in kemi (the script tests",
				"script.lua:35: KSR.sipt.sipt_destination: module sipt",
				"script.lua:36: KSR.cnxcc.get_channel_count: module cnxcc",
				// not tested for, but after the return when rtpproxy and
				// lcr are missing, which they are
				"script.lua:37: KSR.sipt.sipt_destination: module sipt is not implemented in kemi (reached only when KSR.lcr or KSR.rtpproxy is there",
			},
			problems: []string{
				"script.lua:42: KSR.cnxcc.get_channel_count: module cnxcc is not implemented in kemi",
				"script.lua:44: Kamailio has no KSR.sl.no_such_function either",
			},
		},
		{
			// ksr_route_natmanage of Kamailio's basic example run without
			// nathelper: after a return when rtpproxy (and lcr, standing for
			// rtpengine) is
			// missing, nathelper calls cannot run either
			name: "calls after a guard on another missing module are information",
			script: `function ksr_request_route()
	if not KSR.rtpproxy and not KSR.lcr then
		return 1
	end
	KSR.sipt.sipt_destination("a", "b", "c")
	if KSR.cnxcc then KSR.sipt.sipt_destination("a", "b", "c") end
	if KSR.sl then KSR.sipt.sipt_destination("a", "b", "c") end
end
function other()
	if not KSR.sl then
		return 1
	end
	KSR.sipt.sipt_destination("a", "b", "c")
	KSR.sl.no_such_function()
end
`,
			info: []string{
				"script.lua:5: KSR.sipt.sipt_destination: module sipt is not implemented in kemi (reached only when KSR.lcr or KSR.rtpproxy is there, and it is not: the call is skipped)",
				"script.lua:6: KSR.sipt.sipt_destination: module sipt is not implemented in kemi (reached only when KSR.cnxcc or KSR.lcr or KSR.rtpproxy is there",
			},
			// sl is there: the calls after its guard can run
			problems: []string{
				"script.lua:7: KSR.sipt.sipt_destination: module sipt is not implemented in kemi",
				"script.lua:13: KSR.sipt.sipt_destination: module sipt is not implemented in kemi",
				"script.lua:14: Kamailio has no KSR.sl.no_such_function either",
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
