package scripts_test

import (
	"bytes"
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

	"github.com/kemisip/kemi/engine/enginetest"
)

// kemiRun is `kemi run` of the built binary, in fork mode (a main process
// and its worker process).
type kemiRun struct {
	cmd  *exec.Cmd
	out  *enginetest.LogBuffer
	done chan struct{}
	addr string
}

// runRegistrar starts the binary on registrar.lua with its database the
// SQLite file at path, on a free loopback port, and waits until it
// answers OPTIONS.
func runRegistrar(t *testing.T, path string) *kemiRun {
	t.Helper()
	return runRegistrarDB(t, "sqlite://"+path, "")
}

// runRegistrarDB is runRegistrar with the core db_url dbURL and, when
// subscribers is not "", auth_db's subscribers in that SQLite file
// (through a kemi.toml with [auth_db] db_url).
func runRegistrarDB(t *testing.T, dbURL, subscribers string) *kemiRun {
	t.Helper()
	script, err := filepath.Abs("registrar.lua")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mtr := l.Addr().String()
	l.Close()
	k := &kemiRun{out: &enginetest.LogBuffer{}, done: make(chan struct{}),
		addr: fmt.Sprintf("127.0.0.1:%d", enginetest.FreeUDPPort(t))}
	args := []string{"run", "-f", script, "-l", "udp:" + k.addr, "--metrics-addr", mtr,
		"--db-url", dbURL, "--alias", realm, "-n", "2"}
	if subscribers != "" {
		cfg := filepath.Join(t.TempDir(), "kemi.toml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[auth_db]\ndb_url = %q\n", "sqlite://"+subscribers)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	k.cmd = exec.Command(kemiBinary(t), args...)
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.stop(t)
		if t.Failed() {
			t.Logf("kemi log:\n%s", k.out.String())
		}
	})
	k.waitReady(t)
	return k
}

// waitReady waits up to 10 s for the keepalive answer of registrar.lua.
func (k *kemiRun) waitReady(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if keepalive(k.addr) {
			return
		}
		select {
		case <-k.done:
			t.Fatalf("kemi exited:\n%s", k.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kemi does not answer on %s:\n%s", k.addr, k.out.String())
		}
	}
}

// stop stops kemi gracefully (SIGTERM to the main process, by its pid).
func (k *kemiRun) stop(t *testing.T) {
	select {
	case <-k.done:
		return
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(15 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
		t.Errorf("kemi did not stop on SIGTERM within 15 s")
	}
}

// keepalive sends one OPTIONS to the server itself and reports whether
// registrar.lua answered it within 300 ms.
func keepalive(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ka%d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:ka@foreign.net>;tag=ka\r\nTo: <sip:%s>\r\nCall-ID: ka-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		realm, local, time.Now().UnixNano(), realm, time.Now().UnixNano())
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200"))
}

// workerPids lists the child processes of pid (from /proc).
func workerPids(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, n)
		}
	}
	return out
}

// TestRegistrarRestartForkMode: the kemi binary in fork mode on a SQLite
// file. A phone registers; `kemi ul show` lists its binding; the worker
// process is killed (SIGKILL, by its pid) and the main process starts a
// new one: a call still reaches the phone. kemi is stopped and started
// again on the same file: a call still reaches the phone.
func TestRegistrarRestartForkMode(t *testing.T) {
	needRegistrarModules(t)
	path := filepath.Join(t.TempDir(), "kemi.db")
	userAdd(t, path, map[string]string{"alice": "pw-alice"})
	k := runRegistrar(t, path)

	phone := newUA(t, "phone")
	phone.mustRegister(k.addr, "alice", "pw-alice", 600)
	if out := kemiCmd(t, "", "ul", "show", "--db-url", "sqlite://"+path, "alice"); !strings.Contains(out, phone.contact("alice")) {
		t.Errorf("kemi ul show alice does not list %s:\n%s", phone.contact("alice"), out)
	}
	callReaches(t, k.addr, phone, "before-kill@test")

	workers := workerPids(k.cmd.Process.Pid)
	if len(workers) != 1 {
		t.Fatalf("want one worker process under %d, have %v", k.cmd.Process.Pid, workers)
	}
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if w := workerPids(k.cmd.Process.Pid); len(w) == 1 && w[0] != workers[0] && keepalive(k.addr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new worker process answering within 10 s")
		}
	}
	callReaches(t, k.addr, phone, "after-worker-kill@test")

	k.stop(t)
	k = runRegistrar(t, path)
	callReaches(t, k.addr, phone, "after-restart@test")
}
