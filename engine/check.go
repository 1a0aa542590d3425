package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// Problem is one finding of Check, at a script position.
type Problem struct {
	// Pos is "file:line".
	Pos string
	Msg string
}

func (p Problem) String() string { return p.Pos + ": " + p.Msg }

// CheckReport is what Check found in a script that loads.
type CheckReport struct {
	Script string
	// Problems are functions kemi lacks, route names the script does not
	// define, KSR functions called at the top level (where there is no
	// SIP message) and, without allow_unsafe_lua, uses of the functions
	// the sandbox refuses.
	Problems []Problem
	// Info are findings that are not problems: the unsafe functions the
	// script uses when allow_unsafe_lua allows them, and uses of modules
	// kemi lacks that the script tests for first (`if not KSR.nathelper
	// then return 1 end`, `if KSR.permissions and ...`).
	Info []Problem
	// Functions are the global functions the script defines.
	Functions []string
}

// Check runs the real start-up path without binding anything: every
// module's ModInit in dry-run mode, the script compiled and its top level
// run in a fresh Lua state. A script that cannot start is an error
// (file:line in the message); what would fail later, at run time, is
// listed as problems: KSR functions kemi lacks, literal route names
// (t_on_failure("x"), KSR.route("x")) that the script does not define, KSR
// functions the top level called (they fail there, as in Kamailio), and
// uses of functions that need allow_unsafe_lua when it is off (Info lists
// them when it is on).
func Check(cfg Config) (*CheckReport, error) {
	e := newEngine(cfg.withDefaults())
	defer e.destroyModules()
	if err := e.initModules(true); err != nil {
		return nil, err
	}
	if err := e.initRPC(); err != nil { // two modules offering one method
		return nil, err
	}
	if _, err := e.loadTLSState(); err != nil { // certificates as run reads them
		return nil, err
	}
	script, err := e.compile()
	if err != nil {
		return nil, err
	}
	st, err := e.newState(script)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	an, err := luaext.Analyze(script)
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Script: script.Name, Functions: st.Functions()}
	have := map[string]bool{}
	for _, name := range luaext.Builtins() {
		have[name] = true
	}
	// the KSR tables: those the exports fill, and every enabled module
	enabled := map[string]bool{"": true, "x": true}
	for _, x := range e.exports {
		have[x.LuaName()] = true
		enabled[x.Module] = true
	}
	for _, mi := range e.mods {
		enabled[mi.Name] = true
	}
	isEnabled := func(module string) bool { return enabled[module] }
	pos := func(line int) string { return fmt.Sprintf("%s:%d", script.Name, line) }
	seen := map[string]bool{}
	for _, r := range an.Refs {
		name := "KSR." + r.Name
		if r.Module != "" {
			name = "KSR." + r.Module + "." + r.Name
		}
		if have[name] {
			continue
		}
		key := fmt.Sprintf("%s@%d", name, r.Line)
		if seen[key] {
			continue
		}
		seen[key] = true
		why, aboutModule := luaext.WhyMissing(catalog{}, isEnabled, r.Module, r.Name)
		if aboutModule {
			why = name + ": " + why
		}
		// a guard protects from a missing module, not from a missing
		// function of a module that is there
		if r.Guarded && aboutModule {
			rep.Info = append(rep.Info, Problem{Pos: pos(r.Line),
				Msg: why + " (the script tests for KSR." + guardName(r) + " first: the call is skipped)"})
			continue
		}
		// after `if not KSR.rtpproxy then return 1 end` a call to another
		// missing module cannot run either when rtpproxy is missing too
		if aboutModule && len(r.Requires) > 0 && !slices.ContainsFunc(r.Requires, isEnabled) {
			rep.Info = append(rep.Info, Problem{Pos: pos(r.Line),
				Msg: why + " (reached only when KSR." + strings.Join(r.Requires, " or KSR.") + " is there, and it is not: the call is skipped)"})
			continue
		}
		rep.Problems = append(rep.Problems, Problem{Pos: pos(r.Line), Msg: why})
	}
	defined := map[string]bool{}
	for _, f := range rep.Functions {
		defined[f] = true
	}
	for f := range an.Defined {
		defined[f] = true
	}
	for _, r := range an.RouteRefs {
		if !defined[r.Route] {
			rep.Problems = append(rep.Problems, Problem{Pos: pos(r.Line),
				Msg: fmt.Sprintf("%s(%q): the script defines no function %s", r.Via, r.Route, r.Route)})
		}
	}
	for _, c := range st.TopLevelCalls() {
		where := c.Where
		if where == "" {
			where = script.Name
		}
		rep.Problems = append(rep.Problems, Problem{Pos: where,
			Msg: c.Func + " is called at the script's top level, where there is no SIP message: it fails there (as in Kamailio); call it from a route"})
	}
	for _, u := range an.Unsafe {
		if e.cfg.AllowUnsafeLua {
			rep.Info = append(rep.Info, Problem{Pos: pos(u.Line), Msg: u.Name + " is allowed by allow_unsafe_lua"})
		} else {
			rep.Problems = append(rep.Problems, Problem{Pos: pos(u.Line), Msg: u.Name + " needs allow_unsafe_lua"})
		}
	}
	sort.SliceStable(rep.Problems, func(i, j int) bool { return lineOf(rep.Problems[i].Pos) < lineOf(rep.Problems[j].Pos) })
	sort.SliceStable(rep.Info, func(i, j int) bool { return lineOf(rep.Info[i].Pos) < lineOf(rep.Info[j].Pos) })
	return rep, nil
}

// guardName is the module a guarded reference depends on.
func guardName(r luaext.Ref) string {
	if r.Module == "" {
		return r.Name
	}
	return r.Module
}

func lineOf(pos string) int {
	i := strings.LastIndexByte(pos, ':')
	n := 0
	fmt.Sscanf(pos[i+1:], "%d", &n)
	return n
}

// Exports lists the functions the enabled modules of cfg export, after a
// dry-run ModInit; nothing is started.
func Exports(cfg Config) ([]kemi.Export, error) {
	e := newEngine(cfg.withDefaults())
	defer e.destroyModules()
	if err := e.initModules(true); err != nil {
		return nil, err
	}
	return e.exports, nil
}
