package engine

import (
	"bytes"
	"net/netip"
	"sync"
)

// dispatch hands a job to a worker (see dispatcher): received messages in
// the order of their key, functions of modules to the least-loaded worker.
// Received messages are dropped once reading stops, so that no reader
// waits on a busy worker; functions once the engine stops.
//
// A datagram whose worker's queue is full is dropped and counted
// (reason "overload") instead of blocking the socket's reader: a flood
// of one Call-ID would otherwise stall every other call behind the one
// worker that owns it. UDP senders retransmit, as they do when the
// kernel's socket buffer overflows. A TCP reader waits: its peer does not
// retransmit, and only that connection waits.
func (e *Engine) dispatch(j job) {
	stop := e.quit
	if j.fn == nil {
		stop = e.tp.stopRead
		j.key = messageKey(&j)
	}
	j.counted = true
	w := e.disp.assign(j.key)
	if j.fn == nil && j.proto == "udp" {
		if e.disp.offer(w, j, stop) == offerFull {
			e.met.dropped(dropOverload).Inc()
		}
		return
	}
	e.disp.send(w, j, stop)
}

// routeDatagram hands on a datagram a UDP reader read, after its key
// (see claim): when its worker is idle, the reader becomes the worker's
// runner and gets the worker back, to route the datagram itself at once
// (worker.serve); else the datagram waits in that worker's queue, or is
// dropped and counted when the queue is full, as dispatch does.
func (e *Engine) routeDatagram(j *job, prefer int) *worker {
	j.key = messageKey(j)
	j.counted = true
	w, run := e.disp.claim(j.key, prefer)
	if run {
		return e.workers[w]
	}
	if e.disp.offer(w, *j, e.tp.stopRead) == offerFull {
		e.met.dropped(dropOverload).Inc()
	}
	return nil
}

// wakeIdleWorkers has every idle worker run once with nothing to do, so
// that it takes a new script now (takeReload) rather than with its next
// message.
func (e *Engine) wakeIdleWorkers() {
	d := e.disp
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.load {
		if !d.running[w] {
			d.startLocked(w)
		} else {
			// its runner may be on its last job: it runs once more
			// with nothing to do (nextJob) rather than stop
			d.rewake[w] = true
		}
	}
}

// dispatchSlots is the size of the dispatcher's key table. Keys that share
// a slot share its worker while either has a message in flight, which
// costs some balance but never order; 4096 slots make that rare with
// thousands of calls in flight.
const dispatchSlots = 4096

// dispatcher hands jobs to workers so that the messages of one key (a
// dialog's Call-ID, a TCP connection) are routed one at a time, in the
// order they arrived, while different keys run in parallel.
//
// A key is sticky while in flight: as long as a worker has messages of the
// key queued or running, the next one joins the same worker's queue (each
// worker takes its queue in order); a key with nothing in flight goes to
// the least-loaded worker. So a slow route delays the messages of its own
// key, and of keys queued behind it on that worker, but no key is pinned
// to a busy worker once its messages are done.
//
// A worker's jobs are run by its runner, one goroutine at a time: the UDP
// reader that claimed it idle (claim), or else the worker's own goroutine,
// woken when a job is queued for an idle worker (startLocked). The runner
// goes on with the worker's queue until nothing is left assigned to it
// (nextJob), so a job queued while a runner is at work costs no wake-up.
type dispatcher struct {
	queues []chan job      // one per worker, in worker order
	starts []chan struct{} // per worker: its goroutine is now its runner

	mu      sync.Mutex
	load    []int32 // per worker: jobs queued or running
	running []bool  // per worker: it has a runner
	rewake  []bool  // per worker: its runner runs a no-op job before it stops (wakeIdleWorkers)
	slots   [dispatchSlots]keySlot
	next    int // where the least-loaded search starts, so ties rotate
}

// keySlot tracks the keys that hash to one slot.
type keySlot struct {
	owner   int32 // worker index, valid while pending > 0
	pending int32 // jobs of these keys queued or running
}

// newDispatcher makes a dispatcher for n workers with queues of size
// capacity each.
func newDispatcher(n, capacity int) *dispatcher {
	d := &dispatcher{queues: make([]chan job, n), starts: make([]chan struct{}, n), load: make([]int32, n), running: make([]bool, n), rewake: make([]bool, n)}
	for i := range d.queues {
		d.queues[i] = make(chan job, capacity)
		d.starts[i] = make(chan struct{}, 1)
	}
	return d
}

// assign picks the worker for a job of key (0: no key) and counts the job
// as in flight there until done is called.
func (d *dispatcher) assign(key uint32) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s *keySlot
	if key != 0 {
		s = &d.slots[key%dispatchSlots]
		if s.pending > 0 {
			s.pending++
			d.load[s.owner]++
			return int(s.owner)
		}
	}
	w := d.leastLoaded()
	if s != nil {
		s.owner, s.pending = int32(w), 1
	}
	d.load[w]++
	return w
}

// claim is assign for a datagram a UDP reader read: it prefers worker
// prefer (the reader's own, whose state is warm in its CPU's cache) when
// that has nothing in flight, and it reports whether the worker it picked
// was idle: nothing queued or running, and no runner. Then the caller is
// the worker's runner (see worker.serve) and routes the datagram at once:
// nothing of its key can be ahead of it, and what of its key arrives later
// queues behind it on the same worker.
func (d *dispatcher) claim(key uint32, prefer int) (w int, run bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &d.slots[key%dispatchSlots]
	switch {
	case s.pending > 0:
		w = int(s.owner)
	case d.load[prefer] == 0:
		w = prefer
	default:
		w = d.leastLoaded()
	}
	if s.pending == 0 {
		s.owner = int32(w)
	}
	s.pending++
	d.load[w]++
	if d.load[w] == 1 && !d.running[w] {
		d.running[w] = true
		return w, true
	}
	return w, false
}

// startLocked makes worker w's goroutine its runner; d.mu held, w has
// none.
func (d *dispatcher) startLocked(w int) {
	d.running[w] = true
	select {
	case d.starts[w] <- struct{}{}:
	default: // cannot happen: one start per runner
	}
}

// nextJob ends the job of key that worker w's runner just ran (counted: it
// was assigned) and gives the runner w's next job. When nothing is left
// assigned to w the runner stops being one: ok is false. A job assigned
// but still on its way to the queue (a send that found it full) is waited
// for, until quit closes.
func (d *dispatcher) nextJob(w int, key uint32, counted bool, quit <-chan struct{}) (j job, ok bool) {
	d.mu.Lock()
	if counted {
		d.doneLocked(w, key)
	}
	if d.load[w] == 0 && len(d.queues[w]) == 0 {
		if d.rewake[w] {
			d.rewake[w] = false
			d.mu.Unlock()
			return job{fn: func(*worker) {}}, true
		}
		d.running[w] = false
		d.mu.Unlock()
		return j, false
	}
	d.mu.Unlock()
	select {
	case j = <-d.queues[w]:
		return j, true
	case <-quit:
		return j, false
	}
}

// leastLoaded returns the worker with the fewest jobs in flight; d.mu held.
func (d *dispatcher) leastLoaded() int {
	n := len(d.load)
	best := d.next % n
	for i := 1; i < n && d.load[best] > 0; i++ {
		if c := (d.next + i) % n; d.load[c] < d.load[best] {
			best = c
		}
	}
	d.next = best + 1
	return best
}

// done ends a job of key that assign gave to worker w.
func (d *dispatcher) done(w int, key uint32) {
	d.mu.Lock()
	d.doneLocked(w, key)
	d.mu.Unlock()
}

func (d *dispatcher) doneLocked(w int, key uint32) {
	if key != 0 {
		d.slots[key%dispatchSlots].pending--
	}
	d.load[w]--
}

// send queues j on worker w, after assign, unless stop closes first: then
// the job is dropped and no longer counted. It reports whether j was
// queued. Once stop is closed every job is dropped, even when the queue
// has room (a select would pick either), so that a sender that saw one
// job of a key dropped never queues a later one. A worker without a
// runner gets one.
func (d *dispatcher) send(w int, j job, stop <-chan struct{}) bool {
	select {
	case <-stop:
		d.done(w, j.key)
		return false
	default:
	}
	if d.push(w, j) {
		return true
	}
	// full: wait for room, outside d.mu. The job still counts for w and
	// its key meanwhile, so that w's runner waits for it (see nextJob) and
	// its key stays on w.
	select {
	case d.queues[w] <- j:
		d.mu.Lock()
		if !d.running[w] {
			d.startLocked(w)
		}
		d.mu.Unlock()
		return true
	case <-stop:
		d.done(w, j.key)
		return false
	}
}

// push queues j on worker w if the queue has room, and gives w a runner
// if it has none. Under d.mu: a runner that finds w's queue empty and
// nothing assigned stops, else it takes j.
func (d *dispatcher) push(w int, j job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case d.queues[w] <- j:
		if !d.running[w] {
			d.startLocked(w)
		}
		return true
	default:
		return false
	}
}

// offerResult is what offer did with a job.
type offerResult int

const (
	offerQueued offerResult = iota
	offerStopped
	offerFull
)

// offer queues j on worker w, after assign, if the queue has room and stop
// is not closed; otherwise the job is dropped and no longer counted. It
// never waits. A worker without a runner gets one.
func (d *dispatcher) offer(w int, j job, stop <-chan struct{}) offerResult {
	select {
	case <-stop:
		d.done(w, j.key)
		return offerStopped
	default:
	}
	if d.push(w, j) {
		return offerQueued
	}
	d.done(w, j.key)
	return offerFull
}

// queued returns the number of jobs waiting in the queues.
func (d *dispatcher) queued() int {
	n := 0
	for _, q := range d.queues {
		n += len(q)
	}
	return n
}

// messageKey is the dispatch key of a received message: its TCP
// connection, so that a stream is routed in order as Kamailio's TCP
// readers do; else its Call-ID, which keeps a dialog's messages in order
// whoever sends them; else its source address and port. Never 0.
func messageKey(j *job) uint32 {
	var h uint32
	switch {
	case j.connID != 0:
		h = fnvUint64(fnvOffset, j.connID)
	default:
		if id := callID(j.raw); id != nil {
			h = fnvBytes(fnvOffset, id)
		} else {
			h = addrPortHash(j.src)
		}
	}
	h ^= h >> 16 // the slot index takes the low bits: fold the high ones in
	if h == 0 {
		h = 1
	}
	return h
}

// callID returns the value of the Call-ID header (or its compact form
// "i") in a raw SIP message, trimmed; nil when there is none in the
// header section. It allocates nothing and reads each byte at most twice.
// A folded Call-ID keeps only its first line: it is a key, not the value.
func callID(raw []byte) []byte {
	i := bytes.IndexByte(raw, '\n') + 1 // skip the start line
	for i > 0 && i < len(raw) {
		end := len(raw)
		if n := bytes.IndexByte(raw[i:], '\n'); n >= 0 {
			end = i + n
		}
		line := raw[i:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			return nil // end of the header section
		}
		if v := callIDValue(line); v != nil {
			return v
		}
		i = end + 1
	}
	return nil
}

// callIDValue returns the trimmed value of line when it is a Call-ID
// header line ("Call-ID", "i", any case, optional space before ':').
func callIDValue(line []byte) []byte {
	n := 0
	switch {
	case len(line) >= 7 && equalFoldASCII(line[:7], "call-id"):
		n = 7
	case line[0] == 'i' || line[0] == 'I':
		n = 1
	default:
		return nil
	}
	for n < len(line) && (line[n] == ' ' || line[n] == '\t') {
		n++
	}
	if n == len(line) || line[n] != ':' {
		return nil
	}
	v := line[n+1:]
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	if len(v) == 0 {
		return nil
	}
	return v
}

// equalFoldASCII compares b with the lower-case ASCII string s, ignoring
// the case of b.
func equalFoldASCII(b []byte, s string) bool {
	for i := range len(s) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// FNV-1a, 32 bits: fast and good enough to spread keys over the slots.
const (
	fnvOffset uint32 = 2166136261
	fnvPrime  uint32 = 16777619
)

func fnvBytes(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime
	}
	return h
}

func fnvUint64(h uint32, v uint64) uint32 {
	for range 8 {
		h ^= uint32(v & 0xff)
		h *= fnvPrime
		v >>= 8
	}
	return h
}

func addrPortHash(ap netip.AddrPort) uint32 {
	a := ap.Addr().As16()
	h := fnvBytes(fnvOffset, a[:])
	return fnvUint64(h, uint64(ap.Port()))
}
