package dispatcher

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// parseRules reads ds_select_routes rules: "set=alg" pairs separated by
// ";" ("1=4;2=8").
func parseRules(s string) ([]rule, error) {
	var out []rule
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, b, ok := strings.Cut(part, "=")
		set, err1 := strconv.Atoi(strings.TrimSpace(a))
		alg, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("rule %q: want set=alg", part)
		}
		out = append(out, rule{set, alg})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rule in %q", s)
	}
	return out, nil
}

// parseMode reads the mode of ds_select_routes: "0" or "d" sets $du, "1"
// or "r" the R-URI, "2" or "x" only stores the candidates.
func parseMode(s string) (int, bool) {
	// Only the first character counts, as in Kamailio ("ruri" is "r").
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	switch s[0] {
	case '0', 'd', 'D':
		return modeDstURI, true
	case '1', 'r', 'R':
		return modeRURI, true
	case '2', 'x', 'X':
		return modeXAVP, true
	}
	return 0, false
}

// selectRoutes is ds_select_routes(rules, mode) and its _limit form.
func (mod *Module) selectRoutes(m *kemi.Msg, rulesText, modeText string, limit int) int {
	rules, err := parseRules(rulesText)
	if err != nil {
		m.Errorf(mod.log, "dispatcher: ds_select_routes: %v", err)
		return -1
	}
	mode, ok := parseMode(modeText)
	if !ok {
		m.Errorf(mod.log, "dispatcher: ds_select_routes: mode %q: want 0/d, 1/r or 2/x", modeText)
		return -1
	}
	return mod.selectRules(m, rules, limit, mode)
}

// markAddr is ds_mark_addr(state, set, address): it sets the state of the
// destination of set whose URI is address.
func (mod *Module) markAddr(m *kemi.Msg, a kemi.Args) kemi.Value {
	st, ok := parseState(a.Str(0))
	if !ok {
		m.Errorf(mod.log, "dispatcher: ds_mark_addr: unknown state %q", a.Str(0))
		return kemi.Int(-1)
	}
	return kemi.Int(mod.markDest(m, a.Int(1), a.Str(2), st))
}
