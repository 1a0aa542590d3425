package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"kemi"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routing.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExitCodes(t *testing.T) {
	good := writeScript(t, "function ksr_request_route()\n  KSR.sl.sl_send_reply(200, 'OK')\nend\n")
	problems := writeScript(t, "function ksr_request_route()\n  KSR.nosuchmod.fn()\n  KSR.route('nowhere')\n  KSR.sipt.sipt_destination('a', 'b', 'c')\n  KSR.x.nope()\nend\n")
	broken := writeScript(t, "function ksr_request_route(\n")
	noroute := writeScript(t, "function other() end\n")
	loop := writeScript(t, "while true do end\nfunction ksr_request_route() end\n")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"clean", []string{"check", "-f", good}, 0, "ok"},
		{"problems", []string{"check", "-f", problems}, 1, "routing.lua:2: KSR.nosuchmod.fn"},
		{"undefined route", []string{"check", "-f", problems}, 1, "routing.lua:3: KSR.route(\"nowhere\")"},
		{"kamailio-only module", []string{"check", "-f", problems}, 1, "routing.lua:4: KSR.sipt.sipt_destination: module sipt is not implemented in kemi"},
		{"missing builtin", []string{"check", "-f", problems}, 1, "routing.lua:5: Kamailio has no KSR.x.nope either"},
		{"syntax error", []string{"check", "-f", broken}, 1, "routing.lua:1:"},
		{"no request route", []string{"check", "-f", noroute}, 1, "ksr_request_route"},
		{"top-level loop", []string{"check", "--route-timeout", "100ms", "-f", loop}, 1, "routing.lua:1: script top level stopped"},
		{"missing file", []string{"check", "-f", "/nonexistent.lua"}, 1, "no such file"},
		{"bad flag", []string{"check", "--bogus"}, 2, "bogus"},
		{"stray argument", []string{"check", "x.lua"}, 2, "takes no arguments"},
		{"default script", []string{"check"}, 0, "default.lua"},
		{"example config", []string{"check", "--config", "../../examples/config/kemi.toml", "-f", "../../scripts/default.lua"}, 0, "ok"},
		{"example config's own script", []string{"check", "--config", "../../examples/config/kemi.toml"}, 0, "scripts/default.lua: ok"},
		{"missing config", []string{"check", "--config", "/nonexistent.toml"}, 2, "no such file"},
		{"bad config", []string{"check", "--config", writeScript(t, "[core]\nbogus = 1\n")}, 2, "unknown core settings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errs, c.want) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, c.code, out, errs, c.want)
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		code    int
		want    string // in stdout+stderr
		notWant string
	}{
		{"all", []string{"functions"}, 0, "KSR.sl.sl_send_reply(int, str) -> int", ""},
		{"missing of one module", []string{"functions", "--missing", "--module", "sl"}, 0, "Kamailio functions missing", "sl_send_reply("},
		{"Kamailio-only module", []string{"functions", "--missing", "--module", "sipt"}, 0, "(module not in kemi)", ""},
		{"core", []string{"functions", "--module", "core"}, 0, "KSR.is_myself_ruri", "KSR.sl."},
		{"unknown module", []string{"functions", "--module", "nosuch"}, 1, `kemi: functions: no module "nosuch"`, ""},
		{"unknown module names the known ones", []string{"functions", "--missing", "-m", "nosuch"}, 1, "kemi's modules: core, ", ""},
		{"stray argument", []string{"functions", "sl"}, 2, "takes no arguments", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errs, c.want) || c.notWant != "" && strings.Contains(out, c.notWant) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", code, c.code, out, errs, c.want)
			}
		})
	}
}

// TestUsageErrors: unknown commands and flags, and no command at all, are
// usage errors (status 2) that say what was wrong.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"nosuchcommand"}, `kemi: unknown command "nosuchcommand" (commands: run, check, functions, version`},
		{[]string{"help", "nosuchcommand"}, `unknown command "nosuchcommand"`},
		{[]string{}, "USAGE:"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"run", "--bogus"}, "bogus"},
		{[]string{"run", "routing.lua"}, "run takes no arguments"},
		{[]string{"check", "-n", "many"}, `invalid value "many" for flag -n`},
		{[]string{"functions", "--bogus"}, "flag provided but not defined: -bogus (kemi functions --help lists the flags)"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Fatalf("exit %d (want 2)\nstdout: %s\nstderr: %s\nwant %q", code, out, errs, c.want)
			}
			// nothing on stdout, which a script may be reading
			if out != "" {
				t.Errorf("a usage error wrote to stdout:\n%s", out)
			}
		})
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"help", "run"}, {"run", "--help"}} {
		if code, _, errs := runCLI(t, args...); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "kemi ") {
		t.Fatalf("exit %d: %q", code, out)
	}
}
