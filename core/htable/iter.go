package htable

import (
	"sort"

	"github.com/kemisip/kemi/kemi"
)

// Kamailio's bounds on iterators: four per process, names under 32 bytes.
const (
	maxIterators   = 4
	maxIteratorLen = 32
)

// iterator walks a table. Kamailio's holds the slot lock between calls;
// kemi's walks the keys present when the walk began (or began again), so
// that a script that forgets sht_iterator_end blocks no other worker.
type iterator struct {
	name    string
	t       *table
	keys    []string
	pos     int
	started bool // keys were taken
	cur     string
	valid   bool // cur is an item
}

// iterators are one worker's iterators.
type iterators struct{ list []*iterator }

// find returns the worker's iterator name, or nil.
func (its *iterators) find(name string) *iterator {
	for _, it := range its.list {
		if it.name == name {
			return it
		}
	}
	return nil
}

// itersOf returns proc's iterators.
func (mod *Module) itersOf(proc *kemi.Proc) *iterators {
	mod.iterMu.Lock()
	defer mod.iterMu.Unlock()
	its := mod.iters[proc]
	if its == nil {
		its = &iterators{}
		mod.iters[proc] = its
	}
	return its
}

// iterStart is sht_iterator_start.
func (mod *Module) iterStart(m *kemi.Msg, iname, tname string) kemi.Value {
	if iname == "" || tname == "" {
		m.Errorf(mod.log, "htable: sht_iterator_start: empty iterator or table name")
		return kemi.Fail
	}
	its := mod.itersOf(m.Proc)
	it := its.find(iname)
	if it == nil {
		if len(its.list) >= maxIterators {
			m.Errorf(mod.log, "htable: sht_iterator_start: no iterator available - max number is %d", maxIterators)
			return kemi.Fail
		}
		if len(iname) >= maxIteratorLen {
			m.Errorf(mod.log, "htable: sht_iterator_start: iterator name is too big [%s] (max %d)", iname, maxIteratorLen)
			return kemi.Fail
		}
		it = &iterator{name: iname}
		its.list = append(its.list, it)
	}
	*it = iterator{name: iname}
	it.t = mod.table(m, "sht_iterator_start", tname)
	if it.t == nil {
		return kemi.Fail
	}
	return kemi.OK
}

// iterFind returns the started iterator or logs why not.
func (mod *Module) iterFind(m *kemi.Msg, fn, iname string, needItem bool) *iterator {
	it := mod.itersOf(m.Proc).find(iname)
	switch {
	case it == nil:
		m.Errorf(mod.log, "htable: %s: iterator not found [%s]", fn, iname)
	case it.t == nil:
		m.Errorf(mod.log, "htable: %s: iterator not initialized [%s]", fn, iname)
	case needItem && !it.valid:
		m.Errorf(mod.log, "htable: %s: iterator not used [%s]", fn, iname)
	default:
		return it
	}
	return nil
}

// advance moves it to the next key still in the table; false at the end.
func (it *iterator) advance(proc *kemi.Proc) bool {
	if !it.started {
		// after the end Kamailio's iterator starts over; so does this one
		it.keys, it.pos, it.started = nil, -1, true
		it.t.each(proc, func(key string, _ *cell) (bool, bool) {
			it.keys = append(it.keys, key)
			return false, false
		})
		sort.Strings(it.keys)
	}
	for it.pos++; it.pos < len(it.keys); it.pos++ {
		if it.t.get(proc, it.keys[it.pos]) != nil {
			it.cur, it.valid = it.keys[it.pos], true
			return true
		}
	}
	it.keys, it.cur, it.valid, it.started = nil, "", false, false
	return false
}

// iterNext is sht_iterator_next.
func (mod *Module) iterNext(m *kemi.Msg, iname string) kemi.Value {
	it := mod.iterFind(m, "sht_iterator_next", iname, false)
	if it == nil || !it.advance(m.Proc) {
		return kemi.Fail
	}
	return kemi.OK
}

// iterEnd is sht_iterator_end: the iterator is freed.
func (mod *Module) iterEnd(m *kemi.Msg, iname string) kemi.Value {
	its := mod.itersOf(m.Proc)
	for i, it := range its.list {
		if it.name == iname {
			its.list = append(its.list[:i], its.list[i+1:]...)
			return kemi.OK
		}
	}
	m.Errorf(mod.log, "htable: sht_iterator_end: iterator not found [%s]", iname)
	return kemi.Fail
}

// iterRm is sht_iterator_rm: the current item goes and the iterator moves
// on; -2 when there is no item after it.
func (mod *Module) iterRm(m *kemi.Msg, iname string) kemi.Value {
	it := mod.iterFind(m, "sht_iterator_rm", iname, true)
	if it == nil {
		return kemi.Fail
	}
	it.t.del(m.Proc, it.cur)
	if !it.advance(m.Proc) {
		return kemi.Int(-2)
	}
	return kemi.OK
}

// iterSet changes the current item with change (if it is still there).
func (mod *Module) iterSet(m *kemi.Msg, fn, iname string, change func(t *table, key string)) kemi.Value {
	it := mod.iterFind(m, fn, iname, true)
	if it == nil {
		return kemi.Fail
	}
	change(it.t, it.cur)
	return kemi.OK
}

// iterCurrent returns the iterator's current key and item, for
// $shtitkey and $shtitval.
func (mod *Module) iterCurrent(m *kemi.Msg, iname string) (string, *cell) {
	mod.iterMu.Lock()
	its := mod.iters[m.Proc]
	mod.iterMu.Unlock()
	if its == nil {
		return "", nil
	}
	it := its.find(iname)
	if it == nil || !it.valid {
		return "", nil
	}
	c := it.t.get(m.Proc, it.cur)
	if c == nil {
		return "", nil
	}
	return it.cur, c
}
