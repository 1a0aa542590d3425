// Package corex is Kamailio's corex module: branches, sockets, extended
// flags and misc core extensions.
package corex

import (
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "corex", New: func() kemi.Module { return &Module{} }})
}

// Module is the corex module of one engine.
type Module struct {
	log *slog.Logger

	branches    *metrics.Counter
	branchFails *metrics.Counter
	noSocket    *metrics.Counter
	readErrors  *metrics.Counter
	writeErrors *metrics.Counter
}

// ModInit creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.branches = env.Metrics.NewCounter(`kemi_corex_branches_appended_total`)
	mod.branchFails = env.Metrics.NewCounter(`kemi_corex_branch_errors_total`)
	mod.noSocket = env.Metrics.NewCounter(`kemi_corex_socket_not_found_total`)
	mod.readErrors = env.Metrics.NewCounter(`kemi_corex_file_errors_total{op="read"}`)
	mod.writeErrors = env.Metrics.NewCounter(`kemi_corex_file_errors_total{op="write"}`)
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
