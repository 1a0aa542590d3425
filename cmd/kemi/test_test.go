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
			"        " + script + ":2: KSR.maxfwd.process_maxfwd(10) -> -1\n" +
			"        " + script + ":3: KSR.sl.sl_send_reply(483, \"Too Many Hops\") -> 1\n",
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
		"FAIL: 0 of 1 tests failed, 2 of 3 files did not load",
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

func TestKemiTestUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "test", "/nonexistent/tests"); code != exitUsage || !strings.Contains(errOut, "/nonexistent/tests") {
		t.Errorf("missing path: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "test", t.TempDir()); code != exitFailure || !strings.Contains(errOut, "no test files") {
		t.Errorf("no test files: exit %d %q", code, errOut)
	}
}
