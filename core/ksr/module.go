// Package ksr is kemi's core module ("core"): the functions of the KSR
// table itself (logging, method, transport and "is it me?" tests, flags,
// R-URI and destination URI, stateless forwarding, KSR.route, ...), KSR.pv
// over the core pseudo-variables, and KSR.hdr. KSR.x is built into the Lua
// binding.
package ksr

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "core", Order: 1, New: func() kemi.Module { return &Module{} }})
}

// Module is the core module of one engine.
type Module struct {
	log  *slog.Logger // module errors (bad KSR calls)
	slog *slog.Logger // what the script logs
	host kemi.Host
	pvs  *kemi.PVTable
}

// ModInit registers the core pseudo-variables.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.slog = env.ScriptLogger
	mod.host = env.Host
	mod.pvs = env.PVs
	if mod.pvs == nil {
		mod.pvs = kemi.NewPVTable()
	}
	return registerPVs(mod.pvs, mod)
}

// Exports returns KSR.*, KSR.pv.* and KSR.hdr.*.
func (mod *Module) Exports() []kemi.Export {
	var out []kemi.Export
	out = append(out, mod.coreExports()...)
	out = append(out, mod.pvExports()...)
	out = append(out, mod.pvxExports()...)
	out = append(out, mod.hdrExports()...)
	return out
}

var _ kemi.ModIniter = (*Module)(nil)
