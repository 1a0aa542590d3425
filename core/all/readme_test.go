package all_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestReadmeMetricTables keeps the Metrics table of every standard
// module's README in step with the metrics the module registers: the same
// families, of the same types. The README's table is
// | name | type | meaning |, with the name in backticks; a module without
// metrics has no table.
func TestReadmeMetricTables(t *testing.T) {
	set := kemi.NewMetrics()
	mods, err := kemi.LoadModules(kemi.LoadOptions{
		Modules: kemi.EnabledModules(nil),
		Metrics: set,
		DryRun:  true,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mods.Destroy()
	registered := registeredTypes(set)
	for _, lm := range mods.Modules {
		t.Run(lm.Name, func(t *testing.T) {
			dir := lm.Name
			if lm.Name == kemi.CoreModule {
				dir = "ksr"
			}
			readme, err := os.ReadFile(filepath.Join("..", dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			documented := readmeMetrics(t, string(readme))
			prefix := "kemi_" + lm.Name + "_"
			for family, typ := range registered {
				if !strings.HasPrefix(family, prefix) {
					continue
				}
				switch doc, ok := documented[family]; {
				case !ok:
					t.Errorf("%s registers %s (%s), which its README's Metrics table lacks", lm.Name, family, typ)
				case doc != typ:
					t.Errorf("README gives %s as a %s; it is a %s", family, doc, typ)
				}
			}
			for family := range documented {
				if _, ok := registered[family]; !ok || !strings.HasPrefix(family, prefix) {
					t.Errorf("README's Metrics table lists %s, which %s does not register", family, lm.Name)
				}
			}
		})
	}
}

// registeredTypes returns the type of every family in the set, from its
// # TYPE lines.
func registeredTypes(set *kemi.Metrics) map[string]string {
	var page bytes.Buffer
	set.WritePrometheus(&page)
	out := map[string]string{}
	for _, line := range strings.Split(page.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			out[name] = typ
		}
	}
	return out
}

var metricName = regexp.MustCompile("^`(kemi_[a-z0-9_]+)")

// readmeMetrics returns the families of the Metrics section's table with
// their types.
func readmeMetrics(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Metrics\n")
	if !ok {
		t.Fatal("README has no Metrics section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	out := map[string]string{}
	var header []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			if len(cells) < 3 || cells[0] != "name" || cells[1] != "type" {
				t.Fatalf("Metrics table header %q, want | name | type | meaning |", line)
			}
			continue
		}
		m := metricName.FindStringSubmatch(cells[0])
		if m == nil {
			continue // the |---| line
		}
		out[m[1]] = cells[1]
	}
	return out
}
