package kemi

import (
	"fmt"
	"slices"
)

// XAVP is one extended attribute-value pair ($xavp): a name and either a
// plain value or a list of named fields, as Kamailio's sr_xavp_t. An XAVP
// is never changed once it is in a list: changes build new ones, so that
// cloning a list (for a transaction) copies only its top level.
type XAVP struct {
	name   string
	val    Value
	fields []*XAVP // newest first; used when list
	list   bool
}

// NewXAVP returns an XAVP holding a plain value.
func NewXAVP(name string, v Value) *XAVP {
	return &XAVP{name: name, val: v}
}

// NewXAVPList returns an XAVP whose value is a list of fields, given
// newest first (fields[0] is what $xavp(name=>f) reads first).
func NewXAVPList(name string, fields ...*XAVP) *XAVP {
	return &XAVP{name: name, fields: fields, list: true}
}

// Name returns the name.
func (x *XAVP) Name() string { return x.name }

// IsList reports whether the value is a list of fields.
func (x *XAVP) IsList() bool { return x.list }

// Value returns the plain value; a list prints as Kamailio prints one,
// "<<xavp:0x...>>".
func (x *XAVP) Value() Value {
	if x.list {
		return Str(fmt.Sprintf("<<xavp:%p>>", x))
	}
	return x.val
}

// Field returns the idx-th field called name (0 is the newest), or nil.
func (x *XAVP) Field(name string, idx int) *XAVP {
	if x == nil || !x.list {
		return nil
	}
	return nth(x.fields, name, idx)
}

// FieldCount returns how many fields are called name.
func (x *XAVP) FieldCount(name string) int {
	if x == nil {
		return 0
	}
	return count(x.fields, name)
}

// FieldValues returns the values of the fields called name, newest
// first.
func (x *XAVP) FieldValues(name string) []Value {
	if x == nil {
		return nil
	}
	var out []Value
	for _, f := range x.fields {
		if f.name == name {
			out = append(out, f.Value())
		}
	}
	return out
}

// Fields returns the fields, newest first; the slice is shared: do not
// change it.
func (x *XAVP) Fields() []*XAVP { return x.fields }

// withFields returns a copy of x holding fields.
func (x *XAVP) withFields(fields []*XAVP) *XAVP {
	return &XAVP{name: x.name, fields: fields, list: true}
}

// XAVPs is the list of $xavp of a message or transaction, newest first.
// The zero value is an empty list. Every change builds a new top-level
// slice, so copies of an XAVPs value (a transaction's, a failure route's)
// never see each other's changes. It is not safe for concurrent use.
type XAVPs struct {
	list []*XAVP
}

// Items returns the XAVPs of every name, newest first; the slice is
// shared: do not change it.
func (l *XAVPs) Items() []*XAVP { return l.list }

// Len returns how many XAVPs of any name the list holds.
func (l *XAVPs) Len() int { return len(l.list) }

// Get returns the idx-th XAVP called name (0 is the newest), or nil.
func (l *XAVPs) Get(name string, idx int) *XAVP { return nth(l.list, name, idx) }

// Count returns how many XAVPs are called name.
func (l *XAVPs) Count(name string) int { return count(l.list, name) }

// Add puts x first, as Kamailio's xavp_add.
func (l *XAVPs) Add(x *XAVP) { l.AddFirst(x) }

// AddFirst puts xs, in their order, before every XAVP already there.
func (l *XAVPs) AddFirst(xs ...*XAVP) {
	l.list = append(append(make([]*XAVP, 0, len(xs)+len(l.list)), xs...), l.list...)
}

// Replace puts x in place of the idx-th XAVP called name and reports
// whether there was one.
func (l *XAVPs) Replace(name string, idx int, x *XAVP) bool {
	i := position(l.list, name, idx)
	if i < 0 {
		return false
	}
	l.list = slices.Clone(l.list)
	l.list[i] = x
	return true
}

// Remove removes the idx-th XAVP called name, or all of them when idx is
// negative, and returns how many it removed.
func (l *XAVPs) Remove(name string, idx int) int {
	var n int
	l.list, n = remove(l.list, name, idx)
	return n
}

// RemoveItem removes x itself and reports whether it was there.
func (l *XAVPs) RemoveItem(x *XAVP) bool {
	for i, y := range l.list {
		if y == x {
			l.list = append(l.list[:i:i], l.list[i+1:]...)
			return true
		}
	}
	return false
}

// AddField puts a field first in the list of the idx-th XAVP called name;
// false when there is no such XAVP or it holds no list.
func (l *XAVPs) AddField(name string, idx int, f *XAVP) bool {
	return l.editFields(name, idx, func(fs []*XAVP) []*XAVP {
		return append(append(make([]*XAVP, 0, len(fs)+1), f), fs...)
	})
}

// ReplaceField puts f in place of the fidx-th field called f.Name() of the
// idx-th XAVP called name; false when either is missing.
func (l *XAVPs) ReplaceField(name string, idx, fidx int, f *XAVP) bool {
	done := false
	ok := l.editFields(name, idx, func(fs []*XAVP) []*XAVP {
		i := position(fs, f.name, fidx)
		if i < 0 {
			return fs
		}
		done = true
		out := append([]*XAVP(nil), fs...)
		out[i] = f
		return out
	})
	return ok && done
}

// RemoveField removes the fidx-th field called field (all of them when
// fidx is negative) from the idx-th XAVP called name, and returns how many
// it removed.
func (l *XAVPs) RemoveField(name string, idx int, field string, fidx int) int {
	n := 0
	l.editFields(name, idx, func(fs []*XAVP) []*XAVP {
		var out []*XAVP
		out, n = remove(fs, field, fidx)
		return out
	})
	return n
}

// editFields replaces the idx-th XAVP called name by a copy whose fields
// are edit's result; false when there is no such XAVP holding a list.
func (l *XAVPs) editFields(name string, idx int, edit func([]*XAVP) []*XAVP) bool {
	i := position(l.list, name, idx)
	if i < 0 || !l.list[i].list {
		return false
	}
	x := l.list[i].withFields(edit(l.list[i].fields))
	l.list = slices.Clone(l.list)
	l.list[i] = x
	return true
}

// Clone returns a list that can be changed without changing l: l itself,
// as no change is made in place.
func (l XAVPs) Clone() XAVPs { return l }

// position returns the index in xs of the idx-th XAVP called name, or -1.
func position(xs []*XAVP, name string, idx int) int {
	if idx < 0 {
		return -1
	}
	n := 0
	for i, x := range xs {
		if x.name == name {
			if n == idx {
				return i
			}
			n++
		}
	}
	return -1
}

func nth(xs []*XAVP, name string, idx int) *XAVP {
	if i := position(xs, name, idx); i >= 0 {
		return xs[i]
	}
	return nil
}

func count(xs []*XAVP, name string) int {
	n := 0
	for _, x := range xs {
		if x.name == name {
			n++
		}
	}
	return n
}

// remove returns xs without the idx-th XAVP called name (all when idx <
// 0), in a new slice when it drops any, and how many it dropped.
func remove(xs []*XAVP, name string, idx int) ([]*XAVP, int) {
	if idx >= 0 && position(xs, name, idx) < 0 || idx < 0 && count(xs, name) == 0 {
		return xs, 0
	}
	out := make([]*XAVP, 0, len(xs))
	n, dropped := 0, 0
	for _, x := range xs {
		if x.name == name {
			if idx < 0 || n == idx {
				dropped++
				n++
				continue
			}
			n++
		}
		out = append(out, x)
	}
	return out, dropped
}
