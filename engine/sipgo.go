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

// setSipgoTimers sets the sipgo transaction timers tm relies on. Start
// calls it, rather than a module's init(), so that importing a package
// changes no process-wide state, and only once per process, since a
// second write would race with the transactions of an engine already
// running.
func setSipgoTimers() {
	sipgoTimersOnce.Do(func() {
		// tm sends 100 Trying itself (auto_inv_100, t_set_auto_inv_100),
		// so sipgo's server transaction must not add its own after 200 ms.
		sip.Timer_1xx = 365 * 24 * time.Hour
		// sipgo (v1.7.2) does not stop Timer L and Timer M when a
		// transaction is terminated, so a 2xx-answered INVITE would pin
		// its server and client transactions, requests and replies
		// included, for 32 s. tm forwards 2xx retransmissions itself and
		// keeps the transaction for wt_timer, so the Accepted state may
		// end at once.
		sip.Timer_L = time.Millisecond
		sip.Timer_M = time.Millisecond
	})
}
