// Package nathelper is Kamailio's nathelper module: it tells whether a
// request comes from behind a NAT (nat_uac_test) and rewrites what a
// NATed user agent put in its messages (Contact, SDP) with the address
// its packets really come from, or records that address (the alias and
// received parameters) so that requests can reach it later. With
// natping_interval it keeps the NAT bindings of registered contacts open
// with SIP pings from extra processes, and with keepalive_timeout lets
// the contacts that stop answering expire.
package nathelper

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "nathelper", Order: 190, New: func() kemi.Module { return &Module{} }})
}

// Module is the nathelper module of one engine.
type Module struct {
	log *slog.Logger
	pvs *kemi.PVTable

	// parameters
	receivedAVP  string  // received_avp, the AVP name without $avp( )
	nortpproxy   string  // nortpproxy_str, without its line end
	oldMediaIP   bool    // append_sdp_oldmediaip
	extraPrivate bool    // nat_addr_mode 1: 192.0.0.0/24 is private too
	aliasName    string  // alias_name: the URI parameter of the alias
	pinger       *pinger // the NAT keepalive; nil when natping_interval is 0

	natDetected *metrics.Counter
	rewrites    *metrics.Counter
	errors      *metrics.Counter
}

// ModInit reads the parameters, creates the metrics and, with
// natping_interval, asks for the pinging processes.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.pvs = env.PVs
	p := env.Params
	avp := p.Str("received_avp", "")
	if avp != "" {
		name, ok := avpName(avp)
		if !ok {
			return fmt.Errorf("nathelper: received_avp %q: want an AVP ($avp(name))", avp)
		}
		mod.receivedAVP = name
	}
	mod.nortpproxy = strings.TrimRight(p.Str("nortpproxy_str", "a=nortpproxy:yes"), "\r\n")
	mod.oldMediaIP = p.Int("append_sdp_oldmediaip", 1) != 0
	switch mode := p.Int("nat_addr_mode", 1); mode {
	case 0, 1:
		mod.extraPrivate = mode == 1
	default:
		return fmt.Errorf("nathelper: nat_addr_mode %d: want 0 or 1", mode)
	}
	mod.aliasName = p.Str("alias_name", "alias")
	if mod.aliasName == "" || strings.ContainsAny(mod.aliasName, ";=?~<>\" \t\r\n") {
		return fmt.Errorf("nathelper: alias_name %q: want a URI parameter name", mod.aliasName)
	}
	pg, err := readPinger(env)
	if err != nil {
		return err
	}
	if pg != nil && !env.DryRun {
		mod.pinger = pg
		for i := range pg.procs {
			env.AddProcess(kemi.Process{Name: fmt.Sprintf("nathelper-natping-%d", i), Run: pg.process(i)})
		}
	}
	mod.natDetected = env.Metrics.NewCounter(`kemi_nathelper_nat_detected_total`, "nat_uac_test calls that found a NAT.")
	mod.rewrites = env.Metrics.NewCounter(`kemi_nathelper_rewrites_total`, "Contact, R-URI and SDP rewrites made (fix_nated_*, *_contact_alias, handle_ruri_alias, add_rcv_param).")
	mod.errors = env.Metrics.NewCounter(`kemi_nathelper_errors_total`, "nathelper functions that failed (no or bad Contact, bad alias, bad SDP).")
	return nil
}

// OnReply absorbs the replies to the SIP pings of the NAT keepalive.
func (mod *Module) OnReply(m *kemi.Msg) bool {
	return mod.pinger != nil && mod.pinger.sipFlag != 0 && mod.pinger.onReply(m)
}

// avpName takes "$avp(name)", "$avp(s:name)" or a bare name to the AVP
// name kemi stores, as registrar reads its own received_avp (so that the
// same value in both modules names the same AVP).
func avpName(s string) (string, bool) {
	if strings.HasPrefix(s, "$avp(") && strings.HasSuffix(s, ")") {
		s = strings.TrimPrefix(s[len("$avp("):len(s)-1], "s:")
	} else if strings.HasPrefix(s, "$") {
		return "", false
	}
	return s, s != "" && !strings.ContainsAny(s, "()$ ")
}

// fail counts and logs an error of fn and returns -1.
func (mod *Module) fail(m *kemi.Msg, fn, format string, args ...any) kemi.Value {
	mod.errors.Inc()
	m.Errorf(mod.log, fn+": "+format, args...)
	return kemi.Fail
}

var (
	_ kemi.ModIniter = (*Module)(nil)
	_ kemi.ReplyHook = (*Module)(nil)
)
