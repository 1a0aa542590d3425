// Package tm is Kamailio's tm module: transaction-stateful proxying. A
// request becomes a transaction (t_newtran, t_relay); t_relay forks it to
// the Request-URI and the extra branches in parallel; replies run the
// onreply route, the best final reply is picked after every branch ended,
// the failure route may relay again (serial forking), CANCEL cancels every
// pending branch, and fr_timer and fr_inv_timer turn silence into 408.
//
// The RFC 3261 §17 state machines are tm's own, as in Kamailio: a table
// matches requests (by server key) and replies (by the transaction id in
// our Via branch), and one timer wheel per module, served by the tm timer
// process, drives every retransmission and timer. A transaction costs no
// goroutine and no runtime timer, and once finished it keeps only what
// absorbing retransmissions needs (see tx).
package tm

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "tm", Order: 20, New: func() kemi.Module { return &Module{} }})
}

// Module is the tm module of one engine.
type Module struct {
	log    *slog.Logger
	host   kemi.Host
	pvs    *kemi.PVTable
	txs    *store
	prefix string
	nextID atomic.Uint64

	// parameters; the timers may change at run time (cfg.set tm ...)
	frTimer       kemi.CfgDuration
	frInvTimer    kemi.CfgDuration
	wtTimer       kemi.CfgDuration
	maxInvLife    kemi.CfgDuration
	maxNonInvLife kemi.CfgDuration
	autoInv100    bool
	restartFrEach bool
	disable6xx    bool
	inflight      inflight
	uacs          uacTable
	res           *kemi.RegexCache // t_check_status expressions
	wheel         *wheel
	raw           kemi.RawSender
	t1, t2        time.Duration // RFC 3261 T1 and T2 (retr_timer1, retr_timer2)
	met           tmMetrics
	destroyed     atomic.Bool
	maxBranches   int
}

type tmMetrics struct {
	created, released, expired, absorbed *metrics.Counter
	branches, timeouts, cancels          *metrics.Counter
	relayed, local                       [7]*metrics.Counter
	sendErrors, uacRequests              *metrics.Counter
	retransmits                          *metrics.Counter
}

// ModInit reads the parameters, creates the metrics, registers the $T
// pseudo-variables and publishes the transaction API.
func (mod *Module) ModInit(env *kemi.Env) error {
	p := env.Params
	mod.log = env.Logger
	mod.host = env.Host
	mod.pvs = env.PVs
	mod.txs = newStore()
	mod.res = kemi.NewRegexCache(256)
	mod.prefix = randomPrefix()
	mod.inflight.m = map[string]struct{}{}
	mod.frTimer.Store(p.Duration("fr_timer", 30*time.Second, time.Millisecond))
	mod.frInvTimer.Store(p.Duration("fr_inv_timer", 120*time.Second, time.Millisecond))
	mod.wtTimer.Store(p.Duration("wt_timer", 5*time.Second, time.Millisecond))
	mod.maxInvLife.Store(p.Duration("max_inv_lifetime", 180*time.Second, time.Millisecond))
	mod.maxNonInvLife.Store(p.Duration("max_noninv_lifetime", 32*time.Second, time.Millisecond))
	mod.autoInv100 = p.Bool("auto_inv_100", true)
	mod.restartFrEach = p.Bool("restart_fr_on_each_reply", true)
	mod.disable6xx = p.Bool("disable_6xx_block", false)
	mod.maxBranches = p.Int("max_branches", 12)
	mod.t1 = p.Duration("retr_timer1", 500*time.Millisecond, time.Millisecond)
	mod.t2 = p.Duration("retr_timer2", 4*time.Second, time.Millisecond)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"fr_timer", mod.frTimer.Load()}, {"fr_inv_timer", mod.frInvTimer.Load()}, {"max_inv_lifetime", mod.maxInvLife.Load()}, {"max_noninv_lifetime", mod.maxNonInvLife.Load()},
		{"retr_timer1", mod.t1}, {"retr_timer2", mod.t2}} {
		if d.v <= 0 {
			return fmt.Errorf("core/tm: parameter %s must be positive", d.name)
		}
	}
	if mod.wtTimer.Load() < 0 || mod.maxBranches < 1 {
		return fmt.Errorf("core/tm: parameters wt_timer and max_branches must be positive")
	}
	// the timers of tm's cfg group, in milliseconds; a change applies to
	// the transactions created after it
	env.AddCfg(mod.frTimer.Var("tm", "fr_timer", "How long a branch waits for a final reply before it ends with 408, in milliseconds.", time.Millisecond, time.Millisecond))
	env.AddCfg(mod.frInvTimer.Var("tm", "fr_inv_timer", "How long an INVITE branch that got a provisional reply waits for a final one, in milliseconds.", time.Millisecond, time.Millisecond))
	env.AddCfg(mod.wtTimer.Var("tm", "wt_timer", "How long a completed transaction is kept to absorb late retransmissions, in milliseconds.", time.Millisecond, 0))
	env.AddCfg(mod.maxInvLife.Var("tm", "max_inv_lifetime", "The longest an INVITE transaction may live, in milliseconds.", time.Millisecond, time.Millisecond))
	env.AddCfg(mod.maxNonInvLife.Var("tm", "max_noninv_lifetime", "The longest a non-INVITE transaction may live, in milliseconds.", time.Millisecond, time.Millisecond))
	if raw, ok := env.Host.(kemi.RawSender); ok {
		mod.raw = raw
	} else {
		mod.raw = reparser{env.Host} // a host of a test, or none (kemi check)
	}
	mod.wheel = newWheel()
	set := env.Metrics
	mod.met.created = set.NewCounter(`kemi_tm_transactions_total`, "Transactions created.")
	mod.met.released = set.NewCounter(`kemi_tm_transactions_released_total`, "Transactions the script neither relayed nor answered, released after the route with a warning.")
	mod.met.expired = set.NewCounter(`kemi_tm_transactions_expired_total`, "Transactions ended by max_inv_lifetime or max_noninv_lifetime.")
	mod.met.absorbed = set.NewCounter(`kemi_tm_retransmissions_absorbed_total`, "Retransmitted requests and replies, ACKs of negative replies and replies to t_replicate and t_uac_send, handled without the script.")
	mod.met.branches = set.NewCounter(`kemi_tm_branches_total`, "Branches sent.")
	mod.met.timeouts = set.NewCounter(`kemi_tm_branch_timeouts_total`, "Branches (and t_uac_send requests) ended by fr_timer, fr_inv_timer or a transport error.")
	mod.met.cancels = set.NewCounter(`kemi_tm_cancels_total`, "CANCEL requests sent downstream.")
	mod.met.sendErrors = set.NewCounter(`kemi_tm_send_errors_total`, "Messages tm could not send.")
	mod.met.retransmits = set.NewCounter(`kemi_tm_retransmissions_total`, "Messages tm sent again: requests and CANCELs on timers A and E, negative replies on timer G, the last reply to a retransmitted request, the ACK to a retransmitted negative reply.")
	mod.met.uacRequests = set.NewCounter(`kemi_tm_uac_requests_total`, "Requests tm sent as a UAC: t_uac_send and modules' own (dispatcher probes, NAT keepalives).")
	for i := 1; i <= 6; i++ {
		mod.met.relayed[i] = set.NewCounter(fmt.Sprintf(`kemi_tm_replies_relayed_total{class="%dxx"}`, i), "Replies relayed upstream, by status class.")
		mod.met.local[i] = set.NewCounter(fmt.Sprintf(`kemi_tm_local_replies_total{class="%dxx"}`, i), "Replies tm generated (100 Trying, 408, 487, t_reply), by status class.")
	}
	set.NewGauge(`kemi_tm_transactions_alive`, "Transactions in the tables, including those waiting for wt_timer.", func() float64 { return float64(mod.txs.count.Load()) })
	set.NewGauge(`kemi_tm_transactions_pending`, "Transactions without a final reply upstream; shutdown waits for them.", func() float64 { return float64(mod.txs.live.Load()) })
	mod.initRPC(env)
	if err := registerPVs(env.PVs, mod); err != nil {
		return err
	}
	env.AddProcess(kemi.Process{Name: "tm-timer", Run: mod.timerProcess})
	if err := env.Services.Provide(kemi.ServiceUAC, kemi.UAC(mod)); err != nil {
		return err
	}
	return env.Services.Provide(kemi.ServiceTM, mod)
}

// Destroy lets every transaction go.
func (mod *Module) Destroy() {
	if mod.txs == nil || mod.destroyed.Swap(true) {
		return
	}
	for _, t := range mod.txs.all() {
		t.mu.Lock()
		mod.release(t)
		t.mu.Unlock()
	}
}

// Live reports the transactions that have not sent a final reply yet: the
// engine waits for them when it drains.
func (mod *Module) Live() int { return int(mod.txs.live.Load()) }

func (mod *Module) countRelayed(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		mod.met.relayed[c].Inc()
	}
}

func (mod *Module) countLocal(code int) {
	if c := code / 100; c >= 1 && c <= 6 {
		mod.met.local[c].Inc()
	}
}

var (
	_ kemi.ModIniter       = (*Module)(nil)
	_ kemi.Destroyer       = (*Module)(nil)
	_ kemi.ReplyHook       = (*Module)(nil)
	_ kemi.RequestHook     = (*Module)(nil)
	_ kemi.Drainer         = (*Module)(nil)
	_ kemi.StatefulReplier = (*Module)(nil)
)
