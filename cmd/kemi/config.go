package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/scripts"
	"github.com/urfave/cli/v2"
)

// scriptFlags are the flags of every command that loads a script.
func scriptFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "script", Aliases: []string{"f"}, Usage: "routing script `FILE` (default: the embedded scripts/default.lua)", EnvVars: []string{"KEMI_SCRIPT"}},
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml): core settings, enabled modules, module parameters", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringSliceFlag{Name: "define", Aliases: []string{"D"}, Usage: "define `NAME` or NAME=VALUE for KSR.kx.ifdef (repeatable)", EnvVars: []string{"KEMI_DEFINES"}},
		&cli.StringSliceFlag{Name: "modules", Usage: "enabled modules, in order (default: all standard modules)", EnvVars: []string{"KEMI_MODULES"}},
		&cli.StringSliceFlag{Name: "listen", Aliases: []string{"l"}, Usage: "listen `ADDR`: [proto:]ip[:port][/advertised-ip[:port]] (repeatable; default udp+tcp 127.0.0.1:5060)", EnvVars: []string{"KEMI_LISTEN"}},
		&cli.StringSliceFlag{Name: "alias", Usage: "extra host `NAME`[:port] that is myself (repeatable)", EnvVars: []string{"KEMI_ALIAS"}},
		&cli.IntFlag{Name: "workers", Aliases: []string{"n"}, Usage: "number of workers (Lua states); default: number of CPUs", EnvVars: []string{"KEMI_WORKERS"}},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, notice, warn, error, crit", EnvVars: []string{"KEMI_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json", EnvVars: []string{"KEMI_LOG_FORMAT"}},
		&cli.DurationFlag{Name: "route-timeout", Usage: "stop a route that runs longer than this (0: no limit)", EnvVars: []string{"KEMI_ROUTE_TIMEOUT"}},
		&cli.BoolFlag{Name: "allow-unsafe-lua", Usage: "keep os.exit, os.execute and io.popen in scripts", EnvVars: []string{"KEMI_ALLOW_UNSAFE_LUA"}},
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

// newLogger builds the process logger: text or JSON on w.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
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
// configuration. Flags and KEMI_* variables win over the file.
func buildConfig(c *cli.Context) (engine.Config, *engine.FileConfig, error) {
	var cfg engine.Config
	var fc *engine.FileConfig
	if path := c.String("config"); path != "" {
		var err error
		if fc, err = engine.LoadFile(path); err != nil {
			return cfg, nil, err
		}
	}
	cfg.ScriptPath = c.String("script")
	cfg.Listen = c.StringSlice("listen")
	cfg.Aliases = c.StringSlice("alias")
	cfg.Workers = c.Int("workers")
	if c.IsSet("modules") {
		cfg.Modules = splitList(c.StringSlice("modules"))
	}
	cfg.Defines = map[string]string{}
	for _, d := range c.StringSlice("define") {
		k, v, _ := strings.Cut(d, "=")
		cfg.Defines[k] = v
	}
	cfg.RouteTimeout = c.Duration("route-timeout")
	cfg.AllowUnsafeLua = c.Bool("allow-unsafe-lua")
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
		return cfg, nil, err
	}
	log, err := newLogger(os.Stderr, format, level)
	if err != nil {
		return cfg, nil, err
	}
	cfg.Logger = log
	cfg.LogLevel = level
	return cfg, fc, nil
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
