package kemi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Dest is where a message goes: a resolved address and transport.
type Dest struct {
	// Proto is the transport in lower case: "udp", "tcp", "tls".
	Proto string
	// Addr is the resolved address.
	Addr netip.AddrPort
	// Host is the host name it was resolved from, for logs.
	Host string
	// Sock is the local socket to send from; nil lets the engine choose.
	Sock *Socket
	// ConnID is the TCP connection to use; 0 finds or opens one.
	ConnID uint64
	// NoConnect sends only over an existing connection.
	NoConnect bool
	// Close closes the connection after sending.
	Close bool
	// TLSServerID picks the TLS client profile with that server_id for
	// a connection opened to send this (KSR.tls.set_connect_server_id).
	TLSServerID string
}

// String returns "proto:addr".
func (d Dest) String() string { return d.Proto + ":" + d.Addr.String() }

// Host is what the engine offers modules while routing. All methods are
// safe for concurrent use.
type Host interface {
	// Resolve turns a SIP URI into a destination (RFC 3263: transport
	// parameter, sips, port, SRV and A lookups).
	Resolve(ctx context.Context, uri string) (Dest, error)
	// Forward sends m statelessly: a request to uri (or to $du / the R-URI
	// when uri is ""), with our Via added; a reply to the address in its
	// second Via, with our Via removed. The onsend route runs for requests.
	Forward(m *Msg, uri string) error
	// Reply sends res, a reply to the request in m, to where replies to m
	// go (RFC 3261 §18.2.2 and RFC 3581), over m's connection or socket.
	Reply(m *Msg, res *sip.Response) error
	// PrepareRequest readies req, a request built from the routed message
	// origin, for sending to dst: it picks the socket (dst.Sock), lets the
	// modules' SendHooks adjust req (rr's outbound Record-Route) and runs
	// the onsend route. It reports ErrDropped if the onsend route dropped
	// it. tm calls it once per branch, before the first transmission.
	PrepareRequest(origin *Msg, req *sip.Request, dst *Dest) error
	// SendRequest sends req to dst. With origin set it first calls
	// PrepareRequest; with origin nil (retransmissions) it sends as it is.
	SendRequest(origin *Msg, req *sip.Request, dst Dest) error
	// SendReply sends res to dst as it is.
	SendReply(res *sip.Response, dst Dest) error
	// ReplyDest returns where replies to the request in m go.
	ReplyDest(m *Msg) (Dest, error)
	// Via returns our Via header for a request sent to dst with the given
	// branch, from the socket that will be used, and sets dst.Sock.
	Via(m *Msg, dst *Dest, branch string) *sip.ViaHeader
	// IsMyself reports whether host:port (port 0: any) over proto ("": any)
	// is one of our addresses or aliases.
	IsMyself(host string, port int, proto string) bool
	// Sockets returns the listening sockets; the slice is shared: do not
	// change it.
	Sockets() []*Socket
	// FindSocket returns the socket "proto:host:port" (or its name), or nil.
	FindSocket(spec string) *Socket
	// LogLevel returns the configured log level.
	LogLevel() slog.Level
	// AddTCPAlias makes the TCP connection connID also the connection for
	// requests sent to addr (Kamailio's add_tcp_alias).
	AddTCPAlias(connID uint64, addr netip.AddrPort) error
	// Exec runs fn soon on a worker, with that worker's script and $var
	// state: modules use it to run routes for events that did not come
	// with a message (a timer that expired). Routes run through run are
	// counted and their errors logged like any other.
	Exec(fn func(run Runner, proc *Proc))
}

// RawSender is implemented by the engine's Host: SendRaw sends b to dst
// as it is, from dst.Sock (the engine picks one when nil). nathelper's
// keepalives use it: Kamailio sends them as prebuilt bytes, statelessly.
type RawSender interface {
	SendRaw(dst Dest, b []byte) error
}

// WireReplier is implemented by the engine's Host: SendReplyBytes sends
// b, a reply written already (tm relays a received reply as it came, less
// our Via), to dst, and counts it as a reply sent.
type WireReplier interface {
	SendReplyBytes(dst Dest, b []byte) error
}

// ErrDropped is reported when the onsend route dropped a message.
var ErrDropped = fmt.Errorf("dropped by onsend route")

// Process is an extra process a module asks for at ModInit: a goroutine of
// its own, started at RankMain, supervised (restarted after a panic) and
// stopped at shutdown.
type Process struct {
	// Name identifies the process in logs.
	Name string
	// Run does the work until ctx is done. A returned error or a panic is
	// logged and Run is started again after a back-off.
	Run func(ctx context.Context, p *ProcContext) error
}

// ProcContext is given to an extra process.
type ProcContext struct {
	// Rank is the process rank (negative).
	Rank int
	// Proc is its $var state.
	Proc *Proc
	// Event runs a script event callback (such as "ksr_htable_event") with
	// a Lua state owned by this process, passing evname as its argument.
	Event func(callback, evname string) error
	// Logger logs for the process.
	Logger *slog.Logger
}

// Env is what a module gets at ModInit: its parameters and the engine's
// facilities. It belongs to one engine.
type Env struct {
	// Module is the module name.
	Module string
	// Logger logs as this module.
	Logger *slog.Logger
	// ScriptLogger logs on behalf of the script (KSR.info, xlog).
	ScriptLogger *slog.Logger
	// Metrics is the engine's metric set: create series with a
	// description (env.Metrics.NewCounter(name, help)), which /metrics
	// writes as the family's # HELP line. Names follow
	// kemi_<module>_<what>_<unit|total>.
	Metrics *Metrics
	// Params are the module's parameters from the config file.
	Params *Params
	// Defines are the -D names (kx.ifdef).
	Defines map[string]string
	// Workers is the number of workers.
	Workers int
	// DryRun is set by kemi check: validate, start nothing.
	DryRun bool
	// Host is the engine.
	Host Host
	// PVs is the engine's pseudo-variable table.
	PVs *PVTable
	// Services lets modules find each other's APIs.
	Services *Services
	// DBURL is the core db_url: the database modules use unless their own
	// db_url parameter says otherwise ("sqlite://kemi.db",
	// "redis://host:6379/0", "memory"; see package db).
	DBURL string

	procs      []Process
	rpcs       []RPCMethod
	cfgs       []CfgVar
	initEvents []InitEvent
}

// NewEnv returns an environment; the module loader uses it (see
// LoadModules), and tests of a single module may. A nil log means
// slog.Default(), nil set a fresh Metrics.
func NewEnv(module string, host Host, pvs *PVTable, svc *Services, set *Metrics, params *Params, log *slog.Logger) *Env {
	if log == nil {
		log = slog.Default()
	}
	if params == nil {
		params = NewParams(module, nil)
	}
	if set == nil {
		set = NewMetrics()
	}
	return &Env{
		Module:       module,
		Logger:       log.With("module", module),
		ScriptLogger: log.With("module", "script"),
		Metrics:      set,
		Params:       params,
		Defines:      map[string]string{},
		Workers:      1,
		Host:         host,
		PVs:          pvs,
		Services:     svc,
	}
}

// AddProcess asks for an extra process, started at RankMain.
func (e *Env) AddProcess(p Process) {
	e.procs = append(e.procs, p)
}

// Processes returns the extra processes asked for.
func (e *Env) Processes() []Process {
	return e.procs
}

// Services is a typed registry where modules publish APIs for each other
// (tm publishes its transaction API, sl looks it up). Publish at ModInit,
// look up from ChildInit on.
type Services struct {
	mu sync.RWMutex
	m  map[string]any
}

// NewServices returns an empty registry.
func NewServices() *Services { return &Services{m: make(map[string]any)} }

// Provide publishes v under name; a second Provide of a name fails.
func (s *Services) Provide(name string, v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[name]; dup {
		return fmt.Errorf("kemi: service %q provided twice", name)
	}
	s.m[name] = v
	return nil
}

// Lookup returns what was published under name, or nil.
func (s *Services) Lookup(name string) any {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[name]
}

// Params are a module's parameters, as read from the config file. Reads are
// recorded so that the engine can refuse parameters no module knows.
type Params struct {
	module string
	vals   map[string]any
	used   map[string]bool
	errs   []string
}

// NewParams wraps the values of one config section.
func NewParams(module string, vals map[string]any) *Params {
	if vals == nil {
		vals = map[string]any{}
	}
	return &Params{module: module, vals: vals, used: map[string]bool{}}
}

func (p *Params) get(name string) (any, bool) {
	p.used[name] = true
	v, ok := p.vals[name]
	return v, ok
}

func (p *Params) bad(name string, v any, want string) {
	p.errs = append(p.errs, fmt.Sprintf("parameter %s = %v: want %s", name, v, want))
}

// Str returns a string parameter or def.
func (p *Params) Str(name, def string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case int64, int, float64, bool:
		return fmt.Sprint(x)
	}
	p.bad(name, v, "a string")
	return def
}

// Int returns an integer parameter or def.
func (p *Params) Int(name string, def int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int64:
		return int(x)
	case int:
		return x
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n
		}
	}
	p.bad(name, v, "an integer")
	return def
}

// Bool returns a boolean parameter or def; 0/1 and "yes"/"no" are accepted.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case string:
		switch strings.ToLower(x) {
		case "1", "yes", "true", "on":
			return true
		case "0", "no", "false", "off":
			return false
		}
	}
	p.bad(name, v, "a boolean")
	return def
}

// Duration returns a duration parameter or def. Integers are taken in
// unit; strings use Go syntax ("2s", "500ms"). A number of units that a
// time.Duration cannot hold is refused rather than wrapped round.
func (p *Params) Duration(name string, def, unit time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int:
		n = int64(x)
	case string:
		d, err := time.ParseDuration(x)
		if err == nil {
			return d
		}
		if n, err = strconv.ParseInt(x, 10, 64); err != nil {
			p.bad(name, v, "a duration")
			return def
		}
	default:
		p.bad(name, v, "a duration")
		return def
	}
	if unit > 1 && (n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit)) {
		p.bad(name, v, "a duration of at most 290 years")
		return def
	}
	return time.Duration(n) * unit
}

// List returns a list-of-strings parameter; a single string is a list of one.
func (p *Params) List(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	p.bad(name, v, "a list of strings")
	return nil
}

// Has reports whether the parameter was given.
func (p *Params) Has(name string) bool {
	_, ok := p.vals[name]
	return ok
}

// Check returns a *ConfigError for every parameter that was read with
// the wrong type or that nobody read.
func (p *Params) Check() error {
	errs := append([]string(nil), p.errs...)
	var unknown []string
	for k := range p.vals {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, "unknown parameter "+k)
	}
	if len(errs) == 0 {
		return nil
	}
	return &ConfigError{Module: p.module, InParams: true, Msg: strings.Join(errs, "; ")}
}
