package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// engineMetrics are the core metrics of one engine. Names follow
// kemi_<module>_<what>_<unit|total>.
type engineMetrics struct {
	set *kemi.Metrics

	mu       sync.Mutex
	requests map[string]*metrics.Counter
	replies  [7]*metrics.Counter
	drops    [numDropReasons]*metrics.Counter
	sentReq  *metrics.Counter
	sentRpl  *metrics.Counter
	sendErrs *metrics.Counter
	routes   map[string]*routeMetrics

	reloads        *metrics.Counter
	reloadFailures *metrics.Counter

	tcpConns   atomic.Int64
	tcpRefused [numTCPRefusals]*metrics.Counter

	tlsConns             atomic.Int64
	tlsHandshakeFailures map[string]*metrics.Counter // by direction: in, out
	panics               [numReaderSites]*metrics.Counter

	ws wsMetrics
}

type routeMetrics struct {
	runs     *metrics.Counter
	errors   *metrics.Counter
	timeouts *metrics.Counter
	duration *metrics.PrometheusHistogram
}

// routeBuckets are the route duration histogram bounds, in seconds: routes
// take microseconds unless they block.
var routeBuckets = []float64{0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1}

// knownMethods are the methods counted by name (Kamailio's, as
// kemi.StandardMethods lists them); others count as "other". A map: it is
// looked up for every request.
var knownMethods = func() map[string]bool {
	m := make(map[string]bool, len(kemi.StandardMethods))
	for _, s := range kemi.StandardMethods {
		m[s] = true
	}
	return m
}()

func newEngineMetrics(set *kemi.Metrics, workers int, e *Engine) *engineMetrics {
	m := &engineMetrics{
		set:      set,
		requests: map[string]*metrics.Counter{},
		routes:   map[string]*routeMetrics{},
	}
	describeProcessMetrics(set)
	for method := range knownMethods {
		m.requests[method] = set.NewCounter(`kemi_core_requests_received_total{method="`+method+`"}`, helpRequests)
	}
	m.requests["other"] = set.NewCounter(`kemi_core_requests_received_total{method="other"}`, helpRequests)
	for i := 1; i <= 6; i++ {
		m.replies[i] = set.NewCounter(fmt.Sprintf(`kemi_core_replies_received_total{class="%dxx"}`, i),
			"SIP replies received, by status class (1xx to 6xx; status codes outside 100-699 are refused as malformed).")
	}
	for r, name := range dropReasonNames {
		m.drops[r] = set.NewCounter(`kemi_core_messages_dropped_total{reason="`+name+`"}`,
			"Messages dropped, by reason: malformed, oversized, unknown_method, script_drop (the script dropped it), no_route (the request route ended with nothing sent), shutdown (received while draining), overload (a datagram whose worker's queue was full).")
	}
	const helpSent = "SIP messages sent (forwarded, relayed or generated), by type: request or reply."
	m.sentReq = set.NewCounter(`kemi_core_messages_sent_total{type="request"}`, helpSent)
	m.sentRpl = set.NewCounter(`kemi_core_messages_sent_total{type="reply"}`, helpSent)
	m.sendErrs = set.NewCounter(`kemi_core_send_errors_total`, "Sends of SIP messages that failed (no route to the destination, no socket, connection refused).")
	set.NewGauge(`kemi_core_tcp_connections`, "TCP connections open now, accepted and dialled.", func() float64 { return float64(m.tcpConns.Load()) })
	set.NewGauge(`kemi_core_tcp_connections_max`, "The TCP connection limit in force (tcp_max_connections, lowered to fit the open file limit).", func() float64 { return float64(e.tp.connsMax()) })
	for r, name := range tcpRefusalNames {
		m.tcpRefused[r] = set.NewCounter(`kemi_core_tcp_refused_total{reason="`+name+`"}`,
			"TCP connections refused or closed by a limit, by reason (connection limits, per-source limits, message read timeout, a peer that does not read what is sent to it).")
	}
	set.NewGauge(`kemi_core_tls_connections`, "TLS connections open now, accepted and dialled (also counted in kemi_core_tcp_connections).", func() float64 { return float64(m.tlsConns.Load()) })
	m.tlsHandshakeFailures = map[string]*metrics.Counter{}
	for _, dir := range []string{"in", "out"} {
		m.tlsHandshakeFailures[dir] = set.NewCounter(`kemi_core_tls_handshake_failures_total{direction="`+dir+`"}`,
			"TLS handshakes that failed or timed out, by direction: in (accepted connections, closed), out (connections we opened, the send fails).")
	}
	newWSMetrics(set, &m.ws)
	for site, name := range readerSiteNames {
		m.panics[site] = set.NewCounter(`kemi_core_panics_total{where="`+name+`"}`,
			"Panics recovered in goroutines that read, route or write network traffic (readers, workers, TCP flushers), by where they happened; the message or connection is lost, the server goes on.")
	}
	set.NewGauge(`kemi_engine_workers`, "Workers (Lua states) routing messages.", func() float64 { return float64(workers) })
	set.NewGauge(`kemi_engine_queue_length`, "Messages and jobs waiting for a worker, in all workers' queues.", func() float64 { return float64(e.disp.queued()) })
	m.reloads = set.NewCounter(`kemi_engine_reloads_total`, "Script reloads that took effect.")
	m.reloadFailures = set.NewCounter(`kemi_engine_reload_failures_total`, "Script reloads refused (the old script kept running).")
	set.NewGauge(`kemi_engine_script_generation`, "Generation of the script in use: 1 at start, one more for each reload that took effect.", func() float64 { return float64(e.generation.Load()) })
	// the supervisor counts restarts; each worker process starts from its count
	set.NewCounter(`kemi_engine_worker_restarts_total`, "Restarts of the worker process by the supervisor since the server started.").Set(uint64(e.cfg.Restarts))
	set.NewGauge(`kemi_engine_draining`, "1 while the engine drains before shutdown (new requests refused), else 0.", func() float64 {
		if e.draining.Load() {
			return 1
		}
		return 0
	})
	return m
}

const helpRequests = "SIP requests received, by method (Kamailio's known methods; others as other)."

func (m *engineMetrics) request(method string) *metrics.Counter {
	if c, ok := m.requests[method]; ok {
		return c
	}
	return m.requests["other"]
}

func (m *engineMetrics) reply(code int) *metrics.Counter {
	c := code / 100
	if c < 1 || c > 6 {
		c = 6
	}
	return m.replies[c]
}

// dropReason is why a message was dropped: the reason label of
// kemi_core_messages_dropped_total. The set is fixed, so every series is
// registered up front and exported even at 0.
type dropReason int

const (
	dropMalformed dropReason = iota
	dropOversized
	dropUnknownMethod
	dropScriptDrop
	dropNoRoute
	dropShutdown
	dropOverload
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{
	dropMalformed:     "malformed",
	dropOversized:     "oversized",
	dropUnknownMethod: "unknown_method",
	dropScriptDrop:    "script_drop",
	dropNoRoute:       "no_route",
	dropShutdown:      "shutdown",
	dropOverload:      "overload",
}

func (m *engineMetrics) dropped(r dropReason) *metrics.Counter { return m.drops[r] }

// route returns the metrics of a route function; workers cache the result.
func (m *engineMetrics) route(name string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.routes[name]; ok {
		return r
	}
	q := strings.ReplaceAll(name, `"`, ``)
	r := &routeMetrics{
		runs: m.set.GetOrCreateCounter(`kemi_script_route_runs_total{route="`+q+`"}`,
			"Runs of script route functions, by function name: request, reply, failure, branch, onreply, onsend and event routes, and routes run with KSR.route."),
		errors: m.set.GetOrCreateCounter(`kemi_script_errors_total{route="`+q+`"}`,
			"Route runs that ended with a Lua error (logged with file:line and a traceback), by route function; a stop by the time or memory limit counts once, under the route it stopped in, not again under its callers."),
		timeouts: m.set.GetOrCreateCounter(`kemi_script_timeouts_total{route="`+q+`"}`,
			"Route runs stopped by the route time limit (route_timeout), by the route function it stopped in; counted in kemi_script_errors_total too."),
		duration: m.set.GetOrCreatePrometheusHistogramExt(`kemi_script_route_duration_seconds{route="`+q+`"}`,
			"Time route functions ran, by route function; a route run from another route is also inside its caller's time.", routeBuckets),
	}
	m.routes[name] = r
	return r
}

// writeMetrics writes the engine's set and the Go process metrics, every
// family with its # HELP and # TYPE lines.
func (e *Engine) writeMetrics(w io.Writer) { e.metrics.WritePage(w) }

// metricsServer is an HTTP server of the engine: /metrics (and /RPC) on
// the metrics address, or JSON-RPC on the control socket.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// How long the metrics server may take to write a response.
const (
	metricsWriteTimeout = 30 * time.Second
	pprofWriteTimeout   = 5 * time.Minute
)

func (e *Engine) startMetrics(addr string, ln net.Listener) (*metricsServer, error) {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("engine: metrics listener %s: %w", addr, err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		e.writeMetrics(w)
	})
	mux.Handle(RPCPath, &rpcHandler{t: e.rpc, token: e.cfg.CtlToken, log: e.log})
	if e.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	// idle or stalled clients must not hold descriptors kept for /metrics;
	// a CPU profile takes 30 s to write by default
	write := metricsWriteTimeout
	if e.cfg.Pprof {
		write = pprofWriteTimeout
	}
	return e.serveHTTP("metrics", mux, ln, write), nil
}

// serveHTTP serves h on ln until stop; write bounds a response. what
// names the server in the log.
func (e *Engine) serveHTTP(what string, h http.Handler, ln net.Listener, write time.Duration) *metricsServer {
	ms := &metricsServer{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: write, IdleTimeout: time.Minute},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(ms.done)
		if err := ms.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error(what+" server stopped", "err", err)
		}
	}()
	return ms
}

func (ms *metricsServer) stop(ctx context.Context) {
	if ms == nil {
		return
	}
	if err := ms.srv.Shutdown(ctx); err != nil {
		ms.srv.Close() // out of time: drop the connections still open
	}
	<-ms.done
}
