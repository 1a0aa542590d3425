package ksr_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestExportsMatchKamailio checks every export of the module against
// Kamailio's catalogue (name, parameter kinds, return kind), and that every
// function of Kamailio's "(core)", "pv" and "hdr" tables is exported.
func TestExportsMatchKamailio(t *testing.T) {
	env := load(t)
	seen := map[string]bool{}
	for name, x := range env.Exports() {
		if seen[name] {
			t.Errorf("%s exported twice", name)
		}
		seen[name] = true
		k, ok := kemi.LookupKamailio(x.Module, x.Name)
		if !ok {
			t.Errorf("%s: Kamailio has no such function", name)
			continue
		}
		if x.Signature() != k.Params {
			t.Errorf("%s: params %s, Kamailio %s", name, x.Signature(), k.Params)
		}
		if x.Return.String() != k.Return {
			t.Errorf("%s: returns %s, Kamailio %s", name, x.Return, k.Return)
		}
	}
	want := map[string]int{"": 91, "pv": 12, "hdr": 16}
	for mod, n := range want {
		fns := kemi.KamailioFunctions(mod)
		if len(fns) != n {
			t.Errorf("catalogue has %d functions in %q, expected %d", len(fns), mod, n)
		}
		for _, k := range fns {
			if !seen[k.LuaName()] {
				t.Errorf("%s is not exported", k.LuaName())
			}
		}
	}
	if got := len(env.Exports()); got != 91+12+16 {
		t.Errorf("%d exports, want %d", got, 91+12+16)
	}
}

// TestExportsNoPanic calls every export with odd arguments on a request, a
// reply and an empty message: wrong calls are logged, never a panic.
func TestExportsNoPanic(t *testing.T) {
	env := load(t)
	argSets := [][]string{{"", "", "", ""}, {"x", "-1", "*", "z"}, {"sip:a b", "99999", "eq", "a"}, {"$", "$(", "\r\n", ":"}}
	for name, x := range env.Exports() {
		for _, text := range []string{invite, ringing, ""} {
			for _, set := range argSets {
				var m *kemi.Msg
				if text == "" {
					m = &kemi.Msg{}
				} else {
					m = parse(t, env, text)
				}
				a := kemi.MakeArgs(set[:len(x.Params)]...)
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s%v on %q...: panic %v", name, set[:len(x.Params)], firstLine(text), r)
						}
					}()
					x.Func(m, a)
				}()
			}
		}
	}
}

// firstLine returns the first line of a text.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
