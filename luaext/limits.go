package luaext

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kemisip/kemi/luaext/luastr"
)

// A run (a route called from Go, or the script's top level) is bounded in
// time and in the bytes of strings it builds. Both limits stop it the same
// way: the state's context is cancelled, and gopher-lua raises an error at
// the next VM instruction, luastr's functions inside their loops, and
// coroutines (which run under the state's context, see openCoroutines). A
// pcall in the script cannot go on past a stop, since every instruction
// after it raises again. After a stopped run the state gets a new context,
// so the next run starts clean.

// stopReason says why a run was stopped.
type stopReason int

const (
	stopNone stopReason = iota
	stopTime
	stopMemory
)

// limited reports whether routes run under a context.
func (st *State) limited() bool {
	return st.opts.Timeout > 0 || st.opts.MemoryLimit > 0
}

// routeContext gives the state the context routes run under: a fresh one
// when routes are limited, none otherwise (gopher-lua's VM loop is faster
// without).
func (st *State) routeContext() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cancel != nil {
		st.cancel()
	}
	st.cancel, st.stopped = nil, stopNone
	if !st.limited() {
		st.L.RemoveContext()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	st.L.SetContext(ctx)
}

// runTop runs the script's top level once, bounded by TopLevelTimeout and
// the memory limit.
func (st *State) runTop() error {
	limit := st.opts.TopLevelTimeout
	if limit <= 0 {
		limit = max(st.opts.Timeout, DefaultTopLevelTimeout)
	}
	L := st.L
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	st.mu.Lock()
	st.cancel, st.stopped = cancel, stopNone
	st.mu.Unlock()
	L.SetContext(ctx)
	st.missing, st.missingAt = "", ""
	st.built = 0
	L.Push(L.NewFunctionFromProto(st.script.proto))
	st.traceback = ""
	err := L.PCall(0, 0, st.onError)
	st.mu.Lock()
	stopped := st.stopped
	if stopped == stopNone && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		stopped = stopTime
	}
	st.mu.Unlock()
	if err == nil || isExit(err) {
		return nil
	}
	rerr := st.runtimeError("<top level>", err)
	st.explainStop(rerr, stopped, "script top level", limit)
	return rerr
}

// explainStop words the error of a stopped run: what stopped it, where,
// and the limit; who is "route NAME" or "script top level".
func (st *State) explainStop(rerr *RuntimeError, why stopReason, who string, timeLimit time.Duration) {
	where := rerr.Where()
	if where == "" {
		where = st.script.Name
	}
	switch why {
	case stopTime:
		rerr.Timeout = true
		rerr.Msg = fmt.Sprintf("%s: %s stopped: ran longer than %s", where, who, timeLimit)
	case stopMemory:
		rerr.Memory = true
		rerr.Msg = fmt.Sprintf("%s: %s", where, st.memoryMessage(who))
	}
}

// memoryMessage says that who passed the memory limit.
func (st *State) memoryMessage(who string) string {
	return fmt.Sprintf("%s built more than %s of strings: stopped", who, formatBytes(st.opts.MemoryLimit))
}

// formatBytes writes n in the largest binary unit that divides it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// begin marks the start of a top-level run of a route.
func (st *State) begin() {
	st.built = 0
	if st.opts.Timeout <= 0 {
		return
	}
	st.mu.Lock()
	st.busy = time.Now()
	st.mu.Unlock()
}

// end marks the end of a top-level run and reports what stopped it, if
// anything; a stopped state gets a fresh context.
func (st *State) end() stopReason {
	if !st.limited() {
		return stopNone
	}
	st.mu.Lock()
	st.busy = time.Time{}
	stopped := st.stopped
	st.mu.Unlock()
	if stopped != stopNone {
		st.routeContext()
	}
	return stopped
}

// stopReason reports what stopped the running top-level run, if anything:
// a route nested in it ends with the same stop.
func (st *State) stopReason() stopReason {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopped
}

// stop cancels the running run for why, unless it is stopped already.
func (st *State) stop(why stopReason) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopLocked(why)
}

func (st *State) stopLocked(why stopReason) bool {
	if st.stopped != stopNone || st.cancel == nil {
		return false
	}
	st.stopped = why
	st.cancel()
	return true
}

// Overrun stops the running route if it has run longer than the state's
// time limit; the watchdog calls it from another goroutine. It reports
// whether it stopped one.
func (st *State) Overrun(now time.Time) bool {
	if st.opts.Timeout <= 0 {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.busy.IsZero() || now.Sub(st.busy) < st.opts.Timeout {
		return false
	}
	return st.stopLocked(stopTime)
}

// budget is the State as luastr sees it: the bound on the strings one run
// builds.
type budget State

// Grow accounts n bytes about to be built by the running route; past the
// limit the run is stopped and the error says so.
func (b *budget) Grow(n int) error {
	st := (*State)(b)
	if st.opts.MemoryLimit <= 0 || n <= 0 {
		return nil
	}
	st.built += int64(n)
	if st.built <= st.opts.MemoryLimit {
		return nil
	}
	st.built = st.opts.MemoryLimit + 1 // no overflow, however often it is called
	st.stop(stopMemory)
	who := "script top level"
	if len(st.routes) > 0 {
		who = "route " + st.routes[0].name
	}
	return errors.New(st.memoryMessage(who))
}

var _ luastr.Budget = (*budget)(nil)
