package enginetest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RTPEngine is a real rtpengine media relay started for a test,
// userspace only.
type RTPEngine struct {
	// NG is the address of its control (ng) protocol, "127.0.0.1:PORT".
	NG string
	// PortMin and PortMax bound the media ports it allocates.
	PortMin, PortMax int
}

// StartRTPEngine starts rtpengine (the Debian package rtpengine-daemon)
// on 127.0.0.1 without the kernel module (--table=-1) and with media
// ports of its own, or skips the test when it is not installed. It
// returns once the daemon answers a ping, and kills it when the test
// ends (logging its output if the test failed).
func StartRTPEngine(t testing.TB) *RTPEngine {
	t.Helper()
	bin, err := exec.LookPath("rtpengine")
	if err != nil {
		t.Skip("rtpengine not found: install the Debian package rtpengine-daemon to run this test (CI does)")
	}
	ng := FreeUDPPort(t)
	// a media port range of its own: 100 ports above a free one
	base := 20000 + (os.Getpid()*7+ng)%20000
	r := &RTPEngine{NG: fmt.Sprintf("127.0.0.1:%d", ng), PortMin: base, PortMax: base + 99}
	out := &bytes.Buffer{}
	cmd := exec.Command(bin, "--config-file=none", "--table=-1", "--interface=127.0.0.1",
		"--listen-ng="+r.NG, "--foreground", "--log-stderr", "--log-level=6", "--delete-delay=0",
		"--port-min="+strconv.Itoa(r.PortMin), "--port-max="+strconv.Itoa(r.PortMax),
		"--pidfile="+filepath.Join(t.TempDir(), "rtpengine.pid"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("enginetest: rtpengine: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("rtpengine output:\n%s", out)
		}
	})
	for i := 0; ; i++ {
		if pingNG(r.NG) {
			return r
		}
		if i == 50 {
			t.Fatalf("enginetest: rtpengine does not answer ping on %s:\n%s", r.NG, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pingNG sends an ng ping (bencoded {"command": "ping"}) and tells
// whether the pong came back.
func pingNG(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping1 d7:command4:pinge")); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return err == nil && strings.Contains(string(buf[:n]), "pong")
}
