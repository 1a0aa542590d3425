package dispatcher

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// Probing modes (ds_probing_mode), as in Kamailio.
const (
	probeNone     = 0 // only destinations flagged probing, once each
	probeAll      = 1 // every destination but the disabled ones
	probeInactive = 2 // only those inactive and probing
	probeFlagged  = 3 // those flagged probing, keeping the flag
)

// prober sends the keepalive requests (OPTIONS by default) of the
// health checks from an extra process, every interval, and turns their
// outcome into destination state.
type prober struct {
	mod      *Module
	uac      kemi.UAC
	interval time.Duration
	timeout  time.Duration
	method   string
	from     string
	mode     int
	// codes are the replies that count as an answer besides 2xx
	// (ds_ping_reply_codes): a code (100..699) or a class (1..6).
	codes []int
	// latency keeps latency statistics (ds_ping_latency_stats) with the
	// estimator's alpha.
	latency bool
	alpha   float64
	// active is the admin switch of dispatcher.ping_active: probes go
	// out while it is not 0.
	active atomic.Int32
	ok     *metrics.Counter
	failed *metrics.Counter
}

// parseReplyCodes reads ds_ping_reply_codes, "class=2;code=403;code=488":
// entries out of range are skipped, as in Kamailio; anything else that
// does not parse is an error.
func parseReplyCodes(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil {
			return nil, fmt.Errorf("%q: want code=NNN or class=N", part)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "code":
			if n >= 100 && n < 700 {
				out = append(out, n)
			}
		case "class":
			if n >= 1 && n < 7 {
				out = append(out, n)
			}
		default:
			return nil, fmt.Errorf("%q: want code=NNN or class=N", part)
		}
	}
	return out, nil
}

// answered reports whether code counts as an answer: 2xx, or one of the
// configured codes or classes.
func (p *prober) answered(code int) bool {
	if code >= 200 && code <= 299 {
		return true
	}
	for _, c := range p.codes {
		if c == code || (c < 10 && c == code/100) {
			return true
		}
	}
	return false
}

// wanted reports whether a destination in state st is probed (Kamailio's
// ds_ping_result_helper); disabled ones never are.
func (p *prober) wanted(st int32) bool {
	switch {
	case st&stDisabled != 0:
		return false
	case p.mode == probeAll:
		return true
	case p.mode == probeInactive:
		return st&stProbing != 0 && st&stInactive != 0
	default:
		return st&stProbing != 0
	}
}

// run is the extra process: a round of probes every interval.
func (p *prober) run(ctx context.Context, _ *kemi.ProcContext) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.tick()
		}
	}
}

// tick runs a round unless dispatcher.ping_active turned probing off.
func (p *prober) tick() {
	if p.active.Load() != 0 {
		p.round()
	}
}

// round probes every destination that wants it, sets in Kamailio's order.
func (p *prober) round() {
	p.mod.sets.Load().each(func(d *dest) {
		if p.wanted(d.rt.st.Load()) {
			p.probe(d)
		}
	})
}

// probe sends one keepalive to d; its outcome comes back on a tm
// goroutine. A request that cannot be sent counts as a failure (code 500,
// as Kamailio).
func (p *prober) probe(d *dest) {
	r := kemi.UACRequest{
		Method:  p.method,
		RURI:    d.uri,
		Headers: "From: <" + p.from + ">\r\nTo: <" + d.uri + ">\r\n",
		Timeout: p.timeout,
	}
	start := time.Now()
	setID, uri := d.setID, d.uri
	err := p.uac.SendRequest(r, func(res kemi.UACResult) {
		p.result(setID, uri, res.Code, res.Reason, res.Reply != nil, time.Since(start))
	})
	if err != nil {
		p.mod.log.Debug("dispatcher: cannot send keepalive", "set", setID, "uri", uri, "err", err)
		p.result(setID, uri, 500, "Sending keepalive failed", false, 0)
	}
}

// result applies the outcome of a probe to the destination, looked up
// again in the list in use (a reload may have come meanwhile), as
// Kamailio's ds_options_callback.
func (p *prober) result(setID int, uri string, code int, reason string, replied bool, took time.Duration) {
	d := p.mod.sets.Load().find(setID, uri)
	if d == nil {
		return
	}
	st := d.rt.st.Load()
	if p.latency && st&stProbing != 0 {
		d.rt.mu.Lock()
		d.rt.lat.update(code == 408, took, p.alpha)
		d.rt.mu.Unlock()
	}
	rc := replyCtx{code: code}
	if replied {
		rc.reason, rc.flags = reason, 1
	}
	// with mode 3 only destinations still flagged are handled: the flag
	// may have been taken away meanwhile (RPC, reload)
	if p.mode == probeFlagged && st&stProbing == 0 {
		return
	}
	var next int32
	if p.answered(code) {
		p.ok.Inc()
		if p.mode == probeAll || (p.mode == probeFlagged && st&stProbing != 0) {
			next |= stProbing
		}
	} else {
		p.failed.Inc()
		next = stTrying
		if p.mode != probeNone {
			next |= stProbing
		}
	}
	if st&stDisabled != 0 {
		return // disabled meanwhile by the admin
	}
	p.mod.state.update(nil, d, next, rc)
}
