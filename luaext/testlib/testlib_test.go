package testlib

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeBackend records what the Lua API asks and answers every message
// with a 200 whose reason is the request's method.
type fakeBackend struct {
	configs  []Config
	requests []Request
	closed   int
}

func (b *fakeBackend) Start(cfg Config) (Engine, error) {
	b.configs = append(b.configs, cfg)
	return &fakeEngine{b: b}, nil
}

func (b *fakeBackend) RequestText(r Request) string {
	b.requests = append(b.requests, r)
	return r.Method + " " + r.RURI + " SIP/2.0\r\n\r\n"
}

func (b *fakeBackend) Derive(invite, method, totag string) (string, error) {
	return method + " " + strings.Fields(invite)[1] + " SIP/2.0\r\n\r\n", nil
}

func (b *fakeBackend) Authorize(req, header, challenge, user, password string) (string, error) {
	return req + "Authorization: " + user, nil
}

type fakeEngine struct{ b *fakeBackend }

func (e *fakeEngine) Run(route string, m Message) *Outcome {
	method := strings.Fields(m.Text)[0]
	return &Outcome{Route: route, Ran: true, Flags: 1 << 3,
		Replies: []Reply{{Code: 200, Reason: method, Dest: m.Source, Headers: []Header{{"X-Src", m.Source}}}},
		Relays:  []Relay{{ID: 7, Method: method, Dest: "udp:10.0.0.1:5060"}},
		Logs:    []string{"level=INFO msg=hello"},
		Trace:   []string{"s.lua:3: KSR.sl.sl_send_reply(200, \"" + method + "\") = 1"},
		PV:      func(name string) any { return name + "!" }}
}
func (e *fakeEngine) Reply(m Message) *Outcome { return e.Run("ksr_reply_route", m) }
func (e *fakeEngine) Answer(id, code int, _ string, _ []Header) *Outcome {
	return &Outcome{Route: "answer", Replies: []Reply{{Code: code + id}}}
}
func (e *fakeEngine) Fail(code int, _ string) *Outcome {
	return &Outcome{Route: "failure", Replies: []Reply{{Code: code}}}
}
func (e *fakeEngine) Call(name string, args ...any) (any, error) {
	return name + ":" + strings.Repeat("x", len(args)), nil
}
func (e *fakeEngine) RPC(method string, params ...any) (any, error) {
	return map[string]any{"m": method}, nil
}
func (e *fakeEngine) AddContact(Contact) error { return nil }
func (e *fakeEngine) Contacts(_, aor string) ([]Contact, error) {
	return []Contact{{AOR: aor, Contact: "sip:b@x", Q: -1}, {AOR: aor, Contact: "sip:a@x", Q: 500, Expires: 60}}, nil
}
func (e *fakeEngine) AddSubscriber(_, _, _ string) error { return nil }
func (e *fakeEngine) Close()                             { e.b.closed++ }

func runLua(t *testing.T, src string) (*FileResult, *fakeBackend) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.lua"), []byte("-- script\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "x_test.lua")
	if err := os.WriteFile(p, []byte("local T = require('kemi.test')\nT.script('s.lua')\n"+src), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{}
	return RunFile(p, b, Options{}), b
}

func TestAssertions(t *testing.T) {
	cases := []struct {
		name, body string
		// line of the failure, 0 for none; message, expected and actual
		line                  int
		msg, expected, actual string
	}{
		{"eq numbers", "T.eq(1, 1)", 0, "", "", ""},
		{"eq tables", "T.eq({1, {a = 'x'}}, {1, {a = 'x'}})", 0, "", "", ""},
		{"eq differs", "T.eq({1, {a = 'x'}}, {1, {a = 'y'}})", 4, "T.eq: values differ", `{1, {a="y"}}`, `{1, {a="x"}}`},
		{"eq extra key", "T.eq({a = 1, b = 2}, {a = 1})", 4, "T.eq: values differ", "{a=1}", "{a=1, b=2}"},
		{"eq message", "T.eq('a', 'b', 'why')", 4, "why", `"b"`, `"a"`},
		{"ne", "T.ne(1, 2)", 0, "", "", ""},
		{"ne equal", "T.ne('a', 'a')", 4, "T.ne: values are equal", `not "a"`, `"a"`},
		{"ok", "T.ok(0) T.ok('')", 0, "", "", ""},
		{"ok nil", "T.ok(nil)", 4, "T.ok: value is nil", "", ""},
		{"no", "T.no(false) T.no(nil)", 0, "", "", ""},
		{"no true", "\nT.no(true, 'must not')", 5, "must not", "", ""},
		{"match", "T.match('Busy Here', '^Busy')", 0, "", "", ""},
		{"match fails", "T.match('Busy', '^Here')", 4, "T.match: no match", `a match of "^Here"`, `"Busy"`},
		{"match of nil", "T.match(nil, 'x')", 4, "T.match: no match", `a match of "x"`, "nil"},
		{"contains string", "T.contains('a Too Many Hops b', 'Many')", 0, "", "", ""},
		{"contains list element", "T.contains({'x', 'level=INFO msg=hello'}, 'hello') T.contains({1, 2}, 2)", 0, "", "", ""},
		{"contains fails", "T.contains({'x'}, 'y')", 4, "T.contains: not found", `something holding "y"`, `{"x"}`},
		{"fatal", "T.fatal('stop')", 4, "stop", "", ""},
		// an assertion the test catches with pcall still fails it
		{"eq under pcall", "pcall(function() T.eq(1, 2) end)", 4, "T.eq: values differ", "2", "1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, _ := runLua(t, "T.test('t', function()\n"+c.body+"\nend)\n")
			if res.Err != nil {
				t.Fatalf("file error: %v", res.Err)
			}
			f := res.Tests[0].Failure
			if c.line == 0 {
				if f != nil {
					t.Fatalf("failed: %v", f)
				}
				return
			}
			if f == nil {
				t.Fatal("passed")
			}
			if !strings.HasSuffix(f.Where, "x_test.lua:"+strconv.Itoa(c.line)) || f.Message != c.msg || f.Expected != c.expected || f.Actual != c.actual || f.LuaError {
				t.Errorf("failure %+v", f)
			}
		})
	}
}

func TestResultsAndMessages(t *testing.T) {
	res, b := runLua(t, `
T.config{ defines = { "A", B = "b" }, aliases = { "example.com" }, tm = { fr_timer = 5 }, params = { dispatcher = { list_file = "d.list" } } }
T.test("one", function()
	T.config{ defines = { C = true } }
	local r = T.run(T.request{method = "INVITE", ruri = "sip:bob@x", from = "<sip:a@x>;tag=1",
		headers = { ["X-B"] = "2", ["X-A"] = { "1", "11" } }}:from("tcp:192.0.2.1:5070"))
	T.eq(r.reply.code, 200)
	T.eq(r.reply.reason, "INVITE")
	T.eq(r.reply:header("x-src"), "tcp:192.0.2.1:5070")
	T.eq(r.relays[1].dest, "udp:10.0.0.1:5060")
	T.ok(r:flag(3)) T.no(r:flag(2)) T.ok(r.flags[3])
	T.eq(r:pv("$du"), "$du!")
	T.eq(r.logs, { "level=INFO msg=hello" })
	T.eq(T.answer(r.relays[1], 180).reply.code, 187)
	T.eq(T.failure(486).reply.code, 486)
	T.eq(T.call("KSR.a.b", 1, "x"), "KSR.a.b:xx")
	T.eq(T.rpc("dispatcher.list").m, "dispatcher.list")
	local cs = T.contacts("bob")
	T.eq(cs[1].contact, "sip:a@x") T.eq(cs[1].q, 0.5) T.eq(cs[2].q, nil)
	local c = T.request{method = "INVITE", ruri = "sip:bob@x"}:cancel()
	T.match(c:text(), "^CANCEL sip:bob@x")
	T.eq(T.run(c).reply.reason, "CANCEL")
end)
T.test("two", function()
	T.run(T.message("OPTIONS sip:x SIP/2.0\r\n\r\n"))
end)
`)
	if res.Err != nil || len(res.Tests) != 2 || res.Failed() {
		t.Fatalf("%+v %+v", res.Err, res.Tests)
	}
	if len(b.configs) != 2 || b.closed != 2 {
		t.Fatalf("%d engines, %d closed", len(b.configs), b.closed)
	}
	one, two := b.configs[0], b.configs[1]
	dir := filepath.Dir(res.Path)
	if one.Script != filepath.Join(dir, "s.lua") || one.Defines["A"] != "" || one.Defines["B"] != "b" || one.Defines["C"] != "" ||
		one.Aliases[0] != "example.com" || one.Params["tm"]["fr_timer"] != int64(5) || one.Params["dispatcher"]["list_file"] != filepath.Join(dir, "d.list") {
		t.Errorf("config %+v", one)
	}
	if _, ok := two.Defines["C"]; ok {
		t.Errorf("a test's config leaked into the next: %+v", two.Defines)
	}
	r := b.requests[0]
	want := []Header{{"From", "<sip:a@x>;tag=1"}, {"X-A", "1"}, {"X-A", "11"}, {"X-B", "2"}}
	if r.Source != "tcp:192.0.2.1:5070" || len(r.Headers) != len(want) {
		t.Fatalf("request %+v", r)
	}
	for i := range want {
		if r.Headers[i] != want[i] {
			t.Errorf("header %d: %v, want %v", i, r.Headers[i], want[i])
		}
	}
}

func TestFailuresCarryTheTrace(t *testing.T) {
	res, _ := runLua(t, `
T.test("fails", function()
	T.run(T.request{method = "BYE", ruri = "sip:x"})
	T.eq(1, 2)
end)
T.test("errors", function()
	local x
	x.y = 1
end)
T.test("passes", function() end)
`)
	f := res.Tests[0].Failure
	if f == nil || f.Route != "ksr_request_route" || len(f.Trace) != 1 || !strings.Contains(f.Trace[0], `"BYE"`) {
		t.Errorf("failure %+v", f)
	}
	e := res.Tests[1].Failure
	if e == nil || !e.LuaError || !strings.HasSuffix(e.Where, "x_test.lua:10") || !strings.HasPrefix(e.Message, "error: ") || e.Traceback == "" {
		t.Errorf("error %+v", e)
	}
	if res.Tests[2].Failure != nil {
		t.Errorf("the test after an error failed: %v", res.Tests[2].Failure)
	}
}

func TestFileErrors(t *testing.T) {
	for _, c := range []struct{ name, src, where, msg string }{
		{"syntax", "T.test('x', function()\nlocal = 1\nend)", ":4", "error: syntax error near '='"},
		{"top level", "\nerror('boom')", ":4", "error: boom"},
		{"config after start", "T.test('x', function() T.run(T.message('OPTIONS sip:x SIP/2.0\\r\\n\\r\\n')) T.config{} end)", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, _ := runLua(t, c.src)
			if c.where == "" {
				if f := res.Tests[0].Failure; f == nil || !strings.Contains(f.Message, "T.config after the test's engine started") {
					t.Errorf("failure %+v", f)
				}
				return
			}
			if res.Err == nil || !strings.HasSuffix(res.Err.Where, "x_test.lua"+c.where) || !strings.HasPrefix(res.Err.Message, c.msg) {
				t.Errorf("file error %+v", res.Err)
			}
		})
	}
}
