package engine

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kemisip/kemi/db"
)

// Config configures an engine. The zero value plus a script is usable:
// defaults fill the rest.
type Config struct {
	// ScriptPath is the routing script file: read at start unless Script
	// is set, and read again by ReloadScript. It names the script in
	// errors.
	ScriptPath string
	// Script is the script text to start with; when set, ScriptPath is
	// not read at start.
	Script []byte
	// ScriptEmbedded marks Script as built into the binary, with
	// ScriptPath only its name: ReloadScript reloads Script as it is
	// instead of reading a file.
	ScriptEmbedded bool

	// Listen are the SIP listeners in Kamailio's syntax:
	// "udp:127.0.0.1:5060", "tcp:[::1]:5060", "tls:127.0.0.1:5061" (see
	// TLS), "127.0.0.1:5060" (udp and tcp), with an optional advertised
	// address: "udp:10.0.0.1:5060/203.0.113.7:5060" or
	// "udp:10.0.0.1:5060 advertise 203.0.113.7:5060". Port 0 picks a free
	// port. Default: udp and tcp on 127.0.0.1:5060.
	Listen []string
	// TLS configures the tls listeners ("tls:127.0.0.1:5061") and the TLS
	// connections kemi opens (sips: and ;transport=tls next hops): the
	// [tls] table of kemi.toml. Its files are read again at each reload.
	// nil: no certificate, and outbound connections verify the peer
	// against the system's CAs.
	TLS *TLSConfig
	// Aliases are extra host names or addresses that are "myself".
	Aliases []string
	// Workers is the number of workers (Lua states). Default: the number of
	// CPUs.
	Workers int
	// MetricsAddr is where /metrics is served; "" turns it off.
	MetricsAddr string
	// MetricsListener, when set, serves /metrics instead of MetricsAddr
	// (a socket bound by the supervisor).
	MetricsListener net.Listener
	// Pprof also serves Go's /debug/pprof on the metrics address.
	Pprof bool
	// CtlSocket is the path of a Unix socket serving JSON-RPC (POST /RPC,
	// as on the metrics address) to this user and root; "" for none.
	CtlSocket string
	// CtlListener, when set, serves the control socket instead of
	// CtlSocket (a socket bound by the supervisor).
	CtlListener net.Listener
	// CtlToken lets JSON-RPC clients that are not on loopback call /RPC on
	// the metrics address with "Authorization: Bearer <token>"; without
	// it they are refused.
	CtlToken string
	// Version is the version core.version reports; the CLI sets its own.
	Version string
	// OnReload, when set, is told the outcome of each reload asked over
	// RPC (app_lua.reload): the new generation, the script in use, and
	// the error of a refused reload.
	OnReload func(gen int64, src []byte, err error)

	// Logger is the engine's logger; default slog.Default().
	Logger *slog.Logger
	// LogLevel is reported to scripts by KSR.get_debug; it is also the
	// level of the default logger the CLI builds.
	LogLevel slog.Level
	// LogLevelVar, when set, is the level of Logger's handler: cfg.set
	// core debug changes it (and what KSR.get_debug says) at run time.
	LogLevelVar *slog.LevelVar

	// Trace logs every KSR call of every route, with its file:line,
	// arguments, result and time, and the message's Call-ID (see
	// docs/tracing.md); cfg.set core trace turns it on and off.
	Trace bool
	// LatencyLimit logs, at warning level, a route run that takes at
	// least this long, with its slowest KSR call (Kamailio's
	// latency_limit_cfg); 0 means off.
	LatencyLimit time.Duration
	// LatencyLimitAction logs, at warning level, each KSR call that
	// takes at least this long (Kamailio's latency_limit_action); 0
	// means off.
	LatencyLimitAction time.Duration

	// Defines are the names for KSR.kx.ifdef, with optional values.
	Defines map[string]string
	// Modules are the enabled modules in order; nil means every
	// registered module of the standard set, in its order (see
	// kemi.StandardModules; import core/all to link them). "core" is
	// always enabled.
	Modules []string
	// ModParams are module parameters by module name.
	ModParams map[string]map[string]any
	// DBURL is the database of the modules that keep tables (usrloc,
	// auth_db) unless their own db_url parameter names another:
	// "sqlite:///var/lib/kemi/kemi.db", "redis://127.0.0.1:6379/0",
	// "memory" (see package db). Default: db.DefaultURL, kemi.db in the
	// working directory.
	DBURL string

	// RouteTimeout stops a route that runs longer: 0 means
	// DefaultRouteTimeout, a negative value no limit.
	RouteTimeout time.Duration
	// RouteMemoryLimit bounds what one route run may build, in bytes:
	// strings (string.rep, .., table.concat, gsub, error messages, ...),
	// code compiled by loadstring/load and coroutines. 0 means
	// DefaultRouteMemoryLimit, a negative value no limit.
	RouteMemoryLimit int64
	// MemoryLimit is how large the heap may grow, in bytes, before the
	// garbage collector runs: from Start to Stop, GOGC is set after each
	// collection so that the next one comes when the heap reaches
	// MemoryLimit, or when it has doubled if that is later (Go's default),
	// so the collector runs seldom while memory is plentiful (see
	// gcTuner). The setting is process-wide: with several engines in one
	// process the smallest limit of those running holds, and the last to
	// stop puts back the setting the first found. 0 leaves the runtime's
	// settings as they are (an embedding program keeps its own); a
	// negative value is Go's default (GOGC 100). The GOGC variable, when
	// set, wins. kemi run's default is DefaultMemoryLimit.
	MemoryLimit int64
	// AllowUnsafeLua gives scripts file, process and environment access
	// (io, os.execute, os.getenv, dofile, ...); off by default.
	AllowUnsafeLua bool
	// MaxMessageSize is the largest SIP message accepted, in bytes.
	MaxMessageSize int
	// RouteUnknownMethods routes requests with methods kemi does not know;
	// by default they are counted and dropped.
	RouteUnknownMethods bool
	// TCPIdleTimeout closes TCP connections idle that long (default 2m).
	TCPIdleTimeout time.Duration
	// TCPMaxConnections bounds the open TCP connections, accepted and
	// opened (Kamailio's tcp_max_connections; default 2048).
	TCPMaxConnections int
	// TCPAcceptIPLimit bounds the connections accepted from one source
	// IP address (Kamailio's tcp_accept_iplimit; default 1024).
	TCPAcceptIPLimit int
	// TCPMsgReadTimeout is how long one SIP message may take to arrive
	// over TCP once its first byte has (Kamailio's tcp_msg_read_timeout;
	// default 20s).
	TCPMsgReadTimeout time.Duration
	// WSKeepaliveInterval is how long a WebSocket connection may stay
	// without receiving a frame before kemi pings it (Kamailio's
	// websocket keepalive_timeout; default 180s).
	WSKeepaliveInterval time.Duration
	// WSPingTimeout is how long a ping may wait for its pong before the
	// WebSocket connection is closed (default 10s).
	WSPingTimeout time.Duration

	// RequestRoute, ReplyRoute and OnsendRoute name the script callbacks
	// (Kamailio's kemi.*_callback); "none" turns the reply and onsend
	// callbacks off.
	RequestRoute string
	ReplyRoute   string
	OnsendRoute  string
	// EventRoute names the callback of core events (Kamailio's
	// kemi.event_route_callback): "core:worker-one-init" runs in worker 1
	// before serving, and a KSR.x.drop() there aborts the start.
	EventRoute string

	// Inherited are sockets already bound by a supervisor; when set,
	// Listen is only used to describe them.
	Inherited []InheritedSocket
	// Restarts is how often the supervisor restarted the worker process,
	// shown as kemi_engine_worker_restarts_total.
	Restarts int
	// Generation is the script generation to start from (a restarted
	// worker process goes on counting); default 1.
	Generation int64
}

// InheritedSocket is a listening socket handed over by the supervisor.
type InheritedSocket struct {
	// Spec is the listen spec it was bound for.
	Spec string
	// Packet is set for UDP, Stream for TCP and TLS.
	Packet net.PacketConn
	Stream net.Listener
}

// DefaultListen is where kemi listens when nothing is configured.
var DefaultListen = []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}

// Defaults of the limits an engine applies when its Config leaves them 0.
const (
	// DefaultRouteTimeout is the route time limit: a route that takes
	// longer than SIP's retransmission timers is a bug, not a slow call.
	DefaultRouteTimeout = time.Second
	// DefaultRouteMemoryLimit is what one route run may build: strings,
	// code compiled at run time, coroutines (see RouteMemoryLimit).
	DefaultRouteMemoryLimit = 64 << 20
	// MinMemoryLimit is the lowest MemoryLimit accepted.
	MinMemoryLimit = 16 << 20
	// DefaultTCPMaxConnections is Kamailio's tcp_max_connections default.
	DefaultTCPMaxConnections = 2048
	// DefaultTCPAcceptIPLimit is Kamailio's tcp_accept_iplimit default.
	DefaultTCPAcceptIPLimit = 1024
	// DefaultTCPMsgReadTimeout is Kamailio's tcp_msg_read_timeout default.
	DefaultTCPMsgReadTimeout = 20 * time.Second
	// DefaultWSKeepaliveInterval is Kamailio's websocket keepalive_timeout
	// default: a WebSocket connection silent that long is pinged.
	DefaultWSKeepaliveInterval = 180 * time.Second
	// DefaultWSPingTimeout is how long a ping waits for its pong.
	DefaultWSPingTimeout = 10 * time.Second
)

// withDefaults returns c with defaults applied.
func (c Config) withDefaults() Config {
	if len(c.Listen) == 0 && len(c.Inherited) == 0 {
		c.Listen = DefaultListen
	}
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 65535
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = 2 * time.Minute
	}
	if c.RouteTimeout == 0 {
		c.RouteTimeout = DefaultRouteTimeout
	}
	if c.RouteMemoryLimit == 0 {
		c.RouteMemoryLimit = DefaultRouteMemoryLimit
	}
	if c.TCPMaxConnections <= 0 {
		c.TCPMaxConnections = DefaultTCPMaxConnections
	}
	if c.TCPAcceptIPLimit <= 0 {
		c.TCPAcceptIPLimit = DefaultTCPAcceptIPLimit
	}
	if c.TCPMsgReadTimeout <= 0 {
		c.TCPMsgReadTimeout = DefaultTCPMsgReadTimeout
	}
	if c.WSKeepaliveInterval <= 0 {
		c.WSKeepaliveInterval = DefaultWSKeepaliveInterval
	}
	if c.WSPingTimeout <= 0 {
		c.WSPingTimeout = DefaultWSPingTimeout
	}
	if c.RequestRoute == "" {
		c.RequestRoute = "ksr_request_route"
	}
	if c.ReplyRoute == "" {
		c.ReplyRoute = "ksr_reply_route"
	}
	if c.OnsendRoute == "" {
		c.OnsendRoute = "ksr_onsend_route"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// ListenSpec is one parsed listen address.
type ListenSpec struct {
	Proto   string
	Addr    netip.AddrPort
	AdvHost string
	AdvPort int
	Name    string
}

// String returns the spec as "proto:addr:port".
func (l ListenSpec) String() string {
	return l.Proto + ":" + l.Addr.String()
}

// spec formats l as a listen spec that ParseListen reads back the same,
// advertised address and name included.
func (l ListenSpec) spec() string {
	s := l.String()
	if l.AdvHost != "" {
		adv := l.AdvHost
		if l.AdvPort != 0 {
			adv = net.JoinHostPort(l.AdvHost, strconv.Itoa(l.AdvPort))
		}
		s += " advertise " + adv
	}
	if l.Name != "" {
		s += " name " + l.Name
	}
	return s
}

// ParseListen parses a listen spec; without a protocol it gives one spec
// for udp and one for tcp. The address is required: "udp:" or ":5060"
// are refused rather than read as every interface, which must be asked
// for ("udp:*:5060", "udp:0.0.0.0:5060").
func ParseListen(spec string) ([]ListenSpec, error) {
	s := strings.TrimSpace(spec)
	var adv, name string
	if i := strings.Index(s, " name "); i >= 0 {
		name = strings.TrimSpace(s[i+6:])
		s = strings.TrimSpace(s[:i])
	}
	if i := strings.Index(s, " advertise "); i >= 0 {
		adv = strings.TrimSpace(s[i+11:])
		s = strings.TrimSpace(s[:i])
	} else if i := strings.LastIndexByte(s, '/'); i >= 0 {
		adv = s[i+1:]
		s = s[:i]
		if adv == "" {
			return nil, fmt.Errorf("listen %q: no advertised address after /", spec)
		}
	}
	protos := []string{"udp", "tcp"}
	proto, rest, hasProto := listenProto(s)
	switch proto {
	case "":
	case "udp", "tcp", "tls", "ws", "wss":
		protos = []string{proto}
	case "sctp":
		return nil, fmt.Errorf("listen %q: transport %s is not supported (udp, tcp, tls, ws and wss are)", spec, proto)
	default:
		return nil, fmt.Errorf("listen %q: unknown transport %q (udp, tcp, tls, ws or wss)", spec, proto)
	}
	if hasProto {
		s = rest
	}
	if s == "" {
		return nil, fmt.Errorf("listen %q: no address: give proto:ip[:port], e.g. udp:127.0.0.1:5060 (udp:*:5060 for every interface)", spec)
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// no port given
		host, portStr = strings.Trim(s, "[]"), "5060"
		switch proto {
		case "tls":
			portStr = "5061"
		case "ws":
			portStr = "80" // RFC 6455's ports
		case "wss":
			portStr = "443"
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen %q: bad port %q (0 to 65535)", spec, portStr)
	}
	switch host {
	case "":
		return nil, fmt.Errorf("listen %q: no address before the port: give ip:port (*:%s for every interface)", spec, portStr)
	case "*":
		host = "0.0.0.0"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return nil, fmt.Errorf("listen %q: %q is not an address", spec, host)
		}
		ip, _ = netip.AddrFromSlice(ips[0])
		ip = ip.Unmap()
	}
	var advHost string
	var advPort int
	if adv != "" {
		h, p, err := net.SplitHostPort(adv)
		if err != nil {
			h, p = strings.Trim(adv, "[]"), ""
		}
		if h == "" {
			return nil, fmt.Errorf("listen %q: no advertised address before the port", spec)
		}
		advHost = h
		if p != "" {
			if advPort, err = strconv.Atoi(p); err != nil || advPort <= 0 || advPort > 65535 {
				return nil, fmt.Errorf("listen %q: bad advertised port %q", spec, p)
			}
		}
	}
	var out []ListenSpec
	for _, p := range protos {
		out = append(out, ListenSpec{Proto: p, Addr: netip.AddrPortFrom(ip, uint16(port)), AdvHost: advHost, AdvPort: advPort, Name: name})
	}
	return out, nil
}

// listenProto splits the transport off a listen address: "udp:1.2.3.4"
// gives "udp" and "1.2.3.4". A bare transport name ("udp") is a transport
// without an address. A first word of letters is a transport unless a port
// number follows it ("localhost:5060") or the whole is an IPv6 address
// ("dead::1").
func listenProto(s string) (proto, rest string, ok bool) {
	word, rest, found := strings.Cut(s, ":")
	if word == "" || strings.TrimLeft(strings.ToLower(word), "abcdefghijklmnopqrstuvwxyz") != "" {
		return "", s, false
	}
	if !found {
		if knownTransport(strings.ToLower(word)) {
			return strings.ToLower(word), "", true
		}
		return "", s, false // a host name
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", s, false
	}
	if _, err := strconv.Atoi(rest); err == nil && !knownTransport(strings.ToLower(word)) {
		return "", s, false // host:port
	}
	return strings.ToLower(word), rest, true
}

// knownTransport reports whether name is a SIP transport Kamailio listens on.
func knownTransport(name string) bool {
	switch name {
	case "udp", "tcp", "tls", "sctp", "ws", "wss":
		return true
	}
	return false
}

// ParseRouteTimeout reads a route time limit as the config file and the
// CLI write it: a duration ("500ms", "2s"), with "0" or "off" meaning no
// limit, which it returns as -1 (a negative Config.RouteTimeout).
func ParseRouteTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration (500ms, 2s; 0 or off: no limit)", s)
	case d < 0:
		return 0, fmt.Errorf("%q is negative (0 or off: no limit)", s)
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// ParseRouteMemoryLimit reads a route memory limit as the config file and
// the CLI write it: a size (see ParseByteSize), with "0" or "off" meaning
// no limit, which it returns as -1 (a negative Config.RouteMemoryLimit).
func ParseRouteMemoryLimit(s string) (int64, error) {
	if strings.TrimSpace(s) == "off" {
		return -1, nil
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}

// ParseMemoryLimit reads memory_limit (Config.MemoryLimit) as the config
// file, the CLI and KEMI_MEMORY_LIMIT write it: a size (see
// ParseByteSize), with "0" or "off" meaning Go's default, which it
// returns as -1. A size below MinMemoryLimit is refused: it would be Go's
// default in all but name.
func ParseMemoryLimit(s string) (int64, error) {
	n, err := ParseRouteMemoryLimit(s)
	if err != nil {
		return 0, err
	}
	if n > 0 && n < MinMemoryLimit {
		return 0, fmt.Errorf("%q is below %dMiB, the smallest accepted (0 or off: Go's default)", strings.TrimSpace(s), MinMemoryLimit>>20)
	}
	return n, nil
}

// byteUnits are the units ParseByteSize knows: decimal kB, MB, GB as
// disks count, binary KiB, MiB, GiB as memory does.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseByteSize reads a number of bytes with an optional unit: "65536",
// "512KB" (512 000), "64MiB" (64×2^20). Units are B, KB, MB, GB (powers of
// 1000) and KiB, MiB, GiB (powers of 1024), in any case, with or without a
// space before them.
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits == 0 {
		return 0, fmt.Errorf("%q is not a size in bytes (an integer, or with a unit: 512KB, 64MiB)", s)
	}
	unit := strings.ToLower(strings.TrimSpace(s[digits:]))
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, KB, MB, GB, KiB, MiB, GiB)", s, strings.TrimSpace(s[digits:]))
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// FileConfig is the content of a kemi.toml file: a [core] table and one
// table of parameters per module.
type FileConfig struct {
	// Path is the file as it was named to LoadFile or ParseFile: errors
	// name it, and relative paths in the file are relative to its folder
	// (see ResolvePath).
	Path string `toml:"-"`
	Core struct {
		Script              string   `toml:"script"`
		Listen              []string `toml:"listen"`
		Alias               []string `toml:"alias"`
		Workers             int      `toml:"workers"`
		MetricsAddr         *string  `toml:"metrics_addr"`
		LogLevel            string   `toml:"log_level"`
		LogFormat           string   `toml:"log_format"`
		Defines             []string `toml:"defines"`
		Modules             []string `toml:"modules"`
		RouteTimeout        string   `toml:"route_timeout"`
		RouteMemoryLimit    any      `toml:"route_memory_limit"` // bytes, or a string with a unit
		MemoryLimit         any      `toml:"memory_limit"`       // bytes, or a string with a unit
		AllowUnsafeLua      bool     `toml:"allow_unsafe_lua"`
		MaxMessageSize      int      `toml:"max_message_size"`
		RouteUnknownMethods bool     `toml:"route_unknown_methods"`
		TCPIdleTimeout      string   `toml:"tcp_idle_timeout"`
		TCPMaxConnections   int      `toml:"tcp_max_connections"`
		TCPAcceptIPLimit    int      `toml:"tcp_accept_iplimit"`
		TCPMsgReadTimeout   string   `toml:"tcp_msg_read_timeout"`
		WSKeepaliveInterval string   `toml:"ws_keepalive_interval"`
		WSPingTimeout       string   `toml:"ws_ping_timeout"`
		RequestRoute        string   `toml:"request_route_callback"`
		ReplyRoute          string   `toml:"reply_route_callback"`
		OnsendRoute         string   `toml:"onsend_route_callback"`
		EventRoute          string   `toml:"event_route_callback"`
		DBURL               string   `toml:"db_url"`
		CtlSocket           string   `toml:"ctl_socket"`
		CtlToken            string   `toml:"ctl_token"`
		Trace               bool     `toml:"trace"`
		LatencyLimit        string   `toml:"latency_limit"`
		LatencyLimitAction  string   `toml:"latency_limit_action"`
	} `toml:"core"`
	// TLS is the [tls] table (see TLSConfig); nil when the file has none.
	TLS *TLSConfig `toml:"tls"`
	// ModParams holds every other table: module name -> parameters.
	ModParams map[string]map[string]any `toml:"-"`

	md toml.MetaData // which keys the file sets
}

// LoadFile reads a kemi.toml file.
func LoadFile(path string) (*FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: config: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile parses kemi.toml content; name is the file's path: errors name
// it and ResolvePath resolves against its folder.
func ParseFile(name string, data []byte) (*FileConfig, error) {
	fc := FileConfig{Path: name}
	md, err := toml.Decode(string(data), &fc)
	if err != nil {
		return nil, fmt.Errorf("engine: config %s: %w", name, err)
	}
	fc.md = md
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("engine: config %s: %w", name, err)
	}
	fc.ModParams = map[string]map[string]any{}
	for k, v := range raw {
		if k == "core" || k == "tls" {
			continue
		}
		tbl, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("engine: config %s: %q must be a table of module parameters ([%s])", name, k, k)
		}
		fc.ModParams[k] = tbl
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) >= 2 && (k[0] == "core" || k[0] == "tls") {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		hint := ""
		if slices.ContainsFunc(unknown, func(k string) bool { return strings.HasPrefix(k, "tls.") }) {
			hint = " ([tls] and its profiles take tls.cfg's keys: tls_method, certificate, private_key, ca_list, crl, verify_certificate, require_certificate, verify_depth, cipher_list, server_name, server_name_mode, server_id, and domain)"
		}
		tables := "core"
		switch tls := hint != ""; {
		case tls && strings.HasPrefix(unknown[0], "tls."):
			tables = "tls"
		case tls:
			tables = "core and tls"
		}
		return nil, fmt.Errorf("engine: config %s: unknown %s settings: %s%s", name, tables, strings.Join(unknown, ", "), hint)
	}
	return &fc, nil
}

// ResolvePath resolves a path written in the file against the file's
// folder, so that a config works whatever the current directory: "routing.lua"
// in /etc/kemi/kemi.toml is /etc/kemi/routing.lua. Absolute and empty
// paths are returned as they are. Every setting that names a file goes
// through it.
func (fc *FileConfig) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(fc.Path), p)
}

// Errorf returns an error about setting key of the file, naming the file
// and the key: "engine: config kemi.toml: workers: must be at least 1".
func (fc *FileConfig) Errorf(key, format string, args ...any) error {
	return fmt.Errorf("engine: config %s: %s: %s", fc.Path, key, fmt.Sprintf(format, args...))
}

// has reports whether the file sets the [core] key, even to its zero
// value.
func (fc *FileConfig) has(key string) bool { return fc.md.IsDefined("core", key) }

// Apply copies the file's settings into c where c has none, after checking
// them; an error names the file and the setting.
func (fc *FileConfig) Apply(c *Config) error {
	v, err := fc.check()
	if err != nil {
		return err
	}
	if c.ScriptPath == "" {
		c.ScriptPath = fc.ResolvePath(fc.Core.Script)
	}
	if len(c.Listen) == 0 {
		c.Listen = fc.Core.Listen
	}
	c.Aliases = append(c.Aliases, fc.Core.Alias...)
	if c.Workers == 0 {
		c.Workers = fc.Core.Workers
	}
	if c.Modules == nil && fc.Core.Modules != nil {
		c.Modules = fc.Core.Modules
	}
	if c.Defines == nil {
		c.Defines = map[string]string{}
	}
	for _, d := range fc.Core.Defines {
		k, v, _ := strings.Cut(d, "=")
		if _, set := c.Defines[k]; !set {
			c.Defines[k] = v
		}
	}
	if c.ModParams == nil {
		c.ModParams = fc.ModParams
	}
	if c.DBURL == "" && fc.Core.DBURL != "" {
		c.DBURL = v.dbURL
	}
	if c.RouteTimeout == 0 {
		c.RouteTimeout = v.routeTimeout
	}
	if c.RouteMemoryLimit == 0 {
		c.RouteMemoryLimit = v.routeMemoryLimit
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = v.memoryLimit
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = v.tcpIdleTimeout
	}
	if c.TCPMaxConnections == 0 {
		c.TCPMaxConnections = fc.Core.TCPMaxConnections
	}
	if c.TCPAcceptIPLimit == 0 {
		c.TCPAcceptIPLimit = fc.Core.TCPAcceptIPLimit
	}
	if c.TCPMsgReadTimeout == 0 {
		c.TCPMsgReadTimeout = v.tcpMsgReadTimeout
	}
	if c.WSKeepaliveInterval == 0 {
		c.WSKeepaliveInterval = v.wsKeepaliveInterval
	}
	if c.WSPingTimeout == 0 {
		c.WSPingTimeout = v.wsPingTimeout
	}
	c.AllowUnsafeLua = c.AllowUnsafeLua || fc.Core.AllowUnsafeLua
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = fc.Core.MaxMessageSize
	}
	c.RouteUnknownMethods = c.RouteUnknownMethods || fc.Core.RouteUnknownMethods
	if c.RequestRoute == "" {
		c.RequestRoute = fc.Core.RequestRoute
	}
	if c.ReplyRoute == "" {
		c.ReplyRoute = fc.Core.ReplyRoute
	}
	if c.OnsendRoute == "" {
		c.OnsendRoute = fc.Core.OnsendRoute
	}
	if c.EventRoute == "" {
		c.EventRoute = fc.Core.EventRoute
	}
	if c.CtlSocket == "" {
		c.CtlSocket = fc.ResolvePath(fc.Core.CtlSocket)
	}
	if c.CtlToken == "" {
		c.CtlToken = fc.Core.CtlToken
	}
	if c.TLS == nil {
		c.TLS = v.tls
	}
	c.Trace = c.Trace || fc.Core.Trace
	if c.LatencyLimit == 0 {
		c.LatencyLimit = v.latencyLimit
	}
	if c.LatencyLimitAction == 0 {
		c.LatencyLimitAction = v.latencyLimitAction
	}
	return nil
}

// resolveModulePaths makes the paths of module parameters relative to
// the file's folder, as every path in the file is: a db_url naming a
// relative SQLite file ([usrloc] db_url) and a relative file named by a
// parameter ending in _file ([dispatcher] list_file).
func (fc *FileConfig) resolveModulePaths() error {
	dir := filepath.Dir(fc.Path)
	for mod, params := range fc.ModParams {
		for name, v := range params {
			raw, ok := v.(string)
			if !ok || raw == "" {
				continue
			}
			switch {
			case name == "db_url":
				u, err := db.ParseURL(raw)
				if err != nil {
					return fmt.Errorf("engine: config %s: [%s] db_url: %v", fc.Path, mod, err)
				}
				params[name] = u.Resolve(dir).Raw
			case strings.HasSuffix(name, "_file"):
				params[name] = fc.ResolvePath(raw)
			}
		}
	}
	return nil
}

// parsedCore are the [core] settings written as text that the file
// sets, parsed; zero where the file does not set them.
type parsedCore struct {
	dbURL               string
	routeTimeout        time.Duration
	routeMemoryLimit    int64
	memoryLimit         int64
	tcpIdleTimeout      time.Duration
	tcpMsgReadTimeout   time.Duration
	wsKeepaliveInterval time.Duration
	wsPingTimeout       time.Duration
	tls                 *TLSConfig // with its file names resolved
	latencyLimit        time.Duration
	latencyLimitAction  time.Duration
}

// check refuses settings the engine would read as something else than
// written: a negative count, a bad unit, a listen address without an
// address. Zero counts are refused too where a zero would silently mean
// the default. It returns the settings it parsed, so that Apply parses
// none again.
func (fc *FileConfig) check() (parsedCore, error) {
	var v parsedCore
	core := &fc.Core
	for _, l := range core.Listen {
		if _, err := ParseListen(l); err != nil {
			return v, fc.Errorf("listen", "%v", err)
		}
	}
	atLeastOne := []struct {
		key string
		n   int
	}{
		{"workers", core.Workers},
		{"max_message_size", core.MaxMessageSize},
		{"tcp_max_connections", core.TCPMaxConnections},
		{"tcp_accept_iplimit", core.TCPAcceptIPLimit},
	}
	for _, s := range atLeastOne {
		if s.n < 0 || s.n == 0 && fc.has(s.key) {
			return v, fc.Errorf(s.key, "must be at least 1 (is %d)", s.n)
		}
	}
	var err error
	if core.DBURL != "" {
		u, err := db.ParseURL(core.DBURL)
		if err != nil {
			return v, fc.Errorf("db_url", "%v", err)
		}
		v.dbURL = u.Resolve(filepath.Dir(fc.Path)).Raw
	}
	if err := fc.resolveModulePaths(); err != nil {
		return v, err
	}
	if core.RouteTimeout != "" || fc.has("route_timeout") {
		if v.routeTimeout, err = ParseRouteTimeout(core.RouteTimeout); err != nil {
			return v, fc.Errorf("route_timeout", "%v", err)
		}
	}
	if core.RouteMemoryLimit != nil {
		if v.routeMemoryLimit, err = sizeOrOff(core.RouteMemoryLimit, ParseRouteMemoryLimit); err != nil {
			return v, fc.Errorf("route_memory_limit", "%v", err)
		}
	}
	if core.MemoryLimit != nil {
		if v.memoryLimit, err = sizeOrOff(core.MemoryLimit, ParseMemoryLimit); err != nil {
			return v, fc.Errorf("memory_limit", "%v", err)
		}
	}
	positive := []struct {
		key, val string
		to       *time.Duration
	}{
		{"tcp_idle_timeout", core.TCPIdleTimeout, &v.tcpIdleTimeout},
		{"tcp_msg_read_timeout", core.TCPMsgReadTimeout, &v.tcpMsgReadTimeout},
		{"ws_keepalive_interval", core.WSKeepaliveInterval, &v.wsKeepaliveInterval},
		{"ws_ping_timeout", core.WSPingTimeout, &v.wsPingTimeout},
	}
	for _, s := range positive {
		if s.val == "" && !fc.has(s.key) {
			continue
		}
		d, err := time.ParseDuration(s.val)
		if err != nil || d <= 0 {
			return v, fc.Errorf(s.key, "%q is not a positive duration (20s, 2m)", s.val)
		}
		*s.to = d
	}
	for _, s := range []struct {
		key, val string
		to       *time.Duration
	}{
		{"latency_limit", core.LatencyLimit, &v.latencyLimit},
		{"latency_limit_action", core.LatencyLimitAction, &v.latencyLimitAction},
	} {
		if s.val == "" && !fc.has(s.key) {
			continue
		}
		if *s.to, err = ParseLatencyLimit(s.val); err != nil {
			return v, fc.Errorf(s.key, "%v", err)
		}
	}
	if fc.TLS != nil {
		v.tls = fc.resolveTLS()
		if _, err := loadTLS(v.tls, false); err != nil {
			return v, fmt.Errorf("engine: config %s: %w", fc.Path, err)
		}
	}
	return v, nil
}

// resolveTLS returns the [tls] table with its file names resolved
// against the file's folder.
func (fc *FileConfig) resolveTLS() *TLSConfig {
	resolve := func(p TLSProfile) TLSProfile {
		p.Certificate = fc.ResolvePath(p.Certificate)
		p.PrivateKey = fc.ResolvePath(p.PrivateKey)
		p.CAList = fc.ResolvePath(p.CAList)
		p.CRL = fc.ResolvePath(p.CRL)
		return p
	}
	out := &TLSConfig{TLSProfile: resolve(fc.TLS.TLSProfile)}
	for _, m := range []struct {
		from map[string]TLSProfile
		to   *map[string]TLSProfile
	}{{fc.TLS.Server, &out.Server}, {fc.TLS.Client, &out.Client}} {
		if m.from == nil {
			continue
		}
		*m.to = map[string]TLSProfile{}
		for name, p := range m.from {
			(*m.to)[name] = resolve(p)
		}
	}
	return out
}

// sizeOrOff reads a size setting of the file that is an integer of
// bytes or a string that parse reads (with a unit, or "off"); 0 means
// off, returned as -1.
func sizeOrOff(v any, parse func(string) (int64, error)) (int64, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("%d is negative (0 or \"off\": no limit)", v)
		}
		return parse(strconv.FormatInt(v, 10))
	case string:
		return parse(v)
	}
	return 0, fmt.Errorf("%v is neither a number of bytes nor a string such as \"64MiB\"", v)
}
