package kamailiobasic_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
)

// rtpproxyGuard is how the script skips the media relay when there is no
// rtpproxy module (kemi has none).
const rtpproxyGuard = "\tif not KSR.rtpproxy then\n\t\treturn 1\n\tend\n"

// TestCheck runs `kemi check` with kemi.toml: the script's calls to
// rtpproxy, a module kemi lacks, are behind a guard and reported as
// information; without the guard the same call fails the check.
func TestCheck(t *testing.T) {
	out, code := kemiCmd(t, "check", "-c", "kemi.toml", "-f", "testdata/basic.lua")
	if code != 0 || !strings.Contains(out, "KSR.rtpproxy.rtpproxy_manage: module rtpproxy is not implemented in kemi (the script tests for KSR.rtpproxy first: the call is skipped)") ||
		!strings.Contains(out, "testdata/basic.lua: ok") {
		t.Errorf("kemi check: exit %d, want 0 with the guarded rtpproxy call as information\n%s", code, out)
	}

	src, err := os.ReadFile("testdata/basic.lua")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), rtpproxyGuard) {
		t.Fatal("testdata/basic.lua has no rtpproxy guard")
	}
	unguarded := filepath.Join(t.TempDir(), "unguarded.lua")
	if err := os.WriteFile(unguarded, []byte(strings.Replace(string(src), rtpproxyGuard, "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = kemiCmd(t, "check", "-c", "kemi.toml", "-f", unguarded)
	if code != 1 || !strings.Contains(out, "KSR.rtpproxy.rtpproxy_manage: module rtpproxy is not implemented in kemi") ||
		strings.Contains(out, "the call is skipped") {
		t.Errorf("kemi check of the script without the rtpproxy guard: exit %d, want 1 with the call as a problem\n%s", code, out)
	}
}

// TestCheckWithoutOptionalModules checks the script with kemi.toml less
// the permissions and nathelper modules (the .cfg without WITH_IPAUTH and
// WITH_NAT): the example's guards (`if KSR.permissions and ...`, `if not
// KSR.nathelper then return 1 end`, and `if not KSR.rtpproxy then return
// 1 end` before a nathelper call) make their calls information, not
// problems.
func TestCheckWithoutOptionalModules(t *testing.T) {
	fc, err := engine.LoadFile("kemi.toml")
	if err != nil {
		t.Fatal(err)
	}
	var c engine.Config
	if err := fc.Apply(&c); err != nil {
		t.Fatal(err)
	}
	drop := []string{"permissions", "nathelper"}
	c.Modules = slices.DeleteFunc(slices.Clone(c.Modules), func(m string) bool { return slices.Contains(drop, m) })
	for _, m := range drop {
		delete(c.ModParams, m)
	}
	c.ScriptPath = "testdata/basic.lua"
	c.DBURL = "memory"
	rep, err := engine.Check(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %v, want none", rep.Problems)
	}
	var info string
	for _, p := range rep.Info {
		info += p.String() + "\n"
	}
	for _, want := range []string{
		"KSR.permissions.allow_source_address: module permissions is not enabled",
		"KSR.nathelper.nat_uac_test: module nathelper is not enabled",
		"KSR.nathelper.set_contact_alias: module nathelper is not enabled: add it to modules in the config file (reached only when KSR.rtpproxy is there, and it is not: the call is skipped)",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("information lacks %q:\n%s", want, info)
		}
	}
}

// TestCheckFetchedExample runs `kemi check` on Kamailio's own script when
// it was fetched into this folder as README.md says (never committed).
func TestCheckFetchedExample(t *testing.T) {
	const script = "kamailio-basic-kemi-lua.lua"
	if _, err := os.Stat(script); err != nil {
		t.Skipf("%s not fetched (README.md says how): %v", script, err)
	}
	if out, code := kemiCmd(t, "check", "-c", "kemi.toml"); code != 0 || !strings.Contains(out, script+": ok") {
		t.Errorf("kemi check -c kemi.toml: exit %d\n%s", code, out)
	}
}
