// Package siputils is Kamailio's siputils module: SIP message and URI tests and helpers.
package siputils

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "siputils", New: func() kemi.Module { return &Module{} }})
}

// Module is the siputils module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the logger.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

// Exports returns KSR.siputils.
func (mod *Module) Exports() []kemi.Export {
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
