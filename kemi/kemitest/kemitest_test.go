package kemitest

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// dupModule exports the same function twice.
type dupModule struct{}

func (dupModule) Exports() []kemi.Export {
	x := kemi.Export{Module: "kemitestdup", Name: "f", Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }}
	return []kemi.Export{x, x}
}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kemitestdup", New: func() kemi.Module { return dupModule{} }})
}

// TestLoadRejectsDuplicateExports checks that Load refuses a function
// exported twice, as the engine does.
func TestLoadRejectsDuplicateExports(t *testing.T) {
	_, err := LoadErr(nil, "kemitestdup")
	if err == nil || !strings.Contains(err.Error(), "KSR.kemitestdup.f exported twice") {
		t.Fatalf("LoadErr = %v, want a duplicate export error", err)
	}
}

// TestCallConvertsAsLua checks that Call goes through the Lua binding's
// own argument handling: only the field of each parameter's declared kind
// is filled, numeric strings are ints, numbers are formatted as Lua does,
// and a wrong argument count is logged and gives false without running
// the function, as a script's call does.
func TestCallConvertsAsLua(t *testing.T) {
	var got *kemi.Args
	f := func(_ *kemi.Msg, a kemi.Args) kemi.Value { got = &a; return kemi.OK }
	e := &Env{logs: &LogBuffer{}, exports: map[string]kemi.Export{
		"KSR.x.f": {Module: "x", Name: "f", Params: kemi.SI, Return: kemi.ReturnInt, Func: f},
		"KSR.x.g": {Module: "x", Name: "g", Return: kemi.ReturnInt, Func: f},
	}}
	e.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	m := ParseMsg(t, "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n")
	cases := []struct {
		name  string
		fn    string
		args  []any
		want  kemi.Value
		ran   bool
		args2 [2]kemi.Arg
		log   string
	}{
		{"declared kinds", "KSR.x.f", []any{12, "34"}, kemi.OK, true, [2]kemi.Arg{{S: "12"}, {I: 34}}, ""},
		{"float and bool", "KSR.x.f", []any{1.5, true}, kemi.OK, true, [2]kemi.Arg{{S: "1.5"}, {I: 0}}, ""},
		{"extra argument ignored", "KSR.x.f", []any{"a", 1, "c"}, kemi.OK, true, [2]kemi.Arg{{S: "a"}, {I: 1}}, ""},
		{"too few", "KSR.x.f", []any{"a"}, kemi.False, false, [2]kemi.Arg{}, "not enough parameters"},
		{"none taken", "KSR.x.g", []any{"a"}, kemi.False, false, [2]kemi.Arg{}, "function takes none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got = nil
			e.ResetLogs()
			if v := e.Call(t, c.fn, m, c.args...); v != c.want {
				t.Errorf("%s = %+v, want %+v", c.fn, v, c.want)
			}
			if (got != nil) != c.ran {
				t.Fatalf("function ran: %v, want %v", got != nil, c.ran)
			}
			if got != nil && (got.V[0] != c.args2[0] || got.V[1] != c.args2[1]) {
				t.Errorf("args %+v, want %+v", got.V[:2], c.args2)
			}
			if c.log != "" && !strings.Contains(e.Logs(), c.log) {
				t.Errorf("log %q lacks %q", e.Logs(), c.log)
			}
		})
	}
}

// TestLoadRecordsLogs checks that modules log into the Env, not into the
// process's default logger.
func TestLoadRecordsLogs(t *testing.T) {
	env := Load(t, nil, "kemitestlog")
	env.Call(t, "KSR.kemitestlog.say", ParseMsg(t, "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"), "hello")
	if !strings.Contains(env.Logs(), "msg=hello") || !strings.Contains(env.Logs(), "module=kemitestlog") {
		t.Errorf("logs %q", env.Logs())
	}
}

// logModule logs what KSR.kemitestlog.say(text) gets, on its module logger.
type logModule struct{ log *slog.Logger }

func (m *logModule) ModInit(env *kemi.Env) error { m.log = env.Logger; return nil }

func (m *logModule) Exports() []kemi.Export {
	return []kemi.Export{{Module: "kemitestlog", Name: "say", Params: kemi.S, Return: kemi.ReturnInt,
		Func: func(_ *kemi.Msg, a kemi.Args) kemi.Value { m.log.Info(a.Str(0)); return kemi.OK }}}
}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kemitestlog", New: func() kemi.Module { return &logModule{} }})
}

// TestLoadDestroysAfterChildInitFails checks that a load that fails after
// ModInit (a ChildInit error) destroys the modules it initialised, as the
// engine does.
func TestLoadDestroysAfterChildInitFails(t *testing.T) {
	destroyed = 0
	if _, err := LoadErr(map[string]map[string]any{"kemitestchild": {"fail": true}}, "kemitestchild"); err == nil ||
		!strings.Contains(err.Error(), "module kemitestchild: child_init(init): failed on purpose") {
		t.Fatalf("LoadErr = %v, want the child_init error", err)
	}
	if destroyed != 1 {
		t.Errorf("Destroy ran %d times, want 1", destroyed)
	}
}

// destroyed counts kemitestchild's Destroy calls (the test is not parallel).
var destroyed int

// childModule fails ChildInit when its parameter fail is set.
type childModule struct{ fail bool }

func (m *childModule) ModInit(env *kemi.Env) error {
	m.fail = env.Params.Bool("fail", false)
	return nil
}

func (m *childModule) ChildInit(int) error {
	if m.fail {
		return errors.New("failed on purpose")
	}
	return nil
}

func (m *childModule) Destroy() { destroyed++ }

func (m *childModule) Exports() []kemi.Export { return nil }

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "kemitestchild", New: func() kemi.Module { return &childModule{} }})
}
