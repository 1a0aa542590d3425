package main

// The README's examples are run here, so that they cannot rot: every
// ```lua block goes through kemi check and every ```go block through the
// compiler and go vet. README.md is read at test time, never copied.
//
// A block is tested unless the last non-blank line before its opening
// fence is one of these HTML comments (invisible on GitHub):
//
//	<!-- not a script -->               the block is a fragment: not tested
//	<!-- kemi check -D NAME=VALUE ... --> extra flags for kemi check (lua)
//
// A go block is a fragment of a function body, unless it starts with
// "package": it is compiled as the body of
//
//	func(ctx context.Context, t *testing.T, src []byte) error
//
// with an import for every package it names (readmeImports), and a
// "_ = name" for every variable it declares, since a fragment need not use
// what it shows.

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/urfave/cli/v2"
)

const readmePath = "../../README.md"

// readmeImports are the packages a go block may name without importing.
var readmeImports = map[string]string{
	"engine":     "github.com/kemisip/kemi/engine",
	"enginetest": "github.com/kemisip/kemi/engine/enginetest",
	"kemi":       "github.com/kemisip/kemi/kemi",
	"kemitest":   "github.com/kemisip/kemi/kemi/kemitest",
	"luaext":     "github.com/kemisip/kemi/luaext",
	"context":    "context",
	"fmt":        "fmt",
	"net":        "net",
	"netip":      "net/netip",
	"os":         "os",
	"slog":       "log/slog",
	"strings":    "strings",
	"testing":    "testing",
	"time":       "time",
}

// codeBlock is one fenced block of a Markdown file.
type codeBlock struct {
	lang   string
	line   int // of the opening fence, from 1
	text   string
	marker string // the HTML comment before the fence, without <!-- -->
}

// codeBlocks returns the fenced blocks of Markdown text. A fence may be
// indented (a block in a list); its indentation is removed from the lines
// of the block.
func codeBlocks(text string) []codeBlock {
	var out []codeBlock
	lines := strings.Split(text, "\n")
	lastText := ""
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(trimmed, "```") {
			if trimmed != "" {
				lastText = trimmed
			}
			continue
		}
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " \t"))]
		b := codeBlock{line: i + 1}
		if f := strings.Fields(strings.TrimPrefix(trimmed, "```")); len(f) > 0 {
			b.lang = strings.ToLower(f[0])
		}
		if c, ok := strings.CutPrefix(lastText, "<!--"); ok {
			if c, ok = strings.CutSuffix(c, "-->"); ok {
				b.marker = strings.TrimSpace(c)
			}
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		b.text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
		lastText = ""
	}
	return out
}

func readmeBlocks(t *testing.T, lang string) []codeBlock {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []codeBlock
	for _, b := range codeBlocks(string(data)) {
		if b.lang == lang {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no ```%s block: is the parser of this test broken?", lang)
	}
	return out
}

// TestReadmeLuaExamples runs every ```lua block of README.md through kemi
// check, the real start-up path, as a user who copies it would.
func TestReadmeLuaExamples(t *testing.T) {
	dir := t.TempDir()
	for _, b := range readmeBlocks(t, "lua") {
		if b.marker == "not a script" {
			continue
		}
		if b.marker == "kemi test" {
			readmeLuaTest(t, dir, b)
			continue
		}
		args := []string{"check"}
		if flags, ok := strings.CutPrefix(b.marker, "kemi check"); ok {
			args = append(args, strings.Fields(flags)...)
		}
		// blank lines up to the block: the script's lines are README.md's
		path := filepath.Join(dir, strconv.Itoa(b.line), "README.md")
		if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Repeat("\n", b.line)+b.text), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI(t, append(args, "-f", path)...)
		if code != 0 {
			t.Errorf("README.md:%d: the ```lua block fails `kemi %s` (exit %d); fix it, or mark it <!-- not a script --> if it is a fragment:\n%s%s",
				b.line, strings.Join(args, " "), code, out, errs)
		}
	}
}

// readmeLuaTest runs a ```lua block marked <!-- kemi test -->, a test
// file of `kemi test` whose scripts are named from examples/tests
// ("../../scripts/..."), as a user who copies it there would.
func readmeLuaTest(t *testing.T, dir string, b codeBlock) {
	t.Helper()
	scripts, err := filepath.Abs("../../scripts")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, strconv.Itoa(b.line), "readme_test.lua")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := strings.Repeat("\n", b.line) + strings.ReplaceAll(b.text, `"../../scripts/`, `"`+scripts+`/`)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "test", filepath.Dir(path)); code != 0 {
		t.Errorf("README.md:%d: the ```lua block marked kemi test fails `kemi test` (exit %d):\n%s%s", b.line, code, out, errs)
	}
}

// TestReadmeGoExamples compiles and vets every ```go block of README.md in
// a package generated inside the module (a folder whose name starts with
// '_', which ./... skips), removed afterwards. Errors are reported at the
// block's lines in README.md.
func TestReadmeGoExamples(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH (%v): README.md's go blocks are not compiled", err)
	}
	dir, err := os.MkdirTemp(".", "_readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := 0
	for _, b := range readmeBlocks(t, "go") {
		if b.marker == "not a script" {
			continue
		}
		if b.marker == "kemi test" {
			readmeLuaTest(t, dir, b)
			continue
		}
		src, err := goBlockFile(b)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.line, err)
			continue
		}
		name := filepath.Join(dir, fmt.Sprintf("readme_line%d.go", b.line))
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		return
	}
	cmd := exec.Command(goTool, "vet", "./"+filepath.Base(dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("a ```go block of README.md does not compile or vet (%v):\n%s", err, out)
	}
}

// goBlockFile makes a Go file of a go block: as it is when it is a whole
// file, otherwise the block as the body of a function (see the top of
// this file). Line directives make errors point into README.md.
func goBlockFile(b codeBlock) (string, error) {
	at := fmt.Sprintf("//line README.md:%d\n", b.line+1)
	if strings.HasPrefix(strings.TrimSpace(b.text), "package ") {
		if !strings.HasPrefix(strings.TrimSpace(b.text), "package readme\n") {
			return "", fmt.Errorf("a whole-file go block must be package readme")
		}
		return at + b.text, nil
	}
	const head = "package p\nfunc _() {\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", head+b.text+"}\n", 0)
	if err != nil {
		return "", fmt.Errorf("the go block is not a function body: %v", err)
	}
	body := f.Decls[0].(*ast.FuncDecl).Body
	params := map[string]bool{"ctx": true, "t": true, "src": true}
	imports := map[string]bool{"context": true, "testing": true}
	var unknown error
	ast.Inspect(body, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil && !params[id.Name] {
			if _, known := readmeImports[id.Name]; !known {
				unknown = fmt.Errorf("the go block names package %q: add its import path to readmeImports in cmd/kemi/readme_test.go", id.Name)
			}
			imports[id.Name] = true
		}
		return true
	})
	if unknown != nil {
		return "", unknown
	}
	// what the block declares at its top level: a fragment need not use it
	var declared []string
	for _, st := range body.List {
		switch s := st.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						declared = append(declared, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := s.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, spec := range g.Specs {
					for _, id := range spec.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							declared = append(declared, id.Name)
						}
					}
				}
			}
		}
	}
	text := b.text
	var tail string
	if n := len(body.List); n > 0 {
		if ret, ok := body.List[n-1].(*ast.ReturnStmt); ok {
			// the uses go before the block's own final return
			off := fset.Position(ret.Pos()).Offset - len(head)
			text, tail = text[:off], text[off:]
		}
	}
	var w strings.Builder
	w.WriteString("// Code generated by cmd/kemi/readme_test.go from README.md. DO NOT EDIT.\n\npackage readme\n\nimport (\n")
	paths := make([]string, 0, len(imports))
	for name := range imports {
		paths = append(paths, readmeImports[name])
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&w, "\t%q\n", p)
	}
	fmt.Fprintf(&w, ")\n\nfunc readmeLine%d(ctx context.Context, t *testing.T, src []byte) error {\n", b.line)
	w.WriteString(at + text)
	w.WriteString("//line generated-by-readme_test.go:1\n")
	for _, name := range declared {
		fmt.Fprintf(&w, "\t_ = %s\n", name)
	}
	if tail != "" {
		fmt.Fprintf(&w, "//line README.md:%d\n%s", b.line+1+strings.Count(text, "\n"), tail)
	} else {
		w.WriteString("\treturn nil\n")
	}
	w.WriteString("}\n")
	return w.String(), nil
}

func TestCodeBlocks(t *testing.T) {
	md := "# t\n" + // 1
		"```lua\n" + // 2
		"a()\n" + // 3
		"```\n" + // 4
		"<!-- not a script -->\n" + // 5
		"```lua\n" + // 6
		"b()\n" + // 7
		"```\n" + // 8
		"- item:\n" + // 9
		"  <!-- kemi check -D DST=sip:x -->\n" + // 10
		"\n" + // 11
		"  ```Lua title\n" + // 12
		"  if x then\n" + // 13
		"    c()\n" + // 14
		"  end\n" + // 15
		"  ```\n" + // 16
		"text\n" + // 17
		"```\n" + // 18
		"plain\n" + // 19
		"```\n" // 20
	got := codeBlocks(md)
	want := []codeBlock{
		{lang: "lua", line: 2, text: "a()\n"},
		{lang: "lua", line: 6, text: "b()\n", marker: "not a script"},
		{lang: "lua", line: 12, text: "if x then\n  c()\nend\n", marker: "kemi check -D DST=sip:x"},
		{lang: "", line: 18, text: "plain\n"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("codeBlocks:\n got %+v\nwant %+v", got, want)
	}
}

func TestGoBlockFile(t *testing.T) {
	cases := []struct {
		name, block string
		want        []string // in the generated file
		err         string
	}{
		{"fragment", "e, err := engine.New(engine.Config{})\n// handle err\naddr := e.Addr(\"udp\")\n",
			[]string{`"github.com/kemisip/kemi/engine"`, "//line README.md:11\ne, err :=", "_ = e\n\t_ = err\n\t_ = addr\n\treturn nil\n}"}, ""},
		{"final return", "var n int\nif n > 0 {\n\treturn nil\n}\nreturn fmt.Errorf(\"x\")\n",
			[]string{`"fmt"`, "_ = n\n//line README.md:15\nreturn fmt.Errorf"}, ""},
		{"whole file", "package readme\n\nfunc F() {}\n", []string{"//line README.md:11\npackage readme\n"}, ""},
		{"whole file of another package", "package main\n", nil, "must be package readme"},
		{"unknown package", "x := yaml.Marshal(1)\n", nil, `names package "yaml"`},
		{"not Go", "e := := 1\n", nil, "not a function body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := goBlockFile(codeBlock{lang: "go", line: 10, text: c.block})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(src, w) {
					t.Errorf("generated file lacks %q:\n%s", w, src)
				}
			}
		})
	}
}

// readmeSection returns the text of README.md's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestReadmeCLIFlags keeps README.md's CLI section in step with the
// flags: every flag of every command and subcommand is named there, and
// every --flag named there exists.
func TestReadmeCLIFlags(t *testing.T) {
	section := readmeSection(t, "The CLI")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("(?:^|[\\s\\[(`])(--?[a-zA-Z][a-zA-Z0-9-]*)").FindAllStringSubmatch(section, -1) {
		named[strings.TrimLeft(m[1], "-")] = true
	}
	flags := map[string]bool{"help": true, "version": true}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			name := strings.TrimSpace(path + " " + cmd.Name)
			for _, f := range cmd.Flags {
				found := false
				for _, n := range f.Names() {
					flags[n] = true
					found = found || named[n]
				}
				if !found {
					t.Errorf("README.md's CLI section does not name --%s (kemi %s)", f.Names()[0], name)
				}
			}
			walk(name, cmd.Subcommands)
		}
	}
	walk("", newApp().Commands)
	for _, m := range regexp.MustCompile("(?:^|[\\s\\[(`])--([a-zA-Z][a-zA-Z0-9-]*)").FindAllStringSubmatch(section, -1) {
		if !flags[m[1]] {
			t.Errorf("README.md's CLI section names --%s, which no command has", m[1])
		}
	}
}

// TestReadmeConfigKeys: README.md's configuration section names every
// [core] key a kemi.toml may set.
func TestReadmeConfigKeys(t *testing.T) {
	section := readmeSection(t, "Configuration file")
	core, _ := reflect.TypeOf(engine.FileConfig{}).FieldByName("Core")
	for i := 0; i < core.Type.NumField(); i++ {
		key, _, _ := strings.Cut(core.Type.Field(i).Tag.Get("toml"), ",")
		if !strings.Contains(section, "`"+key+"`") {
			t.Errorf("README.md's configuration section does not name the [core] key %s", key)
		}
	}
}
