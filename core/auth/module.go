// Package auth is Kamailio's auth module: digest authentication (RFC 2617,
// RFC 7616, RFC 8760 for SHA-256) shared by the authentication backends.
// It builds challenges (401/407 with WWW-Authenticate or
// Proxy-Authenticate), makes and checks nonces signed with a secret,
// protects against replays (nonce_count, one_time_nonce), verifies
// responses against a password held by the script (pv_*) and publishes
// the same check for auth_db under kemi.ServiceAuth.
package auth

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "auth", Order: 140, New: func() kemi.Module { return &Module{} }})
}

// Defaults of the parameters.
const (
	defaultNonceExpire = 300 * time.Second // Kamailio's nonce_expire
	defaultArraySize   = 1 << 20           // nonces tracked for nonce_count and one_time_nonce
	maxArrayOrder      = 26
	maxArraySize       = 1 << maxArrayOrder
	secretLen          = 32
)

// Failure reasons, the reason label of kemi_auth_failures_total.
const (
	reasonInvalidPassword = "invalid_password"
	reasonUserUnknown     = "user_unknown"
	reasonStaleNonce      = "stale_nonce"
	reasonNoCredentials   = "no_credentials"
	reasonRealm           = "realm"
	reasonNonceReused     = "nonce_reused"
	reasonInvalidNonce    = "invalid_nonce"
	reasonUserMismatch    = "user_mismatch"
	reasonMalformed       = "malformed"
	reasonError           = "error"
)

var reasons = []string{reasonInvalidPassword, reasonUserUnknown, reasonStaleNonce, reasonNoCredentials,
	reasonRealm, reasonNonceReused, reasonInvalidNonce, reasonUserMismatch, reasonMalformed, reasonError}

// Module is the auth module of one engine.
type Module struct {
	log  *slog.Logger
	pvs  *kemi.PVTable
	svc  *kemi.Services
	tm   kemi.StatefulReplier
	nonc *nonces

	// algs are the algorithms challenged and accepted, in order of
	// preference; auth_algorithm replaces them at run time.
	algs atomic.Pointer[algSet]

	checksReg, checksNoDlg, checksInDlg uint8
	stateless                           bool
	useDomain                           bool
	challengeAVP                        string
	wwwHeader, proxyHeader              string

	challenges *metrics.Counter
	failures   map[string]*metrics.Counter
}

// algSet is the configured algorithms. named is false for the default
// (no algorithm parameter): the challenge then names none, which means
// MD5, as Kamailio's.
type algSet struct {
	list  []algorithm
	named bool
}

// ModInit reads the parameters, makes the secret and publishes the
// digest API under kemi.ServiceAuth.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.pvs = env.PVs
	mod.svc = env.Services
	p := env.Params

	secret := p.Str("secret", "")
	expire := p.Duration("nonce_expire", defaultNonceExpire, time.Second)
	drift := p.Duration("nonce_auth_max_drift", defaultDrift*time.Second, time.Second)
	nc := p.Bool("nonce_count", true)
	otn := p.Bool("one_time_nonce", false)
	size := p.Int("nc_array_size", defaultArraySize)
	hasOrder, order := p.Has("nc_array_order"), p.Int("nc_array_order", 20)
	qop := p.Str("qop", "auth")
	alg := p.Str("algorithm", "")
	checks := []int{p.Int("auth_checks_register", 0), p.Int("auth_checks_no_dlg", 0), p.Int("auth_checks_in_dlg", 0)}
	mod.stateless = p.Bool("force_stateless_reply", false)
	mod.useDomain = p.Bool("use_domain", false)
	attr := p.Str("challenge_attr", "$digest_challenge")
	mod.wwwHeader = p.Str("www_challenge_header", "WWW-Authenticate")
	mod.proxyHeader = p.Str("proxy_challenge_header", "Proxy-Authenticate")
	if err := p.Check(); err != nil {
		return err
	}

	if expire < time.Second {
		return fmt.Errorf("auth: nonce_expire %v: want at least 1s", expire)
	}
	if hasOrder {
		// checked before the shift: a negative order panics, a large one wraps
		if order < 0 || order > maxArrayOrder {
			return fmt.Errorf("auth: nc_array_order %d: want 0..%d", order, maxArrayOrder)
		}
		size = 1 << order
	}
	if size < 1 || size > maxArraySize {
		return fmt.Errorf("auth: nc_array_size %d: want 1..%d", size, maxArraySize)
	}
	for _, c := range checks {
		// compared as ints: a uint8 would make 256 a silent 0
		if c < 0 || c&^int(checksMask) != 0 {
			return fmt.Errorf("auth: auth_checks value %d: want a sum of 1, 2, 4, 8", c)
		}
	}
	mod.checksReg, mod.checksNoDlg, mod.checksInDlg = uint8(checks[0]), uint8(checks[1]), uint8(checks[2])
	switch strings.ToLower(qop) {
	case "auth", "auth-int":
	case "":
		nc = false // as Kamailio: no qop, no nonce count
	default:
		return fmt.Errorf("auth: qop %q: want auth, auth-int or empty", qop)
	}
	set, err := parseAlgorithms(alg)
	if err != nil {
		return err
	}
	mod.algs.Store(set)
	if !strings.HasPrefix(attr, "$") || len(attr) < 2 {
		return fmt.Errorf("auth: challenge_attr %q: want an AVP such as $digest_challenge", attr)
	}
	mod.challengeAVP = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(attr[1:], "avp("), "("), ")")

	key := []byte(secret)
	if secret == "" {
		key = make([]byte, secretLen)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("auth: random secret: %w", err)
		}
	}
	var inst [4]byte
	if _, err := rand.Read(inst[:]); err != nil {
		return fmt.Errorf("auth: random instance: %w", err)
	}
	arr := size
	if env.DryRun {
		arr = 1 // kemi check: no memory for a run that serves nothing
	}
	mod.nonc = newNonces(nonceConfig{
		secret: key, randomSecret: secret == "", expire: expire,
		instance: binary.BigEndian.Uint32(inst[:]), ncEnabled: nc, otnEnabled: otn, arraySize: arr,
	})
	mod.nonc.drift = int64(drift / time.Second)

	mod.challenges = env.Metrics.NewCounter("kemi_auth_challenges_total",
		"Digest challenges made (401/407 replies, challenge headers for the script).")
	mod.failures = make(map[string]*metrics.Counter, len(reasons))
	for _, r := range reasons {
		mod.failures[r] = env.Metrics.NewCounter(fmt.Sprintf(`kemi_auth_failures_total{reason=%q}`, r),
			"Digest authentications that failed, by reason.")
	}
	return env.Services.Provide(kemi.ServiceAuth, kemi.DigestAuth(mod))
}

// ChildInit finds tm, for stateful challenges.
func (mod *Module) ChildInit(rank int) error {
	if rank == kemi.RankInit {
		mod.tm, _ = mod.svc.Lookup(kemi.ServiceTM).(kemi.StatefulReplier)
	}
	return nil
}

// parseAlgorithms reads the algorithm parameter: empty (MD5, not named
// in the challenge, as Kamailio), one algorithm, or kemi's list of
// several ("SHA-256,MD5"), challenged in that order.
func parseAlgorithms(s string) (*algSet, error) {
	if strings.TrimSpace(s) == "" {
		a, _ := lookupAlgorithm(MD5)
		return &algSet{list: []algorithm{a}}, nil
	}
	set := &algSet{named: true}
	for _, name := range strings.Split(s, ",") {
		a, ok := lookupAlgorithm(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("auth: algorithm %q: want MD5, SHA-256 or both (\"SHA-256,MD5\")", strings.TrimSpace(name))
		}
		for _, have := range set.list {
			if have.name == a.name {
				return nil, fmt.Errorf("auth: algorithm %s listed twice", a.name)
			}
		}
		set.list = append(set.list, a)
	}
	return set, nil
}

func (mod *Module) fail(reason string) {
	if c := mod.failures[reason]; c != nil {
		c.Inc()
	}
}

var (
	_ kemi.ModIniter   = (*Module)(nil)
	_ kemi.ChildIniter = (*Module)(nil)
	_ kemi.DigestAuth  = (*Module)(nil)
)
