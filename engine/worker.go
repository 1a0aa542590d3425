package engine

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/luaext"
)

// worker owns one Lua state and runs routes, one message at a time.
//
// Its jobs are run by its runner (see dispatcher), one goroutine at a
// time: a UDP reader that read a datagram for it while it was idle routes
// the datagram at once, on the reader's own goroutine (no hand-off, see
// readUDP); a job queued while it is idle wakes its own goroutine (loop).
// Either goes on with the worker's queue, in order, until it is empty.
// Only the runner touches the state, parser, gen and routeStats.routes.
type worker struct {
	e      *Engine
	rank   int
	st     atomic.Pointer[luaext.State]
	proc   *kemi.Proc
	parser *sip.Parser
	gen    int64 // script generation of st
	// spare and spareMsg are the lazy message and the kemi.Msg of the
	// last route, reused for the next one when nothing kept them (see
	// handle)
	spare    *sipmsg.Msg
	spareMsg *kemi.Msg

	// statistics for SIGUSR1: routeStats' counts and busyNs
	routeStats
	busyNs atomic.Int64
}

func newWorker(e *Engine, rank int, st *luaext.State) *worker {
	w := &worker{
		e:      e,
		rank:   rank,
		proc:   kemi.NewProc(rank),
		parser: newParser(e.cfg.MaxMessageSize),
	}
	w.routes = map[string]*routeMetrics{}
	w.st.Store(st)
	return w
}

func (w *worker) close() {
	if st := w.st.Load(); st != nil {
		st.Close()
	}
}

// loop is the worker's goroutine: it becomes the worker's runner when a
// job is queued while the worker has none, until the engine stops.
func (w *worker) loop() {
	d := w.e.disp
	for {
		select {
		case <-d.starts[w.rank-1]:
			w.takeReload()
			if j, ok := d.nextJob(w.rank-1, 0, false, w.e.quit); ok {
				w.serve(j, nil)
			}
		case <-w.e.quit:
			return
		}
	}
}

// serve runs j and then the worker's queue, as the worker's runner, until
// nothing is left for the worker. r is the UDP reader that claimed the
// worker for j, nil for the worker's own goroutine: before each job it
// may hand its read token on (udpReader.handOn), so that another reader
// reads the socket while it routes.
func (w *worker) serve(j job, r *udpReader) {
	d := w.e.disp
	for ok := true; ok; j, ok = d.nextJob(w.rank-1, j.key, j.counted, w.e.quit) {
		if r != nil {
			r.handOn(false)
		}
		w.takeReload()
		before := w.busyNs.Load()
		w.handle(j)
		if r != nil {
			r.g.slow.Store(time.Duration(w.busyNs.Load()-before) > slowRoute)
		}
	}
}

func (w *worker) handle(j job) {
	start := time.Now()
	defer func() {
		w.busyNs.Add(int64(time.Since(start)))
		if r := recover(); r != nil {
			if fe, ok := r.(*kemi.FormError); ok {
				// a module outside a KSR call (a reply hook) asked for
				// sipgo's form of a message sipgo cannot read: what the
				// peer sent, not a bug, and dropped as parseWire drops
				w.e.met.dropped(dropMalformed).Inc()
				w.e.log.Debug("dropped malformed message", "src", j.src, "proto", j.proto, "err", fe)
				return
			}
			// a bug in Go code outside a KSR call: lose this message only
			w.e.met.panics[siteWorker].Inc()
			w.e.log.Error("panic while handling a message: message lost, worker goes on",
				"panic", r, "where", readerSiteNames[siteWorker], "rank", w.rank, "src", j.src, "stack", string(debug.Stack()))
		}
	}()
	if j.fn != nil {
		j.fn(w)
		return
	}
	e := w.e
	// the message starts lazy (see kemi/lazy.go): parsed by sipgo only
	// if a module asks for its sipgo form
	lm := w.spare
	if lm == nil {
		lm = new(sipmsg.Msg)
	}
	w.spare = nil
	err := parseWireInto(lm, j.raw, j.proto != "udp", e.cfg.MaxMessageSize)
	if err != nil {
		w.spare = lm
		putDatagramBuf(j.pooled)
		e.met.dropped(dropMalformed).Inc()
		e.log.Debug("dropped malformed message", "src", j.src, "proto", j.proto, "err", err)
		return
	}
	m := w.spareMsg
	w.spareMsg = nil
	if m == nil {
		m = new(kemi.Msg)
	}
	*m = kemi.Msg{
		Raw:      j.raw,
		Proto:    j.proto,
		Src:      j.src,
		Rcv:      j.sock,
		ConnID:   j.connID,
		Received: j.at,
		Proc:     w.proc,
		Host:     e,
		Run:      w,
	}
	m.SetLazy(lm, w.parser)
	if lm.IsRequest() {
		w.handleRequest(m)
	} else {
		w.handleReply(m)
	}
	if m.Lazy() == lm {
		// nothing asked for the sipgo form, which is what keeps a message
		// past its route (tm): the next message reuses lm's space, the
		// kemi.Msg and the datagram's buffer. Nothing else refers to the
		// buffer then: every string read from a lazy message is a copy
		// (kemi/lazyread.go, $ou here), and sipgo's form, the only one a
		// module keeps, is a parse of its own copy.
		*m = kemi.Msg{}
		w.spare, w.spareMsg = lm, m
		putDatagramBuf(j.pooled)
	}
}

func (w *worker) handleRequest(m *kemi.Msg) {
	e := w.e
	method := m.Method()
	e.met.request(method).Inc()
	if !knownMethods[method] && !e.cfg.RouteUnknownMethods {
		e.met.dropped(dropUnknownMethod).Inc()
		e.log.Debug("dropped request with unknown method", "method", method, "src", m.Src)
		return
	}
	if e.refuseWhileDraining(m) {
		e.met.dropped(dropShutdown).Inc()
		return
	}
	// $ou: a copy, as the datagram's buffer is reused once the message
	// is done with (handle)
	m.OrigURI = string(m.Lazy().OrigRURI())
	m.NoteMaxForwards()
	_, _ = w.run(e.cfg.RequestRoute, kemi.RouteRequest, m) // a Lua error is logged and counted
	for _, h := range e.reqHooks {
		h.AfterRequestRoute(m)
	}
	if !m.Handled {
		if m.Drop {
			e.met.dropped(dropScriptDrop).Inc()
		} else {
			e.met.dropped(dropNoRoute).Inc()
		}
	}
}

func (w *worker) handleReply(m *kemi.Msg) {
	e := w.e
	e.met.reply(m.StatusCode()).Inc()
	if e.cfg.ReplyRoute != "none" {
		_, _ = w.run(e.cfg.ReplyRoute, kemi.RouteReply, m)
		if m.Drop {
			e.met.dropped(dropScriptDrop).Inc()
			return
		}
	}
	for _, h := range e.replyHooks {
		if h.OnReply(m) {
			return
		}
	}
	if err := e.forwardReply(m); err != nil {
		e.log.Debug("reply not forwarded", "err", err, "status", m.StatusCode(), "src", m.Src)
	}
}

// run runs a script function as a route on the worker's state (see
// runRoute).
func (w *worker) run(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	return w.e.runRoute(w.st.Load(), w, &w.routeStats, w.rank, name, rt, m, args...)
}

// The worker is the kemi.Runner of the messages it handles: every route
// run for them, from the worker or from inside another route, comes back
// through run.
var _ kemi.Runner = (*worker)(nil)

// Where returns the script position of the KSR call being served.
func (w *worker) Where() string { return w.st.Load().Where() }

// Has reports whether the script defines the function.
func (w *worker) Has(name string) bool { return w.st.Load().Has(name) }

// Call runs a script function as a route (see runRoute); the error is a
// Lua error that ended it, logged and counted already.
func (w *worker) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	return w.run(name, rt, m, args...)
}
