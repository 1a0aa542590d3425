// Package pike is Kamailio's pike module: it counts the requests of each
// source address over a sampling unit and tells the script when a source
// sends more than the configured density, so that the script can drop it
// (or ban it in an htable). It takes no action itself.
package pike

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "pike", Order: 170, New: func() kemi.Module { return &Module{} }})
}

// Defaults of the parameters, as in Kamailio.
const (
	defaultTimeUnit   = 2   // sampling_time_unit, seconds
	defaultDensity    = 30  // reqs_density_per_unit
	defaultLatency    = 120 // remove_latency, seconds
	defaultLogLevel   = 0   // pike_log_level: Kamailio's L_WARN
	defaultMaxSources = 65536
)

// Module is the pike module of one engine: one table of sources shared by
// every worker.
type Module struct {
	log      *slog.Logger
	logLevel slog.Level
	tab      *table
	// now is the clock; tests replace it.
	now func() time.Time

	blocked *metrics.Counter
	evicted *metrics.Counter
}

// ModInit reads the parameters, creates the table and the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.now = time.Now
	p := env.Params
	unit := p.Int("sampling_time_unit", defaultTimeUnit)
	density := p.Int("reqs_density_per_unit", defaultDensity)
	latency := p.Int("remove_latency", defaultLatency)
	mod.logLevel = slogLevel(p.Int("pike_log_level", defaultLogLevel))
	maxSources := p.Int("max_sources", defaultMaxSources)
	switch {
	case unit <= 0:
		return fmt.Errorf("pike: sampling_time_unit %d: want a number of seconds above 0", unit)
	case density <= 0:
		return fmt.Errorf("pike: reqs_density_per_unit %d: want a number of requests above 0", density)
	case latency < 0:
		return fmt.Errorf("pike: remove_latency %d: want a number of seconds, 0 or more", latency)
	case maxSources < shardCount:
		return fmt.Errorf("pike: max_sources %d: want at least %d", maxSources, shardCount)
	}
	mod.tab = newTable(time.Duration(unit)*time.Second, density, time.Duration(latency)*time.Second, maxSources, mod.now())
	mod.tab.onUnblock = mod.unblocked
	mod.blocked = env.Metrics.NewCounter(`kemi_pike_blocked_total`, "Sources that went over reqs_density_per_unit (a check returned -2; Kamailio's pike:blocked_ips).")
	mod.evicted = env.Metrics.NewCounter(`kemi_pike_evicted_total`, "Sources forgotten before remove_latency to make room for new ones (max_sources reached).")
	mod.tab.onEvict = mod.evicted.Inc
	tab := mod.tab
	env.Metrics.NewGauge(`kemi_pike_sources`, "Source addresses being counted.", func() float64 { return float64(tab.len()) })
	return nil
}

// check counts one request from addr and logs a new block.
func (mod *Module) check(addr netip.Addr) int {
	res := mod.tab.hit(addr, mod.now())
	if res == resNewBlocked {
		mod.blocked.Inc()
		mod.log.Log(context.Background(), mod.logLevel, "PIKE - BLOCKing ip", "ip", addr.Unmap().String())
	}
	return res
}

// unblocked logs a source that went back under the limit.
func (mod *Module) unblocked(addr netip.Addr) {
	mod.log.Log(context.Background(), mod.logLevel, "PIKE - UNBLOCKing ip", "ip", addr.String())
}

// slogLevel maps a Kamailio log level (L_ERR -1, L_WARN 0, L_NOTICE 1,
// L_INFO 2, L_DBG 3) to slog's.
func slogLevel(l int) slog.Level {
	switch {
	case l < 0:
		return slog.LevelError
	case l == 0:
		return slog.LevelWarn
	case l <= 2:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

var _ kemi.ModIniter = (*Module)(nil)
