package kemi_test

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// journal records the lifecycle calls of the loader's test modules.
type journal struct {
	mu    sync.Mutex
	calls []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	j.calls = append(j.calls, s)
	j.mu.Unlock()
}

func (j *journal) take() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := j.calls
	j.calls = nil
	return out
}

// lifeJournal is shared by the loader test modules: tests using it do not
// run in parallel.
var lifeJournal journal

// lifeModule records ModInit, ChildInit and Destroy; ModInit fails when
// its parameter fail is set, and it reads the parameter n.
type lifeModule struct {
	name string
	env  *kemi.Env
}

func (m *lifeModule) ModInit(env *kemi.Env) error {
	m.env = env
	lifeJournal.add("init " + m.name)
	env.Params.Int("n", 0)
	if env.Params.Bool("fail", false) {
		return errors.New("failed on purpose")
	}
	return nil
}

func (m *lifeModule) ChildInit(rank int) error {
	lifeJournal.add("child " + m.name + " " + kemi.RankName(rank))
	return nil
}

func (m *lifeModule) Destroy() { lifeJournal.add("destroy " + m.name) }

func (m *lifeModule) Exports() []kemi.Export {
	return []kemi.Export{{Module: m.name, Name: "f", Return: kemi.ReturnInt,
		Func: func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }}}
}

func (m *lifeModule) OnReply(*kemi.Msg) bool { return false }

func init() {
	for i, name := range []string{"kemi-test-b", "kemi-test-a", "kemi-test-c"} {
		name := name
		kemi.Register(kemi.ModuleInfo{Name: name, Order: 1000 + 10*(i%2), New: func() kemi.Module { return &lifeModule{name: name} }})
	}
	kemi.Register(kemi.ModuleInfo{Name: "kemi-test-named-only", New: func() kemi.Module { return &lifeModule{name: "kemi-test-named-only"} }})
}

// TestStandardModulesOrder checks the order hint: increasing Order, ties
// by name, modules without Order left out.
func TestStandardModulesOrder(t *testing.T) {
	var got []string
	for _, n := range kemi.StandardModules() {
		if strings.HasPrefix(n, "kemi-test-") {
			got = append(got, n)
		}
	}
	want := []string{"kemi-test-b", "kemi-test-c", "kemi-test-a"} // b and c: 1000, a: 1010
	if !slices.Equal(got, want) {
		t.Errorf("standard order %v, want %v", got, want)
	}
	if got := kemi.EnabledModules([]string{"x", "core", "y", "x"}); !slices.Equal(got, []string{"core", "x", "y"}) {
		t.Errorf("EnabledModules = %v", got)
	}
	if got := kemi.EnabledModules(nil); len(got) == 0 || got[0] != "core" {
		t.Errorf("EnabledModules(nil) = %v: core must come first", got)
	}
}

// TestLoadModules checks the lifecycle the loader drives: ModInit in
// order, exports and hooks in module order, ChildInit in order, Destroy
// in reverse.
func TestLoadModules(t *testing.T) {
	lifeJournal.take()
	var logs bytes.Buffer
	set, err := kemi.LoadModules(kemi.LoadOptions{
		Modules: []string{"kemi-test-c", "kemi-test-a"},
		Params:  map[string]map[string]any{"kemi-test-a": {"n": 3}},
		Defines: map[string]string{"X": "1"},
		Workers: 4,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := set.ChildInit(kemi.RankInit); err != nil {
		t.Fatal(err)
	}
	set.Destroy()
	set.Destroy() // once only
	want := []string{"init kemi-test-c", "init kemi-test-a", "child kemi-test-c init", "child kemi-test-a init", "destroy kemi-test-a", "destroy kemi-test-c"}
	if got := lifeJournal.take(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	var names []string
	for _, x := range set.Exports {
		names = append(names, x.LuaName())
	}
	if !slices.Equal(names, []string{"KSR.kemi-test-c.f", "KSR.kemi-test-a.f"}) {
		t.Errorf("exports %v", names)
	}
	if len(set.ReplyHooks) != 2 || set.Module("kemi-test-a") == nil || set.Module("nosuch") != nil {
		t.Errorf("hooks %d, modules %v", len(set.ReplyHooks), set.Modules)
	}
	env := set.Modules[1].Env
	if env.Workers != 4 || env.Defines["X"] != "1" || env.Module != "kemi-test-a" || env.Metrics == nil || env.PVs == nil || env.Services == nil {
		t.Errorf("env %+v", env)
	}
}

// TestLoadModulesErrors checks that a failed load names the problem and
// destroys, in reverse, every module whose ModInit ran, the failing one
// included.
func TestLoadModulesErrors(t *testing.T) {
	cases := []struct {
		name    string
		modules []string
		params  map[string]map[string]any
		err     string
		calls   []string
	}{
		{"unknown module", []string{"kemi-test-a", "nosuch"}, nil, `unknown module "nosuch" (known: `,
			[]string{"init kemi-test-a", "destroy kemi-test-a"}},
		{"mod_init fails", []string{"kemi-test-a", "kemi-test-b", "kemi-test-c"}, map[string]map[string]any{"kemi-test-b": {"fail": true}},
			"module kemi-test-b: mod_init: failed on purpose",
			[]string{"init kemi-test-a", "init kemi-test-b", "destroy kemi-test-b", "destroy kemi-test-a"}},
		{"unknown parameter", []string{"kemi-test-a", "kemi-test-b"}, map[string]map[string]any{"kemi-test-a": {"bogus": 1}},
			"config: kemi-test-a: unknown parameter bogus",
			[]string{"init kemi-test-a", "destroy kemi-test-a"}},
		{"parameters of a module not loaded", []string{"kemi-test-a"}, map[string]map[string]any{"kemi-test-b": {"n": 1}},
			"config: kemi-test-b: parameters for a module that is not enabled",
			[]string{"init kemi-test-a", "destroy kemi-test-a"}},
		{"parameters of no module", []string{"kemi-test-a"}, map[string]map[string]any{"nosuch": {"n": 1}},
			"config: nosuch: parameters for an unknown module (known: ",
			[]string{"init kemi-test-a", "destroy kemi-test-a"}},
		{"listed twice", []string{"kemi-test-a", "kemi-test-a"}, nil, `module "kemi-test-a" listed twice`,
			[]string{"init kemi-test-a", "destroy kemi-test-a"}},
		{"same export twice", []string{"kemi-test-dupexport"}, nil, "KSR.kemitestdupx.f exported twice", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lifeJournal.take()
			set, err := kemi.LoadModules(kemi.LoadOptions{Modules: c.modules, Params: c.params, Logger: slog.New(slog.DiscardHandler)})
			if err == nil || !strings.Contains(err.Error(), c.err) || set != nil {
				t.Fatalf("LoadModules = %v, %v; want an error with %q", set, err, c.err)
			}
			if got := lifeJournal.take(); !slices.Equal(got, c.calls) {
				t.Errorf("calls %v, want %v", got, c.calls)
			}
			// a mistake in the configuration, not a module failing
			var ce *kemi.ConfigError
			wantConfig := c.name != "mod_init fails" && c.name != "same export twice"
			if errors.As(err, &ce) != wantConfig {
				t.Errorf("%v: a *kemi.ConfigError: %v, want %v", err, !wantConfig, wantConfig)
			}
		})
	}
}

// dupExports exports one function twice.
type dupExports struct{}

func (dupExports) Exports() []kemi.Export {
	x := kemi.Export{Module: "kemitestdupx", Name: "f", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }}
	return []kemi.Export{x, x}
}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kemi-test-dupexport", New: func() kemi.Module { return dupExports{} }})
}
