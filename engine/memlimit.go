package engine

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// DefaultMemoryLimit is kemi run's MemoryLimit when neither the config,
// the flag, KEMI_MEMORY_LIMIT nor GOMEMLIMIT sets one.
const DefaultMemoryLimit = 256 << 20

// limitHeadroom is what a raised limit leaves above twice the live heap
// for goroutine stacks and the runtime's own memory.
const limitHeadroom = 16 << 20

// memoryLimits serialises the changes of the process-wide settings by the
// engines of one process (tests start several).
var memoryLimits sync.Mutex

// gcTuner is Config.MemoryLimit at work: the garbage collector runs
// when the heap reaches the limit, not each time it doubles (GOGC off),
// so that it runs seldom while memory is plentiful. When the live data
// outgrow half the limit (many transactions, registrations, htable
// entries), a fixed limit would make the collector run ever more often
// as the live heap nears it, up to half the CPU; the tuner raises the
// soft limit after such a cycle to twice the live heap (what GOGC=100
// would allow) and lowers it back as the live data shrink. So a limit
// set too low costs memory, as Go's default does, never a collector
// that runs all the time.
type gcTuner struct {
	floor   int64 // the configured limit
	stopped atomic.Bool
	samples []metrics.Sample

	// the settings replaced, put back by stop
	prevLimit   int64
	prevPercent int
	setPercent  bool // GOGC was replaced
}

// startGCTuner applies limit (see Config.MemoryLimit) and returns the
// tuner that keeps it, nil when limit is 0 (the runtime's settings are
// left alone). With the GOGC variable set, GOGC stays as it says, the
// limit is fixed and nothing is tuned.
func startGCTuner(limit int64) *gcTuner {
	if limit == 0 {
		return nil
	}
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	g := &gcTuner{floor: limit}
	gogc := os.Getenv("GOGC") != ""
	switch {
	case limit < 0:
		// no limit, and the collector as Go's default runs it
		g.prevLimit = debug.SetMemoryLimit(math.MaxInt64)
		if !gogc {
			g.prevPercent, g.setPercent = debug.SetGCPercent(100), true
		}
		g.stopped.Store(true)
		return g
	case gogc:
		g.prevLimit = debug.SetMemoryLimit(limit)
		g.stopped.Store(true)
		return g
	}
	g.prevLimit = debug.SetMemoryLimit(limit)
	g.prevPercent, g.setPercent = debug.SetGCPercent(-1), true
	g.samples = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	g.arm()
	return g
}

// arm has tune run after the next garbage collection: the finalizer of
// an object nothing refers to runs once a cycle has found it unreachable.
func (g *gcTuner) arm() {
	runtime.SetFinalizer(new([16]byte), func(*[16]byte) {
		if !g.stopped.Load() {
			g.tune()
			g.arm()
		}
	})
}

// tune sets the soft limit for the live heap the last cycle left.
func (g *gcTuner) tune() {
	metrics.Read(g.samples)
	if g.samples[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(g.samples[0].Value.Uint64())
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	if !g.stopped.Load() {
		debug.SetMemoryLimit(g.limitFor(live))
	}
}

// limitFor is the soft limit for a live heap of live bytes: the
// configured one, or room for the heap to double when that is more.
func (g *gcTuner) limitFor(live int64) int64 {
	return max(g.floor, 2*live+limitHeadroom)
}

// stop puts back the settings the tuner replaced; nil does nothing.
func (g *gcTuner) stop() {
	if g == nil {
		return
	}
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	g.stopped.Store(true)
	debug.SetMemoryLimit(g.prevLimit)
	if g.setPercent {
		debug.SetGCPercent(g.prevPercent)
	}
}
