// Package kamailiotest runs Kamailio 5.6, the reference kemi is compared
// with, for tests: on loopback, in its own process group, stopped by its
// pid when the test ends, and skipped when it is not installed.
package kamailiotest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

// Modules is where Debian's kamailio packages put the modules.
const Modules = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

// Start runs kamailio -DD -E with the config file cfg on a free loopback
// UDP port, given to the config as the define LISTEN=udp:ADDR, plus the
// -A defines, and returns ADDR once ready(ADDR) reports true (tried for
// up to 10 s). It skips the test when kamailio or one of the modules
// (file names such as "app_lua.so") is not installed; install names the
// Debian packages to say so.
func Start(t *testing.T, cfg string, modules []string, install string, ready func(addr string) bool, defines ...string) string {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/kamailio"); e != nil {
			t.Skipf("kamailio not found: install %s to compare with it", install)
		}
		bin = "/usr/sbin/kamailio"
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(Modules, m)); err != nil {
			t.Skipf("kamailio module %s not installed (%s)", m, install)
		}
	}
	cfg, _ = filepath.Abs(cfg)
	addr := "127.0.0.1:" + strconv.Itoa(enginetest.FreeUDPPort(t))
	args := []string{"-DD", "-E", "-f", cfg, "-L", Modules, "-Y", t.TempDir(), "-A", "LISTEN=udp:" + addr}
	for _, d := range defines {
		args = append(args, "-A", d)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	// its own process group: its children go with it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-done:
			t.Fatalf("kamailio exited:\n%s", out.String())
		default:
		}
		if ready(addr) {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio does not answer on %s:\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond) // not bound yet: a refused probe returns at once
	}
}
