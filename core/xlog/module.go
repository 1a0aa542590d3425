// Package xlog is Kamailio's xlog module: logging with pseudo-variables expanded.
package xlog

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "xlog", New: func() kemi.Module { return &Module{} }})
}

// Module is the xlog module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the logger.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

// Exports returns KSR.xlog.
func (mod *Module) Exports() []kemi.Export {
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
