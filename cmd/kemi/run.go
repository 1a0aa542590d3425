package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	flags := append(scriptFlags(),
		&cli.StringFlag{Name: "metrics-addr", Value: "127.0.0.1:9090", Usage: "serve Prometheus /metrics on `ADDR` (\"off\" to disable)", EnvVars: []string{"KEMI_METRICS_ADDR"}},
		&cli.DurationFlag{Name: "shutdown-grace", Value: 5 * time.Second, Usage: "on SIGINT/SIGTERM, wait this long for work in progress", EnvVars: []string{"KEMI_SHUTDOWN_GRACE"}},
	)
	return &cli.Command{
		Name:      "run",
		Usage:     "run a routing script as a SIP server",
		UsageText: "kemi run [-f routing.lua] [-l udp:127.0.0.1:5060] [-n workers] [--config kemi.toml]",
		Flags:     flags,
		Action:    runAction,
	}
}

func runAction(c *cli.Context) error {
	cfg, fc, err := buildConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	cfg.MetricsAddr = c.String("metrics-addr")
	if fc != nil && !c.IsSet("metrics-addr") && fc.Core.MetricsAddr != nil {
		cfg.MetricsAddr = *fc.Core.MetricsAddr
	}
	if cfg.MetricsAddr == "off" {
		cfg.MetricsAddr = ""
	}
	e, err := engine.New(cfg)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.Start(ctx); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	<-ctx.Done()
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), c.Duration("shutdown-grace"))
	defer cancel()
	if err := e.Stop(sctx); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	return nil
}
