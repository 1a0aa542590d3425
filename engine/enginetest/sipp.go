package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	// done is closed once the process has exited.
	done chan struct{}
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
	s := &Sipp{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("sipp output:\n%s", out)
		}
	})
	return s
}

// Stop ends sipp as an operator would, with SIGTERM, so that it writes
// its last statistics (-trace_stat) first, and waits for it to exit
// (killing it after 5 s).
func (s *Sipp) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
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

// StartStockUAS starts sipp's built-in uas scenario on a free loopback UDP
// port, with sipp's default behaviours, and returns the port. It is
// stopped when the test ends.
func StartStockUAS(t testing.TB) int {
	t.Helper()
	port := FreeUDPPort(t)
	StartSipp(t, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port))
	return port
}

// SippCalls is the outcome of a sipp uac run.
type SippCalls struct {
	Exit       int    // sipp's exit code: 0 when every call succeeded
	Successful int    // SuccessfulCall(C)
	Failed     int    // FailedCall(C)
	Output     string // sipp's output
}

// RunStockUAC runs sipp's built-in uac scenario with its default
// behaviours: calls calls at rate calls/s, addressed to the uas on
// 127.0.0.1:uasPort (the Request-URI) and sent to proxy (host:port, sipp's
// -rsa), so that a script forwarding to the Request-URI reaches the uas.
// It waits for the run to end and fails the test when sipp wrote no
// statistics.
func RunStockUAC(t testing.TB, proxy string, uasPort, calls, rate int) SippCalls {
	t.Helper()
	return RunUAC(t, calls, rate, fmt.Sprintf("127.0.0.1:%d", uasPort), "-rsa", proxy, "-sn", "uac")
}

// RunUAC runs a sipp uac with args (the remote address, the scenario:
// -sn or -sf, and options such as -s user) and sipp's default
// behaviours: calls calls at rate calls/s from a free loopback port. It
// waits for the run to end and fails the test when sipp wrote no
// statistics.
func RunUAC(t testing.TB, calls, rate int, args ...string) SippCalls {
	t.Helper()
	stat := filepath.Join(t.TempDir(), "uac.csv")
	// let the uas bind; sipp has no readiness signal
	time.Sleep(200 * time.Millisecond)
	limit := time.Duration(calls/max(rate, 1))*time.Second + 20*time.Second
	code, out := RunSipp(t, limit+10*time.Second, append(args[:len(args):len(args)],
		"-i", "127.0.0.1", "-p", strconv.Itoa(FreeUDPPort(t)),
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-timeout", fmt.Sprintf("%ds", int(limit.Seconds())),
		"-trace_stat", "-stf", stat)...)
	csv, err := os.ReadFile(stat)
	if err != nil {
		t.Fatalf("sipp exit %d, no statistics: %v\n%s", code, err, out)
	}
	r := SippCalls{Exit: code, Output: out}
	r.Successful, _ = SippStat(string(csv), "SuccessfulCall(C)")
	r.Failed, _ = SippStat(string(csv), "FailedCall(C)")
	return r
}

// SippReceived returns the first message a sipp -message_file log shows
// as received whose first line starts with start, or "".
func SippReceived(log, start string) string {
	if all := SippReceivedAll(log, start); len(all) > 0 {
		return all[0]
	}
	return ""
}

// SippReceivedAll is SippReceived for every message received that starts
// with start, in order.
func SippReceivedAll(log, start string) []string {
	var out []string
	for _, part := range strings.Split(log, "message received [")[1:] {
		_, msg, _ := strings.Cut(part, "\n")
		msg = strings.TrimLeft(msg, "\r\n")
		if !strings.HasPrefix(msg, start) {
			continue
		}
		if i := strings.Index(msg, "\n-----"); i >= 0 {
			msg = msg[:i]
		}
		out = append(out, msg)
	}
	return out
}

// SIPBody returns the body of a SIP message, its line ends made \n.
func SIPBody(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	_, b, _ := strings.Cut(msg, "\n\n")
	return b
}
