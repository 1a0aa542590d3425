package htable

import (
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Values Kamailio's functions give back beyond 1 and -1.
var (
	// noIntVal is what sht_inc and sht_dec return when there is no integer
	// to change (KSR_HT_KEMI_NOINTVAL).
	noIntVal = kemi.Int(-255)
	// nullPrint is sht_getw's text for a missing item.
	nullPrint = kemi.Str("<null>")
)

// Exports returns KSR.htable.
func (mod *Module) Exports() []kemi.Export {
	S, I := kemi.ParamStr, kemi.ParamInt
	x := func(name string, params []kemi.ParamKind, fn kemi.Func) kemi.Export {
		return kemi.Export{Module: "htable", Name: name, Params: params, Return: kemi.ReturnInt, Func: fn}
	}
	get := func(name string, null kemi.Value) kemi.Export {
		return kemi.Export{Module: "htable", Name: name, Params: []kemi.ParamKind{S, S}, Return: kemi.ReturnXval,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
				t := mod.table(m, name, a.Str(0))
				if t == nil {
					return null
				}
				if v := t.read(m.Proc, a.Str(1)); !v.IsNull() {
					return v
				}
				return null
			}}
	}
	return []kemi.Export{
		get("sht_get", kemi.Null),
		get("sht_gete", kemi.Str("")),
		get("sht_getw", nullPrint),
		x("sht_sets", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.set(m, "sht_sets", a.Str(0), a.Str(1), kemi.Str(a.Str(2)), 0, kemi.OK)
		}),
		x("sht_seti", []kemi.ParamKind{S, S, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.set(m, "sht_seti", a.Str(0), a.Str(1), kemi.Int(a.Int(2)), 0, kemi.OK)
		}),
		x("sht_setxs", []kemi.ParamKind{S, S, S, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.set(m, "sht_setxs", a.Str(0), a.Str(1), kemi.Str(a.Str(2)), int64(a.Int(3)), kemi.OK)
		}),
		// Kamailio's sht_setxi gives 0 on success
		x("sht_setxi", []kemi.ParamKind{S, S, I, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.set(m, "sht_setxi", a.Str(0), a.Str(1), kemi.Int(a.Int(2)), int64(a.Int(3)), kemi.Int(0))
		}),
		x("sht_setex", []kemi.ParamKind{S, S, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			t := mod.table(m, "sht_setex", a.Str(0))
			if t == nil {
				return kemi.Fail
			}
			t.setExpire(m.Proc, a.Str(1), int64(a.Int(2)))
			return kemi.OK
		}),
		x("sht_inc", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.add(m, "sht_inc", a.Str(0), a.Str(1), 1)
		}),
		x("sht_dec", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.add(m, "sht_dec", a.Str(0), a.Str(1), -1)
		}),
		x("sht_is_null", []kemi.ParamKind{S, S}, mod.isNull),
		x("sht_rm", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			t := mod.table(m, "sht_rm", a.Str(0))
			if t == nil {
				return kemi.Fail
			}
			t.del(m.Proc, a.Str(1))
			return kemi.OK
		}),
		x("sht_rm_name_re", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.rmRegex(m, "sht_rm_name_re", a.Str(0), a.Str(1), false)
		}),
		x("sht_rm_value_re", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.rmRegex(m, "sht_rm_value_re", a.Str(0), a.Str(1), true)
		}),
		x("sht_rm_name", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.rmItems(m, "sht_rm_name", a.Str(0), a.Str(1), a.Str(2), false)
		}),
		x("sht_rm_value", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.rmItems(m, "sht_rm_value", a.Str(0), a.Str(1), a.Str(2), true)
		}),
		x("sht_match_name", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.match(m, "sht_match_name", a.Str(0), a.Str(1), a.Str(2), false)
		}),
		x("sht_match_str_value", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.match(m, "sht_match_str_value", a.Str(0), a.Str(1), a.Str(2), true)
		}),
		// Kamailio's sht_reset gives 0 on success
		x("sht_reset", []kemi.ParamKind{S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			t := mod.table(m, "sht_reset", a.Str(0))
			if t == nil {
				return kemi.Fail
			}
			t.each(m.Proc, func(string, *cell) (bool, bool) { return true, false })
			return kemi.Int(0)
		}),
		x("sht_lock", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			t := mod.table(m, "sht_lock", a.Str(0))
			if t == nil {
				return kemi.Fail
			}
			if !t.lock(m.Proc, a.Str(1)) {
				return kemi.Fail
			}
			return kemi.OK
		}),
		x("sht_unlock", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			t := mod.table(m, "sht_unlock", a.Str(0))
			if t == nil {
				return kemi.Fail
			}
			if !t.unlock(m.Proc, a.Str(1)) {
				// Kamailio releases whatever the slot holds; kemi leaves another
				// worker's lock alone and says so
				m.Errorf(mod.log, "htable: sht_unlock: slot of %q in %q is not locked by this worker", a.Str(1), a.Str(0))
			}
			return kemi.OK
		}),
		x("sht_iterator_start", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.iterStart(m, a.Str(0), a.Str(1))
		}),
		x("sht_iterator_next", []kemi.ParamKind{S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.iterNext(m, a.Str(0))
		}),
		x("sht_iterator_end", []kemi.ParamKind{S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.iterEnd(m, a.Str(0))
		}),
		x("sht_iterator_rm", []kemi.ParamKind{S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.iterRm(m, a.Str(0))
		}),
		x("sht_iterator_sets", []kemi.ParamKind{S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			v := kemi.Str(a.Str(1))
			return mod.iterSet(m, "sht_iterator_sets", a.Str(0), func(t *table, key string) { t.replace(m.Proc, key, v) })
		}),
		x("sht_iterator_seti", []kemi.ParamKind{S, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			n := kemi.Int(a.Int(1))
			return mod.iterSet(m, "sht_iterator_seti", a.Str(0), func(t *table, key string) { t.replace(m.Proc, key, n) })
		}),
		x("sht_iterator_setex", []kemi.ParamKind{S, I}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			sec := int64(a.Int(1))
			return mod.iterSet(m, "sht_iterator_setex", a.Str(0), func(t *table, key string) { t.expireIn(m.Proc, key, sec) })
		}),
		x("sht_cn", []kemi.ParamKind{S, S, S}, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return mod.countOp(m, a.Str(0), a.Str(1), a.Str(2))
		}),
	}
}

// set stores an item; ok is the success value (Kamailio's differ).
func (mod *Module) set(m *kemi.Msg, fn, tname, key string, v kemi.Value, exp int64, ok kemi.Value) kemi.Value {
	t := mod.table(m, fn, tname)
	if t == nil {
		return kemi.Fail
	}
	if !t.set(m.Proc, key, v, exp) {
		return kemi.Fail
	}
	return ok
}

// add is sht_inc and sht_dec: the new value, or -255 when there is no
// integer to change.
func (mod *Module) add(m *kemi.Msg, fn, tname, key string, d int64) kemi.Value {
	t := mod.table(m, fn, tname)
	if t == nil {
		return noIntVal
	}
	n, ok := t.add(m.Proc, key, d)
	if !ok {
		return noIntVal
	}
	return kemi.Int64(n)
}

// isNull is sht_is_null: 1 when the item is missing, -1 when it is there,
// -2 for a table with an initval (never null), 2 for an unknown table.
func (mod *Module) isNull(m *kemi.Msg, a kemi.Args) kemi.Value {
	t := mod.table(m, "sht_is_null", a.Str(0))
	switch {
	case t == nil:
		return kemi.Int(2)
	case t.hasInit:
		return kemi.Int(-2)
	case t.get(m.Proc, a.Str(1)) != nil:
		return kemi.Fail
	}
	return kemi.OK
}

// subject returns what a match looks at: the key, or the value of a
// string item; ok false for an integer item matched by value.
func subject(key string, c *cell, byValue bool) (string, bool) {
	if !byValue {
		return key, true
	}
	return c.str, c.isStr
}

// rmRegex is sht_rm_name_re and sht_rm_value_re. An unknown table gives 1,
// as in Kamailio.
func (mod *Module) rmRegex(m *kemi.Msg, fn, tname, expr string, byValue bool) kemi.Value {
	t := mod.table(m, fn, tname)
	if t == nil {
		return kemi.OK
	}
	re, err := kemi.CompileRegex(expr, kemi.RegexICase|kemi.RegexNewline)
	if err != nil || expr == "" {
		m.Errorf(mod.log, "htable: %s: bad re %q", fn, expr)
		return kemi.Fail
	}
	t.each(m.Proc, func(key string, c *cell) (bool, bool) {
		s, ok := subject(key, c, byValue)
		return ok && re.MatchString(s), false
	})
	return kemi.OK
}

// rmItems is sht_rm_name and sht_rm_value: op "re" (regular expression)
// or "sw" (starts with).
func (mod *Module) rmItems(m *kemi.Msg, fn, tname, op, val string, byValue bool) kemi.Value {
	t := mod.table(m, fn, tname)
	if t == nil {
		return kemi.Fail
	}
	switch op {
	case "re":
		return mod.rmRegex(m, fn, tname, val, byValue)
	case "sw":
		if val == "" {
			return kemi.Fail
		}
		t.each(m.Proc, func(key string, c *cell) (bool, bool) {
			s, ok := subject(key, c, byValue)
			return ok && strings.HasPrefix(s, val), false
		})
		return kemi.OK
	}
	m.Errorf(mod.log, "htable: %s: unsupported match operator: %s", fn, op)
	return kemi.Fail
}

// match is sht_match_name and sht_match_str_value: 1 when an item matches
// with op eq, ne, re or sw, else -1.
func (mod *Module) match(m *kemi.Msg, fn, tname, op, val string, byValue bool) kemi.Value {
	t := mod.table(m, fn, tname)
	if t == nil {
		return kemi.Fail
	}
	var test func(string) bool
	switch op {
	case "eq":
		test = func(s string) bool { return s == val }
	case "ne":
		test = func(s string) bool { return s != val }
	case "sw":
		test = func(s string) bool { return strings.HasPrefix(s, val) }
	case "re":
		re, err := kemi.CompileRegex(val, kemi.RegexICase|kemi.RegexNewline)
		if err != nil {
			m.Errorf(mod.log, "htable: %s: bad re %q", fn, val)
			return kemi.Fail
		}
		test = re.MatchString
	default:
		m.Errorf(mod.log, "htable: %s: unsupported match operator: %s", fn, op)
		return kemi.Fail
	}
	if val == "" {
		return kemi.Fail
	}
	found := false
	t.each(m.Proc, func(key string, c *cell) (bool, bool) {
		s, ok := subject(key, c, byValue)
		found = ok && test(s)
		return false, found
	})
	return kemi.IntBool(found)
}

// countOp is sht_cn(table, op, pattern): $shtcn with op ("~~" when
// empty) written before the pattern.
func (mod *Module) countOp(m *kemi.Msg, tname, op, pat string) kemi.Value {
	t := mod.table(m, "sht_cn", tname)
	if t == nil {
		return kemi.Fail
	}
	switch len(op) {
	case 0:
		op = "~~"
	case 2:
	default:
		m.Errorf(mod.log, "htable: sht_cn: invalid operator [%s]", op)
		return kemi.Fail
	}
	return kemi.Int(mod.countCells(m, t, op+pat, false))
}
