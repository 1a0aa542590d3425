package engine

import (
	"math"
	"os"
	"runtime/debug"
	"sync"
)

// DefaultMemoryLimit is kemi run's MemoryLimit when neither the config,
// the flag, KEMI_MEMORY_LIMIT nor GOMEMLIMIT sets one.
const DefaultMemoryLimit = 256 << 20

// gcPercentUnderLimit is the GOGC a memory limit comes with, unless the
// GOGC variable sets one: the collector runs when the heap reaches the
// limit, or grows by this much over what the last cycle kept, whichever
// comes first. (off = -1: only the limit.)
const gcPercentUnderLimit = -1

// memoryLimits serialises the changes of the process-wide settings by the
// engines of one process (tests start several).
var memoryLimits sync.Mutex

// gcSettings are the runtime's garbage collector settings that an engine
// replaced.
type gcSettings struct {
	limit      int64
	percent    int
	setPercent bool // percent was replaced too
}

// applyMemoryLimit sets the process's soft memory limit and GOGC for
// Config.MemoryLimit (see there) and returns the settings it replaced,
// for restoreMemoryLimit; ok is false when it changed nothing. GOGC
// from the environment is left alone.
func applyMemoryLimit(limit int64) (prev gcSettings, ok bool) {
	if limit == 0 {
		return prev, false
	}
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	percent := 100
	if limit < 0 {
		limit = math.MaxInt64
	} else {
		percent = gcPercentUnderLimit
	}
	prev.limit = debug.SetMemoryLimit(limit)
	if os.Getenv("GOGC") == "" {
		prev.percent, prev.setPercent = debug.SetGCPercent(percent), true
	}
	return prev, true
}

// restoreMemoryLimit puts back what applyMemoryLimit replaced.
func restoreMemoryLimit(prev gcSettings) {
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	debug.SetMemoryLimit(prev.limit)
	if prev.setPercent {
		debug.SetGCPercent(prev.percent)
	}
}
