// Package xhttp is Kamailio's xhttp module as scripts see it: an HTTP
// request arriving on a SIP tcp or tls listener runs the script's
// ksr_xhttp_event route, where KSR.xhttp answers it. The engine reads the
// request and writes the reply; this module gives the route its
// functions.
package xhttp

import (
	"log/slog"

	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "xhttp", Order: 220, New: func() kemi.Module { return &Module{} }})
}

// Module is the xhttp module of one engine.
type Module struct {
	log *slog.Logger
}

// ModInit keeps the module's logger and registers $hu. The module has
// no parameters: the route is ksr_xhttp_event, as in Kamailio's examples.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	if env.PVs != nil {
		return env.PVs.Register(kemi.PVClass{Name: "hu", Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
			if r := kemi.HTTPRequestOf(m); r != nil {
				return kemi.Str(r.URL), nil
			}
			return kemi.Null, nil
		}})
	}
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
