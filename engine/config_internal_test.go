package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestListenSpecRoundTrip checks that spec() writes what ParseListen reads
// back the same: the supervisor passes sockets to the worker process so.
func TestListenSpecRoundTrip(t *testing.T) {
	for _, in := range []string{
		"udp:127.0.0.1:5060",
		"tcp:[::1]:5070/203.0.113.7:5080",
		"udp:10.0.0.1:5060 advertise example.com",
		"udp:127.0.0.1:5060 name main",
		"tcp:[::1]:0 advertise [2001:db8::1]:5061 name edge",
	} {
		specs, err := ParseListen(in)
		if err != nil {
			t.Fatalf("ParseListen(%q): %v", in, err)
		}
		out := specs[0].spec()
		again, err := ParseListen(out)
		if err != nil {
			t.Fatalf("ParseListen(%q) of spec() of %q: %v", out, in, err)
		}
		if len(again) != 1 || again[0] != specs[0] {
			t.Errorf("%q -> %q -> %+v, want %+v", in, out, again, specs[0])
		}
	}
}

func TestParseListenRefusesIncompleteAddresses(t *testing.T) {
	cases := []struct {
		spec string
		want string // part of the error
	}{
		{"udp:", "no address"},
		{"udp", "no address"},
		{"TCP", "no address"},
		{"udp: advertise 203.0.113.7", "no address"},
		{":5060", "no address before the port"},
		{"udp::5060", "no address before the port"},
		{"udp:127.0.0.1:65536", "bad port \"65536\""},
		{"127.0.0.1:99999", "bad port"},
		{"udp:127.0.0.1:", "bad port"},
		{"udp:127.0.0.1:-1", "bad port"},
		{"foo:127.0.0.1:5060", "unknown transport \"foo\""},
		{"foo:127.0.0.1", "unknown transport \"foo\""},
		{"sctp:127.0.0.1:5061", "transport sctp is not supported"},
		{"udp:127.0.0.1:5060/203.0.113.7:70000", "bad advertised port"},
		{"udp:127.0.0.1:5060/", "no advertised address after /"},
		{"udp:127.0.0.1:5060/:5080", "no advertised address before the port"},
	}
	for _, c := range cases {
		_, err := ParseListen(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseListen(%q) = %v, want an error with %q", c.spec, err, c.want)
		}
	}
}

func TestParseListenAccepts(t *testing.T) {
	cases := []struct {
		spec string
		want []string // ListenSpec.String of each result
	}{
		{"udp:127.0.0.1:5060", []string{"udp:127.0.0.1:5060"}},
		{"127.0.0.1", []string{"udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"}},
		{"udp:*:5060", []string{"udp:0.0.0.0:5060"}},
		{"*:5060", []string{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"}},
		{"UDP:127.0.0.1:0", []string{"udp:127.0.0.1:0"}},
		{"tcp:[::1]:5060", []string{"tcp:[::1]:5060"}},
		{"dead::1", []string{"udp:[dead::1]:5060", "tcp:[dead::1]:5060"}},
		{"udp:127.0.0.1:65535", []string{"udp:127.0.0.1:65535"}},
		{"tls:127.0.0.1", []string{"tls:127.0.0.1:5061"}},
		{"TLS:[::1]:5071", []string{"tls:[::1]:5071"}},
		{"ws:127.0.0.1", []string{"ws:127.0.0.1:80"}},
		{"wss:127.0.0.1", []string{"wss:127.0.0.1:443"}},
		{"WSS:127.0.0.1:8443", []string{"wss:127.0.0.1:8443"}},
	}
	for _, c := range cases {
		specs, err := ParseListen(c.spec)
		if err != nil {
			t.Errorf("ParseListen(%q): %v", c.spec, err)
			continue
		}
		var got []string
		for _, s := range specs {
			got = append(got, s.String())
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("ParseListen(%q) = %v, want %v", c.spec, got, c.want)
		}
	}
}

// TestParseListenHostPort: a host name and a port are not a transport and
// an address.
func TestParseListenHostPort(t *testing.T) {
	specs, err := ParseListen("localhost:5070")
	if err != nil || len(specs) != 2 || specs[0].Addr.Port() != 5070 || !specs[0].Addr.Addr().IsLoopback() {
		t.Fatalf("ParseListen(localhost:5070) = %v, %v", specs, err)
	}
}

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"65536", 65536, ""},
		{"0", 0, ""},
		{"512KB", 512000, ""},
		{"512kb", 512000, ""},
		{"64MiB", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"2MB", 2000000, ""},
		{"10B", 10, ""},
		{"64XB", 0, "unknown unit \"XB\""},
		{"-1", 0, "not a size"},
		{"MiB", 0, "not a size"},
		{"", 0, "not a size"},
		{"1.5MiB", 0, "unknown unit"},
		{"99999999999GiB", 0, "too large"},
	}
	for _, c := range cases {
		got, err := ParseByteSize(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseByteSize(%q) = %d, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseRouteLimits(t *testing.T) {
	timeouts := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"500ms", 500 * time.Millisecond, false},
		{"off", -1, false},
		{"0", -1, false},
		{"0s", -1, false},
		{"-1s", 0, true},
		{"soon", 0, true},
	}
	for _, c := range timeouts {
		got, err := ParseRouteTimeout(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseRouteTimeout(%q) = %v, %v", c.in, got, err)
		}
	}
	memory := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"64MiB", 64 << 20, false},
		{"off", -1, false},
		{"0", -1, false},
		{"-5", 0, true},
		{"5 parsecs", 0, true},
	}
	for _, c := range memory {
		got, err := ParseRouteMemoryLimit(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("ParseRouteMemoryLimit(%q) = %v, %v", c.in, got, err)
		}
	}
}

// TestFileConfigLimits covers the [core] keys of the engine's limits: the
// values reach Config, and a bad value is refused naming file and key.
func TestFileConfigLimits(t *testing.T) {
	cases := []struct {
		name string
		toml string
		want func(Config) bool
		err  string
	}{
		{"limits", `route_timeout = "250ms"
route_memory_limit = "512KB"
tcp_max_connections = 100
tcp_accept_iplimit = 10
tcp_msg_read_timeout = "5s"`, func(c Config) bool {
			return c.RouteTimeout == 250*time.Millisecond && c.RouteMemoryLimit == 512000 &&
				c.TCPMaxConnections == 100 && c.TCPAcceptIPLimit == 10 && c.TCPMsgReadTimeout == 5*time.Second
		}, ""},
		{"memory as an integer", `route_memory_limit = 1048576`, func(c Config) bool { return c.RouteMemoryLimit == 1<<20 }, ""},
		{"no limits", `route_timeout = "off"
route_memory_limit = 0`, func(c Config) bool { return c.RouteTimeout < 0 && c.RouteMemoryLimit < 0 }, ""},
		{"route_timeout 0s is no limit", `route_timeout = "0s"`, func(c Config) bool { return c.RouteTimeout < 0 }, ""},
		{"unset", ``, func(c Config) bool {
			c = c.withDefaults()
			return c.RouteTimeout == DefaultRouteTimeout && c.RouteMemoryLimit == DefaultRouteMemoryLimit &&
				c.TCPMaxConnections == DefaultTCPMaxConnections && c.TCPMsgReadTimeout == DefaultTCPMsgReadTimeout
		}, ""},
		{"negative memory", `route_memory_limit = -1`, nil, "route_memory_limit: -1 is negative"},
		{"bad unit", `route_memory_limit = "64XB"`, nil, "route_memory_limit: \"64XB\": unknown unit"},
		{"float memory", `route_memory_limit = 1.5`, nil, "route_memory_limit: 1.5 is neither"},
		{"negative timeout", `route_timeout = "-1s"`, nil, "route_timeout: \"-1s\" is negative"},
		{"negative connections", `tcp_max_connections = -1`, nil, "tcp_max_connections: must be at least 1"},
		{"zero connections", `tcp_max_connections = 0`, nil, "tcp_max_connections: must be at least 1"},
		{"zero ip limit", `tcp_accept_iplimit = 0`, nil, "tcp_accept_iplimit: must be at least 1"},
		{"zero read timeout", `tcp_msg_read_timeout = "0s"`, nil, "tcp_msg_read_timeout: \"0s\" is not a positive duration"},
		{"bad read timeout", `tcp_msg_read_timeout = "20"`, nil, "tcp_msg_read_timeout"},
		{"websocket keepalive", `ws_keepalive_interval = "30s"
ws_ping_timeout = "5s"`, func(c Config) bool {
			return c.WSKeepaliveInterval == 30*time.Second && c.WSPingTimeout == 5*time.Second
		}, ""},
		{"websocket defaults", ``, func(c Config) bool {
			c = c.withDefaults()
			return c.WSKeepaliveInterval == DefaultWSKeepaliveInterval && c.WSPingTimeout == DefaultWSPingTimeout
		}, ""},
		{"zero ping timeout", `ws_ping_timeout = "0s"`, nil, "ws_ping_timeout: \"0s\" is not a positive duration"},
		{"zero workers", `workers = 0`, nil, "workers: must be at least 1"},
		{"listen without address", `listen = ["udp:"]`, nil, "listen: listen \"udp:\": no address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fc, err := ParseFile("conf/kemi.toml", []byte("[core]\n"+c.toml+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg Config
			err = fc.Apply(&cfg)
			if c.err != "" {
				want := "engine: config conf/kemi.toml: " + c.err
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Apply = %v, want an error with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(cfg) {
				t.Fatalf("Apply gave %+v", cfg)
			}
		})
	}
}

// TestFileConfigFlagsWin: values already in Config (from flags) are kept.
func TestFileConfigFlagsWin(t *testing.T) {
	fc, err := ParseFile("kemi.toml", []byte("[core]\nroute_timeout = \"2s\"\nroute_memory_limit = \"1MiB\"\ntcp_max_connections = 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{RouteTimeout: -1, RouteMemoryLimit: 5, TCPMaxConnections: 20}
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.RouteTimeout != -1 || cfg.RouteMemoryLimit != 5 || cfg.TCPMaxConnections != 20 {
		t.Fatalf("the file overrode the flags: %+v", cfg)
	}
}

func TestFileConfigResolvePath(t *testing.T) {
	cases := []struct{ file, path, want string }{
		{"/etc/kemi/kemi.toml", "routing.lua", "/etc/kemi/routing.lua"},
		{"/etc/kemi/kemi.toml", "../lua/routing.lua", "/etc/lua/routing.lua"},
		{"/etc/kemi/kemi.toml", "/srv/routing.lua", "/srv/routing.lua"},
		{"kemi.toml", "routing.lua", "routing.lua"},
		{"examples/config/kemi.toml", "../../scripts/default.lua", "scripts/default.lua"},
		{"/etc/kemi/kemi.toml", "", ""},
	}
	for _, c := range cases {
		fc := &FileConfig{Path: c.file}
		if got := fc.ResolvePath(c.path); got != c.want {
			t.Errorf("ResolvePath(%q) in %s = %q, want %q", c.path, c.file, got, c.want)
		}
	}
	fc, err := ParseFile("/etc/kemi/kemi.toml", []byte("[core]\nscript = \"routing.lua\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := fc.Apply(&cfg); err != nil || cfg.ScriptPath != "/etc/kemi/routing.lua" {
		t.Fatalf("script = %q, %v", cfg.ScriptPath, err)
	}
	// module parameters naming a file: *_file and a SQLite db_url
	fc, err = ParseFile("/etc/kemi/kemi.toml", []byte(`[core]
modules = ["dispatcher", "usrloc"]
[dispatcher]
list_file = "dispatcher.list"
[usrloc]
db_url = "sqlite://loc.db"
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg = Config{}
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.ModParams["dispatcher"]["list_file"]; got != "/etc/kemi/dispatcher.list" {
		t.Errorf("list_file = %v", got)
	}
	if got := cfg.ModParams["usrloc"]["db_url"]; got != "sqlite:///etc/kemi/loc.db" {
		t.Errorf("usrloc db_url = %v", got)
	}
}

// TestExampleConfigEverySetting: examples/config/kemi.toml parses and
// applies with every commented-out [core] setting turned on, so its
// comments cannot name keys or values kemi refuses.
func TestExampleConfigEverySetting(t *testing.T) {
	path := filepath.Join("..", "examples", "config", "kemi.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`(?m)^# ([a-z_]+ = )`)
	all := setting.ReplaceAll(data, []byte("$1"))
	if bytes.Equal(all, data) {
		t.Fatal("no commented-out setting found")
	}
	fc, err := ParseFile(path, all)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.ScriptPath); err != nil {
		t.Errorf("the example's script: %v", err)
	}
	if cfg.TCPMaxConnections != DefaultTCPMaxConnections || cfg.RouteMemoryLimit != DefaultRouteMemoryLimit {
		t.Errorf("the example's commented values are not the defaults: %+v", cfg)
	}
}

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{"256MiB", 256 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{" 512 MB ", 512_000_000, ""},
		{"16MiB", 16 << 20, ""},
		{"16777216", 16 << 20, ""},
		{"off", -1, ""},
		{"0", -1, ""},
		{"0MiB", -1, ""},
		{"15MiB", 0, "below 16MiB"},
		{"1024", 0, "below 16MiB"},
		{"-1", 0, "is not a size"},
		{"lots", 0, "is not a size"},
		{"2PiB", 0, "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemoryLimit(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseMemoryLimit(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMemoryLimit(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}
