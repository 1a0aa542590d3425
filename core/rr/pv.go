package rr

import (
	"fmt"

	"github.com/kemisip/kemi/kemi"
)

// registerPVs declares rr's pseudo-variables: $route_uri, $fti, $tti and
// $rdir(id|name).
func (mod *Module) registerPVs(t *kemi.PVTable) error {
	classes := []kemi.PVClass{
		{Name: "route_uri", Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
			if r := topRoute(m); r != nil {
				return kemi.Str(r.Address.String()), nil
			}
			return kemi.Null, nil
		}},
		{Name: "fti", Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
			return mod.initialTag(m, true), nil
		}},
		{Name: "tti", Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
			return mod.initialTag(m, false), nil
		}},
		{Name: "rdir", Param: true, Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			up := mod.upstream(m)
			switch p.Param {
			case "id":
				if up {
					return kemi.Int(2), nil
				}
				return kemi.Int(1), nil
			case "name":
				if up {
					return kemi.Str("upstream"), nil
				}
				return kemi.Str("downstream"), nil
			}
			return kemi.Null, fmt.Errorf("$rdir(%s): want id or name", p.Param)
		}},
	}
	for _, c := range classes {
		if err := t.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// initialTag is the From tag (from) or To tag of the request that created
// the dialog: for an upstream request they are swapped.
func (mod *Module) initialTag(m *kemi.Msg, from bool) kemi.Value {
	if !m.IsRequest() {
		return kemi.Null
	}
	if mod.upstream(m) {
		from = !from
	}
	part := m.ToPart
	if from {
		part = m.FromPart
	}
	if tag, _ := part(kemi.PartTag); tag != "" {
		return kemi.Str(tag)
	}
	return kemi.Null
}
