package ksr

import (
	"fmt"

	"github.com/kemisip/kemi/kemi"
)

// registerPVs declares the core pseudo-variables: message attributes,
// flags, $var, $avp, $xavp, branches, send and time values. Pseudo-variables of
// other modules ($T_*, $sht, ...) are registered by those modules.
func registerPVs(t *kemi.PVTable, mod *Module) error {
	var classes []kemi.PVClass
	classes = append(classes, ruriPVs()...)
	classes = append(classes, fromToPVs()...)
	classes = append(classes, msgPVs()...)
	classes = append(classes, netPVs(mod)...)
	classes = append(classes, flagPVs()...)
	classes = append(classes, varPVs()...)
	classes = append(classes, xavpPV())
	classes = append(classes, branchPVs()...)
	classes = append(classes, miscPVs()...)
	for _, c := range classes {
		if err := t.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// getter reads a pseudo-variable that cannot fail.
type getter func(m *kemi.Msg) kemi.Value

// setter writes a pseudo-variable; a Null value means unset.
type setter func(m *kemi.Msg, v kemi.Value) error

// ro declares a read-only pseudo-variable without a parameter.
func ro(name string, get getter) kemi.PVClass {
	return kemi.PVClass{Name: name, Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
		return get(m), nil
	}}
}

// rw declares a writable pseudo-variable without a parameter.
func rw(name string, get getter, set setter) kemi.PVClass {
	c := ro(name, get)
	c.Set = func(m *kemi.Msg, _ *kemi.PVName, v kemi.Value) error { return set(m, v) }
	return c
}

// withParam declares a read-only pseudo-variable that takes a (name).
func withParam(name string, get func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error)) kemi.PVClass {
	return kemi.PVClass{Name: name, Param: true, Get: get}
}

// strOrNull returns s, or Null when it is empty.
func strOrNull(s string) kemi.Value {
	if s == "" {
		return kemi.Null
	}
	return kemi.Str(s)
}

// noUnset refuses a Null value for pseudo-variables that cannot be unset.
func noUnset(name string, set func(m *kemi.Msg, s string) error) setter {
	return func(m *kemi.Msg, v kemi.Value) error {
		if v.IsNull() {
			return fmt.Errorf("$%s cannot be unset", name)
		}
		return set(m, v.String())
	}
}

// unsetEmpty treats a Null value as "" (the part is removed).
func unsetEmpty(set func(m *kemi.Msg, s string) error) setter {
	return func(m *kemi.Msg, v kemi.Value) error { return set(m, v.String()) }
}

// badParam is the error for an unknown $name(param).
func badParam(p *kemi.PVName) error {
	return fmt.Errorf("unknown pseudo-variable %s", p.Text)
}
