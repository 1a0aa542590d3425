package main

// Process-model tests: they build the kemi binary (with the lifecycletest
// module) and run it for real on loopback.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

var (
	buildOnce sync.Once
	kemiBin   string
	buildErr  error
)

// binary builds kemi once for all process tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kemi-bin-")
		if err != nil {
			buildErr = err
			return
		}
		kemiBin = filepath.Join(dir, "kemi")
		out, err := exec.Command("go", "build", "-tags", "kemitest", "-o", kemiBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return kemiBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kemiBin != "" {
		os.RemoveAll(filepath.Dir(kemiBin))
	}
	os.Exit(code)
}

// kemiProc is a running kemi.
type kemiProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *enginetest.LogBuffer
	done   chan struct{}
	code   int
	sip    string // udp address
	tcp    string
	mtr    string // metrics address
	dir    string
	script string
}

type procOpts struct {
	script  string
	config  string
	workers int
	args    []string
	udpOpts string   // appended to the udp listen spec: " name x"
	env     []string // added to the environment
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startKemi runs `kemi run` on free loopback ports and waits until it
// answers.
func startKemi(t *testing.T, o procOpts) *kemiProc {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	p := &kemiProc{t: t, log: &enginetest.LogBuffer{}, done: make(chan struct{}), dir: dir}
	p.script = filepath.Join(dir, "routing.lua")
	if err := os.WriteFile(p.script, []byte(o.script), 0o644); err != nil {
		t.Fatal(err)
	}
	udp := enginetest.FreeUDPPort(t)
	p.sip = fmt.Sprintf("127.0.0.1:%d", udp)
	p.tcp = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	p.mtr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	args := []string{"run", "-f", p.script, "-l", "udp:" + p.sip + o.udpOpts, "-l", "tcp:" + p.tcp, "--metrics-addr", p.mtr,
		"-n", strconv.Itoa(max(o.workers, 2)), "--log-level", "debug"}
	if o.config != "" {
		cfg := filepath.Join(dir, "kemi.toml")
		if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(o.config, "@DIR@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	for _, a := range o.args {
		args = append(args, strings.ReplaceAll(a, "@DIR@", dir))
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), o.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		for _, c := range childrenOf(p.cmd.Process.Pid) {
			syscall.Kill(c, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("kemi log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := options(p.sip, "wait-ready", 300*time.Millisecond); r != "" {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("kemi exited with %d before answering:\n%s", p.code, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kemi did not answer within 10s:\n%s", p.log.String())
		}
	}
}

func (p *kemiProc) pid() int { return p.cmd.Process.Pid }

func (p *kemiProc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for kemi to exit and returns its exit code, or -1.
func (p *kemiProc) wait(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		return -1
	}
}

func (p *kemiProc) worker() int {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if c := childrenOf(p.pid()); len(c) == 1 {
			return c[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("no single worker process under %d: %v", p.pid(), childrenOf(p.pid()))
	return 0
}

func (p *kemiProc) metric(series string) float64 {
	res, err := http.Get("http://" + p.mtr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return enginetest.MetricValue(string(b), series)
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
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
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	return !strings.HasPrefix(s[strings.LastIndexByte(s, ')')+2:], "Z")
}

// options sends one OPTIONS (retransmitted every 100ms, as a client would)
// and returns the first line of the reply, or "" after timeout.
func options(addr, callID string, timeout time.Duration) string {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return ""
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	// a Call-ID and a branch are RFC 3261 words: test names may not be
	callID = strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return r
		}
		return '-'
	}, callID)
	msg := fmt.Sprintf("OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
		"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port, callID, callID)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(min(100*time.Millisecond, time.Until(deadline))))
		if n, err := c.Read(buf); err == nil {
			return strings.SplitN(string(buf[:n]), "\r\n", 2)[0]
		}
	}
	return ""
}

type record struct {
	Call string `json:"call"`
	Rank int    `json:"rank"`
	Pid  int    `json:"pid"`
	Dry  bool   `json:"dry"`
	What string `json:"what"`
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad record %q", sc.Text())
		}
		out = append(out, r)
	}
	return out
}

const lifecycleScript = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "OK")
end
function ksr_lifecycle_event(evname)
	KSR.lifecycletest.record(evname)
end
function ksr_core_event(evname)
	KSR.lifecycletest.record(evname)
end
`

const lifecycleConfig = `
[core]
modules = ["core", "sl", "lifecycletest"]
event_route_callback = "ksr_core_event"

[lifecycletest]
file = "@DIR@/records.jsonl"
extra = true
event = "ksr_lifecycle_event"
`

// checkLifecycle asserts the order and ranks of one engine's records.
func checkLifecycle(t *testing.T, recs []record, workers int) {
	t.Helper()
	idx := func(call string, rank int) int {
		for i, r := range recs {
			if r.Call == call && r.Rank == rank {
				return i
			}
		}
		t.Fatalf("no %s rank %d in %+v", call, rank, recs)
		return -1
	}
	modInit := idx("mod_init", 0)
	ciInit := idx("child_init", 0)
	ciMain := idx("child_init", -1)
	if !(modInit < ciInit && ciInit < ciMain) {
		t.Errorf("order: mod_init %d, child_init(init) %d, child_init(main) %d", modInit, ciInit, ciMain)
	}
	for rank := 1; rank <= workers; rank++ {
		if i := idx("child_init", rank); i < ciMain {
			t.Errorf("child_init(%d) before child_init(main)", rank)
		}
	}
	if i := idx("process_start", -10); i < ciMain {
		t.Errorf("extra process started before child_init(main)")
	}
	// the extra process ran its script event with a Lua state of its own
	ev := idx("script", -10)
	if recs[ev].What != "lifecycletest:process-init" {
		t.Errorf("extra process event = %+v", recs[ev])
	}
	one := idx("script", 1)
	if recs[one].What != "core:worker-one-init" {
		t.Errorf("worker one init = %+v", recs[one])
	}
	stop := idx("process_stop", -10)
	destroy := idx("destroy", 0)
	if destroy != len(recs)-1 || stop > destroy {
		t.Errorf("destroy must come last, after the extra process stopped: %+v", recs)
	}
}

func TestForkModeProcessTreeAndLifecycle(t *testing.T) {
	p := startKemi(t, procOpts{script: lifecycleScript, config: lifecycleConfig, args: []string{"-P", "@DIR@/kemi.pid"}})
	pidText, err := os.ReadFile(filepath.Join(p.dir, "kemi.pid"))
	if err != nil || strings.TrimSpace(string(pidText)) != strconv.Itoa(p.pid()) {
		t.Fatalf("pid file = %q (%v), main pid %d", pidText, err, p.pid())
	}
	w := p.worker()
	if kids := childrenOf(w); len(kids) != 0 {
		t.Errorf("the worker process has children: %v", kids)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if alive(w) {
		t.Fatalf("worker process %d still alive", w)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "kemi.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left behind")
	}
	recs := readRecords(t, filepath.Join(p.dir, "records.jsonl"))
	var main, work []record
	for _, r := range recs {
		switch r.Pid {
		case p.pid():
			main = append(main, r)
		case w:
			work = append(work, r)
		default:
			t.Errorf("record from an unknown process: %+v", r)
		}
	}
	// the main process only validated: a dry ModInit and its Destroy
	if len(main) != 2 || main[0].Call != "mod_init" || !main[0].Dry || main[1].Call != "destroy" {
		t.Errorf("main process records: %+v", main)
	}
	for _, r := range work {
		if r.Dry {
			t.Errorf("dry call in the worker process: %+v", r)
		}
	}
	checkLifecycle(t, work, 2)
}

func TestNoForkModeLifecycle(t *testing.T) {
	p := startKemi(t, procOpts{script: lifecycleScript, config: lifecycleConfig, workers: 3, args: []string{"--no-fork"}})
	if kids := childrenOf(p.pid()); len(kids) != 0 {
		t.Fatalf("--no-fork started child processes: %v", kids)
	}
	p.signal(syscall.SIGINT)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	recs := readRecords(t, filepath.Join(p.dir, "records.jsonl"))
	for _, r := range recs {
		if r.Pid != p.pid() {
			t.Fatalf("record from another process: %+v", r)
		}
	}
	checkLifecycle(t, recs, 3)
}

const answerScript = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "Gen1")
end
`

// TestKillWorkerUnderLoad kills the worker process while a client sends
// 500 OPTIONS per second (retransmitting like a UDP client): service must
// be back within a second and no request may be lost.
func TestKillWorkerUnderLoad(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript})
	old := p.worker()

	const rate, seconds = 500, 3
	var answered, lost atomic.Int64
	var lastGap atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < rate*seconds; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sent := time.Now()
			if r := options(p.sip, fmt.Sprintf("load-%d", i), 4*time.Second); strings.HasPrefix(r, "SIP/2.0 200") {
				answered.Add(1)
				d := int64(time.Since(sent))
				for {
					old := lastGap.Load()
					if d <= old || lastGap.CompareAndSwap(old, d) {
						break
					}
				}
			} else {
				lost.Add(1)
			}
		}(i)
		if i == rate { // after one second
			syscall.Kill(old, syscall.SIGKILL)
		}
	}
	wg.Wait()
	t.Logf("answered %d, lost %d, slowest answer %v", answered.Load(), lost.Load(), time.Duration(lastGap.Load()))
	if _, took, ok := strings.Cut(p.log.String(), "restart_took="); ok {
		took, _, _ = strings.Cut(took, "\n")
		t.Logf("supervisor: worker process back after %s", took)
	}
	if lost.Load() != 0 {
		t.Errorf("%d requests lost", lost.Load())
	}
	if gap := time.Duration(lastGap.Load()); gap > time.Second {
		t.Errorf("service was back only after %v", gap)
	}
	if w := p.worker(); w == old {
		t.Fatalf("worker process was not replaced")
	}
	if v := p.metric("kemi_engine_worker_restarts_total"); v != 1 {
		t.Errorf("kemi_engine_worker_restarts_total = %v, want 1", v)
	}
}

// TestNamedSocketInForkMode: the socket name and advertised address of a
// listen spec reach the worker process with the socket.
func TestNamedSocketInForkMode(t *testing.T) {
	p := startKemi(t, procOpts{script: `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, tostring(KSR.kx.get_rcv_sock_name()) .. " " .. tostring(KSR.kx.get_rcvadvip()))
end`, udpOpts: " advertise 203.0.113.7 name sipudp"})
	if r := options(p.sip, "named", 2*time.Second); r != "SIP/2.0 200 sipudp 203.0.113.7" {
		t.Fatalf("reply = %q", r)
	}
}

func TestMainKilledTakesWorkerWithIt(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript})
	w := p.worker()
	p.signal(syscall.SIGKILL)
	p.wait(5 * time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for alive(w) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(w) {
		t.Fatalf("worker process %d outlived its main process", w)
	}
}

func TestCrashLoopStopsTheServer(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript})
	for i := 0; i < 5; i++ {
		w := p.worker()
		syscall.Kill(w, syscall.SIGKILL)
		if i < 4 {
			// wait for the next worker process
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if c := childrenOf(p.pid()); len(c) == 1 && c[0] != w {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	code := p.wait(10 * time.Second)
	if code == 0 || code == -1 {
		t.Fatalf("exit code %d, want non-zero", code)
	}
	if !strings.Contains(p.log.String(), "crash loop") {
		t.Errorf("no crash loop message in the log")
	}
}

func TestOnWorkerExitShutdown(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript, args: []string{"--on-worker-exit=shutdown"}})
	syscall.Kill(p.worker(), syscall.SIGKILL)
	if code := p.wait(5 * time.Second); code == 0 || code == -1 {
		t.Fatalf("exit code %d, want non-zero", code)
	}
}

func TestReloadAllOrNothing(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript})
	if strings.Contains(p.log.String(), "the file changed since") {
		t.Errorf("warned about a changed file at a normal start")
	}
	reload := func(src string) {
		t.Helper()
		if err := os.WriteFile(p.script, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p.signal(syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
	}
	reload(strings.ReplaceAll(answerScript, "Gen1", "Gen2"))
	if r := options(p.sip, "r1", 2*time.Second); r != "SIP/2.0 200 Gen2" {
		t.Fatalf("after a good reload: %q", r)
	}
	if v := p.metric("kemi_engine_script_generation"); v != 2 {
		t.Fatalf("generation = %v, want 2", v)
	}
	bad := map[string]string{
		"syntax":           "function ksr_request_route(\n",
		"no request route": "function other() end\n",
		"top-level error":  "local x = nil\nx.y = 1\nfunction ksr_request_route() end\n",
	}
	failures := 0.0
	for name, src := range bad {
		reload(src)
		failures++
		if r := options(p.sip, "r-"+name, 2*time.Second); r != "SIP/2.0 200 Gen2" {
			t.Fatalf("%s: the old script stopped answering: %q", name, r)
		}
		if v := p.metric("kemi_engine_reload_failures_total"); v != failures {
			t.Errorf("%s: reload failures = %v, want %v", name, v, failures)
		}
		if v := p.metric("kemi_engine_script_generation"); v != 2 {
			t.Errorf("%s: generation moved to %v", name, v)
		}
	}
	if !strings.Contains(p.log.String(), "routing.lua:2") {
		t.Errorf("the reload error does not say file:line")
	}
	// a worker process started after a failed reload runs the last good script
	syscall.Kill(p.worker(), syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	if r := options(p.sip, "r-after-restart", 3*time.Second); r != "SIP/2.0 200 Gen2" {
		t.Fatalf("after a restart: %q", r)
	}
	if v := p.metric("kemi_engine_script_generation"); v != 2 {
		t.Errorf("generation after a restart = %v, want 2", v)
	}
	if !strings.Contains(p.log.String(), "the file changed since") {
		t.Errorf("no warning that the restarted worker process runs an older script than the file")
	}
}

func TestSignals(t *testing.T) {
	p := startKemi(t, procOpts{script: answerScript})
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGPIPE} {
		p.signal(sig)
	}
	p.signal(syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	if r := options(p.sip, "after-signals", 2*time.Second); r != "SIP/2.0 200 Gen1" {
		t.Fatalf("not serving after SIGUSR2/SIGPIPE/SIGUSR1: %q", r)
	}
	logs := p.log.String()
	for _, want := range []string{"worker statistics", "rank=1", "routed=", "busy=", "transactions_alive=", "heap_bytes="} {
		if !strings.Contains(logs, want) {
			t.Errorf("SIGUSR1 output lacks %q", want)
		}
	}
}

func TestRunawayRouteDoesNotStopTheOthers(t *testing.T) {
	p := startKemi(t, procOpts{script: `
function ksr_request_route()
	if KSR.pv.get("$ci") == "loop" then
		while true do end
	end
	KSR.sl.sl_send_reply(200, "OK")
end`, workers: 2})
	// one datagram, no retransmission: it keeps one worker busy for ever
	go options(p.sip, "loop", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	for i := 0; i < 5; i++ {
		if r := options(p.sip, fmt.Sprintf("other-%d", i), 2*time.Second); r != "SIP/2.0 200 OK" {
			t.Fatalf("request %d while a route loops: %q", i, r)
		}
	}
	p.signal(syscall.SIGUSR1)
	time.Sleep(100 * time.Millisecond)
	if r := options(p.sip, "after", 2*time.Second); r != "SIP/2.0 200 OK" {
		t.Fatalf("supervisor or workers stuck: %q", r)
	}
}

// udpPeer is a bare SIP endpoint on loopback for the process tests.
type udpPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newUDPPeer(t *testing.T) *udpPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, conn: c}
}

func (u *udpPeer) port() int { return u.conn.LocalAddr().(*net.UDPAddr).Port }

func (u *udpPeer) send(to, msg string) {
	u.t.Helper()
	a, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		u.t.Fatal(err)
	}
	if _, err := u.conn.WriteToUDP([]byte(msg), a); err != nil {
		u.t.Fatal(err)
	}
}

// expect returns the first message whose start line begins with prefix,
// and who sent it; it fails the test after timeout.
func (u *udpPeer) expect(prefix string, timeout time.Duration) (string, string) {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65535)
	for time.Now().Before(deadline) {
		u.conn.SetReadDeadline(deadline)
		n, from, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if msg := string(buf[:n]); strings.HasPrefix(msg, prefix) {
			return msg, from.String()
		}
	}
	u.t.Fatalf("no %q within %v", prefix, timeout)
	return "", ""
}

// replyTo builds a reply to req, keeping its Vias, From, Call-ID and CSeq.
func replyTo(req string, code int, reason, toTag string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, line := range strings.Split(req, "\r\n")[1:] {
		name, _, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "from", "call-id", "cseq", "record-route":
			b.WriteString(line + "\r\n")
		case "to":
			b.WriteString(line)
			if toTag != "" {
				b.WriteString(";tag=" + toTag)
			}
			b.WriteString("\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// slowCallScript answers OPTIONS and relays everything else statefully
// to the callee.
const slowCallScript = `
function ksr_request_route()
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "OK")
		KSR.x.exit()
	end
	if KSR.tmx.t_precheck_trans() > 0 then
		KSR.tm.t_check_trans()
		KSR.x.exit()
	end
	if KSR.tm.t_check_trans() == 0 then KSR.x.exit() end
	KSR.setdsturi("sip:127.0.0.1:%d")
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end
`

// startSlowCall sends an INVITE through kemi to a callee that rings but
// does not answer yet.
func startSlowCall(t *testing.T, p *kemiProc, caller, callee *udpPeer) (invite string, from string) {
	caller.send(p.sip, fmt.Sprintf("INVITE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKslow1;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: slow-call\r\n"+
		"CSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n", p.sip, caller.port(), caller.port()))
	invite, from = callee.expect("INVITE ", 3*time.Second)
	callee.send(from, replyTo(invite, 180, "Ringing", "b1"))
	caller.expect("SIP/2.0 180", 3*time.Second)
	return invite, from
}

// TestStopLetsTransactionsFinish sends SIGTERM while an INVITE rings: new
// requests are refused, the call's 200 still reaches the caller, then
// both processes exit 0.
func TestStopLetsTransactionsFinish(t *testing.T) {
	caller, callee := newUDPPeer(t), newUDPPeer(t)
	p := startKemi(t, procOpts{script: fmt.Sprintf(slowCallScript, callee.port())})
	worker := p.worker()
	invite, from := startSlowCall(t, p, caller, callee)

	p.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if code := p.wait(0); code != -1 {
		t.Fatalf("kemi exited (%d) with a transaction in progress", code)
	}
	if r := options(p.sip, "while-draining", 500*time.Millisecond); r != "" {
		t.Errorf("a new request was served while draining: %q", r)
	}
	callee.send(from, replyTo(invite, 200, "OK", "b1"))
	caller.expect("SIP/2.0 200", 3*time.Second)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after the transaction finished, want 0", code)
	}
	if alive(worker) {
		t.Errorf("worker process %d outlived the main process", worker)
	}
	if logs := p.log.String(); !strings.Contains(logs, "draining") {
		t.Errorf("no drain in the log:\n%s", logs)
	}
}

// TestReloadAndStatsSignalsDuringStopAreIgnored: SIGHUP and SIGUSR1 while
// draining neither end the drain early (only a second SIGINT/SIGTERM does)
// nor reach the worker process through the supervisor.
func TestReloadAndStatsSignalsDuringStopAreIgnored(t *testing.T) {
	caller, callee := newUDPPeer(t), newUDPPeer(t)
	p := startKemi(t, procOpts{script: fmt.Sprintf(slowCallScript, callee.port())})
	worker := p.worker()
	invite, from := startSlowCall(t, p, caller, callee)

	p.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	p.signal(syscall.SIGHUP)
	p.signal(syscall.SIGUSR1)
	// and straight to the worker process, as an operator might
	syscall.Kill(worker, syscall.SIGHUP)
	syscall.Kill(worker, syscall.SIGUSR1)
	time.Sleep(300 * time.Millisecond)
	if code := p.wait(0); code != -1 {
		t.Fatalf("kemi exited (%d) on SIGHUP/SIGUSR1 while draining", code)
	}
	callee.send(from, replyTo(invite, 200, "OK", "b1"))
	caller.expect("SIP/2.0 200", 3*time.Second)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after the transaction finished, want 0", code)
	}
	logs := p.log.String()
	if strings.Contains(logs, "second stop signal") {
		t.Errorf("SIGHUP/SIGUSR1 counted as a second stop:\n%s", logs)
	}
	if strings.Contains(logs, "reloading the routing script") || strings.Contains(logs, "worker statistics") {
		t.Errorf("a signal was acted on while draining:\n%s", logs)
	}
}

// TestSecondStopSignalEndsAtOnce: a second SIGTERM does not wait for the
// transaction still ringing.
func TestSecondStopSignalEndsAtOnce(t *testing.T) {
	caller, callee := newUDPPeer(t), newUDPPeer(t)
	p := startKemi(t, procOpts{script: fmt.Sprintf(slowCallScript, callee.port()), args: []string{"--shutdown-grace", "30s"}})
	worker := p.worker()
	startSlowCall(t, p, caller, callee)

	p.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if code := p.wait(0); code != -1 {
		t.Fatalf("kemi exited (%d) at the first signal with a transaction in progress", code)
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(3 * time.Second); code == -1 {
		t.Fatal("kemi still runs 3 s after the second SIGTERM")
	}
	t.Logf("exited %v after the second signal", time.Since(start).Round(time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	if alive(worker) {
		t.Errorf("worker process %d outlived the main process", worker)
	}
}
