package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// The cfg.* RPC methods of Kamailio's cfg_rpc module, over the parameters
// that may change at run time: the core's (below) and those the modules
// declared at ModInit (kemi.Env.AddCfg). There is no delayed set, commit
// or group instance: a value set is in force at once, as cfg.set_now
// does in Kamailio.

// Kamailio's cfg_rpc error texts (its faults have code 400).
const (
	cfgErrGet  = "Failed to get the variable"
	cfgErrSet  = "Failed to set the variable"
	cfgErrHelp = "Failed to get the variable description"
	cfgErrCode = 400
)

// cfgTable holds the run-time parameters of one engine by group and name.
type cfgTable struct {
	vars map[string]kemi.CfgVar // by Key
	keys []string               // sorted by group then name
	log  *slog.Logger
}

// newCfgTable collects core and module parameters; a group and name
// declared twice is an error naming both owners.
func newCfgTable(core []kemi.CfgVar, mods []*kemi.LoadedModule, log *slog.Logger) (*cfgTable, error) {
	t := &cfgTable{vars: map[string]kemi.CfgVar{}, log: log}
	owner := map[string]string{}
	add := func(who string, v kemi.CfgVar) error {
		if v.Group == "" || v.Name == "" || v.Get == nil || v.Set == nil {
			return fmt.Errorf("engine: cfg: %s declares a variable without a group, a name, Get or Set", who)
		}
		k := v.Key()
		if prev, dup := owner[k]; dup {
			return fmt.Errorf("engine: cfg: variable %s declared by %s and by %s", k, prev, who)
		}
		owner[k] = who
		t.vars[k] = v
		t.keys = append(t.keys, k)
		return nil
	}
	for _, v := range core {
		if err := add("core", v); err != nil {
			return nil, err
		}
	}
	for _, lm := range mods {
		for _, v := range lm.Env.CfgVars() {
			if err := add("module "+lm.Name, v); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(t.keys, func(i, j int) bool {
		a, b := t.vars[t.keys[i]], t.vars[t.keys[j]]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Name < b.Name
	})
	return t, nil
}

// lookup returns the variable named by parameters 0 (group) and 1 (name).
func (t *cfgTable) lookup(p kemi.RPCParams, notFound string) (kemi.CfgVar, error) {
	group, err := p.Str(0)
	if err != nil {
		return kemi.CfgVar{}, err
	}
	name, err := p.Str(1)
	if err != nil {
		return kemi.CfgVar{}, err
	}
	v, ok := t.vars[group+"."+name]
	if !ok {
		return v, &kemi.RPCError{Code: cfgErrCode, Message: fmt.Sprintf("%s: no variable %s in group %s (cfg.list lists them)", notFound, name, group)}
	}
	return v, nil
}

// methods are the cfg.* RPC methods.
func (t *cfgTable) methods() []kemi.RPCMethod {
	return []kemi.RPCMethod{
		{Name: "cfg.get", Doc: "Get the value of a run-time parameter: GROUP VAR; with GROUP alone, every parameter of the group.", Handler: t.get},
		{Name: "cfg.set", Doc: "Set a run-time parameter and put it in force at once: GROUP VAR VALUE (an integer or a string).", Handler: t.setAny},
		{Name: "cfg.seti", Doc: "Set a run-time parameter to an integer: GROUP VAR INT.", Handler: t.setInt},
		{Name: "cfg.set_now_int", Doc: "As cfg.seti: GROUP VAR INT.", Handler: t.setInt},
		{Name: "cfg.sets", Doc: "Set a run-time parameter from a string: GROUP VAR STRING.", Handler: t.setAny},
		{Name: "cfg.set_now_string", Doc: "As cfg.sets: GROUP VAR STRING.", Handler: t.setAny},
		{Name: "cfg.list", Doc: "List the run-time parameters, as \"group: var\": [GROUP].", Handler: t.list},
		{Name: "cfg.help", Doc: "Describe a run-time parameter: GROUP VAR.", Handler: t.help},
	}
}

// value is v's value as JSON encodes it: a number or a string.
func value(v kemi.CfgVar) any {
	val := v.Get()
	if v.Str {
		return val.Str
	}
	return val.Int
}

func (t *cfgTable) get(_ context.Context, p kemi.RPCParams) (any, error) {
	if p.Len() == 1 {
		group, err := p.Str(0)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, k := range t.keys {
			if v := t.vars[k]; v.Group == group {
				out[v.Name] = value(v)
			}
		}
		return out, nil
	}
	v, err := t.lookup(p, cfgErrGet)
	if err != nil {
		return nil, err
	}
	return value(v), nil
}

// setAny is cfg.set and cfg.sets: the value is taken as the variable
// wants it, so "5000" sets an integer and 5000 a string's text.
func (t *cfgTable) setAny(_ context.Context, p kemi.RPCParams) (any, error) {
	v, err := t.lookup(p, cfgErrSet)
	if err != nil {
		return nil, err
	}
	text, err := p.Str(2)
	if err != nil {
		return nil, err
	}
	return nil, t.set(v, text)
}

// setInt is cfg.seti: the value must be an integer.
func (t *cfgTable) setInt(ctx context.Context, p kemi.RPCParams) (any, error) {
	if _, err := p.Int(2); err != nil {
		return nil, err
	}
	return t.setAny(ctx, p)
}

// set converts text to v's kind and sets it, logging the change.
func (t *cfgTable) set(v kemi.CfgVar, text string) error {
	val, err := kemi.CfgValue(v, text)
	if err == nil {
		old := value(v)
		if err = v.Set(val); err == nil {
			t.log.Info("cfg: run-time parameter set", "group", v.Group, "var", v.Name, "value", value(v), "was", old)
			return nil
		}
	}
	return &kemi.RPCError{Code: cfgErrCode, Message: cfgErrSet + ": " + err.Error()}
}

func (t *cfgTable) list(_ context.Context, p kemi.RPCParams) (any, error) {
	group := ""
	if p.Len() > 0 {
		var err error
		if group, err = p.Str(0); err != nil {
			return nil, err
		}
	}
	out := []string{}
	for _, k := range t.keys {
		if v := t.vars[k]; group == "" || v.Group == group {
			out = append(out, v.Group+": "+v.Name)
		}
	}
	return out, nil
}

func (t *cfgTable) help(_ context.Context, p kemi.RPCParams) (any, error) {
	v, err := t.lookup(p, cfgErrHelp)
	if err != nil {
		return nil, err
	}
	kind := "integer"
	if v.Str {
		kind = "string"
	}
	return map[string]string{"desc": v.Doc, "type": kind}, nil
}

// coreCfgVars are the core's run-time parameters, under Kamailio's core
// group names: trace, debug and the latency limits (in microseconds, as
// Kamailio's).
func (e *Engine) coreCfgVars() []kemi.CfgVar {
	usec := func(name, doc string, load func() time.Duration, store func(time.Duration)) kemi.CfgVar {
		return kemi.CfgVar{Group: "core", Name: name, Doc: doc,
			Get: func() kemi.Value { return kemi.Int64(int64(load() / time.Microsecond)) },
			Set: func(v kemi.Value) error {
				if v.Int < 0 || v.Int > int64(time.Hour/time.Microsecond) {
					return fmt.Errorf("%s must be between 0 (off) and %d microseconds (is %d)", name, int64(time.Hour/time.Microsecond), v.Int)
				}
				store(time.Duration(v.Int) * time.Microsecond)
				return nil
			}}
	}
	return []kemi.CfgVar{
		{Group: "core", Name: "trace", Doc: "1 logs every KSR call of every route with file:line, arguments, result and time; 0 does not.",
			Get: func() kemi.Value {
				if e.Tracing() {
					return kemi.Int(1)
				}
				return kemi.Int(0)
			},
			Set: func(v kemi.Value) error {
				if v.Int != 0 && v.Int != 1 {
					return fmt.Errorf("trace must be 0 or 1 (is %d)", v.Int)
				}
				e.SetTrace(v.Int == 1)
				return nil
			}},
		{Group: "core", Name: "debug", Doc: "Log level, in Kamailio's numbers: -5 alert ... 0 warning, 1 notice, 2 info, 3 debug.",
			Get: func() kemi.Value { return kemi.Int(int(kemi.LogLevelOf(e.LogLevel()))) },
			Set: func(v kemi.Value) error {
				if v.Int < int64(kemi.LogAlert) || v.Int > int64(kemi.LogDbg) {
					return fmt.Errorf("debug must be between %d and %d (is %d)", kemi.LogAlert, kemi.LogDbg, v.Int)
				}
				lv := e.cfg.LogLevelVar
				if lv == nil {
					return fmt.Errorf("debug cannot change: the engine's logger has a fixed level (Config.LogLevelVar)")
				}
				lv.Set(kemi.LogLevel(v.Int).Slog())
				return nil
			}},
		usec("latency_limit_action", "Log a KSR call that takes this long or longer, in microseconds; 0 is off.",
			func() time.Duration { return time.Duration(e.tr.action.Load()) },
			func(d time.Duration) { e.setLatencyLimits(d, -1) }),
		usec("latency_limit_cfg", "Log a route run that takes this long or longer, with its slowest KSR call, in microseconds; 0 is off.",
			func() time.Duration { return time.Duration(e.tr.route.Load()) },
			func(d time.Duration) { e.setLatencyLimits(-1, d) }),
	}
}

// initCfg builds the engine's table of run-time parameters and returns
// its RPC methods.
func (e *Engine) initCfg() ([]kemi.RPCMethod, error) {
	t, err := newCfgTable(e.coreCfgVars(), e.mods, e.log)
	if err != nil {
		return nil, err
	}
	return t.methods(), nil
}
