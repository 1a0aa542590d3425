package ksr

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// flagPVs are $mf $mF (message flags), $bf $bF (flags of branch 0) and $sf
// $sF (script flags). The lower-case ones are numbers, the upper-case ones
// 8 hex digits. Unset clears every flag.
func flagPVs() []kemi.PVClass {
	var out []kemi.PVClass
	for _, f := range []struct {
		name string
		set  func(m *kemi.Msg) *uint32
	}{
		{"m", func(m *kemi.Msg) *uint32 { return &m.Flags }},
		{"b", func(m *kemi.Msg) *uint32 { return &m.BFlags }},
		{"s", func(m *kemi.Msg) *uint32 { return &m.SFlags }},
	} {
		flags := f.set
		out = append(out,
			rw(f.name+"f", func(m *kemi.Msg) kemi.Value { return kemi.Int64(int64(*flags(m))) }, flagSetter(flags, false)),
			rw(f.name+"F", func(m *kemi.Msg) kemi.Value { return kemi.Str(fmt.Sprintf("%08x", *flags(m))) }, flagSetter(flags, true)),
		)
	}
	return out
}

// flagSetter assigns a whole flag set. Numbers are taken as they are;
// text is decimal (or 0x-prefixed hex), or hex for the $xF variables.
func flagSetter(flags func(m *kemi.Msg) *uint32, hex bool) setter {
	return func(m *kemi.Msg, v kemi.Value) error {
		if v.IsNull() {
			*flags(m) = 0
			return nil
		}
		n, err := flagValue(v, hex)
		if err != nil {
			return err
		}
		*flags(m) = n
		return nil
	}
}

// flagValue converts a value to a 32-bit flag set; negative numbers are
// taken as 32-bit two's complement.
func flagValue(v kemi.Value, hex bool) (uint32, error) {
	n := v.Int
	if v.Kind == kemi.KindStr {
		s := strings.TrimSpace(v.Str)
		var err error
		if hex {
			n, err = strconv.ParseInt(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), 16, 64)
		} else {
			n, err = strconv.ParseInt(s, 0, 64)
		}
		if err != nil {
			return 0, fmt.Errorf("invalid flags value %q", v.Str)
		}
	}
	if n < math.MinInt32 || n > math.MaxUint32 {
		return 0, fmt.Errorf("flags value %d out of range", n)
	}
	return uint32(n), nil
}

// varPVs are $var(name), per worker and kept across messages, and
// $avp(name), per message.
func varPVs() []kemi.PVClass {
	return []kemi.PVClass{
		{Name: "var", Param: true, Get: getVar, Set: setVar},
		{Name: "avp", Param: true, Get: getAVP, Set: setAVP},
	}
}

// getVar reads $var(name); Null when never set.
func getVar(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	if m.Proc == nil {
		return kemi.Null, nil
	}
	return m.Proc.Vars[p.Key(m)], nil
}

// setVar assigns $var(name). $var cannot hold null: unset makes it 0, as
// in Kamailio.
func setVar(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
	if m.Proc == nil {
		return fmt.Errorf("no worker state for %s", p.Text)
	}
	if v.IsNull() {
		v = kemi.Int(0)
	}
	m.Proc.Vars[p.Key(m)] = v
	return nil
}

// avpName is the AVP name of $avp(name); Kamailio's "s:" prefix is
// dropped.
func avpName(m *kemi.Msg, p *kemi.PVName) string {
	return strings.TrimPrefix(p.Key(m), "s:")
}

// getAVP reads $avp(name) (the newest value), $avp(name)[n] (0 = newest,
// negative from the oldest) or $avp(name)[*] (all, newest first, joined
// with ",").
func getAVP(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	name := avpName(m, p)
	if p.IndexAll {
		all := m.AVPs.All(name)
		if len(all) == 0 {
			return kemi.Null, nil
		}
		parts := make([]string, len(all))
		for i, v := range all {
			parts[i] = v.String()
		}
		return kemi.Str(strings.Join(parts, ",")), nil
	}
	i := p.Index
	if i < 0 {
		i += len(m.AVPs.All(name))
		if i < 0 {
			return kemi.Null, nil
		}
	}
	v, _ := m.AVPs.Get(name, i)
	return v, nil
}

// setAVP assigns $avp(name): a plain name adds a value on top (as
// Kamailio's "="), [*] replaces every value by this one, [n] replaces the
// n-th value. Unset removes the newest value, the n-th, or all with [*].
func setAVP(m *kemi.Msg, p *kemi.PVName, v kemi.Value) error {
	name := avpName(m, p)
	switch {
	case p.IndexAll:
		m.AVPs.Del(name)
		if !v.IsNull() {
			m.AVPs.Add(name, v)
		}
		return nil
	case !p.HasIndex && !v.IsNull():
		m.AVPs.Add(name, v)
		return nil
	}
	return editAVP(&m.AVPs, name, p.Index, v)
}

// editAVP replaces (v set) or removes (v Null) the idx-th value of name,
// newest first, negative from the oldest.
func editAVP(a *kemi.AVPs, name string, idx int, v kemi.Value) error {
	vals := a.All(name)
	if idx < 0 {
		idx += len(vals)
	}
	if idx < 0 || idx >= len(vals) {
		if v.IsNull() {
			return nil
		}
		return fmt.Errorf("$avp(%s) has no value %d", name, idx)
	}
	if v.IsNull() {
		vals = append(vals[:idx], vals[idx+1:]...)
	} else {
		vals[idx] = v
	}
	a.Del(name)
	for i := len(vals) - 1; i >= 0; i-- {
		a.Add(name, vals[i])
	}
	return nil
}

// branchPVs are $br (first extra branch, RW: setting appends a branch),
// $bR (all extra branches) and $ds (the destination set).
func branchPVs() []kemi.PVClass {
	return []kemi.PVClass{
		rw("br", func(m *kemi.Msg) kemi.Value {
			if !m.IsRequest() || len(m.Branches) == 0 {
				return kemi.Null
			}
			return kemi.Str(m.Branches[0].URI)
		}, noUnset("br", appendBranch)),
		ro("bR", func(m *kemi.Msg) kemi.Value {
			if !m.IsRequest() {
				return kemi.Null
			}
			return strOrNull(joinBranches(m.Branches))
		}),
		ro("ds", destinationSet),
	}
}

// appendBranch adds an extra branch to uri, sent from the forced socket.
func appendBranch(m *kemi.Msg, uri string) error {
	if err := requireRequest(m); err != nil {
		return err
	}
	if _, err := kemi.ParseURI(uri); err != nil {
		return err
	}
	return m.AppendBranch(kemi.Branch{URI: uri, Q: -1, Sock: m.SendSock})
}

// joinBranches lists branches as Kamailio's $bR: "<uri>;q=0.5" when the
// q-value is set, else the bare URI, separated by ", ".
func joinBranches(bs []kemi.Branch) string {
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		parts = append(parts, contactText(b.URI, b.Q))
	}
	return strings.Join(parts, ", ")
}

// contactText writes a URI with its q-value, if any.
func contactText(uri string, q int) string {
	if q < 0 {
		return uri
	}
	return "<" + uri + ">;q=" + kemi.QValue(q)
}

// destinationSet is $ds: as Kamailio prints the destination set, "Contact:
// " then the R-URI (only when the script changed it) and every branch, each
// "<uri>" with ";q=" when set; Null when there is none.
func destinationSet(m *kemi.Msg) kemi.Value {
	if !m.IsRequest() {
		return kemi.Null
	}
	var parts []string
	for _, b := range m.DestinationSet() {
		s := "<" + b.URI + ">"
		if b.Q >= 0 {
			s += ";q=" + kemi.QValue(b.Q)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return kemi.Null
	}
	return kemi.Str("Contact: " + strings.Join(parts, ", "))
}
