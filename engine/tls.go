package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// TLSConfig is the TLS setup of an engine: the [tls] table of kemi.toml,
// which carries Kamailio's tls module parameters and the profiles of its
// tls.cfg. The settings of the table itself are the defaults every
// profile inherits; Server and Client hold the further profiles by name
// (tls.cfg's [server:default] is Server["default"], [client:10.0.0.1:5061]
// is Client["10.0.0.1:5061"]). A profile whose name is not its domain
// says its domain itself (Domain), so that several profiles may share the
// domain "any" or an address, told apart by server_name.
type TLSConfig struct {
	TLSProfile
	Server map[string]TLSProfile `toml:"server"`
	Client map[string]TLSProfile `toml:"client"`
}

// TLSProfile is one TLS profile, with the key names of Kamailio's tls.cfg.
// Relative file names are taken as they are (FileConfig resolves those of
// kemi.toml against its folder).
type TLSProfile struct {
	// Domain is what the profile applies to: "default", "any" (matched
	// by server_name only) or "IP:PORT" (the local socket of a server
	// profile, the peer of a client profile). Default: the profile's
	// name.
	Domain string `toml:"domain"`
	// Method is the TLS versions: "TLSv1.2+" (the default: 1.2 and 1.3),
	// "TLSv1.2" or "TLSv1.3". Older versions are refused.
	Method string `toml:"tls_method"`
	// Certificate is a PEM file with our certificate (and its chain).
	Certificate string `toml:"certificate"`
	// PrivateKey is a PEM file with the certificate's key; default: the
	// certificate file.
	PrivateKey string `toml:"private_key"`
	// CAList is a PEM file with the CAs that peer certificates are
	// verified against; default: the system's.
	CAList string `toml:"ca_list"`
	// VerifyCertificate verifies the peer's certificate. Default: on for
	// client profiles (outbound connections), off for server profiles.
	VerifyCertificate *bool `toml:"verify_certificate"`
	// RequireCertificate refuses a client without a certificate (server
	// profiles). Default off.
	RequireCertificate *bool `toml:"require_certificate"`
	// ServerName is, for a server profile, the SNI name it answers; for a
	// client profile, the SNI name sent and verified (default: the host
	// of the next hop).
	ServerName string `toml:"server_name"`
	// ServerNameMode is how server_name matches: 0 the name only, 1 the
	// name and its subdomains, 2 its subdomains only.
	ServerNameMode int `toml:"server_name_mode"`
	// ServerID names a client profile for KSR.tls.set_connect_server_id.
	ServerID string `toml:"server_id"`
	// VerifyDepth is how many CA certificates may follow the peer's in
	// its verified chain, the trust anchor aside (OpenSSL's count).
	// Default 9, as Kamailio's.
	VerifyDepth *int `toml:"verify_depth"`
	// CipherList is the TLS 1.2 cipher suites offered, OpenSSL names
	// separated by ':' in order of preference ("ECDHE-RSA-AES128-GCM-SHA256:
	// ECDHE-RSA-AES256-GCM-SHA384"); a name Go does not offer, or an
	// OpenSSL keyword (HIGH, !aNULL), is refused at start. TLS 1.3 suites
	// are Go's own. Default: Go's.
	CipherList string `toml:"cipher_list"`
	// CRL is a file of certificate revocation lists (PEM, or one DER
	// list). When set, every certificate of a verified peer chain but the
	// trust anchor needs a current CRL of its issuer there, and must not
	// be on it (Kamailio's crl). Read again at each reload.
	CRL string `toml:"crl"`
}

// tlsHandshakeTimeout bounds a TLS handshake, accepted or opened (and
// Config.TCPMsgReadTimeout when that is shorter).
const tlsHandshakeTimeout = 5 * time.Second

// tlsHandshakeMaxBytes bounds what a peer may send before its handshake
// is done: a ClientHello and a certificate chain take a few KiB, and Go
// would take up to 256 KiB for a certificate message.
const tlsHandshakeMaxBytes = 64 << 10

// errHandshakeTooLarge is the error of a handshake over
// tlsHandshakeMaxBytes.
var errHandshakeTooLarge = fmt.Errorf("tls handshake larger than %d bytes", tlsHandshakeMaxBytes)

// handshakeBudget is a connection under a TLS one that refuses to read
// more than tlsHandshakeMaxBytes until the handshake is done.
type handshakeBudget struct {
	net.Conn
	left int         // read by the handshake only, one goroutine
	done atomic.Bool // the handshake is over: no limit
}

func (c *handshakeBudget) Read(b []byte) (int, error) {
	if c.done.Load() {
		return c.Conn.Read(b)
	}
	if c.left <= 0 {
		return 0, errHandshakeTooLarge
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}

// tlsProfile is a TLSProfile loaded: files read, defaults applied.
type tlsProfile struct {
	name     string // "server:default", "client:sip.test"
	domain   string // "default", "any" or an address
	addr     netip.AddrPort
	sni      string
	sniMode  int
	serverID string
	verify   bool
	require  bool
	leaf     *x509.Certificate
	cfg      *tls.Config
}

// tlsState is the TLS setup in force; a reload replaces it whole.
type tlsState struct {
	servers []*tlsProfile // default last
	clients []*tlsProfile // default last
}

// tlsVersions reads tls_method.
func tlsVersions(method string) (min, max uint16, err error) {
	switch strings.ToLower(strings.TrimSpace(method)) {
	case "", "tlsv1.2+":
		return tls.VersionTLS12, tls.VersionTLS13, nil
	case "tlsv1.2":
		return tls.VersionTLS12, tls.VersionTLS12, nil
	case "tlsv1.3", "tlsv1.3+":
		return tls.VersionTLS13, tls.VersionTLS13, nil
	}
	return 0, 0, fmt.Errorf("tls_method %q is refused: kemi speaks TLS 1.2 and 1.3 only (TLSv1.2+, TLSv1.2, TLSv1.3)", method)
}

// loadTLS reads every profile of c and its files. needServer says that a
// TLS listener exists, so the default server profile must have a
// certificate. Errors name the profile and the file.
func loadTLS(c *TLSConfig, needServer bool) (*tlsState, error) {
	if c == nil {
		c = &TLSConfig{}
	}
	if c.Domain != "" || c.ServerID != "" {
		return nil, errors.New("tls: domain and server_id belong to a profile ([tls.server.NAME], [tls.client.NAME]), not to [tls] itself")
	}
	st := &tlsState{}
	for _, role := range []string{"server", "client"} {
		profiles := c.Server
		if role == "client" {
			profiles = c.Client
		}
		names := make([]string, 0, len(profiles))
		for name := range profiles {
			names = append(names, name)
		}
		sort.Strings(names)
		var out []*tlsProfile
		var def *tlsProfile
		seen := map[string]string{}
		for _, name := range names {
			p, err := loadProfile(role, name, profiles[name], &c.TLSProfile)
			if err != nil {
				return nil, err
			}
			key := p.domain + "|" + strings.ToLower(p.sni)
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("tls profiles %s and %s have the same domain %s and server_name %q", other, p.name, p.domain, p.sni)
			}
			seen[key] = p.name
			if p.domain == "default" {
				def = p
				continue
			}
			out = append(out, p)
		}
		if def == nil {
			p, err := loadProfile(role, "default", TLSProfile{}, &c.TLSProfile)
			if err != nil {
				return nil, err
			}
			def = p
		}
		if role == "server" && needServer && def.cfg.Certificates == nil {
			return nil, errors.New("tls: a tls listener needs a certificate: set certificate and private_key in [tls] (or [tls.server.default])")
		}
		out = append(out, def)
		if role == "server" {
			st.servers = out
		} else {
			st.clients = out
		}
	}
	return st, nil
}

// loadProfile applies the defaults of top to p and reads its files.
func loadProfile(role, name string, p TLSProfile, top *TLSProfile) (*tlsProfile, error) {
	full := role + ":" + name
	fail := func(format string, args ...any) error {
		return fmt.Errorf("tls profile %s: %s", full, fmt.Sprintf(format, args...))
	}
	or := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	domain := or(p.Domain, name)
	lp := &tlsProfile{name: role + ":" + name, domain: domain, sni: p.ServerName, sniMode: p.ServerNameMode, serverID: p.ServerID}
	switch domain {
	case "default":
	case "any":
		if lp.sni == "" {
			return nil, fail("domain any needs a server_name")
		}
	default:
		ap, err := netip.ParseAddrPort(domain)
		if err != nil {
			return nil, fail("domain %q is neither default, any nor IP:PORT (name the profile's table as you like and set domain)", domain)
		}
		lp.addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if domain == "default" && lp.sni == "" {
		// Kamailio's server_name parameter: the SNI of the default client
		lp.sni = top.ServerName
	}
	if lp.sniMode < 0 || lp.sniMode > 2 {
		return nil, fail("server_name_mode %d: want 0, 1 or 2", lp.sniMode)
	}
	if role == "server" && lp.serverID != "" {
		return nil, fail("server_id is for client profiles")
	}
	lo, hi, err := tlsVersions(or(p.Method, top.Method))
	if err != nil {
		return nil, fail("%v", err)
	}
	lp.verify = role == "client"
	for _, b := range []*bool{top.VerifyCertificate, p.VerifyCertificate} {
		if b != nil {
			lp.verify = *b
		}
	}
	for _, b := range []*bool{top.RequireCertificate, p.RequireCertificate} {
		if b != nil {
			lp.require = *b
		}
	}
	cfg := &tls.Config{MinVersion: lo, MaxVersion: hi}
	// a profile that names its own certificate does not take the key of
	// the defaults, nor they its own
	certFile, keyFile := top.Certificate, top.PrivateKey
	if p.Certificate != "" || p.PrivateKey != "" {
		certFile, keyFile = p.Certificate, p.PrivateKey
	}
	if certFile == "" && keyFile != "" {
		return nil, fail("private_key %s without a certificate", keyFile)
	}
	if certFile != "" {
		keyFile = or(keyFile, certFile)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fail("certificate %s, private_key %s: %v", certFile, keyFile, err)
		}
		if pair.Leaf == nil {
			if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, fail("certificate %s: %v", certFile, err)
			}
		}
		lp.leaf = pair.Leaf
		cfg.Certificates = []tls.Certificate{pair}
	}
	var pool *x509.CertPool
	if ca := or(p.CAList, top.CAList); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fail("ca_list: %v", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail("ca_list %s: no PEM certificate in it", ca)
		}
	}
	if role == "server" {
		cfg.ClientCAs = pool
		switch {
		case lp.verify && lp.require:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case lp.verify:
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		case lp.require:
			cfg.ClientAuth = tls.RequireAnyClientCert
		}
	} else {
		cfg.RootCAs = pool
		cfg.InsecureSkipVerify = !lp.verify
	}
	check := &chainCheck{depth: defaultVerifyDepth, now: time.Now}
	for _, d := range []*int{top.VerifyDepth, p.VerifyDepth} {
		if d != nil {
			check.depth = *d
		}
	}
	if check.depth < 0 {
		return nil, fail("verify_depth %d: want 0 or more", check.depth)
	}
	if crl := or(p.CRL, top.CRL); crl != "" {
		if check.crls, err = loadCRLs(crl); err != nil {
			return nil, fail("crl: %v", err)
		}
	}
	cfg.VerifyPeerCertificate = check.verify
	if list := or(p.CipherList, top.CipherList); list != "" {
		if cfg.CipherSuites, err = parseCipherList(list); err != nil {
			return nil, fail("%v", err)
		}
	}
	lp.cfg = cfg
	return lp, nil
}

// nameMatches reports whether the SNI name matches a profile's
// server_name under its server_name_mode.
func (p *tlsProfile) nameMatches(name string) bool {
	if p.sni == "" || name == "" {
		return false
	}
	name, want := strings.ToLower(name), strings.ToLower(p.sni)
	sub := strings.HasSuffix(name, "."+want)
	switch p.sniMode {
	case 1:
		return name == want || sub
	case 2:
		return sub
	}
	return name == want
}

// serverProfile picks the server profile of a connection accepted on
// local that asked for sni: the socket's profile for that name, a
// profile of any address for that name, the socket's profile without a
// name, then the default.
func (s *tlsState) serverProfile(local netip.AddrPort, sni string) *tlsProfile {
	return s.pick(s.servers, local, sni, "")
}

// clientProfile picks the client profile of a connection opened to
// remote: the one with serverID, else as serverProfile does with the
// peer's address.
func (s *tlsState) clientProfile(serverID string, remote netip.AddrPort, sni string) *tlsProfile {
	return s.pick(s.clients, remote, sni, serverID)
}

func (s *tlsState) pick(ps []*tlsProfile, addr netip.AddrPort, sni, serverID string) *tlsProfile {
	if serverID != "" {
		for _, p := range ps {
			if p.serverID == serverID {
				return p
			}
		}
	}
	for _, p := range ps {
		if p.addr == addr && p.nameMatches(sni) {
			return p
		}
	}
	for _, p := range ps {
		if p.domain == "any" && p.nameMatches(sni) {
			return p
		}
	}
	for _, p := range ps {
		if p.addr == addr && p.sni == "" {
			return p
		}
	}
	return ps[len(ps)-1]
}

// needsTLS reports whether a listen spec of c is TLS or WSS.
func (c *Config) needsTLS() bool {
	specs := c.Listen
	for _, in := range c.Inherited {
		specs = append(specs[:len(specs):len(specs)], in.Spec)
	}
	for _, spec := range specs {
		ss, err := ParseListen(spec)
		if err != nil {
			continue
		}
		for _, s := range ss {
			if s.Proto == "tls" || s.Proto == "wss" {
				return true
			}
		}
	}
	return false
}

// loadTLSState loads the TLS setup of the config: at New and at each
// reload, so that renewed certificates are served without a restart.
func (e *Engine) loadTLSState() (*tlsState, error) {
	st, err := loadTLS(e.cfg.TLS, e.cfg.needsTLS())
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return st, nil
}

// handshakeTimeout is how long a TLS handshake may take.
func (e *Engine) handshakeTimeout() time.Duration {
	return min(tlsHandshakeTimeout, e.cfg.TCPMsgReadTimeout)
}

// tlsServer wraps an accepted connection for TLS: the profile is chosen
// at the handshake from the setup in force then, by local address and
// SNI.
func (t *transport) tlsServer(c net.Conn, sock *kemi.Socket) (*tls.Conn, *tlsSession) {
	budget := &handshakeBudget{Conn: c, left: tlsHandshakeMaxBytes}
	sess := &tlsSession{raw: c, budget: budget, server: true}
	base := &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			st := t.e.tls.Load()
			if st == nil {
				return nil, errors.New("tls is not set up")
			}
			p := st.serverProfile(sock.Addr, h.ServerName)
			sess.profile = p
			return p.cfg, nil
		},
	}
	return tls.Server(budget, base), sess
}

// tlsSession is what the transport keeps of a TLS connection besides the
// tls.Conn: the profile that served it, and its state once the
// handshake is done.
type tlsSession struct {
	// raw is the TCP connection under the TLS one: closing it ends the
	// connection at once, where closing the tls.Conn would first write a
	// close_notify alert, which waits behind a write to a peer that does
	// not read
	raw     net.Conn
	budget  *handshakeBudget // between the tls.Conn and raw
	server  bool
	profile *tlsProfile
	info    *kemi.TLSConn // set by handshake, before any message is read
}

// handshake completes the TLS handshake of a connection within the
// handshake timeout and keeps its state in sess; a failure is counted and
// logged, and the caller closes the connection. Go's TLS stack bounds
// what a handshake may buffer (one handshake message is at most 64 KiB).
func (t *transport) handshake(tconn *tls.Conn, sess *tlsSession, remote netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.e.handshakeTimeout())
	defer cancel()
	if err := tconn.HandshakeContext(ctx); err != nil {
		dir := "in"
		if !sess.server {
			dir = "out"
		}
		t.e.met.tlsHandshakeFailures[dir].Inc()
		t.handshakeFailed(dir, remote, err)
		return fmt.Errorf("tls handshake with %s: %w", remote, err)
	}
	sess.budget.done.Store(true)
	info := &kemi.TLSConn{State: tconn.ConnectionState(), Server: sess.server}
	if p := sess.profile; p != nil {
		info.Local, info.Profile = p.leaf, p.name
	}
	t.mu.Lock()
	sess.info = info
	t.mu.Unlock()
	return nil
}

// handshakeFailed logs a failed handshake: one we opened as a warning,
// one a peer opened as a warning at most once a minute (a flood of bad
// handshakes does not flood the log; the counter counts them all) and
// at debug level otherwise.
func (t *transport) handshakeFailed(dir string, remote netip.AddrPort, err error) {
	const msg = "tls handshake failed"
	args := []any{"remote", remote, "direction", dir, "err", err}
	if dir == "out" {
		t.e.log.Warn(msg, args...)
		return
	}
	now := time.Now().UnixNano()
	last := t.tlsWarned.Load()
	if now-last >= int64(time.Minute) && t.tlsWarned.CompareAndSwap(last, now) {
		t.e.log.Warn(msg+" (logged once a minute; kemi_core_tls_handshake_failures_total counts them)", args...)
		return
	}
	t.e.log.Debug(msg, args...)
}

// dialTLS opens a TLS connection to dst (dial's TLS half): a TCP
// connection, then the handshake with the client profile for dst, within
// the handshake timeout. The worker sending waits for it, as it waits for
// a TCP connect.
func (t *transport) dialTLS(c net.Conn, dst *kemi.Dest) (*tls.Conn, *tlsSession, error) {
	st := t.e.tls.Load()
	if st == nil {
		return nil, nil, errors.New("tls is not set up")
	}
	name := dst.Host
	if name == "" {
		name = dst.Addr.Addr().String()
	}
	p := st.clientProfile(dst.TLSServerID, dst.Addr, name)
	cfg := p.cfg.Clone()
	cfg.ServerName = name
	if p.sni != "" {
		cfg.ServerName = p.sni
	}
	budget := &handshakeBudget{Conn: c, left: tlsHandshakeMaxBytes}
	return tls.Client(budget, cfg), &tlsSession{raw: c, budget: budget, profile: p}, nil
}

// TLSConn returns the TLS session of connection id; see kemi.TLSHost.
func (e *Engine) TLSConn(id uint64) *kemi.TLSConn {
	t := e.tp
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byID[id]
	if c == nil || c.tls == nil {
		return nil
	}
	return c.tls.info
}

var _ kemi.TLSHost = (*Engine)(nil)
