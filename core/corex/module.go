// Package corex is Kamailio's corex module: branches, sockets, extended flags and misc core extensions.
package corex

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "corex", New: func() kemi.Module { return &Module{} }})
}

// Module is the corex module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the logger.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

// Exports returns KSR.corex.
func (mod *Module) Exports() []kemi.Export {
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
