package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/scripts"
	"github.com/urfave/cli/v2"
)

// scriptFlags are the flags of every command that loads a script.
func scriptFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "script", Aliases: []string{"f"}, Usage: "routing script `FILE` (default: the embedded scripts/default.lua)", EnvVars: []string{"KEMI_SCRIPT"}},
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml): core settings, enabled modules, module parameters; its relative paths are relative to its folder", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringSliceFlag{Name: "define", Aliases: []string{"D"}, Usage: "define `NAME` or NAME=VALUE for KSR.kx.ifdef (repeatable)", EnvVars: []string{"KEMI_DEFINES"}},
		&cli.StringSliceFlag{Name: "modules", Usage: "enabled `MODULES`, in order, comma-separated (default: all standard modules)", EnvVars: []string{"KEMI_MODULES"}},
		&cli.StringSliceFlag{Name: "listen", Aliases: []string{"l"}, Usage: "listen `ADDR`: [proto:]ip[:port][/advertised-ip[:port]], proto udp, tcp, tls, ws or wss (tls and wss take their certificates from the [tls] table of the config file), ip * for every interface (repeatable; default udp+tcp 127.0.0.1:5060)", EnvVars: []string{"KEMI_LISTEN"}},
		&cli.StringSliceFlag{Name: "alias", Usage: "extra host `NAME`[:port] that is myself (repeatable)", EnvVars: []string{"KEMI_ALIAS"}},
		&cli.IntFlag{Name: "workers", Aliases: []string{"n"}, Usage: "`N` workers (Lua states), at least 1", DefaultText: "number of CPUs", EnvVars: []string{"KEMI_WORKERS"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log `LEVEL`: debug, info, notice, warn, error, crit", EnvVars: []string{"KEMI_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log `FORMAT`: text or json", EnvVars: []string{"KEMI_LOG_FORMAT"}},
		&cli.StringFlag{Name: "route-timeout", Usage: "stop a route that runs longer than `DURATION` (0 or off: no limit)", DefaultText: engine.DefaultRouteTimeout.String(), EnvVars: []string{"KEMI_ROUTE_TIMEOUT"}},
		&cli.StringFlag{Name: "route-memory-limit", Usage: "stop a route that builds more than `SIZE` of strings, compiled code and coroutines: bytes or a unit, 512KB, 64MiB (0 or off: no limit)", DefaultText: "64MiB", EnvVars: []string{"KEMI_ROUTE_MEMORY_LIMIT"}},
		&cli.StringFlag{Name: "db-url", Usage: "database `URL` of registrations and subscribers: sqlite:///path/kemi.db, sqlite://relative.db, redis://host:6379/0, memory", DefaultText: db.DefaultURL, EnvVars: []string{"KEMI_DB_URL"}},
		&cli.BoolFlag{Name: "allow-unsafe-lua", Usage: "give scripts file, process and environment access (io, os.execute, os.exit, ...)", EnvVars: []string{"KEMI_ALLOW_UNSAFE_LUA"}},
	}
}

// runLimitFlags are the limits only a running server has: TCP's and
// the process's memory limit, flags of run only.
func runLimitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "memory-limit", Usage: "let the heap grow to `SIZE` before the garbage collector runs, then as Go's default when the live data outgrow half of it: bytes or a unit, 512MiB, 1GiB (0 or off: Go's default, a collection each time the heap doubles); GOGC in the environment wins, and GOMEMLIMIT sets Go's own soft limit", DefaultText: "40MiB", EnvVars: []string{"KEMI_MEMORY_LIMIT"}},
		&cli.IntFlag{Name: "tcp-max-connections", Usage: "at most `N` open TCP connections, accepted and opened", DefaultText: strconv.Itoa(engine.DefaultTCPMaxConnections), EnvVars: []string{"KEMI_TCP_MAX_CONNECTIONS"}},
		&cli.IntFlag{Name: "tcp-accept-iplimit", Usage: "at most `N` TCP connections accepted from one IP address", DefaultText: strconv.Itoa(engine.DefaultTCPAcceptIPLimit), EnvVars: []string{"KEMI_TCP_ACCEPT_IPLIMIT"}},
		&cli.DurationFlag{Name: "tcp-msg-read-timeout", Usage: "close a TCP connection whose SIP message takes longer than `DURATION` to arrive, from its first byte", DefaultText: engine.DefaultTCPMsgReadTimeout.String(), EnvVars: []string{"KEMI_TCP_MSG_READ_TIMEOUT"}},
	}
}

// parseLevel maps Kamailio and slog level names to a slog level.
func parseLevel(s string) (slog.Level, error) {
	name := strings.ToLower(strings.TrimPrefix(strings.ToUpper(s), "L_"))
	if full, ok := map[string]string{"debug": "dbg", "warning": "warn", "error": "err", "critical": "crit"}[name]; ok {
		name = full
	}
	if n, err := strconv.Atoi(name); err == nil && n >= int(kemi.LogAlert) && n <= int(kemi.LogDbg) {
		return kemi.LogLevel(n).Slog(), nil // Kamailio's numbers, as its -d/debug
	}
	if l, ok := kemi.ParseLogLevel(name); ok {
		return l.Slog(), nil
	}
	return 0, fmt.Errorf("unknown log level %q (debug, info, notice, warn, error, crit, alert)", s)
}

// newLogger builds the process logger: text or JSON on w. Kamailio's
// level names replace slog's where they differ, and durations are written
// as Go writes them ("5s", "250ms") in both formats: slog's JSON handler
// would write nanoseconds.
func newLogger(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && len(groups) == 0 {
				switch lv, _ := a.Value.Any().(slog.Level); {
				case lv >= kemi.LevelAlert:
					a.Value = slog.StringValue("ALERT")
				case lv >= kemi.LevelCrit:
					a.Value = slog.StringValue("CRIT")
				case lv == kemi.LevelNotice:
					a.Value = slog.StringValue("NOTICE")
				}
			}
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		},
	}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (text or json)", format)
}

// buildConfig turns flags, environment and the config file into an engine
// configuration, checking every value. Flags and KEMI_* variables win over
// the file. Its errors are usage or config errors (exit status 2).
func buildConfig(c *cli.Context) (engine.Config, *engine.FileConfig, error) {
	var cfg engine.Config
	var fc *engine.FileConfig
	if path := c.String("config"); path != "" {
		var err error
		if fc, err = engine.LoadFile(path); err != nil {
			return cfg, nil, err
		}
	}
	if err := flagsInto(c, &cfg); err != nil {
		return cfg, nil, err
	}
	if fc != nil {
		if err := fc.Apply(&cfg); err != nil {
			return cfg, nil, err
		}
	}
	if cfg.ScriptPath == "" {
		cfg.Script = scripts.Default
		cfg.ScriptPath = scripts.DefaultName
		cfg.ScriptEmbedded = true
	}
	levelName := c.String("log-level")
	format := c.String("log-format")
	if fc != nil {
		if !c.IsSet("log-level") && fc.Core.LogLevel != "" {
			levelName = fc.Core.LogLevel
		}
		if !c.IsSet("log-format") && fc.Core.LogFormat != "" {
			format = fc.Core.LogFormat
		}
	}
	level, err := parseLevel(levelName)
	if err != nil {
		return cfg, nil, fromFileOrFlag(c, fc, "log-level", "log_level", err)
	}
	// a LevelVar, so that cfg.set core debug changes the level at run time
	lv := new(slog.LevelVar)
	lv.Set(level)
	log, err := newLogger(os.Stderr, format, lv)
	if err != nil {
		return cfg, nil, fromFileOrFlag(c, fc, "log-format", "log_format", err)
	}
	cfg.Logger = log
	cfg.LogLevel = level
	cfg.LogLevelVar = lv
	return cfg, fc, nil
}

// fromFileOrFlag says where a bad value came from: the flag, or the
// config file's key.
func fromFileOrFlag(c *cli.Context, fc *engine.FileConfig, flag, key string, err error) error {
	if fc != nil && !c.IsSet(flag) {
		return fc.Errorf(key, "%v", err)
	}
	return fmt.Errorf("--%s: %w", flag, err)
}

// flagsInto copies the flags (and their KEMI_* variables) into cfg,
// checking each. A flag left unset leaves its field zero, for the config
// file or the engine's default to fill.
func flagsInto(c *cli.Context, cfg *engine.Config) error {
	cfg.ScriptPath = c.String("script")
	cfg.Listen = c.StringSlice("listen")
	for _, l := range cfg.Listen {
		if _, err := engine.ParseListen(l); err != nil {
			return err
		}
	}
	cfg.Aliases = c.StringSlice("alias")
	if c.IsSet("db-url") {
		u, err := db.ParseURL(c.String("db-url"))
		if err != nil {
			return fmt.Errorf("--db-url: %w", err)
		}
		cfg.DBURL = u.Raw
	}
	if c.IsSet("workers") {
		if cfg.Workers = c.Int("workers"); cfg.Workers < 1 {
			return fmt.Errorf("-n/--workers must be at least 1 (is %d)", cfg.Workers)
		}
	}
	if c.IsSet("modules") {
		cfg.Modules = splitList(c.StringSlice("modules"))
	}
	cfg.Defines = map[string]string{}
	for _, d := range c.StringSlice("define") {
		k, v, _ := strings.Cut(d, "=")
		cfg.Defines[k] = v
	}
	var err error
	if c.IsSet("route-timeout") {
		if cfg.RouteTimeout, err = engine.ParseRouteTimeout(c.String("route-timeout")); err != nil {
			return fmt.Errorf("--route-timeout: %w", err)
		}
	}
	if c.IsSet("route-memory-limit") {
		if cfg.RouteMemoryLimit, err = engine.ParseRouteMemoryLimit(c.String("route-memory-limit")); err != nil {
			return fmt.Errorf("--route-memory-limit: %w", err)
		}
	}
	if c.IsSet("memory-limit") {
		if cfg.MemoryLimit, err = engine.ParseMemoryLimit(c.String("memory-limit")); err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
	}
	for _, f := range []struct {
		name string
		to   *int
	}{
		{"tcp-max-connections", &cfg.TCPMaxConnections},
		{"tcp-accept-iplimit", &cfg.TCPAcceptIPLimit},
	} {
		if c.IsSet(f.name) {
			if *f.to = c.Int(f.name); *f.to < 1 {
				return fmt.Errorf("--%s must be at least 1 (is %d)", f.name, *f.to)
			}
		}
	}
	if c.IsSet("tcp-msg-read-timeout") {
		if cfg.TCPMsgReadTimeout = c.Duration("tcp-msg-read-timeout"); cfg.TCPMsgReadTimeout <= 0 {
			return fmt.Errorf("--tcp-msg-read-timeout must be positive (is %v)", cfg.TCPMsgReadTimeout)
		}
	}
	cfg.AllowUnsafeLua = c.Bool("allow-unsafe-lua")
	return nil
}

// readScript reads the script file into cfg.Script unless the script is
// embedded, so that check and run report an unreadable file alike, saying
// when its name came from the config file.
func readScript(c *cli.Context, cfg *engine.Config, fc *engine.FileConfig) error {
	if cfg.Script != nil {
		return nil
	}
	src, err := os.ReadFile(cfg.ScriptPath)
	if err != nil {
		if c.String("script") == "" && fc != nil && fc.Core.Script != "" {
			return fmt.Errorf("config %s: script %s: %w", fc.Path, fc.Core.Script, err)
		}
		return fmt.Errorf("script: %w", err)
	}
	cfg.Script = src
	return nil
}

// startError ends check or run on an error that stopped the start: status
// 2 for a mistake in the module configuration (a kemi.ConfigError), naming
// the config file's table when the mistake is in a module's parameters,
// status 1 for anything else (a module that failed to start, a script that
// does not load).
func startError(err error, fc *engine.FileConfig) error {
	var ce *kemi.ConfigError
	if !errors.As(err, &ce) {
		return cli.Exit(err.Error(), exitFailure)
	}
	if ce.InParams && fc != nil {
		err = fc.Errorf("["+ce.Module+"]", "%s", ce.Msg)
	}
	return cli.Exit(err.Error(), exitUsage)
}

func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
