package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeTestInstallsTools runs the Makefile's test target on a machine
// without sipp, lua5.1, redis-server, rtpengine, chromium and npm (a PATH of fakes, and GO=true so that no test
// runs): as root it installs them with apt-get first, as another user it
// says which are missing and goes on. CI runs .ci/run, which is make test.
func TestMakeTestInstallsTools(t *testing.T) {
	const tools = "sip-tester lua5.1 redis-server rtpengine-daemon chromium npm"
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("make is not installed: %v", err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true command: %v", err)
	}
	for _, c := range []struct {
		name, uid string
		apt       []string // the apt-get calls
		out       string
	}{
		{"root", "0", []string{"update -qq", "install -y -qq --no-install-recommends " + tools}, "installing " + tools},
		{"user", "1000", nil, "missing " + tools + " (apt-get install " + tools + " as root)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := t.TempDir()
			aptLog := filepath.Join(t.TempDir(), "apt.log")
			fakes := map[string]string{
				"id":      "#!/bin/sh\necho " + c.uid + "\n",
				"apt-get": "#!/bin/sh\necho \"$@\" >>" + aptLog + "\n",
			}
			for name, text := range fakes {
				if err := os.WriteFile(filepath.Join(bin, name), []byte(text), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(mk, "-s", "-C", "..", "test", "GO="+truePath)
			cmd.Env = []string{"PATH=" + bin, "HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make test: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), c.out) {
				t.Errorf("make test said %q, want %q", out, c.out)
			}
			calls, _ := os.ReadFile(aptLog)
			if got := strings.Split(strings.TrimSpace(string(calls)), "\n"); strings.Join(got, "|") != strings.Join(c.apt, "|") {
				t.Errorf("apt-get calls %q, want %q", got, c.apt)
			}
		})
	}
}
