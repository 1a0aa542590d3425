// Package dispatcher is Kamailio's dispatcher module: it balances requests
// over sets of destinations read from a dispatcher.list file or the
// dispatcher table, with the selection algorithms, failover (ds_next_dst
// from the failure route), the address matching (ds_is_from_list), the
// OPTIONS health checks, the dst-down/dst-up events, reload and the RPC
// commands of Kamailio 5.6.
package dispatcher

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "dispatcher", Order: 200, New: func() kemi.Module { return &Module{} }})
}

// Module is the dispatcher of one engine: the destination sets and their
// state, shared by every worker.
type Module struct {
	log  *slog.Logger
	host kemi.Host
	// sets is the list in use; empty without list_file or db_url. A
	// reload replaces it in one step.
	sets atomic.Pointer[list]
	// state applies state changes (thresholds, events).
	state *stateTable
	// file is list_file; db the dispatcher table (db_url). At most one is
	// set: db_url wins, as in Kamailio.
	file string
	db   *dbSource
	// hashPV is the format hashed by algorithm 7 (hash_pvar).
	hashPV *kemi.Format
	// setidPV and attrsPV receive the set id and attributes of the
	// destination ds_is_from_list matched (setid_pvname, attrs_pvname).
	setidPV, attrsPV *kemi.PVName
	// failover keeps the other usable destinations after the selected one
	// for ds_next_dst (flags bit 2); without it only the selected one is
	// kept.
	failover bool
	// uriUserOnly hashes only the user part of URIs (flags bit 1).
	uriUserOnly bool
	// probingAll marks ds_mark_dst destinations for probing too
	// (ds_probing_mode 1).
	probingAll bool
	// callback is event_callback: the script function run for
	// dispatcher:dst-down and dispatcher:dst-up.
	callback string
	// prober sends the health checks; nil without ds_ping_interval.
	prober *prober
	// reloadMu orders reloads; lastReload is when the last one started,
	// for reload_delta.
	reloadMu    sync.Mutex
	lastReload  time.Time
	reloadDelta time.Duration
	met         struct{ reloadOK, reloadFailed *metrics.Counter }
	// rnd returns a random number in [0, n); tests replace it.
	rnd func(n int) int
	// xavp names the $xavp records of failover (see xavp.go).
	xavp *xavpConf
	// load is the call load of algorithm 10; nil without ds_hash_size.
	load *loadTable
}

// ModInit reads the parameters and loads the destination sets from
// list_file or the dispatcher table (db_url); a line or row that does not
// parse stops the start, naming it. Without either the module starts
// with no set: every selection fails.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.host = env.Host
	mod.rnd = randN
	p := env.Params
	mod.file = p.Str("list_file", "")
	flags := p.Int("flags", 0)
	mod.uriUserOnly = flags&1 != 0
	mod.failover = flags&2 != 0
	mode := p.Int("ds_probing_mode", probeNone)
	if mode < probeNone || mode > probeFlagged {
		return fmt.Errorf("core/dispatcher: ds_probing_mode %d: want 0, 1, 2 or 3", mode)
	}
	mod.probingAll = mode == probeAll
	mod.callback = p.Str("event_callback", "")
	mod.reloadDelta = p.Duration("reload_delta", 5*time.Second, time.Second)
	mod.xavp = readXAVPConf(p)
	if err := mod.readLoad(env); err != nil {
		return err
	}
	if err := mod.initPVs(env); err != nil {
		return err
	}
	if err := mod.initSource(env); err != nil {
		return err
	}
	mod.state = &stateTable{
		probingThreshold:  p.Int("ds_probing_threshold", 1),
		inactiveThreshold: p.Int("ds_inactive_threshold", 1),
		event:             mod.runEvent,
		changes:           env.Metrics.NewCounter("kemi_dispatcher_state_changes_total", "Changes of a destination's state (by probes, ds_mark_dst or RPC)."),
	}
	if err := mod.initProber(env, mode); err != nil {
		return err
	}
	mod.initMetrics(env)
	mod.initRPC(env)
	if env.DryRun {
		l := newList()
		l.finish()
		mod.sets.Store(l)
		if mod.file != "" {
			// kemi check reports a bad list as the start would
			if _, err := loadListFile(mod.file); err != nil {
				return err
			}
		}
		return nil
	}
	l, err := mod.readSource()
	if err != nil {
		return err
	}
	mod.store(l)
	return nil
}

// initPVs reads hash_pvar, setid_pvname and attrs_pvname, and adds $dsv.
func (mod *Module) initPVs(env *kemi.Env) error {
	p := env.Params
	if s := p.Str("hash_pvar", ""); s != "" {
		f, err := env.PVs.CompileFormat(s)
		if err != nil {
			return fmt.Errorf("core/dispatcher: hash_pvar %q: %w", s, err)
		}
		mod.hashPV = f
	}
	for _, x := range []struct {
		name string
		dst  **kemi.PVName
	}{{"setid_pvname", &mod.setidPV}, {"attrs_pvname", &mod.attrsPV}} {
		if s := p.Str(x.name, ""); s != "" {
			pv, err := env.PVs.Parse(s)
			if err != nil {
				return fmt.Errorf("core/dispatcher: %s %q: %w", x.name, s, err)
			}
			*x.dst = pv
		}
	}
	if err := registerDSV(env.PVs); err != nil {
		return fmt.Errorf("core/dispatcher: %w", err)
	}
	return nil
}

// initSource chooses list_file or the dispatcher table: db_url, when
// given, wins over list_file as in Kamailio; an empty db_url names the
// core database.
func (mod *Module) initSource(env *kemi.Env) error {
	p := env.Params
	for _, n := range []string{"table_name", "setid_col", "destination_col", "flags_col", "priority_col", "attrs_col"} {
		p.Str(n, "") // read with the table below; known without db_url
	}
	if !p.Has("db_url") {
		return nil
	}
	s, err := newDBSource(p, env.DBURL)
	if err != nil {
		return err
	}
	if mod.file != "" {
		mod.log.Warn("dispatcher: list_file and db_url are both set: the sets are read from db_url, as Kamailio does", "list_file", mod.file, "db", s.url.String())
		mod.file = ""
	}
	mod.db = s
	return nil
}

// initProber sets up the health checks when ds_ping_interval is set.
func (mod *Module) initProber(env *kemi.Env, mode int) error {
	p := env.Params
	interval := p.Duration("ds_ping_interval", 0, time.Second)
	timeout := p.Duration("ds_ping_timeout", interval/2, time.Millisecond)
	pr := &prober{
		mod:      mod,
		interval: interval,
		timeout:  timeout,
		method:   p.Str("ds_ping_method", "OPTIONS"),
		from:     p.Str("ds_ping_from", "sip:dispatcher@localhost"),
		mode:     mode,
		latency:  p.Bool("ds_ping_latency_stats", false),
		alpha:    0.9,
	}
	if a := p.Int("ds_latency_estimator_alpha", 900); a > 0 && a < 1000 {
		pr.alpha = float64(a) / 1000
	} else {
		mod.log.Error("dispatcher: ds_latency_estimator_alpha must be between 0 and 1000; using 900", "value", a)
	}
	codes, err := parseReplyCodes(p.Str("ds_ping_reply_codes", ""))
	if err != nil {
		return fmt.Errorf("core/dispatcher: ds_ping_reply_codes: %w", err)
	}
	pr.codes = codes
	pr.active.Store(1)
	pr.ok = env.Metrics.NewCounter(`kemi_dispatcher_probes_total{result="ok"}`, "Keepalive probes sent to destinations, by outcome (ok: 2xx or a ds_ping_reply_codes reply; failed: another reply, a timeout or a send error).")
	pr.failed = env.Metrics.NewCounter(`kemi_dispatcher_probes_total{result="failed"}`, "Keepalive probes sent to destinations, by outcome (ok: 2xx or a ds_ping_reply_codes reply; failed: another reply, a timeout or a send error).")
	mod.prober = pr
	if interval <= 0 {
		return nil
	}
	if timeout <= 0 || timeout > interval {
		return fmt.Errorf("core/dispatcher: ds_ping_timeout %s: want more than 0 and at most ds_ping_interval (%s)", timeout, interval)
	}
	uac, _ := env.Services.Lookup(kemi.ServiceUAC).(kemi.UAC)
	if uac == nil {
		return fmt.Errorf("core/dispatcher: ds_ping_interval needs the tm module (its UAC service) to send the keepalives")
	}
	pr.uac = uac
	if !env.DryRun {
		env.AddProcess(kemi.Process{Name: "dispatcher-ping", Run: pr.run})
	}
	return nil
}

// initMetrics creates the reload counters and the gauges of destinations
// by state.
func (mod *Module) initMetrics(env *kemi.Env) {
	const help = "Reloads of the destination sets (ds_reload, dispatcher.reload, SIGHUP), by result."
	mod.met.reloadOK = env.Metrics.NewCounter(`kemi_dispatcher_reloads_total{result="ok"}`, help)
	mod.met.reloadFailed = env.Metrics.NewCounter(`kemi_dispatcher_reloads_total{result="failed"}`, help)
	for _, s := range []struct {
		name string
		is   func(st int32) bool
	}{
		{"active", func(st int32) bool { return st&(stInactive|stDisabled|stTrying) == 0 }},
		{"trying", func(st int32) bool { return st&(stInactive|stDisabled) == 0 && st&stTrying != 0 }},
		{"inactive", func(st int32) bool { return st&stInactive != 0 && st&stDisabled == 0 }},
		{"disabled", func(st int32) bool { return st&stDisabled != 0 }},
	} {
		is := s.is
		env.Metrics.NewGauge(`kemi_dispatcher_destinations{state="`+s.name+`"}`, "Destinations in the sets in use, by state (active and trying ones are in rotation).", func() float64 {
			n := 0
			if l := mod.sets.Load(); l != nil {
				l.each(func(d *dest) {
					if is(d.rt.st.Load()) {
						n++
					}
				})
			}
			return float64(n)
		})
	}
}

// Destroy closes the database.
func (mod *Module) Destroy() {
	mod.db.close()
}

var (
	_ kemi.ModIniter = (*Module)(nil)
	_ kemi.Reloader  = (*Module)(nil)
	_ kemi.Destroyer = (*Module)(nil)
)
