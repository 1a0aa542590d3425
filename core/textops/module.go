// Package textops is Kamailio's textops module: regex search and replace over the message, header and body operations.
package textops

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "textops", New: func() kemi.Module { return &Module{} }})
}

// Module is the textops module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the logger.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

// Exports returns KSR.textops.
func (mod *Module) Exports() []kemi.Export {
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
