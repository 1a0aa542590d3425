package ksr_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestExportsMatchKamailio checks the core, pv and hdr exports against
// Kamailio's catalogue: all of them are implemented; of pvx, the $xavp
// functions are.
func TestExportsMatchKamailio(t *testing.T) {
	env := load(t)
	for _, mod := range []string{"", "pv", "hdr"} {
		env.CheckExports(t, mod)
	}
	// KSR.pvx: only its $xavp functions, with Kamailio's kinds.
	pvx := 0
	for name, x := range env.Exports() {
		if x.Module != "pvx" {
			continue
		}
		pvx++
		k, ok := kemi.LookupKamailio(x.Module, x.Name)
		if !ok || x.Signature() != k.Params || x.Return.String() != k.Return {
			t.Errorf("%s: have (%s) %s, Kamailio has (%s) %s (found %v)", name, x.Signature(), x.Return, k.Params, k.Return, ok)
		}
	}
	if got := len(env.Exports()); got != 91+12+16+pvx || pvx != 16 {
		t.Errorf("%d exports (%d pvx), want %d", got, pvx, 91+12+16+16)
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
