package kemi

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// LoadOptions say which modules LoadModules builds and what their Envs
// hold. The engine, kemitest and enginetest all load modules this way, so
// a module test runs the module as production does.
type LoadOptions struct {
	// Modules are the module names in load order, taken as given (see
	// EnabledModules for the order an engine uses).
	Modules []string
	// Params are the modules' parameters by module name. Parameters for a
	// module that is not loaded, and parameters no module read, are
	// errors.
	Params map[string]map[string]any
	// Defines are the -D names (kx.ifdef): every Env shares this map
	// (modules only read it); nil means none.
	Defines map[string]string
	// Workers is the number of workers (default 1).
	Workers int
	// DryRun is set by kemi check: ModInit validates and starts nothing.
	DryRun bool
	// Host is the engine, or a test's fake.
	Host Host
	// PVs, Services and Metrics are shared by every module; nil means new
	// ones.
	PVs      *PVTable
	Services *Services
	Metrics  *Metrics
	// Logger is the parent of every module's logger and of the script
	// logger; nil means slog.Default().
	Logger *slog.Logger
	// DBURL is the core db_url every Env gets (see Env.DBURL).
	DBURL string
}

// LoadedModule is one module instance of a ModuleSet.
type LoadedModule struct {
	// Name is the registered name.
	Name string
	// Module is the instance.
	Module Module
	// Env is what its ModInit got.
	Env *Env

	inited bool // Destroy is due: set when the module joins the set, cleared by Destroy
}

// ModuleSet is the modules of one engine (or one test), initialised in
// order, with their exports and the hooks they implement, in module
// order.
type ModuleSet struct {
	// Modules are the loaded modules in load order.
	Modules []*LoadedModule
	// Exports are the functions of every module, in module order.
	Exports []Export

	ReplyHooks   []ReplyHook
	RequestHooks []RequestHook
	Drainers     []Drainer
	SendHooks    []SendHook

	log *slog.Logger
}

// ConfigError is a mistake in the module configuration that LoadModules
// refuses: a module that is not registered or is listed twice, parameters
// for a module that is not loaded, a parameter that no module reads or
// whose value has the wrong type. It tells a configuration to fix apart
// from a module that failed to start: kemi's CLI exits with status 2 for
// it and names the config file.
type ConfigError struct {
	// Module is the module concerned.
	Module string
	// InParams is set when the mistake is in the module's parameters (a
	// config file's [Module] table), not in the list of modules.
	InParams bool
	// Msg says what is wrong.
	Msg string
}

// Error returns the message, after "config: module: " for a mistake in
// the parameters.
func (e *ConfigError) Error() string {
	if e.InParams {
		return "config: " + e.Module + ": " + e.Msg
	}
	return e.Msg
}

// EnabledModules returns the modules an engine loads for a configuration
// that names modules: "core" first, then names in order without repeats.
// Nil names means the standard set (StandardModules). "core" is listed
// even when it is not registered, so that loading fails with a message
// that says to link the modules.
func EnabledModules(names []string) []string {
	if names == nil {
		names = StandardModules()
	}
	out := []string{CoreModule}
	seen := map[string]bool{CoreModule: true}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// LoadModules looks the modules up in the registry, builds an instance and
// an Env for each, runs ModInit in order, checks every module's
// parameters, validates the exports (no function exported twice) and
// collects the hooks. On error every module whose ModInit ran is
// destroyed, in reverse order, and no set is returned.
func LoadModules(opts LoadOptions) (*ModuleSet, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PVs == nil {
		opts.PVs = NewPVTable()
	}
	if opts.Services == nil {
		opts.Services = NewServices()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Defines == nil {
		opts.Defines = map[string]string{}
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	s := &ModuleSet{log: opts.Logger.With("module", CoreModule)}
	if err := s.load(opts); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

func (s *ModuleSet) load(opts LoadOptions) error {
	enabled := map[string]bool{}
	for _, name := range opts.Modules {
		info, ok := LookupModule(name)
		if !ok {
			return &ConfigError{Module: name, Msg: fmt.Sprintf("unknown module %q%s", name, knownModules())}
		}
		if enabled[name] {
			return &ConfigError{Module: name, Msg: fmt.Sprintf("module %q listed twice", name)}
		}
		enabled[name] = true
		env := NewEnv(name, opts.Host, opts.PVs, opts.Services, opts.Metrics, NewParams(name, opts.Params[name]), opts.Logger)
		env.Workers = opts.Workers
		env.DryRun = opts.DryRun
		env.Defines = opts.Defines
		env.DBURL = opts.DBURL
		// Destroy is due from here on, even when ModInit fails
		lm := &LoadedModule{Name: name, Module: info.New(), Env: env, inited: true}
		s.Modules = append(s.Modules, lm)
		if mi, ok := lm.Module.(ModIniter); ok {
			if err := mi.ModInit(env); err != nil {
				return fmt.Errorf("module %s: mod_init: %w", name, err)
			}
		}
		if err := env.Params.Check(); err != nil {
			return err
		}
	}
	var unknown []string
	for name := range opts.Params {
		if !enabled[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		if _, known := LookupModule(name); known {
			return &ConfigError{Module: name, InParams: true, Msg: "parameters for a module that is not enabled (add it to modules)"}
		}
		return &ConfigError{Module: name, InParams: true, Msg: "parameters for an unknown module" + knownModules()}
	}
	seen := map[string]bool{}
	for _, lm := range s.Modules {
		for _, x := range lm.Module.Exports() {
			if err := x.Validate(); err != nil {
				return fmt.Errorf("module %s: %w", lm.Name, err)
			}
			key := x.LuaName()
			if seen[key] {
				return fmt.Errorf("module %s: %s exported twice", lm.Name, key)
			}
			seen[key] = true
			s.Exports = append(s.Exports, x)
		}
		if h, ok := lm.Module.(ReplyHook); ok {
			s.ReplyHooks = append(s.ReplyHooks, h)
		}
		if h, ok := lm.Module.(RequestHook); ok {
			s.RequestHooks = append(s.RequestHooks, h)
		}
		if d, ok := lm.Module.(Drainer); ok {
			s.Drainers = append(s.Drainers, d)
		}
		if h, ok := lm.Module.(SendHook); ok {
			s.SendHooks = append(s.SendHooks, h)
		}
	}
	return nil
}

// knownModules lists the registered modules for an error about an unknown
// one: " (known: a, b)", or what to import when none is.
func knownModules() string {
	known := RegisteredModules()
	if len(known) == 0 {
		return ": no module is registered (import github.com/kemisip/kemi/core/all, or the module packages you want)"
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// Module returns the instance of the named module, or nil.
func (s *ModuleSet) Module(name string) Module {
	for _, lm := range s.Modules {
		if lm.Name == name {
			return lm.Module
		}
	}
	return nil
}

// ChildInit runs ChildInit(rank) on every module, in order; the first
// error stops it.
func (s *ModuleSet) ChildInit(rank int) error {
	for _, lm := range s.Modules {
		if ci, ok := lm.Module.(ChildIniter); ok {
			if err := ci.ChildInit(rank); err != nil {
				return fmt.Errorf("module %s: child_init(%s): %w", lm.Name, RankName(rank), err)
			}
		}
	}
	return nil
}

// Destroy calls Destroy in reverse order on every module whose ModInit ran
// (even if it failed), once; a panic is logged and the next module is
// destroyed all the same. It may be called on a nil set.
func (s *ModuleSet) Destroy() {
	if s == nil {
		return
	}
	for i := len(s.Modules) - 1; i >= 0; i-- {
		lm := s.Modules[i]
		if !lm.inited {
			continue
		}
		lm.inited = false
		if d, ok := lm.Module.(Destroyer); ok {
			func() {
				defer func() {
					if r := recover(); r != nil {
						s.log.Error("module destroy panicked", "mod", lm.Name, "panic", r)
					}
				}()
				d.Destroy()
			}()
		}
	}
}
