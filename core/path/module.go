// Package path is Kamailio's path module: an intermediate proxy (an edge
// or load balancer in front of a registrar) adds a Path header with its
// own address to a REGISTER it forwards (RFC 3327), optionally with the
// address the REGISTER came from in a received parameter; and, with
// use_received, a request that comes back through the edge along that
// path goes to the received address (Kamailio's rr callback).
package path

import (
	"fmt"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "path", Order: 135, New: func() kemi.Module { return &Module{} }})
}

// rrService is what path needs of rr (core/rr publishes it under "rr"):
// a callback after loose_route consumed a Route of ours with parameters.
type rrService interface {
	OnRouted(fn func(m *kemi.Msg, params sip.HeaderParams))
}

// rrServiceName is the name rr publishes itself under.
const rrServiceName = "rr"

// Module is the path module of one engine.
type Module struct {
	log      *slog.Logger
	services *kemi.Services

	// parameters
	useReceived    bool   // use_received: received of our Route becomes $du
	receivedFormat int    // received_format: 0 an escaped SIP URI, 1 ip~port~protoid
	receivedName   string // received_name: the parameter's name
	enableR2       bool   // enable_r2: a second Path for the incoming socket
	socknameMode   bool   // sockname_mode: sn=<socket name> in our URI

	added       *metrics.Counter
	receivedDst *metrics.Counter
	errors      *metrics.Counter
}

// ModInit reads the parameters and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.services = env.Services
	p := env.Params
	mod.useReceived = p.Bool("use_received", false)
	mod.receivedFormat = p.Int("received_format", 0)
	mod.receivedName = p.Str("received_name", "received")
	mod.enableR2 = p.Bool("enable_r2", false)
	mod.socknameMode = p.Bool("sockname_mode", false)
	if mod.receivedFormat != 0 && mod.receivedFormat != 1 {
		return fmt.Errorf("path: received_format %d: want 0 or 1", mod.receivedFormat)
	}
	if mod.receivedName == "" || !validParamName(mod.receivedName) {
		return fmt.Errorf("path: received_name %q: want a URI parameter name", mod.receivedName)
	}
	mod.added = env.Metrics.NewCounter(`kemi_path_added_total`, "Path headers added to forwarded requests (two per request with enable_r2).")
	mod.receivedDst = env.Metrics.NewCounter(`kemi_path_received_routes_total`, "Requests sent to the received address of our Route (use_received).")
	mod.errors = env.Metrics.NewCounter(`kemi_path_errors_total`, "add_path functions that failed (bad argument, not a request) and received parameters that could not be used.")
	return nil
}

// ChildInit hooks into rr's loose routing once, when use_received is on
// (Kamailio loads the rr API at mod_init for it).
func (mod *Module) ChildInit(rank int) error {
	if rank != kemi.RankInit || !mod.useReceived {
		return nil
	}
	rr, ok := mod.services.Lookup(rrServiceName).(rrService)
	if !ok {
		return fmt.Errorf("path: use_received needs the rr module")
	}
	rr.OnRouted(mod.routed)
	return nil
}

var (
	_ kemi.ModIniter      = (*Module)(nil)
	_ kemi.ChildIniter    = (*Module)(nil)
	_ kemi.SendHook       = (*Module)(nil)
	_ kemi.SendHookFilter = (*Module)(nil)
)
