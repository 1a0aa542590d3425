// Package corex is Kamailio's corex module: branches, sockets, extended
// flags and misc core extensions.
package corex

import (
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "corex", Order: 90, New: func() kemi.Module { return &Module{} }})
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
	mod.branches = env.Metrics.NewCounter(`kemi_corex_branches_appended_total`, "Branches added by append_branch and its variants.")
	mod.branchFails = env.Metrics.NewCounter(`kemi_corex_branch_errors_total`, "append_branch calls that failed (bad URI or q value, too many branches, called for a reply).")
	mod.noSocket = env.Metrics.NewCounter(`kemi_corex_socket_not_found_total`, "set_send_socket and set_recv_socket calls for which no socket matched.")
	mod.readErrors = env.Metrics.NewCounter(`kemi_corex_file_errors_total{op="read"}`, helpFileErrors)
	mod.writeErrors = env.Metrics.NewCounter(`kemi_corex_file_errors_total{op="write"}`, helpFileErrors)
	return nil
}

// helpFileErrors describes kemi_corex_file_errors_total.
const helpFileErrors = "file_read and file_write calls that failed, by op."

var _ kemi.ModIniter = (*Module)(nil)
