package tm

import (
	"sync"
	"time"
)

// The timer wheel drives every timer of tm: retransmissions (RFC 3261
// timers A, E and G), fr_timer and fr_inv_timer, the wait for the ACK of
// a negative reply (timer H), wt_timer and max_*_lifetime. It is a hashed
// wheel (Varghese and Lauck's scheme 6, the shape of Kamailio's timer):
// wheelSlots lists of entries, one per tick, each entry filed under its
// expiry tick modulo the number of slots. Inserting and removing an entry
// is O(1) (a doubly linked list; the entries live inside the transactions
// and branches, so arming a timer allocates nothing), and each tick
// looks only at the entries of one slot. An entry further away than one
// turn of the wheel stays in its slot and is passed over until its turn
// comes.
//
// The tick is 10 ms: retransmissions start at T1 = 500 ms, so an interval
// is late by 2 % at most, while the cost is 100 wake-ups a second of one
// goroutine per module while anything is armed (none when nothing is:
// the timer process then sleeps). Kamailio ticks at 62.5 ms (16 Hz) and keeps
// retransmissions on the same wheel; a finer tick costs nothing per
// transaction here, only per tick. 4096 slots make one turn 41 s: fr_timer
// (30 s), wt_timer (5 s) and the retransmissions are found on their first
// visit, only lifetimes (180 s) are passed over a few times.
const (
	wheelTick  = 10 * time.Millisecond
	wheelSlots = 4096
	wheelMask  = wheelSlots - 1
)

// timerKind says what an entry's expiry does.
type timerKind uint8

const (
	tkNone      timerKind = iota
	tkLife                // max_*_lifetime of a transaction without a final reply
	tkWait                // wt_timer after the final reply: release
	tkReplyRetr           // timer G: the negative final reply to an INVITE again, until the ACK or timer H
	tkRequest             // timer A / E: a branch's request again
	tkFR                  // fr_timer / fr_inv_timer of a branch
	tkCancel              // a branch's CANCEL again
)

// tentry is one armed timer, kept inside its transaction or branch. Its
// fields belong to the wheel (wheel.mu); gen changes each time the entry
// is set or stopped, so that an expiry taken from the wheel just before
// the owner re-armed it is recognised as stale (owners set and stop their
// entries with the transaction's lock held, and check gen under it).
type tentry struct {
	next, prev *tentry
	t          *tx     // the owner: a transaction,
	b          *branch // one of its branches,
	u          *uacTx  // or a request of our own
	expires    int64   // tick
	gen        uint32
	kind       timerKind
	queued     bool
}

// expiry is an entry taken off the wheel, with the gen it had then.
type expiry struct {
	e    *tentry
	gen  uint32
	kind timerKind
}

// wheel is the hashed timer wheel.
type wheel struct {
	mu    sync.Mutex
	slots [wheelSlots]*tentry // list heads
	now   int64               // last tick processed
	n     int                 // entries armed
	start time.Time
	// elapsed is the time since start; a test replaces it with a clock of
	// its own.
	elapsed func() time.Duration
	due     []expiry // reused by advance
	// armedc receives when an entry is armed in an empty wheel, so that
	// the timer process can sleep while nothing is armed (an idle server
	// would otherwise wake 100 times a second).
	armedc chan struct{}
}

func newWheel() *wheel {
	w := &wheel{start: time.Now(), armedc: make(chan struct{}, 1)}
	w.elapsed = func() time.Duration { return time.Since(w.start) }
	return w
}

// set arms e to expire after d, replacing the expiry it had. Rounded up to
// a whole tick, so that it never expires early.
func (w *wheel) set(e *tentry, d time.Duration, kind timerKind) {
	el := w.elapsed()
	at := int64((el + d + wheelTick - 1) / wheelTick)
	w.mu.Lock()
	if e.queued {
		w.unlink(e)
	}
	if w.n == 0 {
		// the timer process may be asleep and now far behind: with
		// nothing armed there is nothing to catch up on
		w.now = max(w.now, int64(el/wheelTick))
		select {
		case w.armedc <- struct{}{}:
		default:
		}
	}
	if at <= w.now {
		at = w.now + 1
	}
	e.expires, e.kind = at, kind
	e.gen++
	w.link(e)
	w.mu.Unlock()
}

// stop disarms e; an expiry already taken becomes stale.
func (w *wheel) stop(e *tentry) {
	w.mu.Lock()
	if e.queued {
		w.unlink(e)
	}
	e.gen++
	e.kind = tkNone
	w.mu.Unlock()
}

// current reports whether x is the entry's latest arming: nobody set or
// stopped it since the wheel took it.
func (w *wheel) current(x expiry) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return x.e.gen == x.gen && !x.e.queued
}

// armed reports whether e waits in the wheel, and as what.
func (w *wheel) armed(e *tentry) (timerKind, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return e.kind, e.queued
}

// len is the number of entries armed.
func (w *wheel) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *wheel) link(e *tentry) {
	s := &w.slots[e.expires&wheelMask]
	e.prev, e.next = nil, *s
	if *s != nil {
		(*s).prev = e
	}
	*s = e
	e.queued = true
	w.n++
}

func (w *wheel) unlink(e *tentry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		w.slots[e.expires&wheelMask] = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.next, e.prev, e.queued = nil, nil, false
	w.n--
}

// advance moves the wheel to the current time and calls fire for each
// entry that expired, outside the wheel's lock (fire takes transaction
// locks, and owners take the wheel's lock with theirs held). A timer
// process that fell behind catches up: every tick passed is processed.
func (w *wheel) advance(fire func(expiry)) {
	w.advanceTo(int64(w.elapsed()/wheelTick), fire)
}

// advanceTo processes the ticks up to and including tick.
func (w *wheel) advanceTo(tick int64, fire func(expiry)) {
	w.mu.Lock()
	due := w.due[:0]
	w.due = nil // ours until put back: a second caller gets a buffer of its own
	for w.now < tick {
		w.now++
		if w.n == 0 {
			w.now = tick // nothing armed: skip the empty slots
			break
		}
		for e := w.slots[w.now&wheelMask]; e != nil; {
			next := e.next
			if e.expires <= w.now {
				w.unlink(e)
				due = append(due, expiry{e: e, gen: e.gen, kind: e.kind})
			}
			e = next
		}
	}
	w.mu.Unlock()
	for i, x := range due {
		fire(x)
		due[i] = expiry{} // let go of the transaction
	}
	w.mu.Lock()
	if cap(due) > 1024 {
		due = nil // a burst does not keep its buffer
	}
	w.due = due[:0]
	w.mu.Unlock()
}
