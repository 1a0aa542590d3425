package kemi

import (
	"fmt"
	"sort"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Module is one kemi module instance. Each engine builds its own instances
// from the registered ModuleInfo, so two engines in one process never share
// module state.
//
// A module may also implement ModIniter, ChildIniter and Destroyer; the
// engine calls them in the order DESIGN.md gives:
//
//	ModInit (every module, in module order)
//	ChildInit(RankInit), ChildInit(RankMain)
//	ChildInit(1..N) for each worker
//	... serve ...
//	Destroy (every module, in reverse order)
//
// A module whose data is reloaded with the script implements Reloader.
type Module interface {
	// Exports returns the functions this module adds to the KSR table. It
	// is called once, after ModInit succeeded, and the result is shared by
	// every worker: the functions must be safe for concurrent use by
	// different messages.
	Exports() []Export
}

// ModIniter is implemented by modules that need set-up.
//
// ModInit runs once per engine, before the script is compiled and before any
// worker exists. It reads the module's parameters from env, creates the
// module's metrics, declares pseudo-variables, publishes services for other
// modules and asks for extra processes. An error stops the engine from
// starting; Destroy is still called on every module whose ModInit ran.
// When env.DryRun is set (kemi check) it must not open sockets, files for
// writing, or start goroutines.
type ModIniter interface {
	ModInit(env *Env) error
}

// ChildIniter is implemented by modules with per-rank set-up.
//
// ChildInit(RankInit) runs once after every ModInit, with the worker count
// known; ChildInit(RankMain) runs once after that and is the one place where
// extra processes start; ChildInit(rank) then runs for every worker rank
// 1..N, possibly concurrently for different ranks. An error stops start-up.
type ChildIniter interface {
	ChildInit(rank int) error
}

// Destroyer is implemented by modules that hold resources.
//
// Destroy runs once at shutdown, in reverse module order, after the workers
// stopped. It must cope with a module whose ModInit or ChildInit failed or
// never ran (fields may be nil) and must not fail.
type Destroyer interface {
	Destroy()
}

// Ranks passed to ChildInit. Workers have ranks 1..N; extra processes that
// modules ask for have negative ranks below RankExtraBase.
const (
	// RankInit is the first ChildInit call, once, with the worker count known.
	RankInit = 0
	// RankMain is the second ChildInit call, once: extra processes start here.
	RankMain = -1
	// RankTimer is the rank of the core timer process.
	RankTimer = -2
	// RankExtraBase is the rank of the first extra process a module asks for;
	// the next ones are RankExtraBase-1, RankExtraBase-2 and so on.
	RankExtraBase = -10
)

// RankName returns a readable name for a rank, for logs.
func RankName(rank int) string {
	switch {
	case rank == RankInit:
		return "init"
	case rank == RankMain:
		return "main"
	case rank == RankTimer:
		return "timer"
	case rank > 0:
		return fmt.Sprintf("worker-%d", rank)
	default:
		return fmt.Sprintf("extra%d", rank)
	}
}

// ModuleInfo registers a module type.
type ModuleInfo struct {
	// Name is the module name, as in `KSR.<Name>` and in the config file.
	Name string
	// New returns a fresh instance for one engine.
	New func() Module
	// Order places the module in the standard set: the modules an engine
	// loads when its configuration names none, in increasing Order (ties
	// by name; "core" always first). Zero leaves the module out of the
	// standard set: it is loaded only when a configuration names it (test
	// modules, optional modules). The order travels with the registration,
	// so whatever set of modules a binary links (core/all, or an
	// embedder's own choice) has a known order without a central list that
	// imports them.
	Order int
}

var registry struct {
	sync.Mutex
	byName map[string]ModuleInfo
}

// Register adds a module type. Call it from the module package's init(). It
// panics on an empty name, a nil constructor or a duplicate name, so that the
// mistake shows at program start.
func Register(info ModuleInfo) {
	if info.Name == "" {
		panic("kemi: Register: module with empty name")
	}
	if info.New == nil {
		panic("kemi: Register: module " + info.Name + " has no constructor")
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = make(map[string]ModuleInfo)
	}
	if _, dup := registry.byName[info.Name]; dup {
		panic("kemi: Register: module " + info.Name + " registered twice")
	}
	registry.byName[info.Name] = info
}

// LookupModule returns the registered module type with that name.
func LookupModule(name string) (ModuleInfo, bool) {
	registry.Lock()
	defer registry.Unlock()
	info, ok := registry.byName[name]
	return info, ok
}

// RegisteredModules returns the names of all registered module types, sorted.
func RegisteredModules() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StandardModules returns the names of the registered modules of the
// standard set (Order > 0) in their order, "core" first.
func StandardModules() []string {
	registry.Lock()
	infos := make([]ModuleInfo, 0, len(registry.byName))
	for _, info := range registry.byName {
		if info.Order > 0 || info.Name == CoreModule {
			infos = append(infos, info)
		}
	}
	registry.Unlock()
	sort.Slice(infos, func(i, j int) bool {
		a, b := infos[i], infos[j]
		if (a.Name == CoreModule) != (b.Name == CoreModule) {
			return a.Name == CoreModule
		}
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Name < b.Name
	})
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = info.Name
	}
	return names
}

// CoreModule is the name of the module that fills the KSR table itself
// (KSR.pv, KSR.hdr, KSR.x): it is always loaded, first.
const CoreModule = "core"

// ReplyHook is implemented by modules (tm) that take the replies belonging
// to them. The engine calls OnReply after ksr_reply_route ran and did not
// drop the reply; it reports whether the module consumed the reply, so that
// it is not forwarded statelessly.
type ReplyHook interface {
	OnReply(m *Msg) bool
}

// RequestHook is implemented by modules that need to know when the request
// route of a message has ended, for example to release a transaction the
// script created but neither relayed nor answered.
type RequestHook interface {
	AfterRequestRoute(m *Msg)
}

// Drainer is implemented by modules that hold work in progress
// (transactions). While the engine drains before shutdown, it waits until
// every Drainer reports zero, or the grace period ends.
type Drainer interface {
	Live() int
}

// SendHook is implemented by modules that adjust a request just before it
// leaves for dst, once dst.Sock is known: rr adds the second Record-Route
// when the outbound socket differs from the inbound one. origin is the
// routed message req was built from.
type SendHook interface {
	BeforeSend(origin *Msg, req *sip.Request, dst *Dest)
}

// SendHookFilter is implemented by send hooks that can tell, cheaply,
// whether they have anything to do for a request routed as origin: when
// none has, a still lazy message is forwarded without being turned into
// sipgo's form (see Msg.Lazy). A SendHook without it always counts as
// having work.
type SendHookFilter interface {
	WantsSend(origin *Msg) bool
}
