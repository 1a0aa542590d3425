package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SippPath returns the sipp binary, or skips the test with a clear message
// when sipp is not installed (CI installs it: apt-get install sip-tester).
func SippPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not found: install the Debian package sip-tester to run this test (CI does)")
	}
	return p
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Sipp is a sipp process started for a test.
type Sipp struct {
	cmd *exec.Cmd
}

// StartSipp starts sipp in the background with args (-nostdin is added);
// it is killed when the test ends, and its output is logged if the test
// failed.
func StartSipp(t testing.TB, args ...string) *Sipp {
	t.Helper()
	bin := SippPath(t)
	out := &bytes.Buffer{}
	cmd := exec.Command(bin, append([]string{"-nostdin"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	s := &Sipp{cmd: cmd}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		if t.Failed() {
			t.Logf("sipp output:\n%s", out)
		}
	})
	return s
}

// RunSipp runs sipp in the foreground until it ends or timeout passes and
// returns its exit code and output.
func RunSipp(t testing.TB, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	bin := SippPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-nostdin"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, out.String() + "\n(sipp killed after " + timeout.String() + ")"
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("sipp: %v", err)
	}
	return 0, out.String()
}

// SippStat reads a counter from a sipp -trace_stat CSV file (the last
// line), such as "SuccessfulCall(C)" or "FailedCall(C)".
func SippStat(csv, column string) (int, error) {
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("no sipp statistics")
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if h == column && i < len(last) {
			return strconv.Atoi(strings.TrimSpace(last[i]))
		}
	}
	return 0, fmt.Errorf("no column %s", column)
}
