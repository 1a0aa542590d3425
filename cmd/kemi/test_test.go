package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testScript is a routing script whose lines tests can count: 8
// executable lines (1 2 3 4 6 7 8 10).
const testScript = `function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "OK")
		return
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end
`

// writeTestDir writes routing.lua and the named test files in a new
// folder and returns it.
func writeTestDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["routing.lua"] = testScript
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const passingTests = `local T = require("kemi.test")
T.script("routing.lua")
T.test("OPTIONS is answered", function()
	local r = T.run(T.request{method = "OPTIONS", ruri = "sip:127.0.0.1"})
	T.eq(r.reply.code, 200)
end)
`

const failingTests = `local T = require("kemi.test")
T.script("routing.lua")
T.test("expects 404, gets 483", function()
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@127.0.0.1", headers = {["Max-Forwards"] = "0"}})
	T.eq(r.reply.code, 404)
end)
T.test("a Lua error", function()
	local x = nil
	return x.y
end)
T.test("runs after the others", function()
	T.ok(true)
end)
`

func TestKemiTestExamples(t *testing.T) {
	code, out, errOut := runCLI(t, "test", "../../examples/tests")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"ok  \t../../examples/tests/proxy_test.lua", "ok  \t../../examples/tests/registrar_test.lua",
		"--- PASS: REGISTER then INVITE: the call goes to the registered contact", "PASS: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a test failed:\n%s", out)
	}
}

func TestKemiTestFailures(t *testing.T) {
	dir := writeTestDir(t, map[string]string{"a_test.lua": failingTests, "b_test.lua": passingTests})
	code, out, _ := runCLI(t, "test", dir)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	a := filepath.Join(dir, "a_test.lua")
	script := filepath.Join(dir, "routing.lua")
	for _, want := range []string{
		"--- FAIL: expects 404, gets 483",
		"    " + a + ":5: T.eq: values differ\n        expected: 404\n        actual:   483\n",
		// the route's trace, with the script's file:line
		"    trace of the last message (ksr_request_route):\n" +
			"        " + script + ":2: KSR.maxfwd.process_maxfwd(10) = -1\n" +
			"        " + script + ":3: KSR.sl.sl_send_reply(483, \"Too Many Hops\") = 1\n" +
			"        " + script + ":4: KSR.x.exit()\n",
		// a Lua error is reported with its file:line; the next test runs
		"--- FAIL: a Lua error",
		"    " + a + ":9: error: ",
		"attempt to index a non-table object(nil) with key 'y'",
		"--- PASS: runs after the others",
		"FAIL\t" + a,
		"ok  \t" + filepath.Join(dir, "b_test.lua"),
		"FAIL: 2 of 4 tests failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestKemiTestFileErrors(t *testing.T) {
	dir := writeTestDir(t, map[string]string{
		"syntax_test.lua": "local T = require(\"kemi.test\")\nT.test(\"x\", function()\n\tlocal = 1\nend)\n",
		"top_test.lua":    "local T = require(\"kemi.test\")\nT.script(\"nosuch.lua\")\n",
		"ok_test.lua":     passingTests,
	})
	code, out, _ := runCLI(t, "test", dir)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{
		"--- FAIL: " + filepath.Join(dir, "syntax_test.lua"),
		filepath.Join(dir, "syntax_test.lua") + ":3: error: syntax error near '='",
		filepath.Join(dir, "top_test.lua") + ":2: error: kemi.test: script: ",
		"--- PASS: OPTIONS is answered",
		"FAIL: 0 of 1 test failed, 2 of 3 files did not load",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestKemiTestJUnit(t *testing.T) {
	dir := writeTestDir(t, map[string]string{"a_test.lua": failingTests, "b_test.lua": passingTests})
	report := filepath.Join(t.TempDir(), "junit.xml")
	if code, out, _ := runCLI(t, "test", "--junit", report, dir); code != exitFailure {
		t.Fatalf("exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var got junitSuites
	if err := xml.Unmarshal(b, &got); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, b)
	}
	if got.Tests != 4 || got.Failures != 1 || got.Errors != 1 || len(got.Suites) != 2 {
		t.Fatalf("tests=%d failures=%d errors=%d suites=%d, want 4 1 1 2", got.Tests, got.Failures, got.Errors, len(got.Suites))
	}
	a := got.Suites[0]
	if a.Name != filepath.Join(dir, "a_test.lua") || a.Tests != 3 || a.Failures != 1 || a.Errors != 1 || len(a.Cases) != 3 {
		t.Fatalf("first suite %+v", a)
	}
	f := a.Cases[0]
	if f.Name != "expects 404, gets 483" || f.Line != "3" || f.Failure == nil || f.Failure.Type != "assertion" ||
		!strings.HasSuffix(f.Failure.Message, "a_test.lua:5: T.eq: values differ") || !strings.Contains(f.Failure.Text, "actual:   483") {
		t.Errorf("failed case %+v %+v", f, f.Failure)
	}
	if e := a.Cases[1]; e.Error == nil || e.Error.Type != "error" || !strings.Contains(e.Error.Message, "a_test.lua:9") {
		t.Errorf("error case %+v", e)
	}
	if p := a.Cases[2]; p.Failure != nil || p.Error != nil {
		t.Errorf("passing case %+v", p)
	}
}

func TestKemiTestCover(t *testing.T) {
	dir := writeTestDir(t, map[string]string{"b_test.lua": passingTests})
	listing := filepath.Join(t.TempDir(), "cover.txt")
	code, out, _ := runCLI(t, "test", "--cover-listing", listing, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	script := filepath.Join(dir, "routing.lua")
	// OPTIONS runs lines 1 (the top level), 2, 6, 7, 8: 5 of 8
	if want := "coverage: 62.5% of 8 lines in " + script + " (5 ran)\n"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	b, err := os.ReadFile(listing)
	if err != nil {
		t.Fatal(err)
	}
	want := script + `: 62.5% of 8 lines (5 ran)
       1 | function ksr_request_route()
       1 | 	if KSR.maxfwd.process_maxfwd(10) < 0 then
      !0 | 		KSR.sl.sl_send_reply(483, "Too Many Hops")
      !0 | 		KSR.x.exit()
         | 	end
       1 | 	if KSR.is_OPTIONS() then
       1 | 		KSR.sl.sl_send_reply(200, "OK")
       1 | 		return
         | 	end
      !0 | 	KSR.sl.sl_send_reply(404, "Not Found")
         | end
`
	if string(b) != want {
		t.Errorf("listing:\n%s\nwant:\n%s", b, want)
	}
}

func TestKemiTestRun(t *testing.T) {
	dir := writeTestDir(t, map[string]string{"a_test.lua": failingTests})
	code, out, _ := runCLI(t, "test", "--run", "after", dir)
	if code != 0 || !strings.Contains(out, "--- PASS: runs after the others") || strings.Contains(out, "a Lua error") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "test", "--run", "(", dir); code != exitUsage {
		t.Errorf("a bad --run: exit %d", code)
	}
}

func TestKemiTestUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "test", "/nonexistent/tests"); code != exitUsage || !strings.Contains(errOut, "/nonexistent/tests") {
		t.Errorf("missing path: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "test", t.TempDir()); code != exitFailure || !strings.Contains(errOut, "no test files") {
		t.Errorf("no test files: exit %d %q", code, errOut)
	}
}

// stateScript uses module state a test sets up: an htable item, a
// dispatcher set, a named route and the reply route.
const stateScript = `function ksr_request_route()
	if KSR.htable.sht_get("blocked", KSR.kx.get_srcip()) ~= nil then
		KSR.sl.sl_send_reply(403, "Blocked")
		KSR.x.exit()
	end
	KSR.route("count")
	if KSR.dispatcher.ds_select_dst(1, 4) < 0 then
		KSR.sl.sl_send_reply(503, "No Destination")
		KSR.x.exit()
	end
	KSR.tm.t_relay()
end

function count()
	KSR.htable.sht_inc("seen", KSR.kx.get_srcip())
	KSR.info("seen " .. KSR.htable.sht_get("seen", KSR.kx.get_srcip()))
end

function ksr_reply_route()
	KSR.info("reply " .. KSR.kx.get_status())
	if KSR.kx.get_status() == 499 then
		KSR.set_drop()
		return 0
	end
end
`

const stateTests = `local T = require("kemi.test")
T.script("state.lua")
T.config{
	htable = { htable = { "blocked=>size=4", "seen=>size=4;initval=0" } },
	dispatcher = { list_file = "dispatcher.list" },
}

T.test("an htable item set up first blocks the source", function()
	T.htable.set("blocked", "192.0.2.10", 1)
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@127.0.0.1"})
	T.eq(r.reply.code, 403)
end)

T.test("the named route writes the htable", function()
	T.run(T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"})
	local r = T.run(T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"}:from("udp:192.0.2.10:6000"))
	T.eq(T.htable.get("seen", "192.0.2.10"), 2)
	T.contains(r.logs, "seen 2")
	local named = T.route("count", T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"})
	T.ok(named.ran)
	T.eq(T.htable.get("seen", "192.0.2.10"), 3)
end)

T.test("an inactive dispatcher destination is skipped", function()
	T.dispatcher.set_state("i", 1, "sip:10.0.0.1:5060")
	local r = T.run(T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"})
	T.eq(r.relays[1].dest, "udp:10.0.0.2:5060")
	local list = T.rpc("dispatcher.list")
	T.ok(list, "dispatcher.list answers")
	T.dispatcher.set_state("i", 1, "sip:10.0.0.2:5060")
	T.eq(T.run(T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"}).reply.code, 503)
end)

T.test("a reply runs the reply route, which may drop it", function()
	local r = T.run(T.request{method = "MESSAGE", ruri = "sip:bob@127.0.0.1", body = "x"})
	local ok = T.answer(r.relays[1], 200)
	T.contains(ok.logs, "reply 200")
	T.eq(ok.reply.code, 200, "the 200 goes upstream")
	local stray = T.reply(T.message("SIP/2.0 499 Odd\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnone\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\nCall-ID: stray\nCSeq: 1 MESSAGE\n\n", "udp:10.0.0.1:5060"))
	T.contains(stray.logs, "reply 499")
	T.eq(#stray.replies + #stray.relays, 0, "dropped")
end)
`

func TestKemiTestModuleState(t *testing.T) {
	dir := writeTestDir(t, map[string]string{
		"state.lua":       stateScript,
		"dispatcher.list": "1 sip:10.0.0.1:5060\n1 sip:10.0.0.2:5060\n",
		"state_test.lua":  stateTests,
	})
	code, out, _ := runCLI(t, "test", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "PASS: 4 tests in 1 file") {
		t.Errorf("output:\n%s", out)
	}
}
