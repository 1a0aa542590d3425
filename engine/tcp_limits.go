package engine

import (
	"errors"
	"math"
	"syscall"
	"time"
)

// tcpRefusal is why a TCP connection was refused or closed by a limit:
// the reason label of kemi_core_tcp_refused_total. The set is fixed, so
// every series is registered up front and exported even at 0.
type tcpRefusal int

const (
	refusedMaxConnections tcpRefusal = iota // Config.TCPMaxConnections
	refusedIPLimit                          // Config.TCPAcceptIPLimit
	refusedReadTimeout                      // Config.TCPMsgReadTimeout
	refusedSlowReader                       // the peer does not read what is sent
	numTCPRefusals
)

var tcpRefusalNames = [numTCPRefusals]string{
	refusedMaxConnections: "max_connections",
	refusedIPLimit:        "ip_limit",
	refusedReadTimeout:    "read_timeout",
	refusedSlowReader:     "slow_reader",
}

var (
	// errTooManyConns is the error of opening a connection over
	// Config.TCPMaxConnections.
	errTooManyConns = errors.New("tcp connection limit reached (tcp_max_connections)")
	// errIPLimit is the error of accepting a connection over
	// Config.TCPAcceptIPLimit.
	errIPLimit = errors.New("tcp connection limit of the source address reached (tcp_accept_iplimit)")
	// errSlowReader is the error of a write to a peer that does not read
	// what is sent to it: its connection is closed.
	errSlowReader = errors.New("tcp peer does not read what is sent to it: connection closed")
)

// fdReserve is how many file descriptors are kept out of the TCP
// connection limit: listeners, /metrics and its clients, DNS queries,
// database and script files, the log. Without them a flood of SIP
// connections takes /metrics down too.
const fdReserve = 256

// connLimit returns the TCP connection limit to apply for the configured
// one, given the process's soft limit on open files (RLIMIT_NOFILE; Go
// raises it to the hard limit at start). The limit is lowered to leave
// fdReserve descriptors, or half of them when there are fewer than
// 2*fdReserve; clamped reports that it was.
func connLimit(want int, nofile uint64) (limit int, clamped bool) {
	if nofile == 0 || nofile == math.MaxUint64 { // unknown or unlimited
		return want, false
	}
	avail := nofile / 2
	if nofile >= 2*fdReserve {
		avail = nofile - fdReserve
	}
	avail = max(avail, 1)
	if uint64(want) <= avail {
		return want, false
	}
	return int(avail), true
}

// openFileLimit returns the soft limit on open files, 0 when unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// applyConnLimit sets the transport's connection limit from the config
// and the descriptor limit, with a warning when it had to be lowered. It
// runs before the readers and workers start.
func (t *transport) applyConnLimit() {
	nofile := openFileLimit()
	limit, clamped := connLimit(t.e.cfg.TCPMaxConnections, nofile)
	if clamped {
		t.e.log.Warn("tcp_max_connections lowered to fit the open file limit, keeping descriptors for sockets, files and /metrics",
			"configured", t.e.cfg.TCPMaxConnections, "applied", limit, "open_file_limit", nofile, "reserved", nofile-uint64(limit))
	}
	t.mu.Lock()
	t.maxConns = limit
	t.mu.Unlock()
}

// refuse counts a connection refused or closed by a limit, and warns at
// most once a minute per reason, so that a flood does not flood the log.
func (t *transport) refuse(r tcpRefusal, msg string, args ...any) {
	t.e.met.tcpRefused[r].Inc()
	now := time.Now().UnixNano()
	last := t.warned[r].Load()
	if now-last >= int64(time.Minute) && t.warned[r].CompareAndSwap(last, now) {
		t.e.log.Warn(msg+" (logged once a minute; kemi_core_tcp_refused_total counts them)", append(args, "reason", tcpRefusalNames[r])...)
		return
	}
	t.e.log.Debug(msg, append(args, "reason", tcpRefusalNames[r])...)
}

// connsMax returns the connection limit in force.
func (t *transport) connsMax() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxConns
}
