package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/urfave/cli/v2"
)

// defaultMetricsAddr is where kemi run serves /metrics and /RPC unless
// told otherwise; kemi ctl looks there last.
const defaultMetricsAddr = "127.0.0.1:9090"

func runCommand() *cli.Command {
	flags := append(scriptFlags(), runLimitFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "metrics-addr", Value: defaultMetricsAddr, Usage: "serve Prometheus /metrics on `ADDR` (\"off\" to disable)", EnvVars: []string{"KEMI_METRICS_ADDR"}},
		&cli.DurationFlag{Name: "shutdown-grace", Value: 5 * time.Second, Usage: "on SIGINT/SIGTERM, let live transactions finish for `DURATION`", EnvVars: []string{"KEMI_SHUTDOWN_GRACE"}},
		&cli.BoolFlag{Name: "no-fork", Usage: "run everything in one process (no supervisor): debugging, embedding", EnvVars: []string{"KEMI_NO_FORK"}},
		&cli.StringFlag{Name: "on-worker-exit", Value: "restart", Usage: "`ACTION` when the worker process dies: restart it, or shutdown (Kamailio's behaviour)", EnvVars: []string{"KEMI_ON_WORKER_EXIT"}},
		&cli.StringFlag{Name: "pid-file", Aliases: []string{"P"}, Usage: "write the main process id to `FILE`", EnvVars: []string{"KEMI_PID_FILE"}},
		&cli.StringFlag{Name: "ctl-socket", Usage: "also serve the JSON-RPC control interface (kemi ctl) on the Unix socket `PATH`, for this user and root", EnvVars: []string{"KEMI_CTL_SOCKET"}},
		&cli.StringFlag{Name: "ctl-token", Usage: "let non-loopback clients call /RPC on the metrics address with \"Authorization: Bearer `TOKEN`\" (prefer KEMI_CTL_TOKEN or ctl_token in the config file: a flag shows in ps)", EnvVars: []string{"KEMI_CTL_TOKEN"}},
		&cli.BoolFlag{Name: "trace", Usage: "log every KSR call of every route with its file:line, arguments, result and time (cfg.set core trace 0|1 at run time)", EnvVars: []string{"KEMI_TRACE"}},
		&cli.StringFlag{Name: "latency-limit", Usage: "log a route run that takes `DURATION` or longer, with its slowest KSR call (Kamailio's latency_limit_cfg; off by default)", EnvVars: []string{"KEMI_LATENCY_LIMIT"}},
		&cli.StringFlag{Name: "latency-limit-action", Usage: "log a KSR call that takes `DURATION` or longer (Kamailio's latency_limit_action; off by default)", EnvVars: []string{"KEMI_LATENCY_LIMIT_ACTION"}},
		&cli.BoolFlag{Name: "pprof", Usage: "also serve Go's /debug/pprof on the metrics address (profiling)", EnvVars: []string{"KEMI_PPROF"}},
	)
	return &cli.Command{
		Name:  "run",
		Usage: "run a routing script as a SIP server",
		Description: "By default a main process validates the script, binds the sockets and starts a worker\n" +
			"process that serves SIP; it restarts the worker process if it dies. Signals to the main\n" +
			"process: SIGINT/SIGTERM graceful stop (twice: at once), SIGHUP reload the script,\n" +
			"SIGUSR1 log statistics. --no-fork keeps everything in one process.\n" +
			"Exit status: 0 stopped by a signal, 2 usage or config error, 1 any other error\n" +
			"(the script does not load, a socket cannot be bound, the worker process crash-loops).",
		UsageText: "kemi run [-f routing.lua] [-l udp:127.0.0.1:5060] [-n workers] [--config kemi.toml]",
		Flags:     flags,
		Action:    runAction,
	}
}

func runAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("run takes no arguments; give the script with -f", exitUsage)
	}
	cfg, fc, err := buildConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	cfg.MetricsAddr = c.String("metrics-addr")
	if fc != nil && !c.IsSet("metrics-addr") && fc.Core.MetricsAddr != nil {
		cfg.MetricsAddr = *fc.Core.MetricsAddr
	}
	if cfg.MetricsAddr == "off" {
		cfg.MetricsAddr = ""
	}
	cfg.Pprof = c.Bool("pprof")
	if err := traceFlags(c, &cfg); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if c.IsSet("ctl-socket") {
		cfg.CtlSocket = c.String("ctl-socket")
	}
	if c.IsSet("ctl-token") {
		cfg.CtlToken = c.String("ctl-token")
	}
	cfg.Version = version
	applyRunDefaults(&cfg)
	if len(cfg.Listen) == 0 {
		cfg.Listen = engine.DefaultListen
	}
	onExit := c.String("on-worker-exit")
	if onExit != "restart" && onExit != "shutdown" {
		return cli.Exit("--on-worker-exit must be restart or shutdown", exitUsage)
	}
	grace := c.Duration("shutdown-grace")
	if grace < 0 {
		return cli.Exit("--shutdown-grace must not be negative", exitUsage)
	}
	log := cfg.Logger
	if engine.IsWorkerProcess() {
		return runWorkerProcess(cfg, fc, grace)
	}
	// The file is read once, as kemi check reads it: the worker process
	// gets exactly the validated script.
	if err := readScript(c, &cfg, fc); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	notifier, err := engine.NotifierFromEnv()
	if err != nil {
		log.Warn("not notifying the service manager", "err", err)
	}
	if c.Bool("no-fork") {
		if p := c.String("pid-file"); p != "" {
			if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			defer os.Remove(p)
		}
		return serve(cfg, fc, nil, grace, notifier)
	}

	// main process: validate like kemi check, then supervise
	rep, err := engine.Check(cfg)
	if err != nil {
		return startError(err, fc)
	}
	for _, p := range rep.Problems {
		log.Warn("script problem: " + p.String())
	}
	code := engine.Supervise(engine.SupervisorConfig{
		Args:                 os.Args[1:],
		Listen:               cfg.Listen,
		MetricsAddr:          cfg.MetricsAddr,
		CtlSocket:            cfg.CtlSocket,
		Script:               cfg.Script,
		Logger:               log,
		PidFile:              c.String("pid-file"),
		ShutdownOnWorkerExit: onExit == "shutdown",
		Grace:                grace,
		Notifier:             notifier,
	})
	if code != 0 {
		return cli.Exit("", code)
	}
	return nil
}

// traceFlags copies --trace and the latency limits into cfg, over the
// config file's settings.
func traceFlags(c *cli.Context, cfg *engine.Config) error {
	cfg.Trace = cfg.Trace || c.Bool("trace")
	for _, f := range []struct {
		name string
		to   *time.Duration
	}{{"latency-limit", &cfg.LatencyLimit}, {"latency-limit-action", &cfg.LatencyLimitAction}} {
		if !c.IsSet(f.name) {
			continue
		}
		d, err := engine.ParseLatencyLimit(c.String(f.name))
		if err != nil {
			return fmt.Errorf("--%s: %w", f.name, err)
		}
		*f.to = d
	}
	return nil
}

// applyRunDefaults fills what kemi run sets when nothing else does: the
// memory limit, unless GOMEMLIMIT in the environment sets the runtime's.
// The engine applies it in the process that serves SIP: this one with
// --no-fork, else the worker process.
func applyRunDefaults(cfg *engine.Config) {
	if cfg.MemoryLimit == 0 && os.Getenv("GOMEMLIMIT") == "" {
		cfg.MemoryLimit = engine.DefaultMemoryLimit
	}
}

// runWorkerProcess is the worker process of fork mode: the engine on the
// sockets the supervisor bound.
func runWorkerProcess(cfg engine.Config, fc *engine.FileConfig, grace time.Duration) error {
	wp, err := engine.InheritWorkerProcess()
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	cfg.Inherited = wp.Inherited
	cfg.MetricsListener = wp.MetricsListener
	cfg.MetricsAddr = ""
	cfg.CtlListener = wp.CtlListener
	cfg.CtlSocket = ""
	cfg.Script = wp.Script
	cfg.Restarts = wp.Restarts
	cfg.Generation = wp.Generation
	if !cfg.ScriptEmbedded {
		// a restart after a failed reload runs the last good script
		cur, err := os.ReadFile(cfg.ScriptPath)
		switch {
		case err != nil:
			cfg.Logger.Warn("running the last script that loaded; the file cannot be read", "file", cfg.ScriptPath, "err", err)
		case !bytes.Equal(cur, wp.Script):
			cfg.Logger.Warn("running the last script that loaded; the file changed since", "file", cfg.ScriptPath)
		}
	}
	return serve(cfg, fc, wp, grace, nil)
}

// serve runs an engine until a stop signal: SIGINT/SIGTERM drain and stop,
// SIGHUP reloads the script, SIGUSR1 logs statistics. fc, the config file
// or nil, names the file in errors. n, the service manager of --no-fork
// or nil, is told when the engine serves, reloads and stops.
func serve(cfg engine.Config, fc *engine.FileConfig, wp *engine.WorkerProcess, grace time.Duration, n *engine.Notifier) error {
	log := cfg.Logger
	// a reload over RPC is reported to the supervisor as SIGHUP's is: a
	// good script is what a restarted worker process runs
	cfg.OnReload = wp.Reloaded
	var e *engine.Engine
	if n != nil {
		cfg.OnReload = func(gen int64, src []byte, err error) { notifyReloaded(log, n, e, err, false) }
	}
	e, err := engine.New(cfg)
	if err != nil {
		return startError(err, fc)
	}
	signal.Ignore(syscall.SIGUSR2, syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	if err := e.Start(context.Background()); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	var gone <-chan struct{}
	if wp != nil {
		wp.Ready()
		gone = wp.SupervisorGone()
	}
	notifyReady(log, n, e)
	defer proveAlive(log, e, n, wp)()
	for {
		select {
		case <-gone:
			log.Error("the main process is gone: stopping")
			e.Shutdown(grace)
			return cli.Exit("", exitFailure)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				notifyReloading(log, n)
				gen, err := e.ReloadScript() // a failure is logged by the engine
				wp.Reloaded(gen, e.Script().Source, err)
				notifyReloaded(log, n, e, err, true)
			case syscall.SIGUSR1:
				e.LogStats()
			default:
				go func() {
					// a second stop signal ends at once; reloading or
					// statistics no longer apply
					for sig := range sigs {
						if sig == syscall.SIGINT || sig == syscall.SIGTERM {
							log.Warn("second stop signal: exiting now")
							os.Exit(1)
						}
						log.Info("shutting down: signal ignored", "signal", sig.String())
					}
				}()
				notifyStopping(log, n, grace)
				if err := e.Shutdown(grace); err != nil {
					return cli.Exit(err.Error(), exitFailure)
				}
				return nil
			}
		}
	}
}
