package engine

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// DefaultMemoryLimit is kemi run's MemoryLimit when neither the config,
// the flag, KEMI_MEMORY_LIMIT nor GOMEMLIMIT sets one. Measured at 2000
// calls/s (2 vCPU, stateful tm + record-route): 32 MiB gave 57 MB PSS and
// 54-55 % of a core, 40 MiB 65 MB and 49-52 %, 48 MiB 73 MB and 47 %, 64
// MiB 90 MB and 48-52 %, Go's default (off) 50 MB and 52-59 %: 40 MiB
// costs no CPU against 64 and keeps the stateful proxy under a quarter of
// Kamailio's memory (290 MB).
const DefaultMemoryLimit = 40 << 20

// memoryLimits are the tuners at work in the process. GOGC is one
// setting of the process, and one process may run several engines (tests
// do): the first tuner to start saves the setting and the last to stop
// puts it back, whatever the order of their stops, and while several run
// the smallest limit holds (see gcTuner.tune). A package variable, as the
// setting it guards is the runtime's.
var memoryLimits struct {
	sync.Mutex
	active map[*gcTuner]bool
	saved  int // GOGC before the first active tuner changed it
}

// gcTuner is Config.MemoryLimit at work: after each collection it sets
// GOGC so that the next one comes when the heap reaches the configured
// size, or when it has doubled if that is later (Go's default). So the
// collector runs seldom while the live data are small next to the
// setting, and as Go's default when they are not.
//
// It is not Go's soft memory limit (debug.SetMemoryLimit, GOMEMLIMIT),
// which GOMEMLIMIT in the environment still sets: with GOGC off and a
// soft limit, a live heap growing towards the limit made the collector
// run back to back (stateful load at 2000 calls/s with 64 MiB: 3 ms of
// CPU per call instead of 0.6), and raising the limit after each
// collection came too late while the live data ramped up.
type gcTuner struct {
	floor   int64 // the configured limit
	stopped atomic.Bool
	samples []metrics.Sample

	setPercent bool // GOGC was replaced: the tuner is in memoryLimits.active
}

// startGCTuner applies limit (see Config.MemoryLimit) and returns the
// tuner that keeps it, nil when limit is 0 (the runtime's settings are
// left alone). With the GOGC variable set nothing is changed.
func startGCTuner(limit int64) *gcTuner {
	if limit == 0 {
		return nil
	}
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	g := &gcTuner{floor: limit}
	if os.Getenv("GOGC") != "" {
		g.stopped.Store(true) // the user's GOGC stays
		return g
	}
	if limit < 0 {
		// the collector as Go's default runs it
		g.replaceLocked(100)
		g.stopped.Store(true)
		return g
	}
	g.replaceLocked(g.percentFor(0))
	g.samples = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	g.arm()
	return g
}

// replaceLocked sets GOGC to percent, saving the setting when no other
// tuner is active; memoryLimits held. With other tuners active the
// smallest percent wins (see tune).
func (g *gcTuner) replaceLocked(percent int) {
	g.setPercent = true
	if len(memoryLimits.active) == 0 {
		memoryLimits.active = map[*gcTuner]bool{}
		memoryLimits.saved = debug.SetGCPercent(percent)
	} else if prev := debug.SetGCPercent(percent); prev < percent {
		debug.SetGCPercent(prev)
	}
	memoryLimits.active[g] = true
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

// tune sets GOGC for the live heap the last cycle left.
func (g *gcTuner) tune() {
	metrics.Read(g.samples)
	if g.samples[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := int64(g.samples[0].Value.Uint64())
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	if g.stopped.Load() {
		return
	}
	percent := g.percentFor(live)
	for o := range memoryLimits.active {
		// the smallest limit of the engines running holds: each tuner
		// sets it after its collection, so the last to run does not undo
		// a smaller one
		if o != g && o.floor > 0 && !o.stopped.Load() {
			percent = min(percent, o.percentFor(live))
		}
	}
	debug.SetGCPercent(percent)
}

// percentFor is the GOGC that lets a live heap of live bytes grow to the
// configured size before the next collection, or double when that is
// more (Go's default, 100).
func (g *gcTuner) percentFor(live int64) int {
	live = max(live, 4<<20) // the runtime's smallest heap goal
	if 2*live >= g.floor {
		return 100
	}
	return int(min((g.floor-live)*100/live, 100_000))
}

// stop puts back the settings the tuner replaced; nil does nothing.
func (g *gcTuner) stop() {
	if g == nil {
		return
	}
	memoryLimits.Lock()
	defer memoryLimits.Unlock()
	g.stopped.Store(true)
	if !g.setPercent || !memoryLimits.active[g] {
		return
	}
	delete(memoryLimits.active, g)
	if len(memoryLimits.active) == 0 {
		debug.SetGCPercent(memoryLimits.saved)
	}
}
