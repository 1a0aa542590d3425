package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/urfave/cli/v2"
)

// configFromArgs runs buildConfig on the flags of run, as kemi run would.
func configFromArgs(t *testing.T, args ...string) (engine.Config, error) {
	t.Helper()
	var cfg engine.Config
	var berr error
	app := &cli.App{
		Name:  "kemi",
		Flags: append(scriptFlags(), runLimitFlags()...),
		Action: func(c *cli.Context) error {
			cfg, _, berr = buildConfig(c)
			return nil
		},
	}
	if err := app.Run(append([]string{"kemi"}, args...)); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	return cfg, berr
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLimitSettings: the route and TCP limits from flags, environment and
// config file, flags winning; bad values refused naming flag or key.
func TestLimitSettings(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, dir, "kemi.toml", `[core]
route_timeout = "2s"
route_memory_limit = "1MiB"
tcp_max_connections = 100
tcp_accept_iplimit = 10
tcp_msg_read_timeout = "5s"
`)
	negative := writeFile(t, dir, "negative.toml", "[core]\ntcp_accept_iplimit = -3\n")
	badUnit := writeFile(t, dir, "unit.toml", "[core]\nroute_memory_limit = \"12 bananas\"\n")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want func(engine.Config) bool
		err  string
	}{
		{"unset", nil, nil, func(c engine.Config) bool {
			return c.RouteTimeout == 0 && c.RouteMemoryLimit == 0 && c.TCPMaxConnections == 0 // engine defaults apply
		}, ""},
		{"flags", nil, []string{"--route-timeout", "250ms", "--route-memory-limit", "512KB", "--tcp-max-connections", "5",
			"--tcp-accept-iplimit", "2", "--tcp-msg-read-timeout", "3s"}, func(c engine.Config) bool {
			return c.RouteTimeout == 250*time.Millisecond && c.RouteMemoryLimit == 512000 && c.TCPMaxConnections == 5 &&
				c.TCPAcceptIPLimit == 2 && c.TCPMsgReadTimeout == 3*time.Second
		}, ""},
		{"route-timeout off", nil, []string{"--route-timeout", "off"}, func(c engine.Config) bool { return c.RouteTimeout < 0 }, ""},
		{"route-timeout 0", nil, []string{"--route-timeout", "0"}, func(c engine.Config) bool { return c.RouteTimeout < 0 }, ""},
		{"route-memory-limit off", nil, []string{"--route-memory-limit", "off"}, func(c engine.Config) bool { return c.RouteMemoryLimit < 0 }, ""},
		{"environment", map[string]string{"KEMI_ROUTE_MEMORY_LIMIT": "2MiB", "KEMI_TCP_MAX_CONNECTIONS": "7"}, nil, func(c engine.Config) bool {
			return c.RouteMemoryLimit == 2<<20 && c.TCPMaxConnections == 7
		}, ""},
		{"file", nil, []string{"--config", conf}, func(c engine.Config) bool {
			return c.RouteTimeout == 2*time.Second && c.RouteMemoryLimit == 1<<20 && c.TCPMaxConnections == 100 &&
				c.TCPAcceptIPLimit == 10 && c.TCPMsgReadTimeout == 5*time.Second
		}, ""},
		{"flags win over the file", nil, []string{"--config", conf, "--route-timeout", "off", "--route-memory-limit", "4KiB", "--tcp-max-connections", "9"},
			func(c engine.Config) bool {
				return c.RouteTimeout < 0 && c.RouteMemoryLimit == 4096 && c.TCPMaxConnections == 9 && c.TCPAcceptIPLimit == 10
			}, ""},
		{"negative timeout", nil, []string{"--route-timeout", "-1s"}, nil, "--route-timeout: \"-1s\" is negative"},
		{"bad timeout", nil, []string{"--route-timeout", "soon"}, nil, "--route-timeout: \"soon\" is not a duration"},
		{"bad unit", nil, []string{"--route-memory-limit", "64XB"}, nil, "--route-memory-limit: \"64XB\": unknown unit \"XB\""},
		{"negative memory", nil, []string{"--route-memory-limit", "-1"}, nil, "--route-memory-limit: \"-1\" is not a size"},
		{"zero connections", nil, []string{"--tcp-max-connections", "0"}, nil, "--tcp-max-connections must be at least 1"},
		{"negative ip limit", nil, []string{"--tcp-accept-iplimit", "-1"}, nil, "--tcp-accept-iplimit must be at least 1"},
		{"zero read timeout", nil, []string{"--tcp-msg-read-timeout", "0s"}, nil, "--tcp-msg-read-timeout must be positive"},
		{"negative in the file", nil, []string{"--config", negative}, nil, "negative.toml: tcp_accept_iplimit: must be at least 1 (is -3)"},
		{"bad unit in the file", nil, []string{"--config", badUnit}, nil, "unit.toml: route_memory_limit: \"12 bananas\": unknown unit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := configFromArgs(t, c.args...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

// TestBadSettingsExitStatus: bad limits and start-up flags are usage or
// config errors, status 2, in check as in run.
func TestBadSettingsExitStatus(t *testing.T) {
	negative := writeFile(t, t.TempDir(), "kemi.toml", "[core]\ntcp_max_connections = -1\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-l", "udp:"}, `listen "udp:": no address`},
		{[]string{"-l", "udp"}, `listen "udp": no address`},
		{[]string{"-l", ":5060"}, `listen ":5060": no address before the port`},
		{[]string{"-l", "udp:127.0.0.1:65536"}, `bad port "65536"`},
		{[]string{"-l", "sip:127.0.0.1:5060"}, `unknown transport "sip"`},
		{[]string{"-n", "0"}, "-n/--workers must be at least 1 (is 0)"},
		{[]string{"-n", "-2"}, "-n/--workers must be at least 1 (is -2)"},
		{[]string{"--route-memory-limit", "1ZB"}, `unknown unit "ZB"`},
		{[]string{"--route-timeout", "-5s"}, "--route-timeout"},
		{[]string{"--config", negative}, "kemi.toml: tcp_max_connections: must be at least 1"},
		{[]string{"--log-level", "loud"}, `--log-level: unknown log level "loud"`},
	}
	for _, c := range cases {
		for _, cmd := range []string{"check", "run"} {
			t.Run(cmd+" "+strings.Join(c.args, " "), func(t *testing.T) {
				code, out, errs := runCLI(t, append([]string{cmd}, c.args...)...)
				if code != 2 || !strings.Contains(errs, "kemi: ") || !strings.Contains(errs, c.want) {
					t.Fatalf("exit %d (want 2)\nstdout: %s\nstderr: %s\nwant %q", code, out, errs, c.want)
				}
			})
		}
	}
	// run alone
	for _, args := range [][]string{{"--tcp-max-connections", "0"}, {"--tcp-msg-read-timeout", "-1s"}, {"--on-worker-exit", "panic"}, {"--shutdown-grace", "-1s"}} {
		if code, _, errs := runCLI(t, append([]string{"run"}, args...)...); code != 2 {
			t.Errorf("run %v: exit %d, want 2: %s", args, code, errs)
		}
	}
}

// TestConfigRelativePaths: the config file's relative paths are relative
// to its folder, wherever kemi runs, and errors about them name the file.
func TestConfigRelativePaths(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "routing.lua", "function ksr_request_route() KSR.sl.sl_send_reply(200, 'OK') end\n")
	sub := filepath.Join(dir, "lua")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sub, "edge.lua", "function ksr_request_route() end\n")
	cases := []struct {
		name   string
		script string // the script setting in kemi.toml
		args   []string
		code   int
		want   string
	}{
		{"next to the file", "routing.lua", nil, 0, filepath.Join(dir, "routing.lua") + ": ok"},
		{"in a subfolder", "lua/edge.lua", nil, 0, filepath.Join(sub, "edge.lua") + ": ok"},
		{"absolute", filepath.Join(sub, "edge.lua"), nil, 0, filepath.Join(sub, "edge.lua") + ": ok"},
		{"missing", "nosuch.lua", nil, 1, "kemi.toml: script nosuch.lua: open " + filepath.Join(dir, "nosuch.lua") + ": no such file or directory"},
		// -f is relative to the current folder, as every flag
		{"-f wins", "nosuch.lua", []string{"-f", "testdata-nosuch.lua"}, 1, "kemi: script: open testdata-nosuch.lua: no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := writeFile(t, dir, "kemi.toml", "[core]\nscript = \""+c.script+"\"\n")
			for _, cmd := range []string{"check", "run"} {
				args := append([]string{cmd, "--config", conf}, c.args...)
				if cmd == "run" {
					if c.code == 0 {
						continue // it would serve
					}
					args = append(args, "--no-fork")
				}
				code, out, errs := runCLI(t, args...)
				if code != c.code || !strings.Contains(out+errs, c.want) {
					t.Fatalf("%s: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant %q", cmd, code, c.code, out, errs, c.want)
				}
			}
		})
	}
}

// TestCheckAndRunReportAlike: an error that stops the start reads the same
// in check, run and run --no-fork, with the same exit status.
func TestCheckAndRunReportAlike(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, script, want string
	}{
		{"syntax error", "function ksr_request_route(\n", "routing.lua:1:"},
		{"no request route", "function other() end\n", "no function ksr_request_route"},
		{"top-level error", "local x = nil\nx.y = 1\nfunction ksr_request_route() end\n", "routing.lua:2:"},
		{"missing file", "", "script: open " + filepath.Join(dir, "missing.lua") + ": no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "missing.lua")
			if c.script != "" {
				path = writeFile(t, dir, "routing.lua", c.script)
			}
			var first string
			runArgs := []string{"-l", "udp:127.0.0.1:0", "--metrics-addr", "off"}
			for _, args := range [][]string{
				{"check", "-f", path},
				append([]string{"run", "-f", path}, runArgs...),
				append([]string{"run", "--no-fork", "-f", path}, runArgs...),
			} {
				code, _, errs := runCLI(t, args...)
				if code != 1 || !strings.HasPrefix(errs, "kemi: ") || !strings.Contains(errs, c.want) {
					t.Fatalf("%v: exit %d, stderr %q; want 1 and %q", args, code, errs, c.want)
				}
				if first == "" {
					first = errs
				} else if errs != first {
					t.Errorf("%v says %q; check says %q", args, errs, first)
				}
			}
		})
	}
}

// TestJSONLogDurations: durations are written as "5s" in both formats,
// inside groups too; levels keep Kamailio's names.
func TestJSONLogDurations(t *testing.T) {
	cases := []struct {
		format string
		want   []string
	}{
		{"json", []string{`"took":"5s"`, `"req":{"wait":"250ms"}`, `"level":"NOTICE"`}},
		{"text", []string{`took=5s`, `req.wait=250ms`, `level=NOTICE`}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		log, err := newLogger(&buf, c.format, slog.LevelDebug)
		if err != nil {
			t.Fatal(err)
		}
		log.Log(t.Context(), slog.LevelInfo+2, "done", "took", 5*time.Second, slog.Group("req", slog.Duration("wait", 250*time.Millisecond)))
		for _, w := range c.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: %q lacks %s", c.format, buf.String(), w)
			}
		}
	}
}

// TestModuleConfigErrors: a mistake in the module list or in a module's
// parameters is a config error (status 2) that names the config file and
// the module's table, in check, run and run --no-fork alike; a module that
// refuses to start (its mod_init fails) is status 1.
func TestModuleConfigErrors(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, dir, "routing.lua", "function ksr_request_route() end\n")
	cases := []struct {
		name, toml string
		args       []string
		code       int
		want       string // the whole stderr, with PATH for the config file
	}{
		{"unknown parameter", "[sl]\nnosuch = 1\n", nil, 2,
			"kemi: engine: config PATH: [sl]: unknown parameter nosuch\n"},
		{"parameter of the wrong type", "[maxfwd]\nmax_limit = \"abc\"\n", nil, 2,
			"kemi: engine: config PATH: [maxfwd]: parameter max_limit = abc: want an integer\n"},
		{"table of an unknown module", "[nosuchmod]\nx = 1\n", nil, 2,
			"kemi: engine: config PATH: [nosuchmod]: parameters for an unknown module (known: auth, auth_db, core, "},
		{"table of a module not enabled", "[core]\nmodules = [\"sl\"]\n[tm]\nfr_timer = 1000\n", nil, 2,
			"kemi: engine: config PATH: [tm]: parameters for a module that is not enabled (add it to modules)\n"},
		{"unknown module in the file", "[core]\nmodules = [\"nosuch\"]\n", nil, 2,
			"kemi: engine: unknown module \"nosuch\" (known: auth, auth_db, core, "},
		{"unknown module in the flag", "", []string{"--modules", "sl,nosuch"}, 2,
			"kemi: engine: unknown module \"nosuch\" (known: auth, auth_db, core, "},
		{"a module refuses its value", "[maxfwd]\nmax_limit = 300\n", nil, 1,
			"kemi: engine: module maxfwd: mod_init: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := writeFile(t, dir, "kemi.toml", c.toml)
			want := strings.ReplaceAll(c.want, "PATH", conf)
			base := append([]string{"-f", script, "--config", conf}, c.args...)
			runArgs := []string{"-l", "udp:127.0.0.1:0", "--metrics-addr", "off"}
			for _, args := range [][]string{
				append([]string{"check"}, base...),
				append(append([]string{"run"}, base...), runArgs...),
				append(append([]string{"run", "--no-fork"}, base...), runArgs...),
			} {
				code, _, errs := runCLI(t, args...)
				if code != c.code || !strings.HasPrefix(errs, want) {
					t.Errorf("%v: exit %d, stderr %q; want %d and %q", args[:2], code, errs, c.code, want)
				}
			}
		})
	}
}

// TestExampleConfigUncommented: examples/config/kemi.toml still checks
// clean with every setting it shows commented out turned on, so a user who
// uncomments one gets a working config.
func TestExampleConfigUncommented(t *testing.T) {
	const example = "../../examples/config/kemi.toml"
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`^# ?([a-z_]+ *= *.*)$`)
	var out []string
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if m := setting.FindStringSubmatch(line); m != nil {
			line = m[1]
			n++
		}
		// the copy lives elsewhere: its script path must not depend on
		// the folder
		if rel, ok := strings.CutPrefix(line, `script = "`); ok {
			rel, _, _ = strings.Cut(rel, `"`)
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(example), rel))
			if err != nil {
				t.Fatal(err)
			}
			line = fmt.Sprintf("script = %q", abs)
		}
		out = append(out, line)
	}
	if n < 5 {
		t.Fatalf("only %d commented settings found in %s: is this test's pattern out of date?", n, example)
	}
	conf := writeFile(t, t.TempDir(), "kemi.toml", strings.Join(out, "\n"))
	if code, stdout, errs := runCLI(t, "check", "--config", conf); code != 0 {
		t.Errorf("%s with its %d commented settings on: kemi check exit %d\n%s%s", example, n, code, stdout, errs)
	}
}

// TestMemoryLimitSetting: memory_limit from the flag, KEMI_MEMORY_LIMIT
// and the config file, the flag winning over the file; kemi run's
// default applies when none sets it (applyRunDefaults), unless
// GOMEMLIMIT does.
func TestMemoryLimitSetting(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, dir, "kemi.toml", "[core]\nmemory_limit = \"512MiB\"\n")
	number := writeFile(t, dir, "number.toml", "[core]\nmemory_limit = 134217728\n")
	small := writeFile(t, dir, "small.toml", "[core]\nmemory_limit = \"1MiB\"\n")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want int64 // after kemi run's default
		err  string
	}{
		{"unset: the default", nil, nil, engine.DefaultMemoryLimit, ""},
		{"unset, GOMEMLIMIT set: left to the runtime", map[string]string{"GOMEMLIMIT": "1GiB"}, nil, 0, ""},
		{"flag", nil, []string{"--memory-limit", "1GiB"}, 1 << 30, ""},
		{"flag wins over GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "1GiB"}, []string{"--memory-limit", "64MiB"}, 64 << 20, ""},
		{"off", nil, []string{"--memory-limit", "off"}, -1, ""},
		{"0", nil, []string{"--memory-limit", "0"}, -1, ""},
		{"environment", map[string]string{"KEMI_MEMORY_LIMIT": "300MB"}, nil, 300_000_000, ""},
		{"file", nil, []string{"--config", conf}, 512 << 20, ""},
		{"file, a number", nil, []string{"--config", number}, 128 << 20, ""},
		{"flag wins over the file", nil, []string{"--config", conf, "--memory-limit", "2GiB"}, 2 << 30, ""},
		{"too small", nil, []string{"--memory-limit", "1MiB"}, 0, "--memory-limit: \"1MiB\" is below 16MiB"},
		{"bad unit", nil, []string{"--memory-limit", "1TB"}, 0, "--memory-limit: \"1TB\": unknown unit"},
		{"too small in the file", nil, []string{"--config", small}, 0, "small.toml: memory_limit: \"1MiB\" is below 16MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := configFromArgs(t, c.args...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			applyRunDefaults(&cfg)
			if cfg.MemoryLimit != c.want {
				t.Fatalf("MemoryLimit = %d, want %d", cfg.MemoryLimit, c.want)
			}
		})
	}
}
