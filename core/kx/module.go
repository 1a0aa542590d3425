// Package kx is Kamailio's kemix module (KSR.kx): getters for message
// attributes, -D defines and environment variables.
package kx

import (
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kx", Order: 100, New: func() kemi.Module { return &Module{} }})
}

// Module is the kx module of one engine.
type Module struct {
	// defines are the -D names and values; read-only once serving.
	defines map[string]string
}

// ModInit keeps the defines.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.defines = env.Defines
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
