package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The environment variables of systemd's notification protocol
// (sd_notify(3), sd_watchdog_enabled(3)).
const (
	envNotifySocket = "NOTIFY_SOCKET"
	envWatchdogUsec = "WATCHDOG_USEC"
	envWatchdogPID  = "WATCHDOG_PID"
)

// Notifier tells a service manager about the server's state with systemd's
// notification protocol: datagrams of newline-separated VAR=value lines
// (READY=1, RELOADING=1, STOPPING=1, STATUS=...) sent to the Unix socket
// that NOTIFY_SOCKET names. A nil *Notifier does nothing, so callers need
// not ask whether a service manager listens. It is safe for concurrent
// use: every message is one datagram on a socket of its own.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// NotifierFromEnv returns the Notifier that the environment asks for: nil
// when NOTIFY_SOCKET is unset or empty. Its watchdog interval comes from
// WATCHDOG_USEC when WATCHDOG_PID is unset or names this process.
func NotifierFromEnv() (*Notifier, error) {
	socket := os.Getenv(envNotifySocket)
	if socket == "" {
		return nil, nil
	}
	n, err := NewNotifier(socket)
	if err != nil {
		return nil, err
	}
	if pid := os.Getenv(envWatchdogPID); pid == "" || pid == strconv.Itoa(os.Getpid()) {
		if us, err := strconv.ParseUint(os.Getenv(envWatchdogUsec), 10, 63); err == nil && us > 0 {
			n.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return n, nil
}

// NewNotifier returns a Notifier that sends to socket: a path, or an
// abstract socket name written with a leading '@'.
func NewNotifier(socket string) (*Notifier, error) {
	switch {
	case strings.HasPrefix(socket, "/"):
	case strings.HasPrefix(socket, "@") && len(socket) > 1:
		// Go's sockaddr code turns the leading '@' into the NUL byte that
		// starts an abstract name
	default:
		// systemd also knows vsock:CID:PORT (a service in a VM), which a
		// SIP server on a host has no use for
		return nil, fmt.Errorf("engine: %s %q: not a socket path or @abstract name", envNotifySocket, socket)
	}
	return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
}

// Watchdog returns how often the service manager expects WATCHDOG=1
// (WATCHDOG_USEC), or 0 when it does not watch this process.
func (n *Notifier) Watchdog() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Send sends one notification: the lines, joined by newlines. Empty
// lines are left out and a value's own newlines become spaces, so that a
// STATUS made from an error message cannot forge another variable.
func (n *Notifier) Send(lines ...string) error {
	if n == nil {
		return nil
	}
	var b strings.Builder
	for _, l := range lines {
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.ReplaceAll(l, "\n", " "))
	}
	if b.Len() == 0 {
		return errors.New("engine: empty notification")
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("engine: notify %s: %w", n.addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("engine: notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// Ready says the server serves: the sockets are bound, the script is
// loaded and the workers take messages. It also ends a reload that
// Reloading announced. status, when not empty, is the STATUS line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", "MAINPID="+strconv.Itoa(os.Getpid()), statusLine(status))
}

// Reloading says a reload began; Ready ends it. MONOTONIC_USEC lets
// systemd (253 and later) tell this reload from an earlier one.
func (n *Notifier) Reloading(status string) error {
	mono := ""
	if us := monotonicUsec(); us > 0 {
		mono = "MONOTONIC_USEC=" + strconv.FormatInt(us, 10)
	}
	return n.Send("RELOADING=1", mono, statusLine(status))
}

// Stopping says the server is shutting down.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1", statusLine(status))
}

// Status sets the one-line status that systemctl status shows.
func (n *Notifier) Status(status string) error {
	return n.Send(statusLine(status))
}

// Alive sends WATCHDOG=1: the caller has just seen the server work.
func (n *Notifier) Alive() error {
	return n.Send("WATCHDOG=1")
}

func statusLine(status string) string {
	if status == "" {
		return ""
	}
	return "STATUS=" + status
}

// monotonicUsec reads CLOCK_MONOTONIC, the clock systemd compares
// MONOTONIC_USEC with; 0 when it cannot.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1e3
}

// withoutNotifyEnv returns env without the notification variables: only
// the main process talks to the service manager.
func withoutNotifyEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == envNotifySocket || name == envWatchdogUsec || name == envWatchdogPID {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// ProveAlive calls alive at most once per interval, when every worker
// has run the empty job it was given at the interval before: proof that
// the workers take work, for systemd's watchdog (WatchdogSec=,
// WATCHDOG=1). A worker stuck in a route (with no route_timeout) keeps its
// job waiting and the calls stop, so that the service manager acts; a
// worker is given no second job while its first waits. It returns when
// ctx is done or the engine stops.
func (e *Engine) ProveAlive(ctx context.Context, interval time.Duration, alive func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	probes := make([]chan struct{}, len(e.workers)) // in flight, by worker index
	for {
		for w, p := range probes {
			if p == nil {
				ran := make(chan struct{})
				probes[w] = ran
				// send waits while the worker's queue is full
				go e.runOn(w, func(*worker) { close(ran) })
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		case <-e.quit:
			return
		}
		all := true
		for w, p := range probes {
			select {
			case <-p:
				probes[w] = nil
			default:
				all = false
			}
		}
		if all {
			alive()
		}
	}
}

// runOn queues fn on worker w itself, counted as assign counts a job,
// where Exec picks the least-loaded worker. It reports false when the
// engine stopped first.
func (e *Engine) runOn(w int, fn func(*worker)) bool {
	d := e.disp
	d.mu.Lock()
	d.load[w]++
	d.mu.Unlock()
	return d.send(w, job{fn: fn, counted: true}, e.quit)
}
