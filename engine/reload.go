package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// reloadState holds the states built by the last reload until each worker
// takes its own, between two messages.
type reloadState struct {
	mu      sync.Mutex
	pending map[int]*luaext.State // by worker rank
}

// ReloadScript reloads the routing script from where it came from: the
// file ScriptPath, read again, or the embedded Script (see Reload).
func (e *Engine) ReloadScript() (int64, error) {
	if e.cfg.ScriptEmbedded {
		return e.Reload(e.cfg.ScriptPath, e.cfg.Script)
	}
	if e.cfg.ScriptPath == "" {
		return e.reloadFailed(errors.New("engine: reload: the script was not read from a file"))
	}
	src, err := os.ReadFile(e.cfg.ScriptPath)
	if err != nil {
		return e.reloadFailed(fmt.Errorf("engine: reload: %w", err))
	}
	return e.Reload(e.cfg.ScriptPath, src)
}

// reloadFailed counts and logs a refused reload; the generation stays.
func (e *Engine) reloadFailed(err error) (int64, error) {
	e.met.reloadFailures.Inc()
	e.log.Error("script reload refused; the old script and module data keep running", "err", err)
	return e.generation.Load(), err
}

// Reload replaces the routing script and the data of the modules that
// reload with it (kemi.Reloader), all or nothing: the new script is
// compiled, every Reloader prepares its new data, and a fresh Lua state
// is built (top level run, request route present) for every worker; only
// when all of that succeeded are the modules' data committed and do the
// workers switch, each between two messages. On failure the old script
// and the old module data keep serving, the failure is counted and the
// generation does not move. It returns the new script generation.
func (e *Engine) Reload(name string, src []byte) (int64, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	script, err := luaext.Compile(name, src)
	if err != nil {
		return e.reloadFailed(err)
	}
	commits, err := e.prepareModules()
	if err != nil {
		return e.reloadFailed(err)
	}
	// certificates are read again, so that a renewed one needs no
	// restart; a bad one refuses the reload like a bad script
	tlsSt, err := loadTLS(e.cfg.TLS, e.cfg.needsTLS())
	if err != nil {
		return e.reloadFailed(fmt.Errorf("engine: reload: %w", err))
	}
	commits = append(commits, func() { e.tls.Store(tlsSt) })
	states := map[int]*luaext.State{}
	for _, w := range e.workers {
		st, err := e.newState(script)
		if err != nil {
			for _, s := range states {
				s.Close()
			}
			return e.reloadFailed(err)
		}
		states[w.rank] = st
	}
	for _, commit := range commits {
		commit()
	}
	e.reload.mu.Lock()
	for rank, old := range e.reload.pending {
		old.Close() // built by an earlier reload, never taken
		delete(e.reload.pending, rank)
	}
	e.reload.pending = states
	e.script.Store(script)
	gen := e.generation.Add(1)
	e.reload.mu.Unlock()
	e.met.reloads.Inc()
	e.wakeIdleWorkers() // so that they switch now
	e.log.Info("script reloaded", "script", name, "generation", gen)
	return gen, nil
}

// prepareModules runs the first phase of a reload on every module that
// reloads with the script and returns their commits, in module order.
func (e *Engine) prepareModules() ([]func(), error) {
	var commits []func()
	for _, lm := range e.mods {
		r, ok := lm.Module.(kemi.Reloader)
		if !ok {
			continue
		}
		commit, err := r.PrepareReload()
		if err != nil {
			return nil, fmt.Errorf("engine: reload: module %s: %w", lm.Name, err)
		}
		if commit != nil {
			commits = append(commits, commit)
		}
	}
	return commits, nil
}

// Generation returns the script generation: 1 at start, +1 per reload.
func (e *Engine) Generation() int64 { return e.generation.Load() }

// takeReload switches the worker to the newest script if there is one.
func (w *worker) takeReload() {
	e := w.e
	gen := e.generation.Load()
	if gen == w.gen {
		return
	}
	e.reload.mu.Lock()
	st := e.reload.pending[w.rank]
	delete(e.reload.pending, w.rank)
	e.reload.mu.Unlock()
	w.gen = gen
	if st == nil {
		return
	}
	old := w.st.Swap(st)
	w.routes = map[string]*routeMetrics{}
	old.Close()
}

// Drain stops taking new requests and waits until no module reports live
// work (transactions) or ctx ends. Replies, ACKs, CANCELs and in-dialog
// requests are still routed meanwhile. It reports whether all work
// finished.
func (e *Engine) Drain(ctx context.Context) bool {
	if !e.draining.Swap(true) {
		e.log.Info("draining: new requests are refused", "live", e.liveWork())
		e.tp.stopAccepting()
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if e.liveWork() == 0 {
			return true
		}
		select {
		case <-ctx.Done():
			e.log.Warn("drain time is up; stopping with work in progress", "live", e.liveWork())
			return false
		case <-t.C:
		}
	}
}

// Shutdown drains for at most grace, then stops.
func (e *Engine) Shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	e.Drain(ctx)
	sctx, scancel := context.WithTimeout(context.Background(), grace+5*time.Second)
	defer scancel()
	return e.Stop(sctx)
}

// liveWork sums what the modules report as in progress.
func (e *Engine) liveWork() int {
	n := 0
	for _, d := range e.drainers {
		n += d.Live()
	}
	return n
}

// refuseWhileDraining reports whether a request must be dropped because the
// engine drains: only new dialogs and transactions are refused.
func (e *Engine) refuseWhileDraining(m *kemi.Msg) bool {
	if !e.draining.Load() {
		return false
	}
	switch m.Method() {
	case "ACK", "CANCEL":
		return false
	}
	return m.ToTag() == ""
}

// Stats is a snapshot for operators (SIGUSR1).
type Stats struct {
	Workers    []WorkerStats
	Live       int
	Generation int64
	Goroutines int
	HeapBytes  uint64
	SysBytes   uint64
	NumGC      uint32
	Draining   bool
}

// WorkerStats describes one worker.
type WorkerStats struct {
	Rank   int
	Routed uint64
	Errors uint64
	Busy   time.Duration
}

// Stats returns a snapshot of the engine's state.
func (e *Engine) Stats() Stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Stats{
		Live:       e.liveWork(),
		Generation: e.generation.Load(),
		Goroutines: runtime.NumGoroutine(),
		HeapBytes:  ms.HeapAlloc,
		SysBytes:   ms.Sys,
		NumGC:      ms.NumGC,
		Draining:   e.draining.Load(),
	}
	for _, w := range e.workers {
		s.Workers = append(s.Workers, WorkerStats{Rank: w.rank, Routed: w.routed.Load(), Errors: w.errors.Load(), Busy: time.Duration(w.busyNs.Load())})
	}
	return s
}

// LogStats writes the statistics to the log.
func (e *Engine) LogStats() {
	s := e.Stats()
	for _, w := range s.Workers {
		e.log.Info("worker statistics", "rank", w.Rank, "routed", w.Routed, "errors", w.Errors, "busy", w.Busy.Round(time.Microsecond))
	}
	e.log.Info("engine statistics", "transactions_alive", s.Live, "script_generation", s.Generation,
		"goroutines", s.Goroutines, "heap_bytes", s.HeapBytes, "sys_bytes", s.SysBytes, "gc_cycles", s.NumGC, "draining", s.Draining)
}
