// Package engine is kemi's runtime: it loads modules and the routing script,
// owns the SIP sockets, runs workers that each own one Lua state, dispatches
// requests and replies to the script's routes, forwards statelessly, and
// serves /metrics. An Engine is self-contained: several can live in one
// process (tests do that).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// Engine is one running SIP routing engine.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	slog    *slog.Logger // script-side logger for Lua errors
	metrics *kemi.Metrics
	met     *engineMetrics
	pvs     *kemi.PVTable
	svc     *kemi.Services
	modules *kemi.ModuleSet // nil until loaded
	mods    []*kemi.LoadedModule
	exports []kemi.Export
	script  atomic.Pointer[luaext.Script]

	replyHooks []kemi.ReplyHook
	reqHooks   []kemi.RequestHook
	drainers   []kemi.Drainer
	sendHooks  []kemi.SendHook

	reloadMu   sync.Mutex
	reload     reloadState
	generation atomic.Int64
	draining   atomic.Bool

	tp      *transport
	tls     atomic.Pointer[tlsState] // the TLS setup in force; replaced by Reload
	disp    *dispatcher
	workers []*worker
	quit    chan struct{}
	wg      sync.WaitGroup // the workers and the local address refresher
	wdStop  chan struct{}  // ends the watchdog
	wdWG    sync.WaitGroup
	wdMu    sync.Mutex
	watched map[*luaext.State]bool // states of extra processes, for the watchdog
	extra   *extraProcs
	ms      *metricsServer
	rpc     *rpcTable      // JSON-RPC methods, built at New
	ctl     *metricsServer // JSON-RPC on the control socket
	startAt time.Time      // when Start began, for core.uptime

	dns     dnsCache
	aliases []alias
	local   atomic.Pointer[map[netip.Addr]bool] // interface addresses, with a wildcard socket

	// keeps Config.MemoryLimit from Start to Stop; nil without one
	gc *gcTuner
	tr tracing // route tracing and latency alerts (trace.go)

	started  atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// job is one unit of work for a worker: a received message, or a function
// a module asked to run on a worker (a reply route for a transaction).
type job struct {
	raw    []byte
	pooled *[]byte // raw's buffer came from datagramBufs
	src    netip.AddrPort
	sock   *kemi.Socket
	proto  string
	connID uint64
	at     time.Time
	fn     func(w *worker)

	// set by dispatch: the job counts as in flight on its worker, and for
	// its key (0: none) until the worker is done with it
	counted bool
	key     uint32
}

// New loads the modules (ModInit in module order) and compiles and checks
// the script. Nothing is bound and no goroutine is started until Start.
// On error every module that was initialised is destroyed.
func New(cfg Config) (*Engine, error) {
	e := newEngine(cfg.withDefaults())
	if err := e.initModules(false); err != nil {
		e.destroyModules()
		return nil, err
	}
	if err := e.initRPC(); err != nil {
		e.destroyModules()
		return nil, err
	}
	tlsSt, err := e.loadTLSState()
	if err != nil {
		e.destroyModules()
		return nil, err
	}
	e.tls.Store(tlsSt)
	script, err := e.compile()
	if err != nil {
		e.destroyModules()
		return nil, err
	}
	// One state now, so a broken script fails before anything is bound.
	probe, err := e.newState(script)
	if err != nil {
		e.destroyModules()
		return nil, err
	}
	probe.Close()
	e.script.Store(script)
	e.generation.Store(max(cfg.Generation, 1))
	return e, nil
}

// newEngine builds an engine with nothing loaded.
func newEngine(cfg Config) *Engine {
	e := &Engine{
		cfg:     cfg,
		log:     cfg.Logger.With("module", "core"),
		slog:    cfg.Logger.With("module", "script"),
		metrics: kemi.NewMetrics(),
		pvs:     kemi.NewPVTable(),
		svc:     kemi.NewServices(),
		quit:    make(chan struct{}),
		wdStop:  make(chan struct{}),
		watched: map[*luaext.State]bool{},
	}
	e.disp = newDispatcher(cfg.Workers, 1024)
	e.met = newEngineMetrics(e.metrics, cfg.Workers, e)
	e.tp = newTransport(e)
	e.dns.ttl = 30 * time.Second
	e.aliases = parseAliases(cfg.Aliases)
	e.initTracing()
	return e
}

// initModules loads the enabled modules (kemi.LoadModules: ModInit in
// order, parameters and exports checked, hooks collected). With
// Config.Modules nil the enabled modules are the registered standard set,
// in the order their registrations give (see kemi.ModuleInfo.Order): the
// engine links no module itself, the binary does (cmd/kemi imports
// core/all).
func (e *Engine) initModules(dry bool) error {
	set, err := kemi.LoadModules(kemi.LoadOptions{
		Modules:  kemi.EnabledModules(e.cfg.Modules),
		Params:   e.cfg.ModParams,
		Defines:  maps.Clone(e.cfg.Defines),
		Workers:  e.cfg.Workers,
		DryRun:   dry,
		Host:     e,
		PVs:      e.pvs,
		Services: e.svc,
		Metrics:  e.metrics,
		Logger:   e.cfg.Logger,
		DBURL:    e.cfg.DBURL,
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.modules = set
	e.mods = set.Modules
	e.exports = set.Exports
	e.replyHooks = set.ReplyHooks
	e.reqHooks = set.RequestHooks
	e.drainers = set.Drainers
	e.sendHooks = set.SendHooks
	return nil
}

// destroyModules calls Destroy in reverse order on every module that was
// (even partly) initialised.
func (e *Engine) destroyModules() {
	e.modules.Destroy()
}

func (e *Engine) compile() (*luaext.Script, error) {
	src := e.cfg.Script
	name := e.cfg.ScriptPath
	if src == nil {
		if name == "" {
			return nil, errors.New("engine: no routing script given")
		}
		var err error
		src, err = os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("engine: script: %w", err)
		}
	}
	if name == "" {
		name = "routing.lua"
	}
	return luaext.Compile(name, src)
}

// newState builds a Lua state for a worker and checks that the request
// route exists.
func (e *Engine) newState(script *luaext.Script) (*luaext.State, error) {
	st, err := luaext.NewState(script, e.luaOptions())
	if err != nil {
		return nil, fmt.Errorf("engine: script: %w", err)
	}
	if !st.Has(e.cfg.RequestRoute) {
		st.Close()
		return nil, fmt.Errorf("engine: script %s: no function %s: every script must define it", script.Name, e.cfg.RequestRoute)
	}
	return st, nil
}

// luaOptions are the options of every Lua state of the engine.
func (e *Engine) luaOptions() luaext.Options {
	return luaext.Options{
		Exports:     e.exports,
		Catalog:     catalog{},
		Logger:      e.slog,
		AllowUnsafe: e.cfg.AllowUnsafeLua,
		Timeout:     max(e.cfg.RouteTimeout, 0),
		MemoryLimit: max(e.cfg.RouteMemoryLimit, 0),
		Trace:       &e.tr.sw,
	}
}

// Start binds the listeners, runs ChildInit for every rank, builds one Lua
// state per worker and starts serving. ctx only bounds the start-up.
func (e *Engine) Start(ctx context.Context) error {
	if e.started.Swap(true) {
		return errors.New("engine: already started")
	}
	setSipgoTimers()
	e.startAt = time.Now()
	e.gc = startGCTuner(e.cfg.MemoryLimit)
	if err := e.tp.bind(); err != nil {
		return e.abortStart(err)
	}
	for _, l := range e.tp.listeners {
		if l.sock.Addr.Addr().IsUnspecified() {
			e.watchLocalAddrs()
			break
		}
	}
	if err := e.childInit(kemi.RankInit); err != nil {
		return e.abortStart(err)
	}
	if err := e.childInit(kemi.RankMain); err != nil {
		return e.abortStart(err)
	}
	e.extra = e.startExtraProcesses()
	script := e.script.Load()
	for rank := 1; rank <= e.cfg.Workers; rank++ {
		if err := ctx.Err(); err != nil {
			return e.abortStart(err)
		}
		if err := e.childInit(rank); err != nil {
			return e.abortStart(err)
		}
		st, err := e.newState(script)
		if err != nil {
			return e.abortStart(err)
		}
		w := newWorker(e, rank, st)
		w.gen = e.generation.Load()
		e.workers = append(e.workers, w)
	}
	if err := e.moduleInitEvents(); err != nil {
		return e.abortStart(err)
	}
	if err := e.workerOneInit(); err != nil {
		return e.abortStart(err)
	}
	for _, w := range e.workers {
		e.wg.Add(1)
		go func(w *worker) { defer e.wg.Done(); w.loop() }(w)
	}
	if e.cfg.RouteTimeout > 0 {
		e.wdWG.Add(1)
		go func() { defer e.wdWG.Done(); e.watchdog() }()
	}
	e.tp.serve()
	if e.cfg.MetricsAddr != "" || e.cfg.MetricsListener != nil {
		ms, err := e.startMetrics(e.cfg.MetricsAddr, e.cfg.MetricsListener)
		if err != nil {
			return e.abortStart(err)
		}
		e.ms = ms
	}
	if e.cfg.CtlSocket != "" || e.cfg.CtlListener != nil {
		ctl, err := e.startCtl(e.cfg.CtlSocket, e.cfg.CtlListener)
		if err != nil {
			return e.abortStart(err)
		}
		e.ctl = ctl
	}
	e.log.Info("kemi engine started", "workers", len(e.workers), "listen", e.listenStrings(), "metrics", e.MetricsAddr(), "ctl_socket", e.CtlAddr(), "script", script.Name)
	return nil
}

// workerOneInit runs the core:worker-one-init event in worker 1, as
// Kamailio does; a drop there aborts the start.
func (e *Engine) workerOneInit() error {
	if e.cfg.EventRoute == "" {
		return nil
	}
	return e.startEvent(e.cfg.EventRoute, "core:worker-one-init")
}

// abortStart undoes a failed start: the modules are destroyed and every
// socket handed to the engine is closed.
func (e *Engine) abortStart(err error) error {
	_ = e.Stop(context.Background())
	if e.ms == nil && e.cfg.MetricsListener != nil {
		e.cfg.MetricsListener.Close() // handed over to serve /metrics, never served
	}
	if e.ctl == nil && e.cfg.CtlListener != nil {
		e.cfg.CtlListener.Close()
	}
	return err
}

func (e *Engine) childInit(rank int) error {
	if err := e.modules.ChildInit(rank); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// Stop stops reading, lets the workers finish what they hold, stops the
// extra processes, closes the sockets and connections (workers can send
// until they are done), destroys the modules and stops /metrics. It can
// be called more than once.
//
// When ctx ends first, Stop closes the sockets and returns an error; a Lua
// state cannot be abandoned mid-call, so the rest (extra processes, states,
// modules) is done in the background once the busy workers finish.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.tp.stopReading()
		close(e.quit)
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		finish := func() {
			if e.extra != nil {
				e.extra.stop()
			}
			// the watchdog outlives the routes it may have to stop
			close(e.wdStop)
			e.wdWG.Wait()
			e.tp.close()
			for _, w := range e.workers {
				w.close()
			}
			e.destroyModules()
			e.gc.stop()
			e.log.Info("kemi engine stopped")
		}
		select {
		case <-done:
			finish()
		case <-ctx.Done():
			e.stopErr = fmt.Errorf("engine: stop: %w", ctx.Err())
			e.log.Error("workers still busy at the stop deadline; the engine finishes stopping when their routes end", "err", ctx.Err())
			e.tp.close()
			go func() { <-done; finish() }()
		}
		e.ms.stop(ctx)
		e.ctl.stop(ctx)
	})
	return e.stopErr
}

// watch puts a state outside the workers (an extra process's) under the
// watchdog; unwatch takes it off before it is closed.
func (e *Engine) watch(st *luaext.State) {
	e.wdMu.Lock()
	e.watched[st] = true
	e.wdMu.Unlock()
}

func (e *Engine) unwatch(st *luaext.State) {
	e.wdMu.Lock()
	delete(e.watched, st)
	e.wdMu.Unlock()
}

// watchdog stops routes that run past the time limit.
func (e *Engine) watchdog() {
	period := e.cfg.RouteTimeout / 4
	if period < 5*time.Millisecond {
		period = 5 * time.Millisecond
	}
	if period > 100*time.Millisecond {
		period = 100 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-e.wdStop:
			return
		case now := <-t.C:
			for _, w := range e.workers {
				w.st.Load().Overrun(now)
			}
			e.wdMu.Lock()
			for st := range e.watched {
				st.Overrun(now)
			}
			e.wdMu.Unlock()
		}
	}
}

// Sockets returns the bound SIP sockets (with the real ports when 0 was
// asked for).
func (e *Engine) Sockets() []*kemi.Socket {
	return e.tp.socks // built at bind; callers must not change it
}

// Addr returns the address of the first listener of proto ("udp", "tcp",
// "tls", "ws" or "wss"), or an invalid AddrPort.
func (e *Engine) Addr(proto string) netip.AddrPort {
	for _, l := range e.tp.listeners {
		if l.sock.Proto == proto {
			return l.sock.Addr
		}
	}
	return netip.AddrPort{}
}

// MetricsAddr returns the address /metrics is served on, or "".
func (e *Engine) MetricsAddr() string {
	if e.ms == nil {
		return ""
	}
	return e.ms.ln.Addr().String()
}

// Metrics returns the engine's metric set. Series an embedder creates
// there are served on /metrics with the description given.
func (e *Engine) Metrics() *kemi.Metrics { return e.metrics }

// WriteMetrics writes the /metrics page.
func (e *Engine) WriteMetrics(w interface{ Write([]byte) (int, error) }) { e.writeMetrics(w) }

// Services returns the registry where the engine's modules publish their
// APIs (kemi.ServiceTM, kemi.ServiceUAC...), for Go code embedding the
// engine and for tests.
func (e *Engine) Services() *kemi.Services { return e.svc }

// Exports returns the functions of the enabled modules.
func (e *Engine) Exports() []kemi.Export { return e.exports }

// Script returns the compiled script now in use.
func (e *Engine) Script() *luaext.Script { return e.script.Load() }

func (e *Engine) listenStrings() []string {
	var out []string
	for _, s := range e.Sockets() {
		out = append(out, s.String())
	}
	return out
}

// catalog answers the Lua binding's questions about missing names.
type catalog struct{}

// Catalog tells a Lua state built outside an engine (enginetest's) what
// the engine's tell theirs: whether Kamailio and kemi have a module or
// function the script names but no enabled module exports.
var Catalog luaext.Catalog = catalog{}

func (c catalog) Kamailio(module, name string) bool {
	if name == "" {
		return kemi.KamailioHasModule(module)
	}
	_, ok := kemi.LookupKamailio(module, name)
	return ok
}

func (c catalog) Available(module string) bool {
	_, ok := kemi.LookupModule(module)
	return ok
}
