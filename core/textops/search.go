package textops

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Kamailio compiles the expressions of these functions with
// REG_EXTENDED|REG_ICASE|REG_NEWLINE.
const searchFlags = kemi.RegexICase | kemi.RegexNewline

// search matches re against the whole message, start line included.
func (mod *Module) search(m *kemi.Msg, a kemi.Args) kemi.Value {
	if a.Str(0) == "" {
		return kemi.OK
	}
	re := mod.re(m, "search", a.Str(0), searchFlags)
	t, ok := textOf(m)
	if re == nil || !ok {
		return kemi.Fail
	}
	return kemi.IntBool(re.MatchString(t.full()))
}

// searchBody matches re against the body.
func (mod *Module) searchBody(m *kemi.Msg, a kemi.Args) kemi.Value {
	if a.Str(0) == "" {
		return kemi.OK
	}
	re := mod.re(m, "search_body", a.Str(0), searchFlags)
	if re == nil {
		return kemi.Fail
	}
	body := m.Body()
	if len(body) == 0 {
		return kemi.Fail
	}
	return kemi.IntBool(re.Match(body))
}

// pickHeaders applies the a/f/l flags of search_hf and subst_hf: every
// header, the first one or the last one.
func pickHeaders(hs []sip.Header, flags string) []sip.Header {
	if len(hs) == 0 {
		return nil
	}
	switch {
	case strings.HasPrefix(flags, "f"):
		return hs[:1]
	case strings.HasPrefix(flags, "l"):
		return hs[len(hs)-1:]
	}
	return hs
}

// searchHF matches re against the bodies of the headers called hname.
func (mod *Module) searchHF(m *kemi.Msg, a kemi.Args) kemi.Value {
	hname, pat, flags := a.Str(0), a.Str(1), a.Str(2)
	if hname == "" || pat == "" {
		m.Errorf(mod.log, "search_hf: empty header name or expression")
		return kemi.Fail
	}
	re := mod.re(m, "search_hf", pat, searchFlags)
	if re == nil {
		return kemi.Fail
	}
	for _, h := range pickHeaders(m.Headers(hname), flags) {
		if re.MatchString(h.Value()) {
			return kemi.OK
		}
	}
	return kemi.Fail
}

// searchStr matches re against text: 1 match, -1 no match, -2 empty text
// or invalid expression, 2 empty expression.
func (mod *Module) searchStr(m *kemi.Msg, a kemi.Args) kemi.Value {
	text, pat := a.Str(0), a.Str(1)
	if pat == "" {
		return kemi.Int(2)
	}
	if text == "" {
		return kemi.Int(-2)
	}
	re := mod.re(m, "search_str", pat, searchFlags)
	if re == nil {
		return kemi.Int(-2)
	}
	return kemi.IntBool(re.MatchString(text))
}

// searchAppend inserts txt after the first match of re in the headers and
// body.
func (mod *Module) searchAppend(m *kemi.Msg, a kemi.Args) kemi.Value {
	return mod.insertAfter(m, "search_append", a.Str(0), a.Str(1), regionAll)
}

// searchAppendBody inserts txt after the first match of re in the body.
func (mod *Module) searchAppendBody(m *kemi.Msg, a kemi.Args) kemi.Value {
	return mod.insertAfter(m, "search_append_body", a.Str(0), a.Str(1), regionBody)
}

func (mod *Module) insertAfter(m *kemi.Msg, fn, pat, txt string, r region) kemi.Value {
	re := mod.re(m, fn, pat, searchFlags)
	t, ok := textOf(m)
	if re == nil || !ok {
		return kemi.Fail
	}
	s := t.get(r)
	if r == regionBody && s == "" {
		return kemi.Fail
	}
	loc := re.FindStringIndex(s)
	if loc == nil {
		return kemi.Fail
	}
	if err := mod.setRegion(m, t, r, s[:loc[1]]+txt+s[loc[1]:]); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// replaceRegion replaces the first (or every) match of re in region r with
// txt, taken literally.
func (mod *Module) replaceRegion(m *kemi.Msg, fn string, a kemi.Args, r region, all bool) kemi.Value {
	re := mod.re(m, fn, a.Str(0), searchFlags)
	t, ok := textOf(m)
	if re == nil || !ok {
		return kemi.Fail
	}
	s := t.get(r)
	if s == "" {
		return kemi.Fail
	}
	n := 1
	if all {
		n = -1
	}
	locs := re.FindAllStringIndex(s, n)
	if len(locs) == 0 {
		return kemi.Fail
	}
	var b strings.Builder
	last := 0
	for _, loc := range locs {
		if all && loc[0] == loc[1] {
			m.Errorf(mod.log, "%s: the expression %q matched an empty string", fn, a.Str(0))
			return kemi.Fail
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(a.Str(1))
		last = loc[1]
	}
	b.WriteString(s[last:])
	if err := mod.setRegion(m, t, r, b.String()); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// replaceStr replaces the first ("f", the default) or every ("a") plain
// occurrence of match with repl.
func (mod *Module) replaceStr(m *kemi.Msg, fn string, a kemi.Args, r region) kemi.Value {
	match, repl, mode := a.Str(0), a.Str(1), a.Str(2)
	t, ok := textOf(m)
	if !ok {
		return kemi.Fail
	}
	s := t.get(r)
	if r == regionBody && s == "" {
		return kemi.Fail
	}
	if match == "" || s == "" {
		return kemi.OK
	}
	n := 1
	if mode != "" && mode[0] != 'f' && mode[0] != 'F' {
		n = -1
	}
	ns := strings.Replace(s, match, repl, n)
	if ns == s {
		return kemi.OK
	}
	if err := mod.setRegion(m, t, r, ns); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// subst applies a sed-like expression to the headers and body.
func (mod *Module) subst(m *kemi.Msg, a kemi.Args) kemi.Value {
	return mod.substRegion(m, "subst", a.Str(0), regionAll)
}

// substBody applies a sed-like expression to the body.
func (mod *Module) substBody(m *kemi.Msg, a kemi.Args) kemi.Value {
	return mod.substRegion(m, "subst_body", a.Str(0), regionBody)
}

func (mod *Module) substRegion(m *kemi.Msg, fn, expr string, r region) kemi.Value {
	if expr == "" {
		m.Errorf(mod.log, "%s: empty expression", fn)
		return kemi.Fail
	}
	t, ok := textOf(m)
	if !ok {
		return kemi.Fail
	}
	s := t.get(r)
	if r == regionBody && s == "" {
		return kemi.Fail
	}
	out, n, ok := mod.substitute(m, fn, expr, s)
	if !ok || n == 0 {
		return kemi.Fail
	}
	if err := mod.setRegion(m, t, r, out); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// substURI applies a sed-like expression to the Request-URI.
func (mod *Module) substURI(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "subst_uri: not a request")
		return kemi.Fail
	}
	if a.Str(0) == "" {
		return kemi.Fail
	}
	out, n, ok := mod.substitute(m, "subst_uri", a.Str(0), m.RURI())
	if !ok || n == 0 {
		return kemi.Fail
	}
	if err := m.SetRURI(out); err != nil {
		m.Errorf(mod.log, "subst_uri: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// substUser applies a sed-like expression to the user part of the
// Request-URI; an empty result removes the user.
func (mod *Module) substUser(m *kemi.Msg, a kemi.Args) kemi.Value {
	if !m.IsRequest() {
		m.Errorf(mod.log, "subst_user: not a request")
		return kemi.Fail
	}
	if a.Str(0) == "" {
		return kemi.Fail
	}
	u := m.Request().Recipient
	if u.Scheme != "" && u.Scheme != "sip" && u.Scheme != "sips" {
		m.Errorf(mod.log, "subst_user: the R-URI %s is not a SIP URI", m.RURI())
		return kemi.Fail
	}
	out, n, ok := mod.substitute(m, "subst_user", a.Str(0), u.User)
	if !ok || n == 0 {
		return kemi.Fail
	}
	if strings.ContainsAny(out, "@ \t\r\n<>") {
		m.Errorf(mod.log, "subst_user: invalid user %q", out)
		return kemi.Fail
	}
	u.User = out
	if out == "" {
		u.Password = ""
	}
	m.ReplaceRURI(u) // marks it new, as Kamailio's SET_USER_T: t_relay may fork it again
	return kemi.OK
}

// substHF applies a sed-like expression to the bodies of the headers called
// hname (flags a, f, l as search_hf).
func (mod *Module) substHF(m *kemi.Msg, a kemi.Args) kemi.Value {
	hname, expr, flags := a.Str(0), a.Str(1), a.Str(2)
	if hname == "" || expr == "" {
		m.Errorf(mod.log, "subst_hf: empty header name or expression")
		return kemi.Fail
	}
	se, err := mod.parseSubst(expr)
	if err != nil {
		mod.reErrors.Inc()
		m.Errorf(mod.log, "subst_hf: %v", err)
		return kemi.Fail
	}
	t, ok := textOf(m)
	if !ok {
		return kemi.Fail
	}
	picked := map[sip.Header]bool{}
	for _, h := range pickHeaders(m.Headers(hname), flags) {
		picked[h] = true
	}
	var b strings.Builder
	changed := false
	for _, h := range m.HeaderList() {
		v := h.Value()
		if picked[h] {
			out, n, err := se.run(m, v)
			if err != nil {
				m.Errorf(mod.log, "subst_hf: %q: %v", expr, err)
				return kemi.Fail
			}
			if n > 0 {
				v, changed = out, true
			}
		}
		b.WriteString(h.Name() + ": " + v + "\r\n")
	}
	if !changed {
		return kemi.Fail
	}
	t.hdrs = b.String()
	if err := mod.apply(m, t); err != nil {
		m.Errorf(mod.log, "subst_hf: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// substV applies a sed-like expression to itext and stores the result in
// the pseudo-variable opv.
func (mod *Module) substV(m *kemi.Msg, a kemi.Args) kemi.Value {
	itext, expr, opv := a.Str(0), a.Str(1), a.Str(2)
	pv, err := mod.pvs.Parse(opv)
	if err != nil {
		m.Errorf(mod.log, "subst_v: %v", err)
		return kemi.Fail
	}
	if pv.Class.Set == nil {
		m.Errorf(mod.log, "subst_v: %s is read-only", opv)
		return kemi.Fail
	}
	out, n, ok := mod.substitute(m, "subst_v", expr, itext)
	if !ok || n == 0 {
		return kemi.Fail
	}
	if err := pv.Set(m, kemi.Str(out)); err != nil {
		m.Errorf(mod.log, "subst_v: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}

// regexSubstring stores in dpv the text matched by group mindex (0: the
// whole match) of the first match of regexp in itext. mcount is the number
// of groups the script expects, as in Kamailio.
func (mod *Module) regexSubstring(m *kemi.Msg, a kemi.Args) kemi.Value {
	itext, pat, mindex, mcount, dpv := a.Str(0), a.Str(1), a.Int(2), a.Int(3), a.Str(4)
	if dpv == "" {
		m.Errorf(mod.log, "regex_substring: empty destination pseudo-variable")
		return kemi.Fail
	}
	if mindex < 0 || mindex > mcount-1 {
		m.Errorf(mod.log, "regex_substring: match index %d out of range for %d matches", mindex, mcount)
		return kemi.Fail
	}
	pv, err := mod.pvs.Parse(dpv)
	if err != nil {
		m.Errorf(mod.log, "regex_substring: %v", err)
		return kemi.Fail
	}
	if pv.Class.Set == nil {
		m.Errorf(mod.log, "regex_substring: %s is read-only", dpv)
		return kemi.Fail
	}
	re := mod.re(m, "regex_substring", pat, 0)
	if re == nil {
		return kemi.Fail
	}
	loc := re.FindStringSubmatchIndex(itext)
	if loc == nil {
		return kemi.Int(-2)
	}
	if 2*mindex+1 >= len(loc) || loc[2*mindex] < 0 || loc[2*mindex] == loc[2*mindex+1] {
		mod.log.Warn("regex_substring: no text for the match index", "index", mindex, "at", m.Where())
		return kemi.Fail
	}
	if err := pv.Set(m, kemi.Str(itext[loc[2*mindex]:loc[2*mindex+1]])); err != nil {
		m.Errorf(mod.log, "regex_substring: %v", err)
		return kemi.Fail
	}
	return kemi.OK
}
