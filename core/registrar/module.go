// Package registrar is Kamailio's registrar module: it handles REGISTER
// requests (save), finds where a user is registered (lookup) and answers
// questions about registrations (registered, $ulc), on top of the
// location table usrloc publishes as kemi.ServiceUsrloc.
package registrar

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "registrar", Order: 130, New: func() kemi.Module { return &Module{} }})
}

// config holds the module parameters, with Kamailio's names and defaults.
type config struct {
	// these four may change at run time (cfg.set registrar ...)
	defaultExpires kemi.CfgInt
	minExpires     kemi.CfgInt
	maxExpires     kemi.CfgInt
	maxContacts    kemi.CfgInt
	minExpiresMode int
	defaultQ       int
	caseSensitive  bool
	appendBranches bool
	methodFilter   bool
	usePath        bool
	pathMode       int
	pathUseRcv     bool
	retryAfter     int
	realmPrefix    string
	receivedParam  string
	receivedAVP    string
	contactMaxSize int
	useExpired     bool
	sockFlag       int
	sockHdrName    string
}

// cseqDelay is usrloc's cseq_delay: a REGISTER repeating the CSeq of a
// binding within it is a retransmission, later an error.
const cseqDelay = 20 * time.Second

// Path modes (path_mode), as Kamailio's.
const (
	pathModeOff     = 0 // never add Path to the reply
	pathModeLazy    = 1 // add it when the UA supports "path"
	pathModeStrict  = 2 // refuse with 420 when the UA does not support "path"
	defaultPathMode = pathModeStrict
)

// Module is the registrar module of one engine.
type Module struct {
	log *slog.Logger
	svc *kemi.Services
	tm  kemi.StatefulReplier
	cfg config

	loc      atomic.Pointer[locationRef]
	accepted *metrics.Counter
	rejected *metrics.Counter

	// ruids makes binding ids unique: a random node token, the start time
	// and a counter, as Kamailio's sruid ("uloc-<time>-<pid>-<n>").
	ruidPrefix string
	ruidSeq    atomic.Uint64

	// profiles are the reg_fetch_contacts results of each worker: like
	// Kamailio's per-process profiles they stay until freed or fetched
	// again.
	profMu   sync.Mutex
	profiles map[*kemi.Proc]map[string]*profile
}

// locationRef wraps the Location so that it can live in an atomic.Pointer.
type locationRef struct{ kemi.Location }

// ModInit reads the parameters, creates the metrics and declares $ulc.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.svc = env.Services
	p := env.Params
	mod.cfg = config{
		minExpiresMode: p.Int("min_expires_mode", 0),
		defaultQ:       p.Int("default_q", -1),
		caseSensitive:  p.Int("case_sensitive", 0) != 0,
		appendBranches: p.Int("append_branches", 1) != 0,
		methodFilter:   p.Int("method_filtering", 0) != 0,
		usePath:        p.Int("use_path", 0) != 0,
		pathMode:       p.Int("path_mode", defaultPathMode),
		pathUseRcv:     p.Int("path_use_received", 0) != 0,
		retryAfter:     p.Int("retry_after", 0),
		realmPrefix:    p.Str("realm_prefix", ""),
		receivedParam:  p.Str("received_param", "received"),
		receivedAVP:    p.Str("received_avp", ""),
		contactMaxSize: p.Int("contact_max_size", 512),
		useExpired:     p.Int("use_expired_contacts", 0) != 0,
		sockFlag:       p.Int("sock_flag", -1),
		sockHdrName:    p.Str("sock_hdr_name", ""),
	}
	c := &mod.cfg
	defaultExpires, minExpires := p.Int("default_expires", 3600), p.Int("min_expires", 60)
	maxExpires, maxContacts := p.Int("max_expires", 0), p.Int("max_contacts", 0)
	switch {
	case defaultExpires < 0:
		return fmt.Errorf("registrar: default_expires %d: must not be negative", defaultExpires)
	case minExpires < 0:
		return fmt.Errorf("registrar: min_expires %d: must not be negative", minExpires)
	case maxExpires < 0 || maxExpires != 0 && maxExpires < minExpires:
		return fmt.Errorf("registrar: max_expires %d: must be 0 (no limit) or at least min_expires %d", maxExpires, minExpires)
	case c.defaultQ < -1 || c.defaultQ > 1000:
		return fmt.Errorf("registrar: default_q %d: must be -1 (unset) or 0..1000", c.defaultQ)
	case maxContacts < 0:
		return fmt.Errorf("registrar: max_contacts %d: must not be negative", maxContacts)
	case c.pathMode < pathModeOff || c.pathMode > pathModeStrict:
		return fmt.Errorf("registrar: path_mode %d: must be 0, 1 or 2", c.pathMode)
	case c.sockFlag < -1 || c.sockFlag > 31:
		return fmt.Errorf("registrar: sock_flag %d: must be -1 (off) or 0..31", c.sockFlag)
	case c.sockFlag >= 0 && c.sockHdrName == "":
		return fmt.Errorf("registrar: sock_flag needs sock_hdr_name")
	}
	c.defaultExpires.Store(int64(defaultExpires))
	c.minExpires.Store(int64(minExpires))
	c.maxExpires.Store(int64(maxExpires))
	c.maxContacts.Store(int64(maxContacts))
	// registrar's cfg group, in seconds and contacts; a change applies to
	// the next REGISTER
	const most = 1<<31 - 1
	env.AddCfg(c.defaultExpires.Var("registrar", "default_expires", "Expires of a contact that gives none, in seconds.", 0, most))
	// min_expires and max_expires are checked against each other as at
	// load: max_expires is 0 or at least min_expires
	minVar := c.minExpires.Var("registrar", "min_expires", "Lowest expires accepted, in seconds; a lower one is raised to it (or refused, min_expires_mode 1).", 0, most)
	setMin := minVar.Set
	minVar.Set = func(v kemi.Value) error {
		if max := c.maxExpires.Load(); max != 0 && v.Int > max {
			return fmt.Errorf("min_expires must be at most max_expires %d (is %d)", max, v.Int)
		}
		return setMin(v)
	}
	maxVar := c.maxExpires.Var("registrar", "max_expires", "Highest expires granted, in seconds; 0 is no limit.", 0, most)
	setMax := maxVar.Set
	maxVar.Set = func(v kemi.Value) error {
		if min := c.minExpires.Load(); v.Int != 0 && v.Int < min {
			return fmt.Errorf("max_expires must be 0 (no limit) or at least min_expires %d (is %d)", min, v.Int)
		}
		return setMax(v)
	}
	env.AddCfg(minVar)
	env.AddCfg(maxVar)
	env.AddCfg(c.maxContacts.Var("registrar", "max_contacts", "Most contacts one AOR may register; 0 is no limit.", 0, most))
	c.receivedAVP = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(c.receivedAVP, "$avp("), "s:"), ")")
	mod.accepted = env.Metrics.NewCounter(`kemi_registrar_accepted_total`,
		"REGISTER requests save accepted (Kamailio's accepted_regs).")
	mod.rejected = env.Metrics.NewCounter(`kemi_registrar_rejected_total`,
		"REGISTER requests save refused (Kamailio's rejected_regs).")
	token := make([]byte, 3)
	_, _ = rand.Read(token)
	mod.ruidPrefix = fmt.Sprintf("uloc-%x-%s-", time.Now().Unix(), hex.EncodeToString(token))
	mod.profiles = map[*kemi.Proc]map[string]*profile{}
	return registerPVs(env.PVs, mod)
}

// ChildInit finds tm and usrloc once every module has published its
// services.
func (mod *Module) ChildInit(rank int) error {
	if rank != kemi.RankInit {
		return nil
	}
	mod.tm, _ = mod.svc.Lookup(kemi.ServiceTM).(kemi.StatefulReplier)
	if loc, ok := mod.svc.Lookup(kemi.ServiceUsrloc).(kemi.Location); ok {
		mod.loc.Store(&locationRef{loc})
	}
	return nil
}

// location returns usrloc's Location, looking for it again when it was
// not there at ChildInit; nil (with an error log) when no module provides
// one.
func (mod *Module) location(m *kemi.Msg, fn string) kemi.Location {
	if r := mod.loc.Load(); r != nil {
		return r.Location
	}
	if loc, ok := mod.svc.Lookup(kemi.ServiceUsrloc).(kemi.Location); ok {
		mod.loc.Store(&locationRef{loc})
		return loc
	}
	m.Errorf(mod.log, "registrar: %s: no location table: load the usrloc module", fn)
	return nil
}

// newRUID returns a fresh binding id.
func (mod *Module) newRUID() string {
	return mod.ruidPrefix + fmt.Sprintf("%08x", mod.ruidSeq.Add(1))
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
)
