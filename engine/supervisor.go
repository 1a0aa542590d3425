package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables of the worker process. The supervisor sets them;
// they are not meant for users.
const (
	envWorker    = "KEMI_WORKER_PROCESS" // "1" in the worker process
	envFDs       = "KEMI_WORKER_FDS"     // what fds 3, 4, ... are, a JSON list: specs, then "metrics", "ctl", "control", "script"
	envRestarts  = "KEMI_WORKER_RESTARTS"
	envGen       = "KEMI_WORKER_GENERATION"
	envWatchdog  = "KEMI_WORKER_WATCHDOG" // how often to prove the workers run (see WorkerProcess.Watchdog)
	firstExtraFD = 3
)

// IsWorkerProcess reports whether this process was started by a supervisor
// as its worker process.
func IsWorkerProcess() bool { return os.Getenv(envWorker) == "1" }

// SupervisorConfig configures the main process of fork mode.
type SupervisorConfig struct {
	// Args re-run this binary as the worker process (the same command
	// line: os.Args[1:]).
	Args []string
	// Listen are the SIP listen specs to bind; MetricsAddr the /metrics
	// address ("" for none).
	Listen      []string
	MetricsAddr string
	// CtlSocket is the path of the JSON-RPC control socket ("" for none):
	// bound here so that it outlives worker process restarts.
	CtlSocket string
	// Script is the validated script; a restarted worker process gets the
	// last script that loaded.
	Script []byte
	// Logger logs for the supervisor.
	Logger *slog.Logger
	// PidFile, when set, gets the main process id.
	PidFile string
	// ShutdownOnWorkerExit stops the server when the worker process dies
	// (Kamailio's behaviour) instead of restarting it.
	ShutdownOnWorkerExit bool
	// Grace is how long the worker drains on SIGINT/SIGTERM.
	Grace time.Duration
	// CrashLoopDeaths deaths within CrashLoopWindow stop the server.
	CrashLoopDeaths int
	CrashLoopWindow time.Duration
	// Notifier, when not nil, tells the service manager (systemd) when
	// the worker process serves, reloads and stops; the worker process
	// itself does not talk to it.
	Notifier *Notifier
}

// controlMsg is a line on the control socket between the two processes.
type controlMsg struct {
	T   string `json:"t"`             // "ready", "reload", "alive"
	OK  bool   `json:"ok,omitempty"`  // reload result
	Gen int64  `json:"gen,omitempty"` // script generation of a reload
	Err string `json:"err,omitempty"` // reload error
	Src string `json:"src,omitempty"` // source of a successful reload
}

// Supervise is the main process of fork mode. It binds every listener,
// starts this binary again as the worker process with those sockets,
// restarts it with back-off when it dies (on the very same sockets), stops
// on a crash loop, and turns signals into actions: SIGINT/SIGTERM graceful
// shutdown (a second one ends at once), SIGHUP reload, SIGUSR1 statistics;
// SIGUSR2 and SIGPIPE are ignored. It returns the exit status.
func Supervise(cfg SupervisorConfig) int {
	log := cfg.Logger.With("module", "supervisor")
	if cfg.CrashLoopDeaths <= 0 {
		cfg.CrashLoopDeaths = 5
	}
	if cfg.CrashLoopWindow <= 0 {
		cfg.CrashLoopWindow = 30 * time.Second
	}
	files, fdNames, err := bindAll(cfg.Listen, cfg.MetricsAddr, cfg.CtlSocket)
	if err != nil {
		log.Error("cannot bind", "err", err)
		return 1
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
		if cfg.CtlSocket != "" {
			os.Remove(cfg.CtlSocket)
		}
	}()
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Error("cannot write pid file", "file", cfg.PidFile, "err", err)
			return 1
		}
		defer os.Remove(cfg.PidFile)
	}
	signal.Ignore(syscall.SIGUSR2, syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	s := &supervisor{cfg: cfg, log: log, files: files, fdNames: fdNames, script: cfg.Script, gen: 1}
	return s.loop(sigs)
}

type supervisor struct {
	cfg      SupervisorConfig
	log      *slog.Logger
	files    []*os.File
	fdNames  []string
	mu       sync.Mutex
	script   []byte
	gen      int64 // generation of script
	restarts int
	deaths   []time.Time

	// reloading (under mu) is set from a SIGHUP passed on until the
	// worker process reports the outcome or a new one is ready: the
	// service manager was told RELOADING=1 and waits for READY=1
	reloading bool
}

// child is one worker process.
type child struct {
	pid     int
	started time.Time
	exited  chan error // the Wait result, once
	control *os.File
	ready   chan struct{}

	restarts int // the supervisor's restart count when it started
}

func (s *supervisor) loop(sigs chan os.Signal) int {
	backoff := 100 * time.Millisecond
	var diedAt time.Time
	for {
		c, err := s.start()
		if err != nil {
			s.log.Error("cannot start the worker process", "err", err)
			return 1
		}
		readyLogged := false
		shutdown := false
		var hardStop <-chan time.Time
		for {
			select {
			case <-c.ready:
				if !readyLogged && !diedAt.IsZero() {
					s.log.Info("worker process back", "pid", c.pid, "restart_took", time.Since(diedAt).Round(time.Millisecond))
				}
				readyLogged = true
				s.mu.Lock()
				s.reloading = false
				s.mu.Unlock()
				s.notify(s.cfg.Notifier.Ready(s.serving(c)))
				c.ready = nil
				continue
			case sig := <-sigs:
				switch sig {
				case syscall.SIGINT, syscall.SIGTERM:
					if shutdown {
						s.log.Warn("second stop signal: killing the worker process now", "pid", c.pid)
						syscall.Kill(c.pid, syscall.SIGKILL)
						<-c.exited
						return 1
					}
					shutdown = true
					s.log.Info("shutting down", "signal", sig.String(), "grace", s.cfg.Grace)
					s.notify(s.cfg.Notifier.Stopping(fmt.Sprintf("shutting down: live transactions have %s to finish", s.cfg.Grace)))
					syscall.Kill(c.pid, syscall.SIGTERM)
					hardStop = time.After(s.cfg.Grace + 10*time.Second)
				case syscall.SIGHUP, syscall.SIGUSR1:
					if shutdown {
						// no reload or statistics while the worker process drains
						s.log.Info("shutting down: signal ignored", "signal", sig.String())
						break
					}
					if sig == syscall.SIGHUP {
						s.log.Info("reloading the routing script", "pid", c.pid)
						s.mu.Lock()
						s.reloading = true
						s.mu.Unlock()
						s.notify(s.cfg.Notifier.Reloading("reloading the routing script"))
					} else {
						s.log.Info("supervisor statistics", "worker_pid", c.pid, "worker_restarts", s.restarts,
							"worker_uptime", time.Since(c.started).Round(time.Second))
					}
					syscall.Kill(c.pid, sig.(syscall.Signal))
				}
				continue
			case <-hardStop:
				s.log.Error("the worker process did not stop in time: killing it", "pid", c.pid)
				syscall.Kill(c.pid, syscall.SIGKILL)
				<-c.exited
				return 1
			case err := <-c.exited:
				c.control.Close()
				if shutdown {
					if err != nil {
						s.log.Error("worker process ended badly during shutdown", "err", err)
						return 1
					}
					s.log.Info("stopped")
					return 0
				}
				diedAt = time.Now()
				s.log.Error("worker process died", "pid", c.pid, "err", exitReason(err), "uptime", time.Since(c.started).Round(time.Millisecond))
				if s.cfg.ShutdownOnWorkerExit {
					s.log.Error("stopping: --on-worker-exit=shutdown")
					s.notify(s.cfg.Notifier.Stopping("stopping: the worker process died (" + exitReason(err) + ") and --on-worker-exit=shutdown"))
					return 1
				}
				if s.crashLoop(diedAt) {
					s.log.Error("worker process crash loop: giving up", "deaths", len(s.deaths), "within", s.cfg.CrashLoopWindow)
					s.notify(s.cfg.Notifier.Stopping(fmt.Sprintf("stopping: the worker process died %d times within %s", len(s.deaths), s.cfg.CrashLoopWindow)))
					return 1
				}
				if time.Since(c.started) > 10*time.Second {
					backoff = 100 * time.Millisecond
				}
				s.log.Info("restarting the worker process", "in", backoff)
				s.notify(s.cfg.Notifier.Status(fmt.Sprintf("not serving: the worker process died (%s); restarting it in %s", exitReason(err), backoff)))
				if !s.waitBackoff(backoff, diedAt, sigs) {
					s.log.Info("stopped while the worker process was down")
					return 0
				}
				if backoff *= 2; backoff > 5*time.Second {
					backoff = 5 * time.Second
				}
				s.restarts++
			}
			break
		}
	}
}

// waitBackoff waits d before a restart, answering signals meanwhile: it
// reports false on SIGINT/SIGTERM. There is no worker process to reload:
// the next one runs the last script that loaded, so SIGHUP is only logged.
func (s *supervisor) waitBackoff(d time.Duration, diedAt time.Time, sigs <-chan os.Signal) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case sig := <-sigs:
			switch sig {
			case syscall.SIGINT, syscall.SIGTERM:
				s.notify(s.cfg.Notifier.Stopping("shutting down while the worker process is down"))
				return false
			case syscall.SIGHUP:
				s.log.Warn("no worker process to reload: the next one runs the last script that loaded; send SIGHUP again once it is back")
			case syscall.SIGUSR1:
				s.log.Info("supervisor statistics", "worker_pid", 0, "worker_restarts", s.restarts,
					"worker_down_for", time.Since(diedAt).Round(time.Millisecond))
			}
		}
	}
}

// crashLoop records a death and reports whether there were too many lately.
func (s *supervisor) crashLoop(now time.Time) bool {
	s.deaths = append(s.deaths, now)
	keep := s.deaths[:0]
	for _, t := range s.deaths {
		if now.Sub(t) <= s.cfg.CrashLoopWindow {
			keep = append(keep, t)
		}
	}
	s.deaths = keep
	return len(s.deaths) >= s.cfg.CrashLoopDeaths
}

func exitReason(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// start runs the worker process. The goroutine that starts it keeps its OS
// thread locked until the process ends: Pdeathsig fires when the thread
// that forked the child exits, and it must fire only when this process
// dies.
func (s *supervisor) start() (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("worker process binary: %w", err)
	}
	names, err := json.Marshal(append(append([]string{}, s.fdNames...), "control", "script"))
	if err != nil {
		return nil, fmt.Errorf("fd names: %w", err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ours := os.NewFile(uintptr(pair[0]), "control")
	theirs := os.NewFile(uintptr(pair[1]), "control-child")
	scriptFile, err := scriptFD(s.currentScript())
	if err != nil {
		ours.Close()
		theirs.Close()
		return nil, err
	}
	extra := append(append([]*os.File{}, s.files...), theirs, scriptFile)
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	cmd := exec.Command(exe, s.cfg.Args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	cmd.Env = append(withoutNotifyEnv(os.Environ()),
		envWorker+"=1",
		envFDs+"="+string(names),
		envRestarts+"="+strconv.Itoa(s.restarts),
		envGen+"="+strconv.FormatInt(gen, 10),
	)
	if wd := s.cfg.Notifier.Watchdog(); wd > 0 {
		// half systemd's timeout, as sd_watchdog_enabled(3) advises
		cmd.Env = append(cmd.Env, envWatchdog+"="+(wd/2).String())
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{exited: make(chan error, 1), control: ours, ready: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see the doc comment
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.exited <- cmd.Wait()
	}()
	err = <-started
	theirs.Close()
	scriptFile.Close()
	if err != nil {
		ours.Close()
		return nil, err
	}
	c.pid = cmd.Process.Pid
	c.restarts = s.restarts
	c.started = time.Now()
	go s.readControl(c)
	return c, nil
}

func (s *supervisor) currentScript() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.script
}

// readControl reads the worker process's messages: ready, and reload
// results (a successful reload becomes the script of later restarts).
func (s *supervisor) readControl(c *child) {
	sc := bufio.NewScanner(c.control)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	ready := c.ready
	for sc.Scan() {
		var m controlMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch m.T {
		case "ready":
			if ready != nil {
				close(ready)
				ready = nil
			}
		case "alive":
			// the worker process saw a worker run: WATCHDOG=1 for systemd
			s.notify(s.cfg.Notifier.Alive())
		case "reload":
			s.mu.Lock()
			if m.OK {
				s.script, s.gen = []byte(m.Src), m.Gen
			}
			announced := s.reloading
			s.reloading = false
			s.mu.Unlock()
			status := s.serving(c)
			if !m.OK {
				status = "reload refused, the previous script serves: " + m.Err + "; " + status
			}
			if announced {
				s.notify(s.cfg.Notifier.Ready(status))
			} else {
				// a reload over RPC: no RELOADING=1 went before it
				s.notify(s.cfg.Notifier.Status(status))
			}
		}
	}
}

// serving is the service manager's status line while c serves.
func (s *supervisor) serving(c *child) string {
	var socks []string
	for _, name := range s.fdNames {
		if name != "metrics" && name != "ctl" {
			socks = append(socks, name)
		}
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	return fmt.Sprintf("serving SIP on %s (worker process %d, script generation %d, worker restarts %d)",
		strings.Join(socks, " "), c.pid, gen, c.restarts)
}

// notify logs a notification that did not reach the service manager:
// the server goes on, but systemd may think it never became ready.
func (s *supervisor) notify(err error) {
	if err != nil {
		s.log.Warn("cannot notify the service manager", "err", err)
	}
}

// scriptFD puts the script in an unlinked temporary file and returns it
// open, to pass to the worker process.
func scriptFD(src []byte) (*os.File, error) {
	f, err := os.CreateTemp("", "kemi-script-*")
	if err != nil {
		return nil, fmt.Errorf("script file: %w", err)
	}
	os.Remove(f.Name())
	if _, err := f.Write(src); err != nil {
		f.Close()
		return nil, fmt.Errorf("script file: %w", err)
	}
	return f, nil
}

// bindAll binds the SIP listeners, the metrics listener and the control
// socket and returns their files, in order, with the names the worker
// process uses for them.
func bindAll(listen []string, metricsAddr, ctlSocket string) ([]*os.File, []string, error) {
	specs, err := ListenSpecs(listen)
	if err != nil {
		return nil, nil, err
	}
	var files []*os.File
	var names []string
	fail := func(err error) ([]*os.File, []string, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	for _, sp := range specs {
		pc, ln, err := BindSpec(sp)
		if err != nil {
			return fail(err)
		}
		var f *os.File
		if pc != nil {
			f, err = pc.(*net.UDPConn).File()
			pc.Close()
		} else {
			f, err = ln.(*net.TCPListener).File()
			ln.Close()
		}
		if err != nil {
			return fail(err)
		}
		// the spec with the real port, for port 0
		var addr net.Addr
		if pc != nil {
			addr = pc.LocalAddr()
		} else {
			addr = ln.Addr()
		}
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			sp.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
		files = append(files, f)
		names = append(names, sp.spec())
	}
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fail(fmt.Errorf("engine: metrics listener %s: %w", metricsAddr, err))
		}
		f, err := ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil {
			return fail(err)
		}
		files = append(files, f)
		names = append(names, "metrics")
	}
	if ctlSocket != "" {
		ln, err := listenCtlSocket(ctlSocket)
		if err != nil {
			return fail(err)
		}
		ln.SetUnlinkOnClose(false) // the supervisor removes it when it exits
		f, err := ln.File()
		ln.Close()
		if err != nil {
			os.Remove(ctlSocket)
			return fail(err)
		}
		files = append(files, f)
		names = append(names, "ctl")
	}
	return files, names, nil
}

// WorkerProcess is what a worker process got from its supervisor.
type WorkerProcess struct {
	// Inherited are the SIP sockets; MetricsListener the /metrics socket;
	// CtlListener the JSON-RPC control socket.
	Inherited       []InheritedSocket
	MetricsListener net.Listener
	CtlListener     net.Listener
	// Script is the script to run.
	Script []byte
	// Restarts is how often the supervisor restarted the worker process;
	// Generation is the generation of Script.
	Restarts   int
	Generation int64
	// Watchdog, when not 0, is how often the worker process should call
	// Alive: the service manager watches the main process (WATCHDOG=1).
	Watchdog time.Duration

	control *os.File
	mu      sync.Mutex
}

// InheritWorkerProcess collects the sockets, script and control channel a
// supervisor passed to this worker process.
func InheritWorkerProcess() (*WorkerProcess, error) {
	if !IsWorkerProcess() {
		return nil, errors.New("engine: not a worker process")
	}
	wp := &WorkerProcess{}
	wp.Restarts, _ = strconv.Atoi(os.Getenv(envRestarts))
	wp.Generation, _ = strconv.ParseInt(os.Getenv(envGen), 10, 64)
	wp.Watchdog, _ = time.ParseDuration(os.Getenv(envWatchdog))
	var names []string
	if err := json.Unmarshal([]byte(os.Getenv(envFDs)), &names); err != nil {
		return nil, fmt.Errorf("engine: %s: %w", envFDs, err)
	}
	for i, name := range names {
		f, err := inheritedFile(firstExtraFD+i, name)
		if err != nil {
			return nil, err
		}
		switch {
		case name == "control":
			wp.control = f
		case name == "script":
			src, err := readAllAt(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("engine: inherited script: %w", err)
			}
			wp.Script = src
		case name == "metrics", name == "ctl":
			ln, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("engine: inherited %s socket: %w", name, err)
			}
			if name == "metrics" {
				wp.MetricsListener = ln
			} else {
				wp.CtlListener = ln
			}
		case strings.HasPrefix(name, "udp:"):
			pc, err := net.FilePacketConn(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("engine: inherited socket %s: %w", name, err)
			}
			wp.Inherited = append(wp.Inherited, InheritedSocket{Spec: name, Packet: pc})
		case strings.HasPrefix(name, "tcp:"), strings.HasPrefix(name, "tls:"),
			strings.HasPrefix(name, "ws:"), strings.HasPrefix(name, "wss:"):
			ln, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("engine: inherited socket %s: %w", name, err)
			}
			wp.Inherited = append(wp.Inherited, InheritedSocket{Spec: name, Stream: ln})
		default:
			f.Close()
		}
	}
	return wp, nil
}

// inheritedFile wraps an fd the supervisor passed. os.NewFile does not
// check that the fd is open, so ask the kernel.
func inheritedFile(fd int, name string) (*os.File, error) {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("engine: inherited fd %d (%s) is missing: %w", fd, name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func readAllAt(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, st.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && n != len(buf) {
		return nil, err
	}
	return buf, nil
}

// Send reports to the supervisor.
func (wp *WorkerProcess) send(m controlMsg) {
	if wp == nil || wp.control == nil {
		return
	}
	b, _ := json.Marshal(m)
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.control.Write(append(b, '\n'))
}

// Ready tells the supervisor the worker process serves.
func (wp *WorkerProcess) Ready() { wp.send(controlMsg{T: "ready"}) }

// Alive tells the supervisor a worker just ran (see Engine.ProveAlive).
func (wp *WorkerProcess) Alive() { wp.send(controlMsg{T: "alive"}) }

// Reloaded tells the supervisor how a reload went; a good script is what
// later restarts use.
func (wp *WorkerProcess) Reloaded(gen int64, src []byte, err error) {
	if err != nil {
		wp.send(controlMsg{T: "reload", Gen: gen, Err: err.Error()})
		return
	}
	wp.send(controlMsg{T: "reload", OK: true, Gen: gen, Src: string(src)})
}

// SupervisorGone returns a channel closed when the supervisor goes away
// (the control socket closes): the worker process must then stop.
func (wp *WorkerProcess) SupervisorGone() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		buf := make([]byte, 256)
		for {
			if _, err := wp.control.Read(buf); err != nil {
				close(ch)
				return
			}
		}
	}()
	return ch
}
