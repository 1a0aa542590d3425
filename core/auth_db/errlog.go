package auth_db

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// errLogEvery is how often failing lookups are logged: the first error
// at once, then one line per period with the number not logged, so that
// a database that went away does not write a line per message.
const errLogEvery = 10 * time.Second

// errReporter counts the database errors of lookups and logs them
// rate-limited; it logs once when a lookup works again.
type errReporter struct {
	log     *slog.Logger
	db      string // the URL, password masked
	counter *metrics.Counter
	failing atomic.Bool

	mu         sync.Mutex
	lastLog    time.Time
	suppressed int
}

// ok notes a lookup that reached the database.
func (r *errReporter) ok() {
	if r.failing.Load() && r.failing.Swap(false) {
		r.log.Info("subscriber database works again", "db", r.db)
	}
}

// fail counts a lookup that failed and logs it unless one was logged
// within errLogEvery.
func (r *errReporter) fail(table string, err error, at string) {
	r.counter.Inc()
	r.failing.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastLog) >= errLogEvery {
		r.log.Error("subscriber lookup failed", "db", r.db, "table", table, "err", err, "at", at, "suppressed", r.suppressed)
		r.lastLog, r.suppressed = now, 0
		return
	}
	r.suppressed++
}
