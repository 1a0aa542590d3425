package ksr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// xavpPV is $xavp(name[i]=>field[j]): the extended AVPs of the message,
// which travel with its transaction as AVPs do. Reads and writes follow
// Kamailio's pv_get_xavp and pv_set_xavp (src/modules/pv/pv_xavp.c).
func xavpPV() kemi.PVClass {
	return kemi.PVClass{Name: "xavp", Param: true, Get: getXAVP, Set: setXAVP}
}

// xavpIndex is one [index] of an $xavp name.
type xavpIndex struct {
	set bool // an index was written
	all bool // [*]
	n   int
}

// xavpRef is a parsed $xavp name: name[idx] and, with "=>", field[fidx].
type xavpRef struct {
	name     string
	idx      xavpIndex
	field    string // "" when there is no "=>"
	fieldIdx xavpIndex
}

// parseXAVPRef parses "name", "name[i]", "name=>field", "name[i]=>field[j]"
// (i and j numbers, negative from the end, or *). Spaces around the parts
// are allowed, as Kamailio allows them, but not inside the brackets.
func parseXAVPRef(s string) (xavpRef, error) {
	var r xavpRef
	rest, err := parseXAVPPart(s, &r.name, &r.idx)
	if err != nil {
		return r, fmt.Errorf("$xavp(%s): %w", s, err)
	}
	if rest == "" {
		return r, nil
	}
	after, ok := strings.CutPrefix(rest, "=>")
	if !ok {
		return r, fmt.Errorf("$xavp(%s): unexpected %q", s, rest)
	}
	rest, err = parseXAVPPart(after, &r.field, &r.fieldIdx)
	if err != nil {
		return r, fmt.Errorf("$xavp(%s): %w", s, err)
	}
	if rest != "" {
		return r, fmt.Errorf("$xavp(%s): unexpected %q", s, rest)
	}
	return r, nil
}

// parseXAVPPart reads a name and its optional [index] at the start of s
// and returns what follows, spaces trimmed.
func parseXAVPPart(s string, name *string, idx *xavpIndex) (string, error) {
	s = strings.TrimLeft(s, " \t\r\n")
	end := strings.IndexAny(s, "=[ \t\r\n")
	if end < 0 {
		end = len(s)
	}
	*name = s[:end]
	if *name == "" {
		return "", fmt.Errorf("empty name")
	}
	s = strings.TrimLeft(s[end:], " \t\r\n")
	if !strings.HasPrefix(s, "[") {
		return s, nil
	}
	closing := strings.IndexByte(s, ']')
	if closing < 0 {
		return "", fmt.Errorf("unclosed index")
	}
	// Kamailio refuses spaces inside the brackets: so does kemi.
	text := s[1:closing]
	switch text {
	case "":
		return "", fmt.Errorf("empty index")
	case "*":
		*idx = xavpIndex{set: true, all: true}
	default:
		n, err := strconv.Atoi(text)
		if err != nil {
			return "", fmt.Errorf("bad index %q", text)
		}
		*idx = xavpIndex{set: true, n: n}
	}
	return strings.TrimLeft(s[closing+1:], " \t\r\n"), nil
}

// xavpRefOf parses the name of p for m (it may hold pseudo-variables, such
// as an index from $var). The $(xavp(...)[n]) form is not Kamailio's.
func xavpRefOf(m *kemi.Msg, p *kemi.PVName) (xavpRef, error) {
	if p.HasIndex {
		return xavpRef{}, fmt.Errorf("%s: put the index inside: $xavp(name[n]=>field[n])", p.Text)
	}
	return parseXAVPRef(p.Key(m))
}

// getXAVP reads $xavp: the idx-th XAVP (negative from the oldest), its
// value or, with a field, the field's; [*] on the field joins the values
// of every field of that name with ", ". Missing parts read as Null.
func getXAVP(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	r, err := xavpRefOf(m, p)
	if err != nil {
		return kemi.Null, err
	}
	xs := &m.AVPs.X
	i := r.idx.n
	if i < 0 {
		i += xs.Count(r.name)
	}
	x := xs.Get(r.name, i)
	if x == nil {
		return kemi.Null, nil
	}
	if r.field == "" {
		return x.Value(), nil
	}
	if !x.IsList() {
		return kemi.Null, nil
	}
	if r.fieldIdx.all {
		vals := x.FieldValues(r.field)
		switch len(vals) {
		case 0:
			return kemi.Null, nil
		case 1:
			return vals[0], nil // an int stays an int, as in Kamailio
		}
		parts := make([]string, len(vals))
		for k, v := range vals {
			parts[k] = v.String()
		}
		return kemi.Str(strings.Join(parts, ", ")), nil
	}
	j := r.fieldIdx.n
	if j < 0 {
		j += x.FieldCount(r.field)
	}
	f := x.Field(r.field, j)
	if f == nil {
		return kemi.Null, nil
	}
	return f.Value(), nil
}

// kamIndex turns a negative index of an assignment into a position the way
// Kamailio's pv_set_xavp does: count + idx + 1, so [-1] is one past the
// last and names nothing. Reads use count + idx.
func kamIndex(idx, count int) int {
	if idx < 0 {
		return count + idx + 1
	}
	return idx
}

// setXAVP assigns $xavp as Kamailio does: $xavp(name) = v adds an XAVP
// first; $xavp(name=>f) = v adds a new XAVP holding the field f;
// $xavp(name[i]=>f) = v adds the field to the i-th XAVP and
// $xavp(name[i]=>f[j]) = v replaces its j-th field f; $xavp(name[i]) = v
// replaces the i-th XAVP. A Null value removes instead (see unsetXAVP).
func setXAVP(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
	r, err := xavpRefOf(m, p)
	if err != nil {
		return err
	}
	xs := &m.AVPs.X
	if v.IsNull() {
		unsetXAVP(xs, r)
		return nil
	}
	if r.field == "" {
		if !r.idx.set {
			xs.Add(kemi.NewXAVP(r.name, v))
			return nil
		}
		if r.idx.all {
			return fmt.Errorf("$xavp(%s[*]): cannot assign every XAVP", r.name)
		}
		if !xs.Replace(r.name, kamIndex(r.idx.n, xs.Count(r.name)), kemi.NewXAVP(r.name, v)) {
			return fmt.Errorf("$xavp(%s[%d]): no such XAVP", r.name, r.idx.n)
		}
		return nil
	}
	if !r.idx.set {
		xs.Add(kemi.NewXAVPList(r.name, kemi.NewXAVP(r.field, v)))
		return nil
	}
	if r.idx.all {
		return nil // Kamailio ignores it and reports success
	}
	i := kamIndex(r.idx.n, xs.Count(r.name))
	x := xs.Get(r.name, i)
	if x == nil {
		return nil // Kamailio: nothing to set, success
	}
	if !x.IsList() {
		return fmt.Errorf("$xavp(%s[%d]) holds no fields", r.name, r.idx.n)
	}
	f := kemi.NewXAVP(r.field, v)
	switch {
	case !r.fieldIdx.set:
		xs.AddField(r.name, i, f)
	case !r.fieldIdx.all:
		// A missing field is not an error in Kamailio either.
		xs.ReplaceField(r.name, i, kamIndex(r.fieldIdx.n, x.FieldCount(r.field)), f)
	}
	return nil
}

// unsetXAVP removes as Kamailio's pv_set_xavp does with $null: without an
// index the newest XAVP (or field), [n] the n-th, [*] all of them; on a
// field, [*] on the XAVP applies to every XAVP of that name.
func unsetXAVP(xs *kemi.XAVPs, r xavpRef) {
	if r.field == "" {
		switch {
		case r.idx.all:
			xs.Remove(r.name, -1)
		default:
			if i := kamIndex(r.idx.n, xs.Count(r.name)); i >= 0 {
				xs.Remove(r.name, i)
			}
		}
		return
	}
	rmField := func(i int) {
		x := xs.Get(r.name, i)
		if x == nil || !x.IsList() {
			return
		}
		switch {
		case r.fieldIdx.all:
			xs.RemoveField(r.name, i, r.field, -1)
		default:
			if j := kamIndex(r.fieldIdx.n, x.FieldCount(r.field)); j >= 0 {
				xs.RemoveField(r.name, i, r.field, j)
			}
		}
	}
	if r.idx.all {
		for i := xs.Count(r.name) - 1; i >= 0; i-- {
			rmField(i)
		}
		return
	}
	rmField(kamIndex(r.idx.n, xs.Count(r.name)))
}
