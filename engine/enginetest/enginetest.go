// Package enginetest runs kemi engines inside Go tests, in the spirit of
// net/http/httptest: Start runs a real engine on 127.0.0.1 with free ports
// and stops it when the test ends; Route runs a script's request route on a
// SIP message in memory, with no network, and records what it sent. It
// links the standard modules (core/all), as cmd/kemi does, so an engine
// whose Config.Modules is nil gets all of them.
package enginetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	// the standard modules, for engines started with Config.Modules nil
	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
	"github.com/kemisip/kemi/luaext"
)

// Server is an engine started for a test.
type Server struct {
	*engine.Engine
	t    testing.TB
	logs *LogBuffer
}

// Option changes the engine configuration before start.
type Option func(*engine.Config)

// WithConfig lets a test change any setting.
func WithConfig(f func(*engine.Config)) Option { return Option(f) }

// WithWorkers sets the number of workers (default 2).
func WithWorkers(n int) Option { return func(c *engine.Config) { c.Workers = n } }

// WithParams sets a module's parameters.
func WithParams(module string, params map[string]any) Option {
	return func(c *engine.Config) {
		if c.ModParams == nil {
			c.ModParams = map[string]map[string]any{}
		}
		c.ModParams[module] = params
	}
}

// Start runs script on udp and tcp 127.0.0.1 with free ports, two workers
// and /metrics on a free port, and stops it when the test ends. Its
// database is "memory" unless an option names one: a test leaves no
// kemi.db behind.
func Start(t testing.TB, script string, opts ...Option) *Server {
	t.Helper()
	logs := &LogBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("enginetest: metrics listener: %v", err)
	}
	cfg := engine.Config{
		Script:          []byte(script),
		ScriptPath:      "test.lua",
		Listen:          []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"},
		Workers:         2,
		DBURL:           "memory",
		MetricsListener: ln,
		LogLevel:        slog.LevelDebug,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := engine.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("enginetest: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("enginetest: start: %v", err)
	}
	s := &Server{Engine: e, t: t, logs: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("enginetest: stop: %v", err)
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", logs.String())
		}
	})
	return s
}

// UDP returns the address of the UDP listener.
func (s *Server) UDP() string { return s.Addr("udp").String() }

// TCP returns the address of the TCP listener.
func (s *Server) TCP() string { return s.Addr("tcp").String() }

// Logs returns everything the engine logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// Scrape fetches /metrics.
func (s *Server) Scrape() string {
	s.t.Helper()
	res, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		s.t.Fatalf("enginetest: scrape: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("enginetest: scrape: %v", err)
	}
	return string(b)
}

// Metric returns the value of one series, as written in the scrape
// (`kemi_core_messages_dropped_total{reason="malformed"}`), or -1.
func (s *Server) Metric(series string) float64 {
	s.t.Helper()
	return MetricValue(s.Scrape(), series)
}

// WaitMetric waits until a series reaches at least want.
func (s *Server) WaitMetric(series string, want float64, timeout time.Duration) float64 {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.Metric(series)
		if v >= want || time.Now().After(deadline) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MetricValue finds a series in a Prometheus text page; -1 if absent.
func MetricValue(page, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(series):]), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// LogBuffer is a goroutine-safe log sink: kemitest's, under the name
// engine tests have used.
type LogBuffer = kemitest.LogBuffer

// Result is what a route did to a message in memory (Route, and the
// methods of Script).
type Result struct {
	// Route is the script function that ran first (Script only).
	Route string
	// Msg is the message after the route.
	Msg *kemi.Msg
	// Sent is what the route sent (replies, forwards), in order.
	Sent []kemitest.Sent
	// Replies are the replies among Sent (Script only).
	Replies []Reply
	// Relays are the requests among Sent: t_relay's branches in order, a
	// stateless forward, a CANCEL (Script only).
	Relays []Relay
	// Ran is false when the script defines no such route (Script only).
	Ran bool
	// Exited is set when the route ended with KSR.x.exit or KSR.x.drop.
	Exited bool
	// Err is a Lua error that aborted the route.
	Err error
	// Logs is what the modules and the script logged (with Script: while
	// the message was handled).
	Logs string
	// Trace are the KSR calls the routes made, in order (Script only).
	Trace []Call

	s *Script
}

// Route runs the request route of script on the SIP message text (LF line
// ends are fine) in memory: the modules are loaded as the engine loads
// them (kemi.LoadModules, through kemitest) with a fake host that records
// what the route sends, through the message or through a module's own
// host (tm), so nothing reaches the network. Modules are the standard ones
// unless modules are given; "core" is always loaded first. They are
// destroyed when the test ends. What the modules and the script log is in
// Result.Logs. The route runs under the engine's default time and memory
// limits (engine.DefaultRouteTimeout, engine.DefaultRouteMemoryLimit), in
// the default sandbox. Runner calls from modules (Exec) get no runner:
// timers do not run routes.
func Route(t testing.TB, script, sipText string, modules ...string) *Result {
	t.Helper()
	env := kemitest.Load(t, nil, kemi.EnabledModules(modules)...)
	t.Cleanup(env.Destroy)
	sc, err := luaext.Compile("test.lua", []byte(script))
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	st, err := luaext.NewState(sc, luaext.Options{
		Exports:     env.Set.Exports,
		Logger:      env.Logger.With("module", "script"),
		Timeout:     engine.DefaultRouteTimeout,
		MemoryLimit: engine.DefaultRouteMemoryLimit,
	})
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	defer st.Close()
	m := env.Prepare(kemitest.ParseMsg(t, sipText))
	stop := watch(st)
	res, err := st.Call("ksr_request_route", kemi.RouteRequest, m)
	stop()
	if !res.Ran {
		t.Fatalf("enginetest: script defines no ksr_request_route")
	}
	return &Result{Msg: m, Sent: env.Host.Sent(), Exited: res.Exited, Err: err, Logs: env.Logs()}
}

// String describes the result, for test failures.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exited=%v err=%v sent=%d\n", r.Exited, r.Err, len(r.Sent))
	for _, s := range r.Sent {
		fmt.Fprintf(&b, "--- %s %s\n%s\n", s.Kind, s.URI, s.Msg)
	}
	for _, c := range r.Trace {
		fmt.Fprintf(&b, "trace %s\n", c)
	}
	return b.String()
}
