package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kemisip/kemi/engine"
)

// The service manager's view of kemi run --no-fork: the process that
// serves is the one systemd started. In fork mode the supervisor speaks
// (engine.SupervisorConfig.Notifier) and these get a nil Notifier.

// notifyReady tells n that e serves: called once e.Start returned, when
// the sockets are bound, the script loaded and the workers running.
func notifyReady(log *slog.Logger, n *engine.Notifier, e *engine.Engine) {
	notified(log, n.Ready(servingStatus(e)))
}

// notifyReloading announces a reload that notifyReloaded ends.
func notifyReloading(log *slog.Logger, n *engine.Notifier) {
	notified(log, n.Reloading("reloading the routing script"))
}

// notifyReloaded reports how a reload went. announced tells whether
// notifyReloading went before it (SIGHUP, not RPC): then READY=1 ends
// the reload, else only the status changes.
func notifyReloaded(log *slog.Logger, n *engine.Notifier, e *engine.Engine, err error, announced bool) {
	status := servingStatus(e)
	if err != nil {
		status = "reload refused, the previous script serves: " + err.Error() + "; " + status
	}
	if announced {
		notified(log, n.Ready(status))
		return
	}
	notified(log, n.Status(status))
}

// notifyStopping announces the shutdown.
func notifyStopping(log *slog.Logger, n *engine.Notifier, grace time.Duration) {
	notified(log, n.Stopping(fmt.Sprintf("shutting down: live transactions have %s to finish", grace)))
}

func servingStatus(e *engine.Engine) string {
	var socks []string
	for _, s := range e.Sockets() {
		socks = append(socks, s.String())
	}
	return fmt.Sprintf("serving SIP on %s (one process, script generation %d)", strings.Join(socks, " "), e.Generation())
}

func notified(log *slog.Logger, err error) {
	if err != nil {
		log.Warn("cannot notify the service manager", "err", err)
	}
}

// proveAlive starts the watchdog's proof for e when a service manager
// watches (WatchdogSec=): with --no-fork WATCHDOG=1 goes to n, in the
// worker process a message goes to the supervisor, which passes it on. It
// returns the function that stops it.
func proveAlive(log *slog.Logger, e *engine.Engine, n *engine.Notifier, wp *engine.WorkerProcess) (stop func()) {
	interval, alive := n.Watchdog()/2, func() { notified(log, n.Alive()) }
	if wp != nil {
		interval, alive = wp.Watchdog, wp.Alive
	}
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go e.ProveAlive(ctx, interval, alive)
	return cancel
}
