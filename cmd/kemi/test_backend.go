package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/luaext"
	"github.com/kemisip/kemi/luaext/testlib"
)

// testBackend gives the Lua test API engines built by enginetest: each
// script is compiled once (instrumented with --cover) and every test gets
// a fresh engine of it.
type testBackend struct {
	cover bool

	mu       sync.Mutex
	programs map[string]*enginetest.Program
	order    []string // scripts in the order first named
}

var _ testlib.Backend = (*testBackend)(nil)

func newTestBackend(cover bool) *testBackend {
	return &testBackend{cover: cover, programs: map[string]*enginetest.Program{}}
}

// program returns the compiled script at path.
func (b *testBackend) program(path string) (*enginetest.Program, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.programs[abs]; ok {
		return p, nil
	}
	p, err := enginetest.NewProgram(relPath(abs), enginetest.ScriptOptions{Cover: b.cover})
	if err != nil {
		return nil, err
	}
	b.programs[abs] = p
	b.order = append(b.order, abs)
	return p, nil
}

// coverage returns the line counts of every script that was loaded, in
// the order the tests named them.
func (b *testBackend) coverage() []*luaext.Coverage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*luaext.Coverage
	for _, p := range b.order {
		if c := b.programs[p].Cover(); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// relPath is path relative to the working folder when it is below it:
// what error positions and traces show.
func relPath(abs string) string {
	if wd, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(wd, abs); err == nil && filepath.IsLocal(rel) {
			return rel
		}
	}
	return abs
}

func (b *testBackend) Start(cfg testlib.Config) (testlib.Engine, error) {
	p, err := b.program(cfg.Script)
	if err != nil {
		return nil, err
	}
	s, err := p.StartWith(enginetest.ScriptOptions{Modules: cfg.Modules, Params: cfg.Params, Defines: cfg.Defines, Aliases: cfg.Aliases})
	if err != nil {
		return nil, err
	}
	return &testEngine{s: s, relays: map[int]enginetest.Relay{}}, nil
}

func (b *testBackend) RequestText(r testlib.Request) string {
	spec := enginetest.RequestSpec{Method: r.Method, RURI: r.RURI, Body: r.Body, Source: r.Source}
	for _, h := range r.Headers {
		spec.Headers = append(spec.Headers, enginetest.Header{Name: h.Name, Value: h.Value})
	}
	return spec.Text()
}

func (b *testBackend) Derive(invite, method, totag string) (string, error) {
	switch method {
	case "CANCEL":
		return enginetest.Cancel(invite)
	case "ACK":
		return enginetest.Ack(invite, totag)
	}
	return "", fmt.Errorf("cannot derive a %s", method)
}

func (b *testBackend) Authorize(req, header, challenge, user, password string) (string, error) {
	return enginetest.Authorize(req, header, challenge, user, password)
}

// testEngine is one test's engine.
type testEngine struct {
	s      *enginetest.Script
	relays map[int]enginetest.Relay
	nextID int
}

func (e *testEngine) Run(route string, m testlib.Message) *testlib.Outcome {
	return e.outcome(e.s.RunRoute(route, enginetest.Message{Text: m.Text, Source: m.Source}))
}

func (e *testEngine) Reply(m testlib.Message) *testlib.Outcome {
	return e.outcome(e.s.Reply(enginetest.Message{Text: m.Text, Source: m.Source}))
}

func (e *testEngine) Answer(id, code int, reason string, headers []testlib.Header) *testlib.Outcome {
	r, ok := e.relays[id]
	if !ok {
		return &testlib.Outcome{Route: "ksr_reply_route", Err: fmt.Sprintf("no relay %d in this test", id)}
	}
	hs := make([]enginetest.Header, len(headers))
	for i, h := range headers {
		hs[i] = enginetest.Header{Name: h.Name, Value: h.Value}
	}
	return e.outcome(e.s.Answer(r, code, reason, hs...))
}

func (e *testEngine) Fail(code int, reason string) *testlib.Outcome {
	return e.outcome(e.s.Fail(code, reason))
}

func (e *testEngine) Call(name string, args ...any) (any, error) { return e.s.Call(nil, name, args...) }

func (e *testEngine) RPC(method string, params ...any) (any, error) {
	v, err := e.s.RPC(method, params...)
	if err != nil {
		return nil, err
	}
	// as kemi ctl shows it: plain maps and lists
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (e *testEngine) AddContact(c testlib.Contact) error {
	return e.s.AddContact(enginetest.Contact{AOR: c.AOR, Contact: c.Contact, Table: c.Table, Expires: time.Duration(c.Expires) * time.Second,
		Q: c.Q, Received: c.Received, Path: c.Path, Socket: c.Socket})
}

func (e *testEngine) Contacts(table, aor string) ([]testlib.Contact, error) {
	bs, err := e.s.Contacts(table, aor)
	if err != nil {
		return nil, err
	}
	out := make([]testlib.Contact, 0, len(bs))
	for _, b := range bs {
		exp := 0
		if !b.Expires.IsZero() {
			exp = int(time.Until(b.Expires).Round(time.Second).Seconds())
		}
		out = append(out, testlib.Contact{Table: table, AOR: b.AOR, Contact: b.Contact, Received: b.Received, Path: b.Path,
			Socket: b.Socket, Q: b.Q, Expires: exp})
	}
	return out, nil
}

func (e *testEngine) AddSubscriber(user, domain, password string) error {
	return e.s.AddSubscriber(user, domain, password)
}

func (e *testEngine) Close() { e.s.Close() }

// outcome turns a Result into what the Lua API shows, numbering the
// relays for Answer.
func (e *testEngine) outcome(r *enginetest.Result) *testlib.Outcome {
	o := &testlib.Outcome{Route: r.Route, Ran: r.Ran, Exited: r.Exited, Written: r.Written(), Logs: splitLogLines(r.Logs)}
	if r.Err != nil {
		o.Err = r.Err.Error()
	}
	if r.Msg != nil {
		o.Flags = r.Msg.Flags
		o.PV = r.PV
	}
	for _, x := range r.Replies {
		o.Replies = append(o.Replies, testlib.Reply{Code: x.Code, Reason: x.Reason, Dest: x.Dest, Text: x.Text, Headers: msgHeaders(x.Msg)})
	}
	for _, x := range r.Relays {
		e.nextID++
		e.relays[e.nextID] = x
		o.Relays = append(o.Relays, testlib.Relay{ID: e.nextID, Method: x.Method, URI: x.URI, Dest: x.Dest, Socket: x.Socket, Text: x.Text, Headers: msgHeaders(x.Msg)})
	}
	// a route run from inside (branch, onreply, failure) is marked where
	// it starts, and where the outer one goes on
	prev := r.Route
	for _, c := range r.Trace {
		if c.Route != prev {
			o.Trace = append(o.Trace, "["+c.Route+"]")
			prev = c.Route
		}
		o.Trace = append(o.Trace, c.String())
	}
	return o
}

// msgHeaders returns the header fields of m, a *sip.Request or
// *sip.Response; nil without a message.
func msgHeaders[M interface {
	comparable
	Headers() []sip.Header
}](m M) []testlib.Header {
	var none M
	if m == none {
		return nil
	}
	var hs []testlib.Header
	for _, h := range m.Headers() {
		hs = append(hs, testlib.Header{Name: h.Name(), Value: h.Value()})
	}
	return hs
}

func splitLogLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
