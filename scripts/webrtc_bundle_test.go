package scripts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// jssipDir is where the Makefile's tools target installs JsSIP (npm ci
// with the package.json and package-lock.json committed there).
const jssipDir = "testdata/webrtc/node_modules"

// requireCall finds the static require("...") calls of a CommonJS file.
var requireCall = regexp.MustCompile(`require\(\s*['"]([^'"]+)['"]\s*\)`)

// bundleJsSIP makes one script a browser can load from JsSIP's CommonJS
// files in node_modules (the npm package ships no browser build): every
// file reachable from jssip's entry point wrapped in a function, with a
// small require that resolves the names the way node does for these
// packages (relative files, then a package's "browser" or "main"). The
// page gets window.JsSIP.
func bundleJsSIP(nodeModules string) (string, error) {
	type module struct {
		id   string
		body string
		deps map[string]string // require argument -> module id
	}
	var (
		mods  []*module
		seen  = map[string]bool{}
		visit func(id string) error
	)
	visit = func(id string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		b, err := os.ReadFile(filepath.Join(nodeModules, filepath.FromSlash(id)))
		if err != nil {
			return fmt.Errorf("jssip bundle: %w", err)
		}
		m := &module{id: id, body: string(b), deps: map[string]string{}}
		if strings.HasSuffix(id, ".json") {
			m.body = "module.exports = " + m.body + ";"
		}
		mods = append(mods, m)
		for _, r := range requireCall.FindAllStringSubmatch(m.body, -1) {
			dep, err := resolveModule(nodeModules, path.Dir(id), r[1])
			if err != nil {
				return fmt.Errorf("jssip bundle: %s: %w", id, err)
			}
			m.deps[r[1]] = dep
			if err := visit(dep); err != nil {
				return err
			}
		}
		return nil
	}
	entry, err := resolveModule(nodeModules, ".", "jssip")
	if err != nil {
		return "", err
	}
	if err := visit(entry); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("(function () {\nconst defs = {}, cache = {};\n")
	for _, m := range mods {
		deps, _ := json.Marshal(m.deps)
		id, _ := json.Marshal(m.id)
		fmt.Fprintf(&b, "defs[%s] = [%s, function (require, module, exports) {\n%s\n}];\n", id, deps, m.body)
	}
	b.WriteString(`function load(id) {
  if (cache[id]) return cache[id].exports;
  const module = cache[id] = {exports: {}};
  const [deps, fn] = defs[id];
  fn(name => {
    if (!(name in deps)) throw new Error("jssip bundle: " + id + " requires unknown " + name);
    return load(deps[name]);
  }, module, module.exports);
  return module.exports;
}
`)
	fmt.Fprintf(&b, "window.JsSIP = load(%q);\n})();\n", entry)
	return b.String(), nil
}

// resolveModule turns a require argument in folder dir (relative to
// node_modules) into a file path relative to node_modules.
func resolveModule(nodeModules, dir, name string) (string, error) {
	exists := func(p string) bool {
		st, err := os.Stat(filepath.Join(nodeModules, filepath.FromSlash(p)))
		return err == nil && !st.IsDir()
	}
	file := func(p string) (string, bool) {
		for _, c := range []string{p, p + ".js", p + ".json", p + "/index.js"} {
			if exists(c) {
				return path.Clean(c), true
			}
		}
		return "", false
	}
	if strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../") {
		if p, ok := file(path.Join(dir, name)); ok {
			return p, nil
		}
		return "", fmt.Errorf("cannot resolve %s from %s", name, dir)
	}
	pkg, sub, _ := strings.Cut(name, "/")
	if strings.HasPrefix(name, "@") {
		scope, rest, _ := strings.Cut(name, "/")
		name2, sub2, _ := strings.Cut(rest, "/")
		pkg, sub = scope+"/"+name2, sub2
	}
	if sub != "" {
		if p, ok := file(path.Join(pkg, sub)); ok {
			return p, nil
		}
		return "", fmt.Errorf("cannot resolve %s", name)
	}
	var meta struct {
		Main    string `json:"main"`
		Browser any    `json:"browser"`
	}
	b, err := os.ReadFile(filepath.Join(nodeModules, pkg, "package.json"))
	if err != nil {
		return "", fmt.Errorf("package %s: %w", pkg, err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("package %s: %w", pkg, err)
	}
	entry := meta.Main
	if s, ok := meta.Browser.(string); ok {
		entry = s
	}
	if entry == "" {
		entry = "index.js"
	}
	if p, ok := file(path.Join(pkg, entry)); ok {
		return p, nil
	}
	return "", fmt.Errorf("package %s: no entry file %s", pkg, entry)
}
