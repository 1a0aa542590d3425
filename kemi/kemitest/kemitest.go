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

	"github.com/VictoriaMetrics/metrics"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Sent is a message the fake host was asked to send.
type Sent struct {
	// Kind is "reply", "forward", "request" or "send-reply".
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
	if uri == "" && m.Req != nil {
		uri = m.NextHop()
	}
	var text string
	if m.Req != nil {
		text = m.Req.String()
	} else if m.Res != nil {
		text = m.Res.String()
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
	// the header section may use LF line ends; the body is kept as given
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
	raw := strings.Join(lines, "\r\n") + "\r\n\r\n" + body
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	m := &kemi.Msg{
		Raw:      []byte(raw),
		Proto:    "udp",
		Src:      netip.MustParseAddrPort("192.0.2.10:5062"),
		Rcv:      &kemi.Socket{Proto: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")},
		Received: time.Now(),
		Proc:     kemi.NewProc(1),
		Route:    kemi.RouteRequest,
	}
	switch x := msg.(type) {
	case *sip.Request:
		m.Req = x
		m.OrigURI = x.Recipient.String()
	case *sip.Response:
		m.Res = x
		m.Route = kemi.RouteReply
	}
	return m, nil
}

// Env is a set of modules loaded into one shared environment.
type Env struct {
	Host     *Host
	PVs      *kemi.PVTable
	Services *kemi.Services
	Metrics  *metrics.Set
	Defines  map[string]string
	Mods     map[string]kemi.Module
	exports  map[string]kemi.Export
}

// Load instantiates the named registered modules in order, with optional
// parameters, runs ModInit and ChildInit(RankInit, RankMain, 1), and
// indexes their exports. Load "core" first when a module needs the core
// pseudo-variables.
func Load(t testing.TB, params map[string]map[string]any, names ...string) *Env {
	t.Helper()
	env, err := LoadErr(params, names...)
	if err != nil {
		t.Fatalf("kemitest: %v", err)
	}
	return env
}

// LoadErr is Load returning an error.
func LoadErr(params map[string]map[string]any, names ...string) (*Env, error) {
	return LoadErrWith(nil, params, names...)
}

// LoadErrWith is LoadErr with a hook that runs before the modules load, to
// publish fake services (a fake tm) in e.Services.
func LoadErrWith(before func(e *Env) error, params map[string]map[string]any, names ...string) (*Env, error) {
	e := &Env{
		Host:     NewHost(),
		PVs:      kemi.NewPVTable(),
		Services: kemi.NewServices(),
		Metrics:  metrics.NewSet(),
		Defines:  map[string]string{},
		Mods:     map[string]kemi.Module{},
		exports:  map[string]kemi.Export{},
	}
	if before != nil {
		if err := before(e); err != nil {
			return nil, err
		}
	}
	var order []kemi.Module
	for _, n := range names {
		info, ok := kemi.LookupModule(n)
		if !ok {
			return nil, fmt.Errorf("no module %q registered (import it)", n)
		}
		mod := info.New()
		menv := kemi.NewEnv(n, e.Host, e.PVs, e.Services, e.Metrics, kemi.NewParams(n, params[n]), slog.Default())
		menv.Defines = e.Defines
		if mi, ok := mod.(kemi.ModIniter); ok {
			if err := mi.ModInit(menv); err != nil {
				return nil, fmt.Errorf("%s: ModInit: %w", n, err)
			}
		}
		if err := menv.Params.Check(); err != nil {
			return nil, err
		}
		e.Mods[n] = mod
		order = append(order, mod)
		if hk, ok := mod.(kemi.SendHook); ok {
			e.Host.Hooks = append(e.Host.Hooks, hk)
		}
	}
	for _, rank := range []int{kemi.RankInit, kemi.RankMain, 1} {
		for _, mod := range order {
			if ci, ok := mod.(kemi.ChildIniter); ok {
				if err := ci.ChildInit(rank); err != nil {
					return nil, fmt.Errorf("ChildInit(%d): %w", rank, err)
				}
			}
		}
	}
	for _, mod := range order {
		for _, x := range mod.Exports() {
			if err := x.Validate(); err != nil {
				return nil, err
			}
			if _, dup := e.exports[x.LuaName()]; dup {
				return nil, fmt.Errorf("%s exported twice", x.LuaName())
			}
			e.exports[x.LuaName()] = x
		}
	}
	return e, nil
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

// Call calls the export with that Lua name on m. Strings and ints are both
// accepted for either kind and, as in the Lua binding, only the field of
// each parameter's declared kind is filled.
func (e *Env) Call(t testing.TB, name string, m *kemi.Msg, args ...any) kemi.Value {
	t.Helper()
	x := e.Export(t, name)
	if m != nil && m.Host == nil {
		m.Host = e.Host
	}
	var a kemi.Args
	for i, v := range args {
		if i >= kemi.MaxParams {
			break
		}
		switch vv := v.(type) {
		case string:
			a.V[i] = kemi.Arg{S: vv, I: kemi.ParseIntLenient(vv)}
		case int:
			a.V[i] = kemi.Arg{S: fmt.Sprint(vv), I: int64(vv)}
		case int64:
			a.V[i] = kemi.Arg{S: fmt.Sprint(vv), I: vv}
		default:
			t.Fatalf("kemitest: argument %d of %s: unsupported type %T", i, name, v)
		}
		a.N++
	}
	if a.N < len(x.Params) {
		t.Fatalf("kemitest: %s wants %d arguments, got %d", name, len(x.Params), a.N)
	}
	// as the Lua binding: only the field of the declared kind is filled
	for i, k := range x.Params {
		if k == kemi.ParamStr {
			a.V[i].I = 0
		} else {
			a.V[i].S = ""
		}
	}
	return x.Func(m, a)
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
