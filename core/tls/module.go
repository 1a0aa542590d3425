// Package tls is Kamailio's tls module as scripts see it: KSR.tls and the
// $tls_* pseudo-variables, which describe the TLS connection a message
// came on. The TLS transport itself (tls listeners, certificates, the
// [tls] table of kemi.toml) belongs to the engine.
package tls

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "tls", Order: 210, New: func() kemi.Module { return &Module{} }})
}

// Module is the tls module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit registers the $tls_* pseudo-variables. The module has no
// parameters: the [tls] table of kemi.toml configures the engine's TLS
// transport.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	if env.PVs != nil {
		for _, c := range pvClasses() {
			if err := env.PVs.Register(c); err != nil {
				return err
			}
		}
	}
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
