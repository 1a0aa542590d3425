package htable

import (
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// countCells is ht_count_cells_re: the items whose key (or string value,
// byValue) matches expr. expr starts with an operator: "~~" regular
// expression, "~%" ends with, "%~" starts with, "==" equals, "eq" integer
// value equals (by value only), "**" all items; without one it is a
// regular expression.
func (mod *Module) countCells(m *kemi.Msg, t *table, expr string, byValue bool) int {
	if expr == "" {
		return 0
	}
	op, val := "~~", expr
	if len(expr) >= 2 {
		switch expr[:2] {
		case "~~", "~%", "%~", "==", "eq", "**":
			op, val = expr[:2], expr[2:]
		}
	}
	if op == "**" {
		return t.count(m.Proc)
	}
	if val == "" {
		return 0
	}
	var test func(key string, c *cell) bool
	str := func(f func(string) bool) func(string, *cell) bool {
		return func(key string, c *cell) bool {
			s, ok := subject(key, c, byValue)
			return ok && f(s)
		}
	}
	switch op {
	case "~~":
		re, err := kemi.CompileRegex(val, kemi.RegexICase|kemi.RegexNewline)
		if err != nil {
			m.Errorf(mod.log, "htable: bad re %q", val)
			return 0
		}
		test = str(re.MatchString)
	case "~%":
		test = str(func(s string) bool { return strings.HasSuffix(s, val) })
	case "%~":
		test = str(func(s string) bool { return strings.HasPrefix(s, val) })
	case "==":
		test = str(func(s string) bool { return s == val })
	case "eq":
		if !byValue {
			return 0
		}
		n, _ := strconv.ParseInt(val, 10, 64)
		test = func(_ string, c *cell) bool { return !c.isStr && c.num == n }
	}
	cnt := 0
	t.each(m.Proc, func(key string, c *cell) (bool, bool) {
		if test(key, c) {
			cnt++
		}
		return false, false
	})
	return cnt
}
