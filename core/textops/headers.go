package textops

import (
	"regexp"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// hname checks a header name argument.
func (mod *Module) hname(m *kemi.Msg, fn, name string) bool {
	if !kemi.ValidHeaderName(name) {
		m.Errorf(mod.log, "%s: invalid header name %q", fn, name)
		return false
	}
	return true
}

// isPresentHF reports whether a header called hname (compact forms match)
// is present.
func (mod *Module) isPresentHF(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.hname(m, "is_present_hf", a.Str(0)) {
		return kemi.Fail
	}
	return kemi.IntBool(m.HeaderPresent(a.Str(0)))
}

// isPresentHFRe reports whether a header name matches re.
func (mod *Module) isPresentHFRe(m *kemi.Msg, a kemi.Args) kemi.Value {
	re := mod.re(m, "is_present_hf_re", a.Str(0), searchFlags)
	if re == nil {
		return kemi.Fail
	}
	found := false
	m.EachHeaderName(func(name string) bool {
		found = re.MatchString(name)
		return !found
	})
	return kemi.IntBool(found)
}

// removeHF removes every header called hname. Like Kamailio's KEMI
// function it returns 1 whether or not a header was there; -1 is an
// invalid name.
func (mod *Module) removeHF(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.hname(m, "remove_hf", a.Str(0)) || !m.HasMessage() {
		return kemi.Fail
	}
	m.RemoveHeaderNamed(a.Str(0))
	return kemi.OK
}

// removeHFExp removes the headers whose name matches the expression
// ematch but, when withSkip is set, not eskip: 1 if one was removed, else
// -1. remove_hf_re is remove_hf_exp without eskip.
func (mod *Module) removeHFExp(m *kemi.Msg, fn, ematch, eskip string, withSkip bool) kemi.Value {
	match := mod.re(m, fn, ematch, searchFlags)
	if match == nil {
		return kemi.Fail
	}
	var skip *regexp.Regexp
	if withSkip {
		if skip = mod.re(m, fn, eskip, searchFlags); skip == nil {
			return kemi.Fail
		}
	}
	n := m.RemoveHeadersWhere(func(name, _ string) bool {
		return skip != nil && skip.MatchString(name) || !match.MatchString(name)
	})
	return kemi.IntBool(n > 0)
}

// removeHFIdx removes the idx-th header called hname (negative counts from
// the end): 1 when removed, 2 when there is no such header.
func (mod *Module) removeHFIdx(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.hname(m, "remove_hf_idx", a.Str(0)) {
		return kemi.Fail
	}
	if !m.RemoveHeaderAt(a.Str(0), a.Int(1)) {
		return kemi.Int(2)
	}
	return kemi.OK
}

// removeHFMatch removes the headers called hname whose body is equal to
// (eq), different from (ne), contains (in) or matches (re) expr: 1 if one
// was removed, -2 if none, -1 on a bad argument.
func (mod *Module) removeHFMatch(m *kemi.Msg, a kemi.Args) kemi.Value {
	name, op, expr := a.Str(0), strings.ToLower(a.Str(1)), a.Str(2)
	if !mod.hname(m, "remove_hf_match", name) {
		return kemi.Fail
	}
	var match func(string) bool
	switch op {
	case "eq":
		match = func(v string) bool { return v == expr }
	case "ne":
		match = func(v string) bool { return v != expr }
	case "in":
		match = func(v string) bool { return strings.Contains(v, expr) }
	case "re":
		re := mod.re(m, "remove_hf_match", expr, searchFlags)
		if re == nil {
			return kemi.Fail
		}
		match = re.MatchString
	default:
		m.Errorf(mod.log, "remove_hf_match: unknown operator %q", a.Str(1))
		return kemi.Fail
	}
	n := m.RemoveHeadersWhere(func(hn, body string) bool {
		return !kemi.HeaderNameIs(hn, name) || !match(body)
	})
	if n == 0 {
		return kemi.Int(-2)
	}
	return kemi.OK
}

// privacyValues are the priv-values of RFC 3323, 3325 and 4244.
var privacyValues = map[string]uint{"user": 1, "header": 2, "session": 4, "none": 8, "critical": 16, "id": 32, "history": 64}

// isPrivacy reports whether the Privacy header lists the given value.
func (mod *Module) isPrivacy(m *kemi.Msg, a kemi.Args) kemi.Value {
	want, ok := privacyValues[strings.ToLower(strings.TrimSpace(a.Str(0)))]
	if !ok {
		m.Errorf(mod.log, "is_privacy: invalid privacy value %q", a.Str(0))
		return kemi.Fail
	}
	v, found := m.HeaderBody("Privacy")
	if !found {
		return kemi.Fail
	}
	var have uint
	for _, item := range strings.Split(v, ";") {
		item = strings.ToLower(strings.TrimSpace(item))
		bit, ok := privacyValues[item]
		if !ok {
			mod.log.Debug("is_privacy: invalid value in Privacy header", "value", item, "at", m.Where())
			return kemi.Fail
		}
		have |= bit
	}
	return kemi.IntBool(have&want != 0)
}
