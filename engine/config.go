package engine

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
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
	// "udp:127.0.0.1:5060", "tcp:[::1]:5060", "127.0.0.1:5060" (udp and
	// tcp), with an optional advertised address: "udp:10.0.0.1:5060/203.0.113.7:5060"
	// or "udp:10.0.0.1:5060 advertise 203.0.113.7:5060". Port 0 picks a free
	// port. Default: udp and tcp on 127.0.0.1:5060.
	Listen []string
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

	// Logger is the engine's logger; default slog.Default().
	Logger *slog.Logger
	// LogLevel is reported to scripts by KSR.get_debug; it is also the
	// level of the default logger the CLI builds.
	LogLevel slog.Level

	// Defines are the names for KSR.kx.ifdef, with optional values.
	Defines map[string]string
	// Modules are the enabled modules in order; nil means all standard
	// modules (core/all). "core" is always enabled.
	Modules []string
	// ModParams are module parameters by module name.
	ModParams map[string]map[string]any

	// RouteTimeout stops a route that runs longer: 0 means
	// DefaultRouteTimeout, a negative value no limit.
	RouteTimeout time.Duration
	// RouteMemoryLimit bounds the bytes of strings one route run may build
	// (string.rep, .., table.concat, gsub, ...): 0 means
	// DefaultRouteMemoryLimit, a negative value no limit.
	RouteMemoryLimit int64
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
	// Packet is set for UDP, Stream for TCP.
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
	// DefaultRouteMemoryLimit is the bytes of strings one route may build.
	DefaultRouteMemoryLimit = 64 << 20
	// DefaultTCPMaxConnections is Kamailio's tcp_max_connections default.
	DefaultTCPMaxConnections = 2048
	// DefaultTCPAcceptIPLimit is Kamailio's tcp_accept_iplimit default.
	DefaultTCPAcceptIPLimit = 1024
	// DefaultTCPMsgReadTimeout is Kamailio's tcp_msg_read_timeout default.
	DefaultTCPMsgReadTimeout = 20 * time.Second
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
	if c.RequestRoute == "" {
		c.RequestRoute = "ksr_request_route"
	}
	if c.ReplyRoute == "" {
		c.ReplyRoute = "ksr_reply_route"
	}
	if c.OnsendRoute == "" {
		c.OnsendRoute = "ksr_onsend_route"
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
// for udp and one for tcp.
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
	}
	protos := []string{"udp", "tcp"}
	if i := strings.IndexByte(s, ':'); i > 0 {
		switch p := strings.ToLower(s[:i]); p {
		case "udp", "tcp":
			protos = []string{p}
			s = s[i+1:]
		case "tls", "sctp", "ws", "wss":
			return nil, fmt.Errorf("listen %q: transport %s is not supported (udp and tcp are)", spec, p)
		}
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// no port given
		host, portStr = strings.Trim(s, "[]"), "5060"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen %q: bad port %q", spec, portStr)
	}
	if host == "" || host == "*" {
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

// FileConfig is the content of a kemi.toml file: a [core] table and one
// table of parameters per module.
type FileConfig struct {
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
		AllowUnsafeLua      bool     `toml:"allow_unsafe_lua"`
		MaxMessageSize      int      `toml:"max_message_size"`
		RouteUnknownMethods bool     `toml:"route_unknown_methods"`
		TCPIdleTimeout      string   `toml:"tcp_idle_timeout"`
		RequestRoute        string   `toml:"request_route_callback"`
		ReplyRoute          string   `toml:"reply_route_callback"`
		OnsendRoute         string   `toml:"onsend_route_callback"`
		EventRoute          string   `toml:"event_route_callback"`
	} `toml:"core"`
	// ModParams holds every other table: module name -> parameters.
	ModParams map[string]map[string]any `toml:"-"`
}

// LoadFile reads a kemi.toml file.
func LoadFile(path string) (*FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: config: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile parses kemi.toml content; name is used in errors.
func ParseFile(name string, data []byte) (*FileConfig, error) {
	var fc FileConfig
	md, err := toml.Decode(string(data), &fc)
	if err != nil {
		return nil, fmt.Errorf("engine: config %s: %w", name, err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("engine: config %s: %w", name, err)
	}
	fc.ModParams = map[string]map[string]any{}
	for k, v := range raw {
		if k == "core" {
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
		if len(k) >= 2 && k[0] == "core" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("engine: config %s: unknown core settings: %s", name, strings.Join(unknown, ", "))
	}
	return &fc, nil
}

// Apply copies the file's settings into c where c has none.
func (fc *FileConfig) Apply(c *Config) error {
	if c.ScriptPath == "" {
		c.ScriptPath = fc.Core.Script
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
	if c.RouteTimeout == 0 && fc.Core.RouteTimeout != "" {
		d, err := time.ParseDuration(fc.Core.RouteTimeout)
		if err != nil {
			return fmt.Errorf("engine: config: route_timeout: %w", err)
		}
		c.RouteTimeout = d
	}
	if c.TCPIdleTimeout == 0 && fc.Core.TCPIdleTimeout != "" {
		d, err := time.ParseDuration(fc.Core.TCPIdleTimeout)
		if err != nil {
			return fmt.Errorf("engine: config: tcp_idle_timeout: %w", err)
		}
		c.TCPIdleTimeout = d
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
	return nil
}
