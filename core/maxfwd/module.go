// Package maxfwd is Kamailio's maxfwd module: Max-Forwards processing.
package maxfwd

import (
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "maxfwd", Order: 50, New: func() kemi.Module { return &Module{} }})
}

// Limits of the max_limit parameter and of the function arguments, as in
// Kamailio (a Max-Forwards value we write fits in one octet).
const (
	defaultMaxLimit = 70
	maxValue        = 255
)

// Module is the maxfwd module of one engine.
type Module struct {
	log *slog.Logger
	// maxLimit caps the value of a received Max-Forwards header; it may
	// change at run time (cfg.set maxfwd max_limit).
	maxLimit kemi.CfgInt

	added    *metrics.Counter
	exceeded *metrics.Counter
	capped   *metrics.Counter
	invalid  *metrics.Counter
}

// ModInit reads max_limit and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	limit := env.Params.Int("max_limit", defaultMaxLimit)
	if limit < 0 || limit > maxValue {
		return fmt.Errorf("maxfwd: max_limit %d out of range 0..%d", limit, maxValue)
	}
	mod.maxLimit.Store(int64(limit))
	env.AddCfg(mod.maxLimit.Var("maxfwd", "max_limit", "Highest Max-Forwards value let through; a higher one is lowered to it.", 0, maxValue))
	mod.added = env.Metrics.NewCounter(`kemi_maxfwd_added_total`, "Max-Forwards headers added to requests that had none.")
	mod.exceeded = env.Metrics.NewCounter(`kemi_maxfwd_exceeded_total`, "Requests that arrived with Max-Forwards 0 (process_maxfwd returned -1).")
	mod.capped = env.Metrics.NewCounter(`kemi_maxfwd_capped_total`, "Max-Forwards values above max_limit that were lowered to it.")
	mod.invalid = env.Metrics.NewCounter(`kemi_maxfwd_invalid_total`, "Invalid Max-Forwards values met by process_maxfwd or is_maxfwd_lt.")
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
