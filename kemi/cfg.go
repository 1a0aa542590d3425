package kemi

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Parameters that may change while the server runs, as Kamailio's cfg
// framework has them: a module declares each at ModInit (Env.AddCfg) with
// Kamailio's group (the module's name, "core" for the engine) and
// variable name, and the cfg.get / cfg.set RPC methods read and set it.
// A value set takes effect for the next message (or timer) that reads it;
// nothing already running is changed.

// CfgVar is one parameter that may change at run time.
type CfgVar struct {
	// Group is Kamailio's cfg group: the module name ("tm"), "core" for
	// the engine's own. Env.AddCfg fills in the module name when empty.
	Group string
	// Name is the variable, as Kamailio names it ("fr_inv_timer").
	Name string
	// Doc is one line on what it is, with its unit, for cfg.help.
	Doc string
	// Str is set for a string variable; the others are integers.
	Str bool
	// Get returns the value in force: Value.Int for an integer variable,
	// Value.Str for a string one. It may be called from any goroutine.
	Get func() Value
	// Set checks v and puts it in force; an error refuses it and keeps the
	// old value. v has the variable's kind: an integer given for a string
	// variable arrives as its decimal text. It may be called from any
	// goroutine, while messages are routed.
	Set func(v Value) error
}

// Key returns "group.name", the variable's name in messages.
func (v CfgVar) Key() string { return v.Group + "." + v.Name }

// AddCfg declares a parameter that may change at run time. Call it at
// ModInit; a group and name declared twice fails the start.
func (e *Env) AddCfg(v CfgVar) {
	if v.Group == "" {
		v.Group = e.Module
	}
	e.cfgs = append(e.cfgs, v)
}

// CfgVars returns the parameters the module declared with AddCfg.
func (e *Env) CfgVars() []CfgVar {
	return e.cfgs
}

// CfgInt is an integer parameter that may change at run time: Load it
// where it is used, from any goroutine.
type CfgInt struct {
	v atomic.Int64
}

// Load returns the value in force.
func (c *CfgInt) Load() int64 { return c.v.Load() }

// Store puts n in force.
func (c *CfgInt) Store(n int64) { c.v.Store(n) }

// Var returns the CfgVar of c, which refuses values outside [lo, hi].
func (c *CfgInt) Var(group, name, doc string, lo, hi int64) CfgVar {
	return CfgVar{Group: group, Name: name, Doc: doc,
		Get: func() Value { return Int64(c.Load()) },
		Set: func(v Value) error {
			if v.Int < lo || v.Int > hi {
				return fmt.Errorf("%s must be between %d and %d (is %d)", name, lo, hi, v.Int)
			}
			c.Store(v.Int)
			return nil
		},
	}
}

// CfgDuration is a time parameter that may change at run time: Load it
// where it is used, from any goroutine.
type CfgDuration struct {
	ns atomic.Int64
}

// Load returns the value in force.
func (c *CfgDuration) Load() time.Duration { return time.Duration(c.ns.Load()) }

// Store puts d in force.
func (c *CfgDuration) Store(d time.Duration) { c.ns.Store(int64(d)) }

// Var returns the CfgVar of c, an integer count of unit (Kamailio's tm
// timers are in milliseconds, registrar's expires in seconds), which
// refuses values below min.
func (c *CfgDuration) Var(group, name, doc string, unit, min time.Duration) CfgVar {
	// the bounds are counts of unit, checked before multiplying: a count
	// far out of range would overflow into one that looks valid
	lo, hi := int64(min/unit), int64(time.Duration(1<<62)/unit)
	if time.Duration(lo)*unit < min {
		lo++
	}
	return CfgVar{Group: group, Name: name, Doc: doc,
		Get: func() Value { return Int64(int64(c.Load() / unit)) },
		Set: func(v Value) error {
			if v.Int < lo || v.Int > hi {
				return fmt.Errorf("%s must be between %d and %d (is %d)", name, lo, hi, v.Int)
			}
			c.Store(time.Duration(v.Int) * unit)
			return nil
		},
	}
}

// CfgValue converts text given for v (an RPC parameter) to v's kind: a
// string variable takes it as it is, an integer variable needs decimal
// digits.
func CfgValue(v CfgVar, text string) (Value, error) {
	if v.Str {
		return Str(text), nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return Null, fmt.Errorf("%s is an integer variable, %q is not an integer", v.Key(), text)
	}
	return Int64(n), nil
}
