package scripts_test

// scripts/registrar.lua end to end, with sipp phones: registration with
// digest auth, a call from a local user with proxy auth, parallel forking
// to two devices of one user, 404/403/407 and a restart on the SQLite
// file. The same flows pass on Kamailio 5.6 with
// examples/bench/registrar-kamailio.cfg; the scenarios are in
// examples/bench (register.xml, call_auth.xml) and examples/sipp.

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
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

const (
	realm     = "example.com"
	benchDir  = "../examples/bench/"
	sippDir   = "../examples/sipp/"
	sippLimit = 40 * time.Second
)

// needRegistrarModules skips the test until kemi has the modules the
// script calls (issue 7 adds them).
func needRegistrarModules(t *testing.T) {
	t.Helper()
	for _, m := range []string{"registrar", "usrloc", "auth", "auth_db"} {
		if _, ok := kemi.LookupModule(m); !ok {
			t.Skipf("kemi has no %s module yet: scripts/registrar.lua needs registrar, usrloc, auth and auth_db", m)
		}
	}
	enginetest.SippPath(t)
}

// startRegistrar runs scripts/registrar.lua with its database (bindings
// and subscribers) at path and example.com as one of its names.
func startRegistrar(t *testing.T, path string) *enginetest.Server {
	t.Helper()
	return registrarNode(t, "sqlite://"+path, path)
}

// injection writes a sipp injection file of one user.
func injection(t *testing.T, user, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), user+".csv")
	text := fmt.Sprintf("SEQUENTIAL\n%s;%s;[authentication username=%s password=%s]\n", user, realm, user, password)
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// register runs one registration from port (the Contact) and returns
// sipp's exit code: 0 when it got a 200 that lists a binding with its
// expires (testdata/register_expires.xml).
func register(t *testing.T, s *enginetest.Server, user, password string, port int) int {
	t.Helper()
	code, out := enginetest.RunSipp(t, sippLimit, s.UDP(), "-sf", "testdata/register_expires.xml",
		"-inf", injection(t, user, password), "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", "1", "-timeout", "30s")
	if code != 0 {
		t.Logf("registration of %s from port %d: sipp exit %d\n%s", user, port, code, out)
	}
	return code
}

// sippDevice is a sipp UAS playing one device of a user.
type sippDevice struct {
	scenario string
	cmd      *exec.Cmd
	out      bytes.Buffer
	done     chan struct{}
}

// device starts a sipp UAS on port with a scenario of examples/sipp, for
// one call; its errors fail the test. The port is the Contact the device
// registered, so a test that starts a second device on it must wait for
// the first one to end (waitDevices): sipp cannot bind a port still held
// by the one before, and the request for the device would go nowhere.
func device(t *testing.T, scenario string, port int) *sippDevice {
	t.Helper()
	bin := enginetest.SippPath(t)
	errs := filepath.Join(t.TempDir(), "uas-errors.log")
	d := &sippDevice{scenario: scenario, done: make(chan struct{})}
	d.cmd = exec.Command(bin, "-nostdin", "-sf", sippDir+scenario, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-m", "1", "-trace_err", "-error_file", errs)
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	go func() {
		_ = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if b, err := os.ReadFile(errs); err == nil && len(bytes.TrimSpace(b)) > 0 {
			t.Errorf("device %s logged errors:\n%s", scenario, b)
		}
		if t.Failed() {
			t.Logf("device %s output:\n%s", scenario, d.out.String())
		}
	})
	return d
}

// waitDevices waits until the devices' sipp processes ended (their call
// is over and they released their ports).
func waitDevices(t *testing.T, ds ...*sippDevice) {
	t.Helper()
	for _, d := range ds {
		select {
		case <-d.done:
		case <-time.After(sippLimit):
			t.Fatalf("device %s did not end within %v:\n%s", d.scenario, sippLimit, d.out.String())
		}
	}
}

// call makes one authenticated call from caller to callee through s and
// fails the test unless it completed.
func call(t *testing.T, s *enginetest.Server, caller, password, callee string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // let the devices bind
	code, out := enginetest.RunSipp(t, sippLimit, s.UDP(), "-sf", benchDir+"call_auth.xml",
		"-inf", injection(t, caller, password), "-s", callee, "-i", "127.0.0.1",
		"-p", strconv.Itoa(enginetest.FreeUDPPort(t)), "-m", "1", "-timeout", "30s")
	if code != 0 {
		t.Fatalf("call %s -> %s: sipp exit %d\n%s\nkemi log:\n%s", caller, callee, code, out, s.Logs())
	}
}

// status sends one request from a plain UDP socket and returns the status
// line of the first final reply.
func status(t *testing.T, s *enginetest.Server, method, ruri, from string) string {
	t.Helper()
	c, err := net.Dial("udp", s.UDP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nMax-Forwards: 70\r\n"+
		"From: <%s>;tag=t1\r\nTo: <%s>\r\nCall-ID: %d@test\r\nCSeq: 1 %s\r\nContact: <sip:x@%s>\r\nContent-Length: 0\r\n\r\n",
		method, ruri, local, time.Now().UnixNano(), from, ruri, time.Now().UnixNano(), method, local)
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s %s: no final reply: %v", method, ruri, err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

func TestRegistrarScript(t *testing.T) {
	needRegistrarModules(t)
	path := filepath.Join(t.TempDir(), "kemi.db")
	userAdd(t, path, map[string]string{"alice": "pw-alice", "bob": "pw-bob"})
	s := startRegistrar(t, path)

	for _, c := range []struct{ method, ruri, from, want string }{
		{"OPTIONS", "sip:" + realm, "sip:x@foreign.net", "SIP/2.0 200 Keepalive"},
		{"INVITE", "sip:x@other.org", "sip:y@foreign.net", "SIP/2.0 403 Not relaying"},
		{"INVITE", "sip:bob@" + realm, "sip:y@foreign.net", "SIP/2.0 404 Not Found"},
		{"INVITE", "sip:alice@" + realm, "sip:bob@" + realm, "SIP/2.0 407 Proxy Authentication Required"},
		{"REGISTER", "sip:" + realm, "sip:alice@" + realm, "SIP/2.0 401 Unauthorized"},
	} {
		if got := status(t, s, c.method, c.ruri, c.from); got != c.want {
			t.Errorf("%s %s from %s: %q, want %q", c.method, c.ruri, c.from, got, c.want)
		}
	}

	if code := register(t, s, "alice", "wrong", enginetest.FreeUDPPort(t)); code == 0 {
		t.Fatal("a wrong password registered")
	}
	busy, answers := enginetest.FreeUDPPort(t), enginetest.FreeUDPPort(t)
	for _, port := range []int{busy, answers} {
		if code := register(t, s, "alice", "pw-alice", port); code != 0 {
			t.Fatalf("alice's registration from port %d: sipp exit %d\nkemi log:\n%s", port, code, s.Logs())
		}
	}
	// both devices ring at once: one is busy, the other answers
	d1 := device(t, "uas_486.xml", busy)
	d2 := device(t, "uas_rr.xml", answers)
	call(t, s, "bob", "pw-bob", "alice")
	waitDevices(t, d1, d2)

	// a restart keeps the registrations: they are in the file
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Engine.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s = startRegistrar(t, path)
	device(t, "uas_486.xml", busy)
	device(t, "uas_rr.xml", answers)
	call(t, s, "bob", "pw-bob", "alice")
}
