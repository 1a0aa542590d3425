package ksr

import (
	"fmt"

	"github.com/kemisip/kemi/kemi"
)

// registerPVs declares the core pseudo-variables.
func registerPVs(t *kemi.PVTable, mod *Module) error {
	classes := []kemi.PVClass{
		{Name: "ru", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if m.Req == nil {
				return kemi.Null, nil
			}
			return kemi.Str(m.RURI()), nil
		}, Set: func(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
			if v.IsNull() {
				return fmt.Errorf("$ru cannot be unset")
			}
			return m.SetRURI(v.String())
		}},
		{Name: "rm", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			return kemi.Str(m.Method()), nil
		}},
		{Name: "si", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if !m.Src.IsValid() {
				return kemi.Null, nil
			}
			return kemi.Str(m.Src.Addr().String()), nil
		}},
		{Name: "sp", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if !m.Src.IsValid() {
				return kemi.Null, nil
			}
			return kemi.Int(int(m.Src.Port())), nil
		}},
		{Name: "du", Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if m.DstURI == "" {
				return kemi.Null, nil
			}
			return kemi.Str(m.DstURI), nil
		}, Set: func(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
			m.DstURI = v.String()
			return nil
		}},
		{Name: "var", Param: true, Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if m.Proc == nil {
				return kemi.Null, nil
			}
			return m.Proc.Vars[p.Key(m)], nil
		}, Set: func(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
			if m.Proc == nil {
				return fmt.Errorf("no process state")
			}
			if v.IsNull() {
				// $var cannot hold null: unset makes it 0, as in Kamailio
				v = kemi.Int(0)
			}
			m.Proc.Vars[p.Key(m)] = v
			return nil
		}},
	}
	for _, c := range classes {
		if err := t.Register(c); err != nil {
			return err
		}
	}
	return nil
}
