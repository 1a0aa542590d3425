package luaext_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
	"github.com/kemisip/kemi/luaext"
)

// record is what the test exports saw.
type record struct {
	args kemi.Args
	n    int
}

func testExports(rec *record) []kemi.Export {
	echo := func(m *kemi.Msg, a kemi.Args) kemi.Value { rec.args = a; rec.n++; return kemi.Str(a.Str(0)) }
	return []kemi.Export{
		{Module: "t", Name: "str", Params: kemi.S, Return: kemi.ReturnXval, Func: echo},
		{Module: "t", Name: "int", Params: kemi.I, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			rec.args = a
			rec.n++
			return kemi.Int(a.Int(0))
		}},
		{Module: "t", Name: "si", Params: kemi.SI, Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
			rec.args = a
			return kemi.Int(a.Int(1))
		}},
		{Module: "t", Name: "yes", Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.True }},
		{Module: "t", Name: "no", Return: kemi.ReturnBool, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.False }},
		{Module: "t", Name: "null", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Null }},
		{Module: "t", Name: "num", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Int(42) }},
		{Module: "t", Name: "void", Return: kemi.ReturnVoid, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Null }},
		{Module: "t", Name: "panic", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { panic("bug in a module") }},
		{Module: "t", Name: "where", Return: kemi.ReturnXval, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.Str(m.Where()) }},
		{Name: "core_fn", Return: kemi.ReturnInt, Func: func(m *kemi.Msg, a kemi.Args) kemi.Value { return kemi.OK }},
	}
}

type catalog struct{}

func (catalog) Kamailio(module, name string) bool {
	if name == "" {
		return kemi.KamailioHasModule(module)
	}
	_, ok := kemi.LookupKamailio(module, name)
	return ok
}
func (catalog) Available(module string) bool { return module == "tm" }

func newState(t testing.TB, src string, rec *record, opts ...func(*luaext.Options)) (*luaext.State, *bytes.Buffer) {
	t.Helper()
	sc, err := luaext.Compile("t.lua", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	o := luaext.Options{Exports: testExports(rec), Catalog: catalog{}, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	for _, f := range opts {
		f(&o)
	}
	st, err := luaext.NewState(sc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, logs
}

func msg(t testing.TB) *kemi.Msg {
	return kemitest.ParseMsg(t, "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@127.0.0.1>\nCall-ID: c1\nCSeq: 1 OPTIONS\n\n")
}

// TestConversions runs Lua snippets and compares the result with what
// app_lua gives.
func TestConversions(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want string
	}{
		{"int from numeric string", `KSR.t.int("404")`, "404"},
		{"int from float", `KSR.t.int(3.9)`, "3"},
		{"int from hex string", `KSR.t.int("0x10")`, "16"},
		{"int from junk", `KSR.t.int("abc")`, "0"},
		{"int from nil", `KSR.t.int(nil)`, "0"},
		{"int from bool", `KSR.t.int(true)`, "0"},
		{"str from number", `KSR.t.str(200)`, "200"},
		{"str from float", `KSR.t.str(1.5)`, "1.5"},
		{"str from nil", `KSR.t.str(nil)`, ""},
		{"str from table", `KSR.t.str({})`, ""},
		{"too few args gives false", `tostring(KSR.t.si("x"))`, "false"},
		{"no args gives false", `tostring(KSR.t.int())`, "false"},
		{"extra args ignored", `KSR.t.si("x", 7, "extra")`, "7"},
		{"args to zero-param gives false", `tostring(KSR.t.yes(1))`, "false"},
		{"bool true", `tostring(KSR.t.yes())`, "true"},
		{"bool false", `tostring(KSR.t.no())`, "false"},
		{"xval nil", `tostring(KSR.t.null())`, "nil"},
		{"xval number", `type(KSR.t.num())`, "number"},
		{"void is false", `tostring(KSR.t.void())`, "false"},
		{"int is a number", `type(KSR.t.int(1))`, "number"},
		{"panic gives -1", `KSR.t.panic()`, "-1"},
		{"core function", `KSR.core_fn()`, "1"},
		{"KSRVERSION", `KSRVERSION`, "2.0"},
		{"where", `KSR.t.where()`, "t.lua:2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &record{}
			st, _ := newState(t, "function f()\n  KSR.t.str(tostring("+c.expr+"))\nend\n", rec)
			res, err := st.Call("f", kemi.RouteRequest, msg(t))
			if err != nil || !res.Ran {
				t.Fatalf("ran=%v err=%v", res.Ran, err)
			}
			if got := rec.args.Str(0); got != c.want {
				t.Errorf("%s = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

func TestExitDropAndPcall(t *testing.T) {
	rec := &record{}
	st, _ := newState(t, `
function plain() KSR.t.str("a"); KSR.x.exit(); KSR.t.str("b") end
function dropper() KSR.x.drop(); KSR.t.str("b") end
function caught()
	local ok, err = pcall(KSR.x.exit)
	KSR.t.str(tostring(ok) .. " " .. tostring(err))
end
function raw() error("~~ksr~exit~~") end
`, rec)
	m := msg(t)
	res, err := st.Call("plain", kemi.RouteRequest, m)
	if err != nil || !res.Exited || rec.args.Str(0) != "a" {
		t.Fatalf("plain: res=%+v err=%v last=%q", res, err, rec.args.Str(0))
	}
	res, err = st.Call("dropper", kemi.RouteRequest, m)
	if err != nil || !res.Exited || !m.Drop {
		t.Fatalf("drop: res=%+v err=%v drop=%v", res, err, m.Drop)
	}
	res, err = st.Call("caught", kemi.RouteRequest, msg(t))
	if err != nil || res.Exited || rec.args.Str(0) != "false ~~ksr~exit~~" {
		t.Fatalf("pcall: res=%+v err=%v got=%q", res, err, rec.args.Str(0))
	}
	// error() from Lua adds a position, so it is not the exit marker
	_, err = st.Call("raw", kemi.RouteRequest, msg(t))
	if err == nil {
		t.Fatal("error() with the exit text at level 1 should be an error")
	}
}

func TestRuntimeErrorHasPositionAndTraceback(t *testing.T) {
	st, _ := newState(t, "function f()\n  g()\nend\nfunction g()\n  local x = nil\n  return x.y\nend\n", &record{})
	res, err := st.Call("f", kemi.RouteRequest, msg(t))
	var rerr *luaext.RuntimeError
	if !res.Ran || !errors.As(err, &rerr) {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	if rerr.Where() != "t.lua:6" || !strings.Contains(rerr.Traceback, "t.lua:2") {
		t.Fatalf("where=%q traceback=%q", rerr.Where(), rerr.Traceback)
	}
	// the state is still usable
	if _, err := st.Call("f", kemi.RouteRequest, msg(t)); err == nil {
		t.Fatal("second run should fail the same way")
	}
}

func TestMissingModuleAndFunctionMessages(t *testing.T) {
	st, _ := newState(t, `
function disabled() KSR.tm.t_relay() end
function absent() KSR.sipt.sipt_destination("a", "b", "c") end
function missing() KSR.t.t_nope() end
function kamailio_only() return KSR.pvx end
function detect() if KSR.auth then KSR.t.str("auth") else KSR.t.str("no auth") end end
`, &record{})
	cases := map[string]string{
		"disabled": "module tm is not enabled",
		"absent":   "module sipt is not implemented in kemi",
		"missing":  "Kamailio has no KSR.t.t_nope either",
	}
	for fn, want := range cases {
		_, err := st.Call(fn, kemi.RouteRequest, msg(t))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", fn, err, want)
		}
	}
	if _, err := st.Call("detect", kemi.RouteRequest, msg(t)); err != nil {
		t.Errorf("feature detection failed: %v", err)
	}
}

func TestUnimplementedKamailioFunctionFailsLoudly(t *testing.T) {
	// module "sl" enabled (one function), the others Kamailio has are not
	sc, _ := luaext.Compile("t.lua", []byte(`function f() KSR.sl.send_reply_mode(200, "OK", 0) end`))
	st, err := luaext.NewState(sc, luaext.Options{Catalog: catalog{}, Exports: []kemi.Export{
		{Module: "sl", Name: "sl_send_reply", Params: kemi.IS, Return: kemi.ReturnInt, Func: func(*kemi.Msg, kemi.Args) kemi.Value { return kemi.OK }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.Call("f", kemi.RouteRequest, msg(t))
	if err == nil || !strings.Contains(err.Error(), "KSR.sl.send_reply_mode is not implemented in kemi") || !strings.Contains(err.Error(), "t.lua:1") {
		t.Fatalf("err = %v", err)
	}
}

func TestTopLevelHasNoMessage(t *testing.T) {
	rec := &record{}
	_, logs := newState(t, "KSR.t.str('x')\nfunction ksr_request_route() end\n", rec)
	if rec.n != 0 || !strings.Contains(logs.String(), "no SIP message") {
		t.Fatalf("top-level KSR call ran: n=%d logs=%s", rec.n, logs)
	}
}

func TestTimeoutStopsLoopAndStateRecovers(t *testing.T) {
	st, _ := newState(t, "function spin() while true do end end\nfunction ok() KSR.t.str('fine') end\n", &record{},
		func(o *luaext.Options) { o.Timeout = 50 * time.Millisecond })
	done := make(chan error, 1)
	go func() {
		_, err := st.Call("spin", kemi.RouteRequest, msg(t))
		done <- err
	}()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-done:
			var rerr *luaext.RuntimeError
			if !errors.As(err, &rerr) || !rerr.Timeout {
				t.Fatalf("err = %v", err)
			}
			if _, err := st.Call("ok", kemi.RouteRequest, msg(t)); err != nil {
				t.Fatalf("state unusable after timeout: %v", err)
			}
			return
		case <-deadline:
			t.Fatal("loop was never stopped")
		case <-time.After(10 * time.Millisecond):
			st.Overrun(time.Now())
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		"x = = 1\n":                          "t.lua:1:",
		"function f()\n  return 1 // 2\nend": "Lua 5.1",
		"\x1bLua bytecode":                   "bytecode",
		"function f()\n":                     "t.lua",
	}
	for src, want := range cases {
		_, err := luaext.Compile("t.lua", []byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q) = %v, want %q", src, err, want)
		}
	}
}

func TestAnalyze(t *testing.T) {
	sc, err := luaext.Compile("t.lua", []byte(`
function ksr_request_route()
	KSR.tm.t_on_failure("fail")
	KSR.tm.t_on_branch("nobranch")
	if KSR.auth then KSR.auth.auth_challenge("x", 0) end
	KSR.info("hi")
	local f = function() KSR.route("helper") end
end
function fail() end
helper = function() end
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := luaext.Analyze(sc)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]int{}
	for _, r := range a.Refs {
		refs[r.Module+"."+r.Name] = r.Line
	}
	for want, line := range map[string]int{"tm.t_on_failure": 3, "tm.t_on_branch": 4, "auth.auth_challenge": 5, ".info": 6, ".route": 7} {
		if refs[want] != line {
			t.Errorf("ref %s at line %d, want %d (all: %v)", want, refs[want], line, refs)
		}
	}
	if _, ok := refs[".auth"]; ok {
		t.Error("feature test KSR.auth counted as a function use")
	}
	routes := map[string]int{}
	for _, r := range a.RouteRefs {
		routes[r.Route] = r.Line
	}
	if routes["fail"] != 3 || routes["nobranch"] != 4 || routes["helper"] != 7 {
		t.Errorf("route refs = %v", routes)
	}
	if a.Defined["fail"] != 9 || a.Defined["helper"] != 10 {
		t.Errorf("defined = %v", a.Defined)
	}
}

func TestTopLevelLoopIsStopped(t *testing.T) {
	sc, err := luaext.Compile("t.lua", []byte("local n = 0\nwhile true do\n  n = n + 1\nend\nfunction ksr_request_route() end\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = luaext.NewState(sc, luaext.Options{Timeout: 50 * time.Millisecond, TopLevelTimeout: 50 * time.Millisecond})
	var rerr *luaext.RuntimeError
	if !errors.As(err, &rerr) || !rerr.Timeout {
		t.Fatalf("err = %v, want a top-level timeout", err)
	}
	if !strings.HasPrefix(rerr.Msg, "t.lua:") || !strings.Contains(rerr.Msg, "top level stopped: ran longer than 50ms") {
		t.Fatalf("message = %q, want file:line and the limit", rerr.Msg)
	}
	if w := rerr.Where(); w != "t.lua:2" && w != "t.lua:3" && w != "t.lua:4" {
		t.Errorf("where = %q, want a line of the loop (2-4)", w)
	}
	// a quick top level is not affected, and routes keep their own limit
	st, _ := newState(t, "x = 1\nfunction f() KSR.t.str('ok') end\n", &record{},
		func(o *luaext.Options) { o.Timeout = 50 * time.Millisecond })
	if _, err := st.Call("f", kemi.RouteRequest, msg(t)); err != nil {
		t.Fatalf("route after a bounded top level: %v", err)
	}
}

func TestMissingNameExplainsOnlyItsOwnError(t *testing.T) {
	st, _ := newState(t, `
function detect_then_fail()
	if KSR.auth then KSR.t.str("auth") end
	local x = nil
	return x.y
end
`, &record{})
	_, err := st.Call("detect_then_fail", kemi.RouteRequest, msg(t))
	if err == nil || !strings.Contains(err.Error(), "t.lua:5:") {
		t.Fatalf("err = %v, want the error of line 5", err)
	}
	if strings.Contains(err.Error(), "KSR.auth") {
		t.Errorf("an unrelated error is explained by the feature test of line 3: %v", err)
	}
	// at top level too, a missing name explains the error it causes
	sc, _ := luaext.Compile("t.lua", []byte("KSR.tm.t_relay()\nfunction ksr_request_route() end\n"))
	_, err = luaext.NewState(sc, luaext.Options{Catalog: catalog{}})
	if err == nil || !strings.Contains(err.Error(), "module tm is not enabled") {
		t.Errorf("top-level error = %v, want it explained", err)
	}
}

func TestBuiltinsAreDefined(t *testing.T) {
	st, _ := newState(t, "", &record{})
	for _, name := range luaext.Builtins() {
		if err := st.L.DoString("assert(type(" + name + ") == 'function')"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(luaext.Builtins()) != 4 {
		t.Errorf("builtins = %v", luaext.Builtins())
	}
}

func TestWhyMissing(t *testing.T) {
	enabled := func(m string) bool { return m == "" || m == "t" || m == "x" }
	cases := []struct {
		module, name string
		want         string
		aboutModule  bool
	}{
		{"tm", "t_relay", "module tm is not enabled: add it to modules in the config file", true},
		{"", "tm", "module tm is not enabled: add it to modules in the config file", true},
		{"sipt", "sipt_destination", "module sipt is not implemented in kemi", true},
		{"", "sipt", "module sipt is not implemented in kemi", true},
		{"nosuchmod", "fn", "there is no module nosuchmod in kemi or in Kamailio", true},
		{"t", "t_nope", "Kamailio has no KSR.t.t_nope either", false},
		{"x", "nope", "Kamailio has no KSR.x.nope either", false},
		{"", "nothing_here", "Kamailio has no KSR.nothing_here either", false},
	}
	for _, c := range cases {
		why, about := luaext.WhyMissing(catalog{}, enabled, c.module, c.name)
		if why != c.want || about != c.aboutModule {
			t.Errorf("WhyMissing(%q, %q) = %q, %v; want %q, %v", c.module, c.name, why, about, c.want, c.aboutModule)
		}
	}
	if why, _ := luaext.WhyMissing(nil, enabled, "t", "x"); why != "Kamailio has no KSR.t.x either" {
		t.Errorf("without a catalog: %q", why)
	}
}
