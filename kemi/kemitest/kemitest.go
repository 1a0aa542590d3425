// Package kemitest helps test kemi modules without a network: it parses SIP
// text into a kemi.Msg, loads modules into a shared environment with a fake
// Host that records what would have been sent, and calls exported
// functions by their Lua name.
package kemitest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// Sent is a message the fake host was asked to send.
type Sent struct {
	// Kind is "reply", "forward", "request", "send-reply" or "raw".
	Kind string
	// Msg is the message as it would have gone out (serialized text).
	Msg string
	// Dest is where it would have gone.
	Dest kemi.Dest
	// URI is the URI given to Forward, if any.
	URI string
}

// Host is a kemi.Host that records instead of sending.
type Host struct {
	mu   sync.Mutex
	sent []Sent
	// Socks are the fake listening sockets (default udp and tcp on
	// 127.0.0.1:5060).
	Socks []*kemi.Socket
	// Aliases are extra names that are "myself".
	Aliases []string
	// Level is what LogLevel returns.
	Level slog.Level
	// FailSend makes every send fail.
	FailSend bool
	// Hooks are run by PrepareRequest (load modules that are SendHooks
	// with Load and they are added).
	Hooks []kemi.SendHook
	// Run is what Exec passes to its function.
	Run kemi.Runner
}

// NewHost returns a host with udp and tcp sockets on 127.0.0.1:5060.
func NewHost() *Host {
	ap := netip.MustParseAddrPort("127.0.0.1:5060")
	return &Host{Socks: []*kemi.Socket{{Proto: "udp", Addr: ap}, {Proto: "tcp", Addr: ap}}}
}

// Sent returns everything recorded so far.
func (h *Host) Sent() []Sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sent(nil), h.sent...)
}

// Last returns the last recorded message, or a zero Sent.
func (h *Host) Last() Sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sent) == 0 {
		return Sent{}
	}
	return h.sent[len(h.sent)-1]
}

// Reset forgets what was recorded.
func (h *Host) Reset() {
	h.mu.Lock()
	h.sent = nil
	h.mu.Unlock()
}

func (h *Host) record(s Sent) error {
	if h.FailSend {
		return fmt.Errorf("kemitest: send failed on purpose")
	}
	h.mu.Lock()
	h.sent = append(h.sent, s)
	h.mu.Unlock()
	return nil
}

// Resolve accepts URIs whose host is an IP address.
func (h *Host) Resolve(_ context.Context, uri string) (kemi.Dest, error) {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return kemi.Dest{}, err
	}
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	if err != nil {
		return kemi.Dest{}, fmt.Errorf("kemitest: cannot resolve %q", u.Host)
	}
	port := u.Port
	if port == 0 {
		port = 5060
	}
	proto := "udp"
	if t, ok := u.UriParams.Get("transport"); ok {
		proto = strings.ToLower(t)
	}
	return kemi.Dest{Proto: proto, Addr: netip.AddrPortFrom(ip, uint16(port)), Host: u.Host}, nil
}

// Forward records a stateless forward.
func (h *Host) Forward(m *kemi.Msg, uri string) error {
	if uri == "" && m.IsRequest() {
		uri = m.NextHop()
	}
	var text string
	if m.IsRequest() {
		text = m.Request().String()
	} else if m.IsReply() {
		text = m.Response().String()
	}
	if err := h.record(Sent{Kind: "forward", Msg: text, URI: uri}); err != nil {
		return err
	}
	m.Handled = true
	return nil
}

// Reply records a reply to m.
func (h *Host) Reply(m *kemi.Msg, res *sip.Response) error {
	dst, _ := h.ReplyDest(m)
	if err := h.record(Sent{Kind: "reply", Msg: res.String(), Dest: dst}); err != nil {
		return err
	}
	m.Handled = true
	return nil
}

// PrepareRequest picks the first socket of dst's protocol and runs the
// send hooks given in Hooks.
func (h *Host) PrepareRequest(origin *kemi.Msg, req *sip.Request, dst *kemi.Dest) error {
	if dst.Sock == nil {
		for _, s := range h.Socks {
			if s.Proto == dst.Proto {
				dst.Sock = s
				break
			}
		}
	}
	if origin != nil {
		for _, hk := range h.Hooks {
			hk.BeforeSend(origin, req, dst)
		}
	}
	return nil
}

// SendRequest records a request, after PrepareRequest when origin is set.
func (h *Host) SendRequest(origin *kemi.Msg, req *sip.Request, dst kemi.Dest) error {
	if err := h.PrepareRequest(origin, req, &dst); err != nil {
		return err
	}
	if err := h.record(Sent{Kind: "request", Msg: req.String(), Dest: dst}); err != nil {
		return err
	}
	if origin != nil {
		origin.Handled = true
	}
	return nil
}

// SendRaw records b as sent to dst, as Kind "raw" (kemi.RawSender).
func (h *Host) SendRaw(dst kemi.Dest, b []byte) error {
	return h.record(Sent{Kind: "raw", Msg: string(b), Dest: dst})
}

// SendReply records a reply sent to dst.
func (h *Host) SendReply(res *sip.Response, dst kemi.Dest) error {
	return h.record(Sent{Kind: "send-reply", Msg: res.String(), Dest: dst})
}

// ReplyDest is the message's source, with the message's reply connection
// flags (send_reply_mode).
func (h *Host) ReplyDest(m *kemi.Msg) (kemi.Dest, error) {
	return kemi.Dest{Proto: m.Proto, Addr: m.Src, ConnID: m.ConnID, Sock: m.Rcv,
		NoConnect: m.ReplyNoConnect, Close: m.ReplyClose}, nil
}

// Via returns a Via of the first socket of dst's protocol.
func (h *Host) Via(m *kemi.Msg, dst *kemi.Dest, branch string) *sip.ViaHeader {
	for _, s := range h.Socks {
		if s.Proto == dst.Proto {
			dst.Sock = s
			v := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(s.Proto),
				Host: s.Host(), Port: s.Port(), Params: sip.NewParams()}
			v.Params.Add("branch", branch)
			return v
		}
	}
	return nil
}

// IsMyself matches the sockets and aliases; port 0 means any port.
func (h *Host) IsMyself(host string, port int, proto string) bool {
	host = strings.Trim(strings.ToLower(host), "[]")
	for _, s := range h.Socks {
		if (proto == "" || proto == s.Proto) && (port == 0 || port == s.Port()) && (host == s.Host() || host == s.Addr.Addr().String()) {
			return true
		}
	}
	for _, a := range h.Aliases {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// Sockets returns Socks.
func (h *Host) Sockets() []*kemi.Socket { return h.Socks }

// FindSocket finds a socket by name, or as kemi.MatchSocket does.
func (h *Host) FindSocket(spec string) *kemi.Socket {
	if s := kemi.SocketByName(h.Socks, spec); s != nil {
		return s
	}
	s, _ := kemi.MatchSocket(h.Socks, spec)
	return s
}

// AddTCPAlias records the alias (kind "tcp-alias", URI the address) and
// succeeds for a non-zero connection.
func (h *Host) AddTCPAlias(connID uint64, addr netip.AddrPort) error {
	if connID == 0 {
		return fmt.Errorf("kemitest: not a tcp connection")
	}
	return h.record(Sent{Kind: "tcp-alias", URI: addr.String()})
}

// Exec runs fn at once with the Runner in Run (nil if unset) and a fresh
// worker state.
func (h *Host) Exec(fn func(run kemi.Runner, proc *kemi.Proc)) { fn(h.Run, kemi.NewProc(1)) }

// LogLevel returns Level.
func (h *Host) LogLevel() slog.Level { return h.Level }

// ParseMsg parses SIP text (LF or CRLF line ends; Content-Length is fixed
// up) into a message received over UDP from 192.0.2.10:5062 on
// 127.0.0.1:5060.
func ParseMsg(t testing.TB, text string) *kemi.Msg {
	t.Helper()
	m, err := Parse(text)
	if err != nil {
		t.Fatalf("kemitest: %v", err)
	}
	return m
}

// Parse is ParseMsg without a testing.TB.
func Parse(text string) (*kemi.Msg, error) {
	raw := wireText(text)
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	m := received(raw)
	switch x := msg.(type) {
	case *sip.Request:
		m.SetRequest(x)
		m.OrigURI = x.Recipient.String()
		m.NoteMaxForwards()
	case *sip.Response:
		m.SetReply(x)
		m.Route = kemi.RouteReply
	}
	return m, nil
}

// ParseLazyMsg is ParseMsg giving the message in its lazy form, as the
// engine receives it: parsed and checked by sipmsg, turned into sipgo's
// form (with sipgo's default parser) only when some code asks for it. A
// test compares m.Lazy() with nil to see whether that happened.
func ParseLazyMsg(t testing.TB, text string) *kemi.Msg {
	t.Helper()
	m, err := ParseLazy(text)
	if err != nil {
		t.Fatalf("kemitest: %v", err)
	}
	return m
}

// ParseLazy is ParseLazyMsg without a testing.TB.
func ParseLazy(text string) (*kemi.Msg, error) {
	raw := wireText(text)
	lm := new(sipmsg.Msg) // one per message: m keeps it
	if err := lm.Parse([]byte(raw)); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := lm.Check(); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	m := received(raw)
	m.SetLazy(lm, nil)
	if lm.IsRequest() {
		m.OrigURI = string(lm.OrigRURI())
		m.NoteMaxForwards()
	} else {
		m.Route = kemi.RouteReply
	}
	return m, nil
}

// wireText is SIP text as ParseMsg takes it made a message as it comes
// off the wire: CRLF line ends in the header section, Content-Length set
// to the length of the body, which is kept as given.
func wireText(text string) string {
	var head, body string
	if i := strings.Index(text, "\r\n\r\n"); i >= 0 && (strings.Index(text, "\n\n") < 0 || i < strings.Index(text, "\n\n")) {
		head, body = text[:i], text[i+4:]
	} else {
		head, body, _ = strings.Cut(text, "\n\n")
	}
	head = strings.TrimLeft(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	var lines []string
	for _, l := range strings.Split(head, "\n") {
		if strings.HasPrefix(strings.ToLower(l), "content-length:") {
			continue
		}
		lines = append(lines, l)
	}
	lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)))
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

// received returns the message state of raw received over UDP from
// 192.0.2.10:5062 on 127.0.0.1:5060, without the message itself.
func received(raw string) *kemi.Msg {
	return &kemi.Msg{
		Raw:      []byte(raw),
		Proto:    "udp",
		Src:      netip.MustParseAddrPort("192.0.2.10:5062"),
		Rcv:      &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")},
		Received: time.Now(),
		Proc:     kemi.NewProc(1),
		Route:    kemi.RouteRequest,
	}
}

// Env is a set of modules loaded into one shared environment, the way the
// engine loads them (kemi.LoadModules).
type Env struct {
	Host     *Host
	PVs      *kemi.PVTable
	Services *kemi.Services
	Metrics  *kemi.Metrics
	Defines  map[string]string
	Mods     map[string]kemi.Module
	// Set is the loaded module set, in load order.
	Set *kemi.ModuleSet
	// Logger is the parent of the modules' loggers and logs the calls
	// made with Call (bad argument counts, panics).
	Logger  *slog.Logger
	exports map[string]kemi.Export
	logs    *LogBuffer
}

// Options configure LoadOpts.
type Options struct {
	// Params are the modules' parameters, by module name.
	Params map[string]map[string]any
	// Logger receives what the modules log. Nil records it in the Env
	// (see Logs) at debug level, so that nothing reaches the process's
	// default logger and a test can look at what was logged.
	Logger *slog.Logger
	// Before runs before the modules load, to publish fake services (a
	// fake tm) in e.Services.
	Before func(e *Env) error
	// DBURL is the core db_url the modules get ("memory" keeps nothing
	// on disk); "" is the engine's default.
	DBURL string
}

// Load instantiates the named registered modules in order, with optional
// parameters, runs ModInit and ChildInit(RankInit, RankMain, 1), and
// indexes their exports. Load "core" first when a module needs the core
// pseudo-variables. What the modules log is recorded (see Logs).
func Load(t testing.TB, params map[string]map[string]any, names ...string) *Env {
	t.Helper()
	return LoadOpts(t, Options{Params: params}, names...)
}

// LoadOpts is Load with options.
func LoadOpts(t testing.TB, opts Options, names ...string) *Env {
	t.Helper()
	env, err := LoadOptsErr(opts, names...)
	if err != nil {
		t.Fatalf("kemitest: %v", err)
	}
	return env
}

// LoadErr is Load returning an error.
func LoadErr(params map[string]map[string]any, names ...string) (*Env, error) {
	return LoadOptsErr(Options{Params: params}, names...)
}

// LoadErrWith is LoadErr with a hook that runs before the modules load, to
// publish fake services (a fake tm) in e.Services.
func LoadErrWith(before func(e *Env) error, params map[string]map[string]any, names ...string) (*Env, error) {
	return LoadOptsErr(Options{Params: params, Before: before}, names...)
}

// LoadOptsErr is LoadOpts returning an error. The modules are loaded by
// kemi.LoadModules, as the engine loads them, with the fake Host; then
// ChildInit runs for RankInit, RankMain and worker 1. On an error every
// module that was initialised is destroyed.
func LoadOptsErr(opts Options, names ...string) (*Env, error) {
	e := &Env{
		Host:     NewHost(),
		PVs:      kemi.NewPVTable(),
		Services: kemi.NewServices(),
		Metrics:  kemi.NewMetrics(),
		Defines:  map[string]string{},
		Mods:     map[string]kemi.Module{},
		exports:  map[string]kemi.Export{},
		Logger:   opts.Logger,
	}
	if e.Logger == nil {
		e.logs = &LogBuffer{}
		e.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))
	}
	if opts.Before != nil {
		if err := opts.Before(e); err != nil {
			return nil, err
		}
	}
	set, err := kemi.LoadModules(kemi.LoadOptions{
		Modules:  names,
		Params:   opts.Params,
		Defines:  e.Defines,
		Host:     e.Host,
		PVs:      e.PVs,
		Services: e.Services,
		Metrics:  e.Metrics,
		Logger:   e.Logger,
		DBURL:    opts.DBURL,
	})
	if err != nil {
		return nil, err
	}
	e.Set = set
	e.Host.Hooks = append(e.Host.Hooks, set.SendHooks...)
	for _, lm := range set.Modules {
		e.Mods[lm.Name] = lm.Module
	}
	for _, rank := range []int{kemi.RankInit, kemi.RankMain, 1} {
		if err := set.ChildInit(rank); err != nil {
			set.Destroy()
			return nil, err
		}
	}
	for _, x := range set.Exports {
		e.exports[x.LuaName()] = x
	}
	return e, nil
}

// Destroy destroys the modules in reverse order, as the engine does at
// shutdown.
func (e *Env) Destroy() { e.Set.Destroy() }

// Logs returns what the modules and calls logged, when Options.Logger was
// nil; "" otherwise.
func (e *Env) Logs() string {
	if e.logs == nil {
		return ""
	}
	return e.logs.String()
}

// ResetLogs forgets what was logged.
func (e *Env) ResetLogs() {
	if e.logs != nil {
		e.logs.Reset()
	}
}

// Export returns the export with that Lua name ("KSR.sl.sl_send_reply").
func (e *Env) Export(t testing.TB, name string) kemi.Export {
	t.Helper()
	x, ok := e.exports[name]
	if !ok {
		t.Fatalf("kemitest: no export %s", name)
	}
	return x
}

// Exports returns every loaded export by Lua name.
func (e *Env) Exports() map[string]kemi.Export { return e.exports }

// Prepare sets the message's Host to the fake host.
func (e *Env) Prepare(m *kemi.Msg) *kemi.Msg {
	m.Host = e.Host
	return m
}

// Call calls the export with that Lua name on m as a script's call does
// (luaext.CallExport): args stand for Lua values (strings, ints, floats,
// bools, nil) and are checked and converted by the Lua binding's own code,
// so "404" is an int where the function wants one, and a call with too
// few arguments is logged and gives false (kemi.False) without running
// the function, as in a route.
func (e *Env) Call(t testing.TB, name string, m *kemi.Msg, args ...any) kemi.Value {
	t.Helper()
	x := e.Export(t, name)
	if m != nil && m.Host == nil {
		m.Host = e.Host
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	v, err := luaext.CallExport(x, m, log.With("module", "script"), args...)
	if err != nil {
		t.Fatalf("kemitest: %v", err)
	}
	return v
}

// LogBuffer is a goroutine-safe log sink.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was written.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Reset forgets what was written.
func (l *LogBuffer) Reset() {
	l.mu.Lock()
	l.buf.Reset()
	l.mu.Unlock()
}

// CheckExports checks the loaded exports of the KSR table module ("" for
// KSR.* itself) against Kamailio's catalogue: every export must be a
// Kamailio function with the same parameter and return kinds, and every
// Kamailio function of the module must be exported except those in
// leftOut, which must not be.
func (e *Env) CheckExports(t testing.TB, module string, leftOut ...string) {
	t.Helper()
	have := map[string]bool{}
	for name, x := range e.exports {
		if x.Module != module {
			continue
		}
		have[x.Name] = true
		k, ok := kemi.LookupKamailio(x.Module, x.Name)
		if !ok {
			t.Errorf("%s: Kamailio has no such function", name)
			continue
		}
		if x.Signature() != k.Params || x.Return.String() != k.Return {
			t.Errorf("%s: have (%s) %s, Kamailio has (%s) %s", name, x.Signature(), x.Return, k.Params, k.Return)
		}
	}
	out := map[string]bool{}
	for _, n := range leftOut {
		out[n] = true
		if have[n] {
			t.Errorf("KSR.%s.%s is exported but listed as left out", module, n)
		}
	}
	fns := kemi.KamailioFunctions(module)
	if len(fns) == 0 {
		t.Fatalf("Kamailio has no module %q", module)
	}
	for _, k := range fns {
		if !have[k.Name] && !out[k.Name] {
			t.Errorf("%s is not exported", k.LuaName())
		}
	}
}
