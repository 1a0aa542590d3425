package main

import (
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

	"golang.org/x/sys/unix"
)

// notification is one datagram kemi sent to NOTIFY_SOCKET.
type notification struct {
	at   time.Time
	pid  int // the sender, from the kernel's credentials
	vars map[string]string
	raw  string
}

// notifySocket plays systemd's end of the notification protocol.
type notifySocket struct {
	name     string
	got      chan notification
	watchdog chan notification // the WATCHDOG=1 ones
}

// listenNotify binds a datagram socket for NOTIFY_SOCKET: an abstract
// name or a path in a temporary folder. The kernel attaches the sender's
// credentials (SO_PASSCRED), as it does for systemd.
func listenNotify(t *testing.T, abstract bool) *notifySocket {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@kemi-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) }); err != nil || serr != nil {
		t.Fatalf("SO_PASSCRED: %v %v", err, serr)
	}
	s := &notifySocket{name: name, got: make(chan notification, 64), watchdog: make(chan notification, 1024)}
	go func() {
		buf := make([]byte, 4096)
		oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				close(s.got)
				return
			}
			m := notification{at: time.Now(), raw: string(buf[:n]), vars: map[string]string{}}
			if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cmsgs) > 0 {
				if cred, err := unix.ParseUnixCredentials(&cmsgs[0]); err == nil {
					m.pid = int(cred.Pid)
				}
			}
			for _, line := range strings.Split(m.raw, "\n") {
				k, v, _ := strings.Cut(line, "=")
				m.vars[k] = v
			}
			if m.raw == "WATCHDOG=1" {
				select {
				case s.watchdog <- m:
				default:
				}
				continue
			}
			s.got <- m
		}
	}()
	return s
}

// next returns the next notification but WATCHDOG=1, which must come
// from pid and set key (READY, RELOADING, STOPPING, STATUS).
func (s *notifySocket) next(t *testing.T, pid int, key string, timeout time.Duration) notification {
	t.Helper()
	select {
	case m, ok := <-s.got:
		if !ok {
			t.Fatalf("notify socket closed, waiting for %s", key)
		}
		if m.pid != pid {
			t.Errorf("notification %q from pid %d, want the main process %d", m.raw, m.pid, pid)
		}
		if _, ok := m.vars[key]; !ok {
			t.Fatalf("notification %q, want %s", m.raw, key)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no %s notification within %v", key, timeout)
	}
	return notification{}
}

// none fails on any notification within d.
func (s *notifySocket) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.got:
		t.Errorf("unexpected notification %q", m.raw)
	case <-time.After(d):
	}
}

func monotonicUsec(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1e3
}

// startDelay is how long the lifecycletest module holds the engine's
// start, after the sockets are bound and before the workers serve: a
// READY=1 sent at bind time comes that long before the port answers.
const startDelay = 1500 * time.Millisecond

const slowStartConfig = `
[core]
modules = ["core", "sl", "lifecycletest"]

[lifecycletest]
file = "@DIR@/records.jsonl"
start_delay = "1500ms"
`

// TestServiceNotifications runs kemi as systemd would with Type=notify and
// checks what it says and when: READY=1 once the SIP port answers, the
// reload pair around SIGHUP (good and refused), the status while a worker
// process restarts, STOPPING=1 on SIGTERM; every message from the main
// process.
func TestServiceNotifications(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		abstract bool
	}{
		{"fork", nil, false},
		{"no-fork", []string{"--no-fork"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := listenNotify(t, tc.abstract)
			binary(t) // built before the clock starts
			begin := time.Now()
			p := startKemi(t, procOpts{script: answerScript, config: slowStartConfig, args: tc.args,
				env: []string{"NOTIFY_SOCKET=" + ns.name}})
			answered := time.Now()
			pid := p.pid()

			ready := ns.next(t, pid, "READY", 5*time.Second)
			if ready.at.Before(begin.Add(startDelay)) {
				t.Errorf("READY=1 %v after the start, before the engine's start (%v) was over", ready.at.Sub(begin), startDelay)
			}
			if early := answered.Sub(ready.at); early > 750*time.Millisecond {
				t.Errorf("READY=1 came %v before the SIP port answered", early)
			}
			if ready.vars["MAINPID"] != strconv.Itoa(pid) {
				t.Errorf("MAINPID = %q, want %d", ready.vars["MAINPID"], pid)
			}
			for _, want := range []string{"serving SIP on", "udp:" + p.sip, "tcp:" + p.tcp, "script generation 1"} {
				if !strings.Contains(ready.vars["STATUS"], want) {
					t.Errorf("STATUS %q lacks %q", ready.vars["STATUS"], want)
				}
			}

			// a good reload
			if err := os.WriteFile(p.script, []byte(strings.ReplaceAll(answerScript, "Gen1", "Gen2")), 0o644); err != nil {
				t.Fatal(err)
			}
			before := monotonicUsec(t)
			p.signal(syscall.SIGHUP)
			rl := ns.next(t, pid, "RELOADING", 3*time.Second)
			us, err := strconv.ParseInt(rl.vars["MONOTONIC_USEC"], 10, 64)
			if err != nil || us < before || us > monotonicUsec(t) {
				t.Errorf("MONOTONIC_USEC = %q (%v), want between %d and now", rl.vars["MONOTONIC_USEC"], err, before)
			}
			rd := ns.next(t, pid, "READY", 5*time.Second)
			if !strings.Contains(rd.vars["STATUS"], "script generation 2") {
				t.Errorf("STATUS after a reload: %q", rd.vars["STATUS"])
			}
			if r := options(p.sip, "after-ready", time.Second); r != "SIP/2.0 200 Gen2" {
				t.Errorf("after READY=1 of the reload: %q", r)
			}

			// a refused reload ends with READY=1 too: the old script serves
			if err := os.WriteFile(p.script, []byte("function ksr_request_route(\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			p.signal(syscall.SIGHUP)
			ns.next(t, pid, "RELOADING", 3*time.Second)
			rd = ns.next(t, pid, "READY", 5*time.Second)
			if st := rd.vars["STATUS"]; !strings.Contains(st, "reload refused") || !strings.Contains(st, "routing.lua:") || !strings.Contains(st, "script generation 2") {
				t.Errorf("STATUS after a refused reload: %q", st)
			}

			if tc.args == nil {
				// the worker process dies: the status says so until it is back
				syscall.Kill(p.worker(), syscall.SIGKILL)
				st := ns.next(t, pid, "STATUS", 3*time.Second)
				if !strings.HasPrefix(st.vars["STATUS"], "not serving: the worker process died") {
					t.Errorf("STATUS while the worker process is down: %q", st.vars["STATUS"])
				}
				rd = ns.next(t, pid, "READY", 10*time.Second)
				if !strings.Contains(rd.vars["STATUS"], "worker restarts 1") {
					t.Errorf("STATUS after a restart: %q", rd.vars["STATUS"])
				}
			}

			p.signal(syscall.SIGTERM)
			st := ns.next(t, pid, "STOPPING", 3*time.Second)
			if !strings.HasPrefix(st.vars["STATUS"], "shutting down") {
				t.Errorf("STATUS at the stop: %q", st.vars["STATUS"])
			}
			if code := p.wait(10 * time.Second); code != 0 {
				t.Fatalf("exit code %d", code)
			}
			ns.none(t, 100*time.Millisecond)
		})
	}
}

// TestServiceNotifySocketRefused: a NOTIFY_SOCKET that is not a path or an
// abstract name is logged, and kemi serves anyway.
func TestServiceNotifySocketRefused(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript, args: []string{"--no-fork"}, env: []string{"NOTIFY_SOCKET=vsock:2:1234"}})
	if !strings.Contains(p.log.String(), "not notifying the service manager") {
		t.Errorf("no warning about the unusable NOTIFY_SOCKET:\n%s", p.log.String())
	}
}

// TestSystemdUnit runs examples/systemd/kemi.service's ExecStart as
// systemd would (its paths moved to a temporary folder, NOTIFY_SOCKET
// set), checks the pid file and the control socket it asks for, reloads
// and stops it the unit's way, and has systemd-analyze verify the unit
// when it is installed.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../examples/systemd/kemi.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{"Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "KillMode": "mixed", "Restart": "on-failure", "User": "kemi"} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(keys["ExecStart"]) != 1 {
		t.Fatalf("ExecStart = %q", keys["ExecStart"])
	}
	bin := binary(t)
	dir := t.TempDir()
	execStart := strings.Fields(keys["ExecStart"][0])
	if execStart[0] != "/usr/local/bin/kemi" || execStart[1] != "run" {
		t.Fatalf("ExecStart = %q", execStart)
	}
	// /etc/kemi and /run/kemi (RuntimeDirectory) become dir
	args := []string{"run"}
	for _, a := range execStart[2:] {
		a = strings.Replace(a, "/etc/kemi/", dir+"/", 1)
		args = append(args, strings.Replace(a, "/run/kemi/", dir+"/", 1))
	}
	script := filepath.Join(dir, "routing.lua")
	config := `[core]
script = "routing.lua"
listen = ["udp:127.0.0.1:0"]
metrics_addr = ""
workers = 1
`
	if err := os.WriteFile(script, []byte(answerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kemi.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := listenNotify(t, true)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.name)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("kemi log:\n%s", log.String())
		}
	})
	pid := cmd.Process.Pid
	ready := ns.next(t, pid, "READY", 10*time.Second)
	// the status names the port that 0 picked
	status := ready.vars["STATUS"]
	i := strings.Index(status, "udp:")
	if i < 0 {
		t.Fatalf("STATUS %q has no udp socket", status)
	}
	sip := strings.Fields(status[i+len("udp:"):])[0]
	if r := options(sip, "unit", 2*time.Second); r != "SIP/2.0 200 Gen1" {
		t.Fatalf("OPTIONS to %s after READY=1: %q", sip, r)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "kemi.pid")); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Errorf("pid file %q (%v), want %d", b, err, pid)
	}
	ctl := exec.Command(bin, "ctl", "--socket", filepath.Join(dir, "kemi.ctl"), "core.version")
	if out, err := ctl.CombinedOutput(); err != nil || !strings.Contains(string(out), "kemi") {
		t.Errorf("kemi ctl on the unit's socket: %v\n%s", err, out)
	}
	// ExecReload, then KillMode=mixed: both signals go to the main process only
	syscall.Kill(pid, syscall.SIGHUP)
	ns.next(t, pid, "RELOADING", 3*time.Second)
	ns.next(t, pid, "READY", 5*time.Second)
	syscall.Kill(pid, syscall.SIGTERM)
	ns.next(t, pid, "STOPPING", 3*time.Second)
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("kemi ended with %v", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kemi did not stop within 10s of SIGTERM")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit file is not verified")
	}
	// verify wants ExecStart's binary to exist, and man:kemi(1) installed
	// unless told not to look
	verified := filepath.Join(dir, "kemi.service")
	if err := os.WriteFile(verified, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/kemi", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", verified).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// watchdogs drains the WATCHDOG=1 notifications received so far and
// returns how many came from pid and from others.
func (s *notifySocket) watchdogs(pid int) (fromPid, others int) {
	for {
		select {
		case m := <-s.watchdog:
			if m.pid == pid {
				fromPid++
			} else {
				others++
			}
		default:
			return fromPid, others
		}
	}
}

const stuckScript = `
function ksr_request_route()
	if KSR.pv.get("$ci"):find("^stuck") then
		while true do end
	end
	KSR.sl.sl_send_reply(200, "Gen1")
end
`

// TestServiceWatchdog: with WATCHDOG_USEC set, the main process sends
// WATCHDOG=1 while the workers take work, and stops when a worker is
// stuck in a route.
func TestServiceWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"fork", []string{"--route-timeout", "off"}},
		{"no-fork", []string{"--route-timeout", "off", "--no-fork"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := listenNotify(t, true)
			// WatchdogSec=600ms: a proof every 300ms
			p := startKemi(t, procOpts{script: stuckScript, args: tc.args,
				env: []string{"NOTIFY_SOCKET=" + ns.name, "WATCHDOG_USEC=600000"}})
			ns.next(t, p.pid(), "READY", 5*time.Second)
			ns.watchdogs(p.pid())
			time.Sleep(1500 * time.Millisecond)
			got, others := ns.watchdogs(p.pid())
			if got < 3 || got > 6 || others > 0 {
				t.Fatalf("in 1.5s: %d WATCHDOG=1 from the main process (want 3 to 6), %d from others", got, others)
			}
			// a worker loops for ever: the proof stops. Which worker a
			// datagram gets is the engine's business, so the stuck
			// requests go again until no proof comes for 1.2s.
			stuck := 0
			for round := 0; round < 4; round++ {
				for range 8 {
					c, err := net.Dial("udp", p.sip)
					if err != nil {
						t.Fatal(err)
					}
					port := c.LocalAddr().(*net.UDPAddr).Port
					fmt.Fprintf(c, "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKstuck%d\r\n"+
						"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: stuck-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, stuck, stuck)
					c.Close()
					stuck++
				}
				time.Sleep(700 * time.Millisecond) // a proof under way may still land
				ns.watchdogs(p.pid())
				time.Sleep(1200 * time.Millisecond)
				if got, _ := ns.watchdogs(p.pid()); got == 0 {
					return
				}
			}
			t.Errorf("WATCHDOG=1 goes on while workers are stuck")
		})
	}
}
