package htable

import (
	"fmt"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// registerPVs declares $sht(t=>k), $shtex(t=>k), $shtcn(t=>expr),
// $shtcv(t=>expr), $shtinc(t=>k), $shtdec(t=>k), $shtitkey(it),
// $shtitval(it) and $shtrecord(key|value).
func registerPVs(pvs *kemi.PVTable, mod *Module) error {
	// keyed reads a "table=>key" name; a table not defined reads as Null,
	// as Kamailio's $sht does
	keyed := func(get func(m *kemi.Msg, t *table, key string) kemi.Value) func(*kemi.Msg, *kemi.PVName) (kemi.Value, error) {
		return func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			t, key, err := mod.pvTable(m, p)
			if err != nil || t == nil {
				return kemi.Null, err
			}
			return get(m, t, key), nil
		}
	}
	classes := []kemi.PVClass{
		{Name: "sht", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, key string) kemi.Value { return t.read(m.Proc, key) }),
			Set: func(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
				t, key, err := mod.pvTableSet(m, p)
				if err != nil {
					return err
				}
				if v.IsNull() {
					t.del(m.Proc, key)
					return nil
				}
				if !t.set(m.Proc, key, v, 0) {
					return fmt.Errorf("$sht(%s): not stored", p.Param)
				}
				return nil
			}},
		{Name: "shtex", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, key string) kemi.Value { return kemi.Int64(t.expiresIn(m.Proc, key)) }),
			Set: func(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
				t, key, err := mod.pvTableSet(m, p)
				if err != nil {
					return err
				}
				var sec int64 // not an integer: never expires, as Kamailio
				if v.Kind == kemi.KindInt {
					sec = v.Int
				}
				t.setExpire(m.Proc, key, sec)
				return nil
			}},
		{Name: "shtcn", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, expr string) kemi.Value {
				return kemi.Int(mod.countCells(m, t, expr, false))
			})},
		{Name: "shtcv", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, expr string) kemi.Value { return kemi.Int(mod.countCells(m, t, expr, true)) })},
		{Name: "shtinc", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, key string) kemi.Value { return addPV(m, t, key, 1) })},
		{Name: "shtdec", Param: true,
			Get: keyed(func(m *kemi.Msg, t *table, key string) kemi.Value { return addPV(m, t, key, -1) })},
		{Name: "shtitkey", Param: true,
			Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
				if key, c := mod.iterCurrent(m, p.Key(m)); c != nil {
					return kemi.Str(key), nil
				}
				return kemi.Null, nil
			}},
		{Name: "shtitval", Param: true,
			Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
				if _, c := mod.iterCurrent(m, p.Key(m)); c != nil {
					return c.value(), nil
				}
				return kemi.Null, nil
			}},
		{Name: "shtrecord", Param: true,
			Get: func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
				attr := p.Key(m)
				if attr != "key" && attr != "value" {
					return kemi.Null, fmt.Errorf("invalid pv name $shtrecord(%s): want key or value", p.Param)
				}
				it := mod.expiredOf(m.Proc)
				switch {
				case it == nil:
					return kemi.Null, nil
				case attr == "key":
					return kemi.Str(it.key), nil
				}
				return it.cell.value(), nil
			}},
	}
	for _, c := range classes {
		if err := pvs.Register(c); err != nil {
			return fmt.Errorf("htable: %w", err)
		}
	}
	return nil
}

// addPV is $shtinc and $shtdec: the new value, Null when there is no
// integer to change.
func addPV(m *kemi.Msg, t *table, key string, d int64) kemi.Value {
	if n, ok := t.add(m.Proc, key, d); ok {
		return kemi.Int64(n)
	}
	return kemi.Null
}

// pvTable splits a "table=>key" name; the table is nil when not defined.
func (mod *Module) pvTable(m *kemi.Msg, p *kemi.PVName) (*table, string, error) {
	name, key, ok := strings.Cut(p.Key(m), "=>")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return nil, "", fmt.Errorf("invalid pv name $%s(%s): want table=>key", p.Class.Name, p.Param)
	}
	return mod.tables[name], key, nil
}

// pvTableSet is pvTable for an assignment, which fails on a table not
// defined.
func (mod *Module) pvTableSet(m *kemi.Msg, p *kemi.PVName) (*table, string, error) {
	t, key, err := mod.pvTable(m, p)
	if err == nil && t == nil {
		name, _, _ := strings.Cut(p.Key(m), "=>")
		err = fmt.Errorf("$%s(%s): no hash table %q", p.Class.Name, p.Param, strings.TrimSpace(name))
	}
	return t, key, err
}
