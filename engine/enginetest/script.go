package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
	"github.com/kemisip/kemi/luaext"
)

// ScriptOptions configure the engines a Program builds: what kemi.toml and
// the command line give kemi run.
type ScriptOptions struct {
	// Modules are the enabled modules in order; nil means the standard
	// set, as kemi run loads it.
	Modules []string
	// Params are the modules' parameters, by module name.
	Params map[string]map[string]any
	// Defines are the -D names of KSR.kx.ifdef and get_def.
	Defines map[string]string
	// Aliases are host names that are myself, besides the sockets
	// (udp, tcp, tls and ws on 127.0.0.1, see Sockets).
	Aliases []string
	// Cover counts the lines of the script that run (see Program.Cover).
	Cover bool
}

// Sockets are the listening sockets of an engine a Program builds: what
// is "myself", and what replies and relays go out of.
var Sockets = []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060", "tls:127.0.0.1:5061", "ws:127.0.0.1:8080"}

// Program is a routing script compiled once, to run tests against: every
// Start builds a fresh engine in memory for it. It is safe for concurrent
// use; the line counts of Cover add up over every engine it built.
type Program struct {
	// Path is the script's file.
	Path string
	opts ScriptOptions
	sc   *luaext.Script
	cov  *luaext.Coverage
}

// NewProgram compiles the script at path (instrumented for coverage when
// opts.Cover is set).
func NewProgram(path string, opts ScriptOptions) (*Program, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("enginetest: %w", err)
	}
	p := &Program{Path: path, opts: opts}
	if opts.Cover {
		p.sc, p.cov, err = luaext.CompileCovered(path, src)
	} else {
		p.sc, err = luaext.Compile(path, src)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Cover returns the line counts of the script, or nil without
// ScriptOptions.Cover.
func (p *Program) Cover() *luaext.Coverage { return p.cov }

// Script is one engine built in memory for a routing script: the modules
// loaded as kemi run loads them, with a fake host that records what would
// have been sent, and one Lua state. Requests, replies and failures go
// through the same code as on a server: the request route and tm's hooks,
// the reply route and tm's reply handling (onreply, failure routes). It
// is used by one goroutine.
type Script struct {
	opts  ScriptOptions
	env   *kemitest.Env
	st    *luaext.State
	logs  *LogBuffer
	dir   string
	trace traceRecorder
	// relays of the last request run, for Answer
	last []Relay
	seq  int
}

// NewScript builds an engine for the script at path, closed when the test
// ends; it fails the test if the script does not load.
func NewScript(t testing.TB, path string, opts ScriptOptions) *Script {
	t.Helper()
	p, err := NewProgram(path, opts)
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	s, err := p.Start()
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start builds a fresh engine with the options the program was made with
// (see StartWith).
func (p *Program) Start() (*Script, error) { return p.StartWith(p.opts) }

// StartWith builds a fresh engine with other options (their Cover is not
// looked at: the program's compilation decides): the modules loaded
// (ModInit, ChildInit for the init, main and first worker ranks) with the
// database "memory", except auth_db, whose subscribers live in a SQLite
// file of a temporary folder (see AddSubscriber) unless the options name
// a db_url; then a Lua state with the script's top level run once. Close
// releases it.
func (p *Program) StartWith(opts ScriptOptions) (*Script, error) {
	dir, err := os.MkdirTemp("", "kemi-test-")
	if err != nil {
		return nil, fmt.Errorf("enginetest: %w", err)
	}
	s := &Script{opts: opts, logs: &LogBuffer{}, dir: dir}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // log lines a test compares carry no time
			}
			return a
		}}))
	params := map[string]map[string]any{}
	for mod, ps := range opts.Params {
		params[mod] = ps
	}
	modules := kemi.EnabledModules(opts.Modules)
	for _, m := range modules {
		if m == "auth_db" && params["auth_db"]["db_url"] == nil {
			ps := map[string]any{"db_url": "sqlite://" + filepath.Join(dir, "auth.db")}
			for k, v := range params["auth_db"] {
				ps[k] = v
			}
			params["auth_db"] = ps
		}
	}
	env, err := kemitest.LoadOptsErr(kemitest.Options{Params: params, Logger: log, DBURL: "memory", Before: func(e *kemitest.Env) error {
		for k, v := range opts.Defines {
			e.Defines[k] = v
		}
		e.Host.Aliases = append(e.Host.Aliases, opts.Aliases...)
		e.Host.Socks = e.Host.Socks[:0]
		for _, spec := range Sockets {
			proto, addr, _ := strings.Cut(spec, ":")
			e.Host.Socks = append(e.Host.Socks, &kemi.Socket{Proto: proto, Addr: netip.MustParseAddrPort(addr)})
		}
		e.Host.Level = slog.LevelDebug
		return nil
	}}, modules...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("enginetest: %w", err)
	}
	s.env = env
	st, err := luaext.NewState(p.sc, luaext.Options{
		Exports:     env.Set.Exports,
		Catalog:     engine.Catalog,
		Logger:      log.With("module", "script"),
		Timeout:     engine.DefaultRouteTimeout,
		MemoryLimit: engine.DefaultRouteMemoryLimit,
	})
	if err != nil {
		env.Destroy()
		os.RemoveAll(dir)
		return nil, err
	}
	st.SetTracer(s.trace.record)
	s.st = st
	env.Host.Run = st
	return s, nil
}

// Close destroys the modules, as the engine does at shutdown, and the
// Lua state.
func (s *Script) Close() {
	s.st.Close()
	s.env.Destroy()
	os.RemoveAll(s.dir)
}

// Env is the module environment, for what the other methods do not
// offer.
func (s *Script) Env() *kemitest.Env { return s.env }

// Logs returns everything logged so far, one line per record, without
// times.
func (s *Script) Logs() string { return s.logs.String() }

// Message is a SIP message to route and where it came from.
type Message struct {
	// Text is the message (LF line ends are fine; Content-Length is set).
	Text string
	// Source is where it came from, "udp:192.0.2.10:5062" (the default);
	// the transport picks the socket it arrived on (see Sockets).
	Source string
}

// Reply is a reply the engine sent.
type Reply struct {
	Code   int
	Reason string
	// Dest is where it went, "udp:192.0.2.10:5062".
	Dest string
	// Text is the reply as written.
	Text string
	// Msg is the parsed reply.
	Msg *sip.Response
}

// Header returns the first value of a header of the reply, or "".
func (r Reply) Header(name string) string {
	if r.Msg == nil {
		return ""
	}
	return headerValue(r.Msg, name)
}

// Relay is a request the engine sent on.
type Relay struct {
	Method string
	// URI is the Request-URI as written.
	URI string
	// Dest is the address it went to, "udp:10.0.0.5:5060".
	Dest string
	// Socket is the local socket it left from, "udp:127.0.0.1:5060".
	Socket string
	// Text is the request as written.
	Text string
	// Msg is the parsed request.
	Msg *sip.Request
}

// Header returns the first value of a header of the request, or "".
func (r Relay) Header(name string) string {
	if r.Msg == nil {
		return ""
	}
	return headerValue(r.Msg, name)
}

func headerValue(m interface{ GetHeader(string) sip.Header }, name string) string {
	if m == nil {
		return ""
	}
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// Run runs ksr_request_route on a request, then the modules' end-of-route
// hooks (tm's), as a server does.
func (s *Script) Run(m Message) *Result { return s.RunRoute("ksr_request_route", m) }

// RunRoute runs the named route on a message, a request or a reply. Only
// ksr_request_route is followed by what a server does after it (the
// end-of-route hooks); another route is run alone.
func (s *Script) RunRoute(route string, m Message) *Result {
	msg, err := s.parse(m)
	if err != nil {
		return &Result{Route: route, Err: err, s: s}
	}
	if route == "ksr_request_route" && !msg.IsRequest() {
		return &Result{Route: route, Err: errors.New("enginetest: the request route of a reply (a reply goes through Reply)"), s: s}
	}
	return s.handle(route, msg)
}

// Reply handles a reply as a server does: ksr_reply_route, then, unless
// it dropped the reply, tm (onreply routes, and the failure route once
// every branch failed); a reply no module takes is forwarded statelessly.
func (s *Script) Reply(m Message) *Result {
	msg, err := s.parse(m)
	if err != nil {
		return &Result{Route: "ksr_reply_route", Err: err, s: s}
	}
	if !msg.IsReply() {
		return &Result{Route: "ksr_reply_route", Err: errors.New("enginetest: Reply of a request"), s: s}
	}
	return s.handle("ksr_reply_route", msg)
}

// Answer makes the peer of a relayed request reply code (reason may be
// ""; a To tag is added to a reply above 100), with extra headers (a
// Contact for a 3xx), and handles that reply (see Reply): answering every
// branch of an INVITE with a failure runs the failure route the script
// armed.
func (s *Script) Answer(to Relay, code int, reason string, headers ...Header) *Result {
	if to.Msg == nil {
		return &Result{Route: "ksr_reply_route", Err: errors.New("enginetest: answer to no request"), s: s}
	}
	res := sip.NewResponseFromRequest(to.Msg, code, reason, nil)
	if code > 100 {
		if th := res.To(); th != nil && !th.Params.Has("tag") {
			s.seq++
			th.Params.Add("tag", "peer"+strconv.Itoa(s.seq))
		}
	}
	for _, h := range headers {
		res.AppendHeader(sip.NewHeader(h.Name, h.Value))
	}
	res.RemoveHeader("Content-Length")
	// the reply comes back from where the request went
	return s.Reply(Message{Text: res.String(), Source: to.Dest})
}

// Fail answers every relay of the last request run with code (see
// Answer) and returns the result of the last answer: the one that runs the
// failure route.
func (s *Script) Fail(code int, reason string) *Result {
	relays := s.last
	if len(relays) == 0 {
		return &Result{Route: "ksr_reply_route", Err: errors.New("enginetest: the last request was relayed nowhere"), s: s}
	}
	var last *Result
	for _, r := range relays {
		last = s.Answer(r, code, reason)
	}
	return last
}

func (s *Script) handle(route string, m *kemi.Msg) *Result {
	// the engine's worker is the Runner of the messages it handles: the
	// routes tm runs (onreply, failure) come back to the state
	m.Host, m.Run = s.env.Host, s.st
	logStart := len(s.logs.String())
	sentStart := len(s.env.Host.Sent())
	traceStart := s.trace.len()
	rt := kemi.RouteRequest
	if m.IsReply() {
		rt = kemi.RouteReply
	}
	res := &Result{Route: route, Msg: m, s: s}
	cr, err := s.call(route, rt, m)
	res.Ran, res.Exited, res.Err = cr.Ran, cr.Exited, err
	switch {
	case m.IsRequest() && route == "ksr_request_route":
		for _, h := range s.env.Set.RequestHooks {
			h.AfterRequestRoute(m)
		}
	case m.IsReply() && route == "ksr_reply_route" && !m.Drop:
		taken := false
		for _, h := range s.env.Set.ReplyHooks {
			if h.OnReply(m) {
				taken = true
				break
			}
		}
		if !taken {
			_ = s.env.Host.Forward(m, "")
		}
	}
	res.Sent = s.env.Host.Sent()[sentStart:]
	for _, sent := range res.Sent {
		s.classify(res, sent)
	}
	// what Fail answers: the branches this message made (a failure
	// route's new branches too)
	var branches []Relay
	for _, r := range res.Relays {
		if r.Method != "ACK" && r.Method != "CANCEL" {
			branches = append(branches, r)
		}
	}
	if m.IsRequest() || len(branches) > 0 {
		s.last = branches
	}
	res.Logs = s.logs.String()[logStart:]
	res.Trace = s.trace.since(traceStart)
	return res
}

// call runs a route under the engine's time limit, as a worker does.
func (s *Script) call(route string, rt kemi.RouteType, m *kemi.Msg) (kemi.CallResult, error) {
	defer watch(s.st)()
	return s.st.Call(route, rt, m)
}

// watch is the engine's watchdog for one state: it stops a route that
// runs past engine.DefaultRouteTimeout, until the function it returns is
// called.
func watch(st *luaext.State) (stop func()) {
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(engine.DefaultRouteTimeout / 4)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				st.Overrun(now)
			}
		}
	}()
	return func() { close(done); <-watched }
}

func (s *Script) classify(res *Result, sent kemitest.Sent) {
	parsed, _ := sip.ParseMessage([]byte(sent.Msg))
	switch x := parsed.(type) {
	case *sip.Response:
		res.Replies = append(res.Replies, Reply{Code: int(x.StatusCode), Reason: x.Reason, Dest: destString(sent.Dest), Text: sent.Msg, Msg: x})
	case *sip.Request:
		r := Relay{Method: string(x.Method), URI: x.Recipient.String(), Dest: destString(sent.Dest), Socket: sent.Dest.Sock.String(), Text: sent.Msg, Msg: x}
		if sent.Kind == "forward" {
			r.Dest = sent.URI
			if d, err := s.env.Host.Resolve(context.Background(), sent.URI); err == nil {
				r.Dest = d.String()
			}
		}
		res.Relays = append(res.Relays, r)
	}
}

func destString(d kemi.Dest) string {
	if d.Proto == "" {
		return ""
	}
	return d.String()
}

// parse reads a message and its source.
func (s *Script) parse(m Message) (*kemi.Msg, error) {
	msg, err := kemitest.Parse(m.Text)
	if err != nil {
		return nil, fmt.Errorf("enginetest: %w", err)
	}
	if m.Source != "" {
		proto, addr, ok := strings.Cut(m.Source, ":")
		ap, err := netip.ParseAddrPort(addr)
		if !ok || err != nil {
			return nil, fmt.Errorf("enginetest: source %q: want proto:ip:port", m.Source)
		}
		msg.Proto, msg.Src = strings.ToLower(proto), ap
	}
	msg.Rcv = nil
	for _, sock := range s.env.Host.Socks {
		if sock.Proto == msg.Proto {
			msg.Rcv = sock
			break
		}
	}
	if msg.Rcv == nil {
		return nil, fmt.Errorf("enginetest: no %s socket (have %s)", msg.Proto, strings.Join(Sockets, ", "))
	}
	if msg.Proto != "udp" {
		s.seq++
		msg.ConnID = uint64(s.seq)
	}
	msg.Proc = kemi.NewProc(1)
	return msg, nil
}

// PV returns a pseudo-variable of the message after the route, as
// KSR.pv.get gives it: a string, an int64, or nil.
func (r *Result) PV(name string) any {
	if r.Msg == nil {
		return nil
	}
	v, err := r.s.Call(r.Msg, "KSR.pv.get", name)
	if err != nil {
		return nil
	}
	return v
}

// Flag reports whether message flag n is set after the route.
func (r *Result) Flag(n int) bool { return r.Msg != nil && n >= 0 && n < 32 && r.Msg.Flags&(1<<n) != 0 }

// Reply returns the last reply sent, or a zero Reply.
func (r *Result) Reply() Reply {
	if len(r.Replies) == 0 {
		return Reply{}
	}
	return r.Replies[len(r.Replies)-1]
}

// Written is the message as the engine would write it: the first relay,
// else the message after the route.
func (r *Result) Written() string {
	if len(r.Relays) > 0 {
		return r.Relays[0].Text
	}
	if r.Msg == nil {
		return ""
	}
	if r.Msg.IsRequest() {
		return r.Msg.Request().String()
	}
	return r.Msg.Response().String()
}

// Call calls a KSR function by its Lua name ("KSR.htable.sht_sets") on m
// (a setup message when nil), as a script's call does: args stand for Lua
// values. It gives a string, an int64, a bool or nil.
func (s *Script) Call(m *kemi.Msg, name string, args ...any) (any, error) {
	x, ok := s.env.Exports()[name]
	if !ok {
		return nil, fmt.Errorf("enginetest: no function %s (is its module enabled?)", name)
	}
	if m == nil {
		var err error
		if m, err = s.setupMsg(); err != nil {
			return nil, err
		}
	}
	if m.Host == nil {
		m.Host = s.env.Host
	}
	if m.Run == nil {
		m.Run = s.st
	}
	v, err := luaext.CallExport(x, m, s.env.Logger.With("module", "script"), args...)
	if err != nil {
		return nil, err
	}
	switch v.Kind {
	case kemi.KindInt:
		if x.Return == kemi.ReturnBool {
			return v.Int != 0, nil
		}
		return v.Int, nil
	case kemi.KindStr:
		return v.Str, nil
	}
	return nil, nil
}

// setupMsg is the message KSR calls made outside a route get: an OPTIONS
// from the default source.
func (s *Script) setupMsg() (*kemi.Msg, error) {
	return s.parse(Message{Text: RequestSpec{Method: "OPTIONS", RURI: "sip:127.0.0.1:5060"}.Text()})
}

// RPC calls a module's control command ("dispatcher.set_state") with
// positional parameters, as kemi ctl does, and gives its result.
func (s *Script) RPC(method string, params ...any) (any, error) {
	for _, lm := range s.env.Set.Modules {
		for _, r := range lm.Env.RPCs() {
			if r.Name != method {
				continue
			}
			ps := make(kemi.RPCParams, len(params))
			for i, p := range params {
				b, err := json.Marshal(p)
				if err != nil {
					return nil, fmt.Errorf("enginetest: %s parameter %d: %w", method, i+1, err)
				}
				ps[i] = b
			}
			return r.Handler(context.Background(), ps)
		}
	}
	return nil, fmt.Errorf("enginetest: no RPC method %s (is its module enabled?)", method)
}

// location returns usrloc's table.
func (s *Script) location() (kemi.Location, error) {
	loc, ok := s.env.Services.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	if !ok {
		return nil, errors.New("enginetest: usrloc is not enabled")
	}
	return loc, nil
}

// Contact is a binding to add to the location table.
type Contact struct {
	// AOR is the address of record: the user, or user@domain with
	// usrloc's use_domain.
	AOR string
	// Contact is the Contact URI.
	Contact string
	// Table is the location table, "location" by default.
	Table string
	// Expires is how long it lasts; 0 means an hour.
	Expires time.Duration
	// Q is the q-value times 1000; 0 means none.
	Q int
	// Received is the source address as a SIP URI, for a contact behind
	// NAT.
	Received string
	// Path is the Path header set.
	Path string
	// Socket is the local socket it registered through.
	Socket string
}

// AddContact adds a binding to the location table, as a REGISTER would.
func (s *Script) AddContact(c Contact) error {
	loc, err := s.location()
	if err != nil {
		return err
	}
	if c.Table == "" {
		c.Table = "location"
	}
	if c.Expires == 0 {
		c.Expires = time.Hour
	}
	q := -1
	if c.Q > 0 {
		q = c.Q
	}
	now := time.Now()
	s.seq++
	b := kemi.Binding{AOR: c.AOR, Contact: c.Contact, Received: c.Received, Path: c.Path, Expires: now.Add(c.Expires),
		Q: q, CallID: fmt.Sprintf("kemi-test-%d", s.seq), CSeq: 1, Socket: c.Socket, Methods: -1,
		RUID: fmt.Sprintf("kemi-test-%d", s.seq), LastModified: now}
	return loc.Update(context.Background(), c.Table, c.AOR, func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: []kemi.Binding{b}}, nil
	})
}

// Contacts returns the live bindings of aor in a location table ("" is
// "location").
func (s *Script) Contacts(table, aor string) ([]kemi.Binding, error) {
	loc, err := s.location()
	if err != nil {
		return nil, err
	}
	if table == "" {
		table = "location"
	}
	return loc.Lookup(context.Background(), table, aor)
}

// AddSubscriber adds a user to auth_db's subscriber table, with the
// columns `kemi user add` writes (password, ha1, ha1b).
func (s *Script) AddSubscriber(user, domain, password string) error {
	path := filepath.Join(s.dir, "auth.db")
	if u, ok := s.opts.Params["auth_db"]["db_url"].(string); ok {
		return fmt.Errorf("enginetest: auth_db's db_url is %s: add subscribers there", u)
	}
	f := db.NewSQLite(path, db.Subscriber)
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		return fmt.Errorf("enginetest: %w", err)
	}
	ha1, ha1b := db.HA1(user, domain, password)
	_, err = d.Exec(`INSERT OR REPLACE INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)`,
		user, domain, password, ha1, ha1b)
	if err != nil {
		return fmt.Errorf("enginetest: add subscriber: %w", err)
	}
	return nil
}

// Call is one KSR function a route called, as luaext's tracer reports
// it (without the message): Where is the script's file:line, Route the
// script function running as the route ("ksr_failure_manage"); KSR.x.exit
// and KSR.x.drop are calls too.
type Call struct {
	luaext.Call
}

// String writes the call as the script's position, the call and its
// result: proxy.lua:159: KSR.tm.t_relay() = 1.
func (c Call) String() string { return c.Where + ": " + c.Call.String() }

// traceRecorder keeps the KSR calls of a state's routes (its Tracer).
type traceRecorder struct {
	mu    sync.Mutex
	calls []Call
}

// maxTrace bounds the calls kept: a route that loops is not traced
// without end.
const maxTrace = 10000

// record is the state's Tracer.
func (tr *traceRecorder) record(c luaext.Call) {
	c.Msg = nil // not kept past the call
	tr.mu.Lock()
	if len(tr.calls) < maxTrace {
		tr.calls = append(tr.calls, Call{c})
	}
	tr.mu.Unlock()
}

func (tr *traceRecorder) len() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.calls)
}

func (tr *traceRecorder) since(i int) []Call {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]Call(nil), tr.calls[i:]...)
}
