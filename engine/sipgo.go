package engine

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sipgoTimersOnce guards the one write of sipgo's timer settings: they are
// package variables of sipgo that every transaction of every engine in the
// process reads, so they are process-wide by nature and written once.
var sipgoTimersOnce sync.Once

// setSipgoTimers sets sipgo's transaction timers. tm no longer uses
// sipgo's transaction layer (it has its own, on a timer wheel), so these
// settings shape only the sipgo user agents that live in the same process:
// the test peers. They are kept because those tests were written against
// them; dropping them is a change of the test peers' behaviour, not of
// kemi's. Start calls it, rather than a module's init(), so that importing
// a package changes no process-wide state, and only once per process,
// since a second write would race with the transactions of an engine
// already running.
func setSipgoTimers() {
	sipgoTimersOnce.Do(func() {
		// no automatic 100 Trying from a sipgo server transaction after
		// 200 ms (tm sends its own: auto_inv_100)
		sip.Timer_1xx = 365 * 24 * time.Hour
		// sipgo (v1.7.2) does not stop Timer L and Timer M when a
		// transaction is terminated, so a 2xx-answered INVITE would pin
		// its transactions, requests and replies included, for 32 s
		sip.Timer_L = time.Millisecond
		sip.Timer_M = time.Millisecond
	})
}
