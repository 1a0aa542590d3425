// Package sanity is Kamailio's sanity module: checks that a SIP message is
// well formed enough to be routed (SIP version and scheme of the R-URI,
// required headers, CSeq, Content-Length, Expires, Proxy-Require, URIs,
// digest credentials, duplicate tags, the first Via, RFC 3261 details and
// sizes) and answers a failed request with a precise error reply.
package sanity

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "sanity", Order: 60, New: func() kemi.Module { return &Module{} }})
}

// Message check bits (msg_checks), as Kamailio numbers them. Bits 1<<3
// and 1<<4 (Via version and Via protocol) are disabled in Kamailio: they
// always pass and have no constant.
const (
	checkRURIVersion   = 1 << 0  // SIP version of the request line
	checkRURIScheme    = 1 << 1  // scheme of the R-URI
	checkRequired      = 1 << 2  // required headers
	checkCSeqMethod    = 1 << 5  // CSeq method = request method
	checkCSeqValue     = 1 << 6  // CSeq number
	checkCL            = 1 << 7  // Content-Length = body size
	checkExpires       = 1 << 8  // Expires value
	checkProxyRequire  = 1 << 9  // Proxy-Require extensions
	checkParseURIs     = 1 << 10 // URIs selected by uri_checks
	checkDigest        = 1 << 11 // digest credentials (non-digest fails)
	checkDupTags       = 1 << 12 // duplicate From/To tags
	checkAuthorization = 1 << 13 // digest credentials (non-digest passes)
	checkVia1          = 1 << 14 // first Via: host and branch
	checkRFC3261       = 1 << 15 // branch cookie, lr in (Record-)Route
	checkSizes         = 1 << 16 // size limits
	// maxChecks is the first bit Kamailio does not know.
	maxChecks = 1 << 17
)

// URI check bits (uri_checks) of the parse URIs check.
const (
	uriRURI    = 1 << 0
	uriFrom    = 1 << 1
	uriTo      = 1 << 2
	uriContact = 1 << 3
	// maxURIChecks is the first bit Kamailio does not know.
	maxURIChecks = 1 << 4
)

// Kamailio's defaults: default_checks 3047 (1+2+4+32+64+128+256+512+2048)
// and uri_checks 7 (R-URI, From, To).
const (
	defaultMsgChecks = checkRURIVersion | checkRURIScheme | checkRequired | checkCSeqMethod |
		checkCSeqValue | checkCL | checkExpires | checkProxyRequire | checkDigest
	defaultURIChecks = uriRURI | uriFrom | uriTo
)

// checkNames are the metric labels, one per check that can fail.
var checkNames = []string{
	"sizes", "ruri_sip_version", "ruri_scheme", "required_headers", "via1_header",
	"rfc3261", "cseq_method", "cseq_value", "content_length", "expires_value",
	"proxy_require", "parse_uris", "digest_credentials", "authorization", "duplicate_tags",
}

// sizeLimits are the limits of the size checks; 0 disables one.
type sizeLimits struct {
	message, method, ruri, fromURI, toURI, contactURI, routeURI int
	pathURI, paiURI, header, headers, body                      int
}

// Module is the sanity module of one engine.
type Module struct {
	log *slog.Logger

	msgChecks int
	uriChecks int
	// proxyRequire are the extensions we accept in Proxy-Require.
	proxyRequire []string
	// noreply keeps the error reply for sanity_reply instead of sending it.
	noreply bool
	// sizeChecks runs the size checks on every sanity_check call.
	sizeChecks bool
	size       sizeLimits

	steps []step

	checks   *metrics.Counter
	failures map[string]*metrics.Counter
}

// ModInit reads the parameters and creates the metrics.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	p := env.Params
	mod.msgChecks = p.Int("default_checks", defaultMsgChecks)
	if mod.msgChecks < 0 || mod.msgChecks >= maxChecks {
		return fmt.Errorf("sanity: default_checks %d out of range 0..%d", mod.msgChecks, maxChecks-1)
	}
	mod.uriChecks = p.Int("uri_checks", defaultURIChecks)
	if mod.uriChecks < 0 || mod.uriChecks >= maxURIChecks {
		return fmt.Errorf("sanity: uri_checks %d out of range 0..%d", mod.uriChecks, maxURIChecks-1)
	}
	for _, item := range p.List("proxy_require") {
		for _, tok := range strings.Split(item, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				mod.proxyRequire = append(mod.proxyRequire, tok)
			}
		}
	}
	// autodrop is read (and so checked) for compatibility only: under KEMI
	// a failed check returns -1 whatever its value, as in Kamailio
	p.Bool("autodrop", true)
	mod.noreply = p.Bool("noreply", false)
	mod.sizeChecks = p.Bool("size_checks", false)
	sizes := []struct {
		name string
		dst  *int
		def  int
	}{
		{"size_message", &mod.size.message, 16384},
		{"size_method", &mod.size.method, 32},
		{"size_ruri", &mod.size.ruri, 256},
		{"size_from_uri", &mod.size.fromURI, 256},
		{"size_to_uri", &mod.size.toURI, 256},
		{"size_contact_uri", &mod.size.contactURI, 256},
		{"size_route_uri", &mod.size.routeURI, 256},
		{"size_path_uri", &mod.size.pathURI, 256},
		{"size_pai_uri", &mod.size.paiURI, 256},
		{"size_header", &mod.size.header, 2048},
		{"size_headers", &mod.size.headers, 8192},
		{"size_body", &mod.size.body, 8192},
	}
	for _, s := range sizes {
		*s.dst = p.Int(s.name, s.def)
		if *s.dst < 0 {
			return fmt.Errorf("sanity: %s %d is negative", s.name, *s.dst)
		}
	}
	mod.steps = mod.buildSteps()
	mod.checks = env.Metrics.NewCounter(`kemi_sanity_checks_total`, "sanity_check and sanity_check_defaults calls.")
	mod.failures = make(map[string]*metrics.Counter, len(checkNames))
	for _, n := range checkNames {
		mod.failures[n] = env.Metrics.NewCounter(fmt.Sprintf(`kemi_sanity_failures_total{check=%q}`, n),
			"sanity_check calls that failed, by the check that failed.")
	}
	return nil
}

var _ kemi.ModIniter = (*Module)(nil)
