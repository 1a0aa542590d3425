package kemi

import (
	_ "embed"
	"sort"
	"strings"
	"sync"
)

// kamailioExports is the list of every function Kamailio exports to KEMI
// scripts (module, function, Lua name, parameter kinds, return kind).
//
//go:embed kamailio-exports.tsv
var kamailioExports string

// KamailioExport is one function of Kamailio's KEMI interface.
type KamailioExport struct {
	// Module is the KSR sub-table ("" for the core KSR table).
	Module string
	// Name is the function name.
	Name string
	// Params is the parameter list as in the TSV: "str,int" or "-".
	Params string
	// Return is "int", "bool", "xval" or "void".
	Return string
}

// LuaName returns "KSR.<module>.<name>".
func (k KamailioExport) LuaName() string {
	if k.Module == "" {
		return "KSR." + k.Name
	}
	return "KSR." + k.Module + "." + k.Name
}

var kamailioOnce = sync.OnceValue(func() map[string]map[string]KamailioExport {
	out := map[string]map[string]KamailioExport{}
	for _, line := range strings.Split(kamailioExports, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 5 || f[0] == "module" {
			continue
		}
		mod := f[0]
		if mod == "(core)" {
			mod = ""
		}
		if out[mod] == nil {
			out[mod] = map[string]KamailioExport{}
		}
		out[mod][f[1]] = KamailioExport{Module: mod, Name: f[1], Params: f[3], Return: f[4]}
	}
	return out
})

// LookupKamailio returns Kamailio's export KSR.<module>.<name>.
func LookupKamailio(module, name string) (KamailioExport, bool) {
	k, ok := kamailioOnce()[module][name]
	return k, ok
}

// KamailioHasModule reports whether Kamailio has a KSR.<module> table.
func KamailioHasModule(module string) bool {
	_, ok := kamailioOnce()[module]
	return ok
}

// KamailioModules returns the KSR sub-table names Kamailio has, sorted
// ("" for the core table first).
func KamailioModules() []string {
	var out []string
	for m := range kamailioOnce() {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// KamailioFunctions returns Kamailio's exports of one module, by name.
func KamailioFunctions(module string) []KamailioExport {
	var out []KamailioExport
	for _, k := range kamailioOnce()[module] {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
