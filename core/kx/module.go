// Package kx is Kamailio's kemix module (KSR.kx): getters for message attributes and defines.
package kx

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kx", New: func() kemi.Module { return &Module{} }})
}

// Module is the kx module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the logger.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	return nil
}

// Exports returns KSR.kx.
func (mod *Module) Exports() []kemi.Export {
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
