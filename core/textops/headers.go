package textops

import (
	"regexp"
	"strings"

	"github.com/emiago/sipgo/sip"
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
	return kemi.IntBool(len(m.Headers(a.Str(0))) > 0)
}

// headersMatching returns the headers whose name matches match and, when
// skip is not nil, does not match skip.
func headersMatching(m *kemi.Msg, match, skip *regexp.Regexp) []sip.Header {
	var out []sip.Header
	for _, h := range m.HeaderList() {
		if skip != nil && skip.MatchString(h.Name()) {
			continue
		}
		if match.MatchString(h.Name()) {
			out = append(out, h)
		}
	}
	return out
}

// isPresentHFRe reports whether a header name matches re.
func (mod *Module) isPresentHFRe(m *kemi.Msg, a kemi.Args) kemi.Value {
	re := mod.re(m, "is_present_hf_re", a.Str(0), searchFlags)
	if re == nil {
		return kemi.Fail
	}
	return kemi.IntBool(len(headersMatching(m, re, nil)) > 0)
}

func removeAll(m *kemi.Msg, hs []sip.Header) {
	for _, h := range hs {
		m.RemoveHeaderValue(h)
	}
}

// removeHF removes every header called hname. Like Kamailio's KEMI
// function it returns 1 whether or not a header was there; -1 is an
// invalid name.
func (mod *Module) removeHF(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.hname(m, "remove_hf", a.Str(0)) || m.SIP() == nil {
		return kemi.Fail
	}
	removeAll(m, m.Headers(a.Str(0)))
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
	hs := headersMatching(m, match, skip)
	removeAll(m, hs)
	return kemi.IntBool(len(hs) > 0)
}

// removeHFIdx removes the idx-th header called hname (negative counts from
// the end): 1 when removed, 2 when there is no such header.
func (mod *Module) removeHFIdx(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !mod.hname(m, "remove_hf_idx", a.Str(0)) {
		return kemi.Fail
	}
	hs := m.Headers(a.Str(0))
	idx := a.Int(1)
	if idx < 0 {
		idx += len(hs)
	}
	if idx < 0 || idx >= len(hs) {
		return kemi.Int(2)
	}
	m.RemoveHeaderValue(hs[idx])
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
	var hs []sip.Header
	for _, h := range m.Headers(name) {
		if match(h.Value()) {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		return kemi.Int(-2)
	}
	removeAll(m, hs)
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
	v, found := m.HeaderValue("Privacy")
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
