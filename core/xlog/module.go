// Package xlog is Kamailio's xlog module: logging with pseudo-variables
// expanded.
package xlog

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "xlog", Order: 110, New: func() kemi.Module { return &Module{} }})
}

// Module is the xlog module of one engine.
type Module struct {
	log  *slog.Logger // wrong calls (bad formats)
	slog *slog.Logger // what the script logs
	pvs  *kemi.PVTable

	// prefixText is the "prefix" parameter: a format put before every
	// message, compiled into prefix once every module declared its
	// pseudo-variables.
	prefixText string
	prefix     *kemi.Format

	cache formatCache

	// messages counts by level, indexed from kemi.LogAlert.
	messages   [kemi.LogDbg - kemi.LogAlert + 1]*metrics.Counter
	badFormats *metrics.Counter
	uncached   *metrics.Counter
}

// ModInit reads the parameters and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.slog = env.ScriptLogger
	mod.pvs = env.PVs
	mod.prefixText = env.Params.Str("prefix", "")
	for l := kemi.LogAlert; l <= kemi.LogDbg; l++ {
		if l != kemi.LogCrit2 {
			mod.messages[l-kemi.LogAlert] = env.Metrics.NewCounter(fmt.Sprintf(`kemi_xlog_messages_total{level=%q}`, l),
				"Messages logged by xlog functions, by Kamailio level (messages below the log level are not counted).")
		}
	}
	mod.badFormats = env.Metrics.NewCounter(`kemi_xlog_format_errors_total`, "xlog calls with an invalid format (they returned -1).")
	mod.uncached = env.Metrics.NewCounter(`kemi_xlog_formats_uncached_total`, "Formats compiled because the format cache was full: the script builds formats at run time.")
	return nil
}

// counter returns the message counter of level l; L_CRIT2 counts as crit,
// the level Kamailio prints it at.
func (mod *Module) counter(l kemi.LogLevel) *metrics.Counter {
	if l == kemi.LogCrit2 {
		l = kemi.LogCrit
	}
	return mod.messages[l-kemi.LogAlert]
}

// ChildInit compiles the prefix at RankInit, when every module has
// registered its pseudo-variables; a bad prefix stops start-up.
func (mod *Module) ChildInit(rank int) error {
	if rank != kemi.RankInit || mod.prefixText == "" {
		return nil
	}
	f, err := mod.pvs.CompileFormat(mod.prefixText)
	if err != nil {
		return fmt.Errorf("xlog: parameter prefix: %w", err)
	}
	mod.prefix = f
	return nil
}

// maxCachedFormats bounds the compiled-format cache: a script that builds
// format strings at run time must not grow memory without limit. Formats
// beyond it are compiled at every call.
const maxCachedFormats = 1024

// formatCache keeps compiled formats by their text. It is shared by every
// worker.
type formatCache struct {
	mu sync.RWMutex
	m  map[string]*kemi.Format
}

// get returns the compiled format s; cached reports whether it is (now)
// in the cache.
func (c *formatCache) get(pvs *kemi.PVTable, s string) (f *kemi.Format, cached bool, err error) {
	c.mu.RLock()
	f = c.m[s]
	c.mu.RUnlock()
	if f != nil {
		return f, true, nil
	}
	f, err = pvs.CompileFormat(s)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*kemi.Format)
	}
	if len(c.m) >= maxCachedFormats {
		return f, false, nil
	}
	c.m[s] = f
	return f, true, nil
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
)
