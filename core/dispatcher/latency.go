package dispatcher

import (
	"math"
	"time"
)

// latency is the statistics of a destination's probe round trips
// (ds_ping_latency_stats), as Kamailio keeps them: a running mean and
// standard deviation (Welford), an exponentially weighted estimate, the
// maximum, and the number of probes that timed out.
type latency struct {
	count    int
	avg, m2  float64
	std, est float64
	max      int
	timeouts uint32
}

// latencyCountCap is where the mean stops growing its memory: past it,
// old samples weigh less (about 24 days of one probe a second).
const latencyCountCap = 1 << 21

// update adds one probe: a timeout only counts; otherwise took, in whole
// milliseconds, joins the statistics; alpha is the estimator's memory.
func (l *latency) update(timeout bool, took time.Duration, alpha float64) {
	if timeout {
		if l.timeouts < math.MaxUint32 {
			l.timeouts++
		}
		return
	}
	ms := int(took.Milliseconds())
	x := float64(ms)
	if l.count < latencyCountCap {
		l.count++
	} else {
		l.m2 -= l.m2 / float64(l.count)
	}
	if l.count == 1 {
		l.avg, l.est, l.max, l.std, l.m2 = x, x, ms, 0, 0
	}
	// a mean that is steady after ten samples stops moving fast
	if l.count > 10 && l.count < 10000 && l.std < 0.5 {
		l.count = 10000
	}
	l.max = max(l.max, ms)
	if l.count > 1 {
		d := x - l.avg
		l.avg += d / float64(l.count)
		l.m2 += d * (x - l.avg)
		l.std = math.Sqrt(l.m2 / float64(l.count-1))
	}
	if l.count < 10 {
		l.est = l.avg
	} else {
		l.est = l.est*alpha + x*(1-alpha)
	}
}
