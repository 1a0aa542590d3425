package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// tlsHost is a test host whose connection 7 is c.
type tlsHost struct {
	*kemitest.Host
	c *kemi.TLSConn
}

func (h tlsHost) TLSConn(id uint64) *kemi.TLSConn {
	if id == 7 {
		return h.c
	}
	return nil
}

func cert(t *testing.T, subject pkix.Name, notAfter time.Time, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4711), Subject: subject,
		NotBefore: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), NotAfter: notAfter,
		DNSNames: []string{"sip.test", "b.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		EmailAddresses: []string{"ops@sip.test"},
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestAttributes(t *testing.T) {
	caName := pkix.Name{CommonName: "Test CA", Organization: []string{"kemi"}, Country: []string{"DE"}}
	ca, caKey := cert(t, caName, time.Now().Add(time.Hour), nil, nil)
	peer, _ := cert(t, pkix.Name{CommonName: "client.test", Organization: []string{"kemi"}, OrganizationalUnit: []string{"voice"},
		Locality: []string{"Berlin"}, Province: []string{"BE"}, Country: []string{"DE"}}, time.Now().Add(-time.Minute), ca, caKey)
	self, _ := cert(t, pkix.Name{CommonName: "self.test"}, time.Now().Add(time.Hour), nil, nil)

	c := &kemi.TLSConn{
		State: tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_256_GCM_SHA384,
			ServerName: "sip.test", PeerCertificates: []*x509.Certificate{peer},
			VerifiedChains: [][]*x509.Certificate{{peer, ca}}},
		Local: ca, Server: true,
	}
	cases := map[string]kemi.Value{
		"version":                    kemi.Str("TLSv1.3"),
		"tls_version":                kemi.Str("TLSv1.3"),
		"cipher":                     kemi.Str("TLS_AES_256_GCM_SHA384"),
		"cipher_info":                kemi.Str("TLS_AES_256_GCM_SHA384"),
		"cipher_bits":                kemi.Int(256),
		"description":                kemi.Str("TLS_AES_256_GCM_SHA384 TLSv1.3"),
		"peer_verified":              kemi.Int(1),
		"peer_expired":               kemi.Int(1),
		"peer_selfsigned":            kemi.Int(0),
		"peer_server_name":           kemi.Str("sip.test"),
		"peer_subject":               kemi.Str("/C=DE/ST=BE/L=Berlin/O=kemi/OU=voice/CN=client.test"),
		"peer_issuer":                kemi.Str("/C=DE/O=kemi/CN=Test CA"),
		"peer_subject_cn":            kemi.Str("client.test"),
		"peer_subject_unit":          kemi.Str("voice"),
		"peer_subject_state":         kemi.Str("BE"),
		"peer_subject_country":       kemi.Str("DE"),
		"peer_issuer_cn":             kemi.Str("Test CA"),
		"peer_serial":                kemi.Str("4711"),
		"peer_version":               kemi.Str("3"),
		"peer_notBefore":             kemi.Str("Jan  2 03:04:05 2026 GMT"),
		"peer_san_hostname":          kemi.Str("sip.test"),
		"peer_san_ip":                kemi.Str("127.0.0.1"),
		"peer_san_email":             kemi.Str("ops@sip.test"),
		"peer_san_uri":               kemi.Null,
		"peer_san_count":             kemi.Int(4),
		"peer_subject_uid":           kemi.Null,
		"my_subject_cn":              kemi.Str("Test CA"),
		"my_subject":                 kemi.Str("/C=DE/O=kemi/CN=Test CA"),
		"tls_my_issuer_organization": kemi.Str("kemi"),
	}
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	host := tlsHost{Host: kemitest.NewHost(), c: c}
	m := &kemi.Msg{Proto: "tls", ConnID: 7, Host: host}
	for name, want := range cases {
		var a kemi.Args
		a.N, a.V[0].S = 1, name
		if got := mod.cget(m, a); got != want {
			t.Errorf("cget(%q) = %#v, want %#v", name, got, want)
		}
	}
	if got := mod.isPeerVerified(m, kemi.Args{}); got != kemi.Int(1) {
		t.Errorf("is_peer_verified = %v, want 1", got)
	}

	// a self-signed certificate, not verified
	c.State.PeerCertificates, c.State.VerifiedChains = []*x509.Certificate{self}, nil
	for name, want := range map[string]kemi.Value{"peer_selfsigned": kemi.Int(1), "peer_verified": kemi.Int(0), "peer_expired": kemi.Int(0)} {
		var a kemi.Args
		a.N, a.V[0].S = 1, name
		if got := mod.cget(m, a); got != want {
			t.Errorf("self-signed: cget(%q) = %#v, want %#v", name, got, want)
		}
	}
	if got := mod.isPeerVerified(m, kemi.Args{}); got != kemi.Int(-1) {
		t.Errorf("is_peer_verified of an unverified peer = %v, want -1", got)
	}

	// no peer certificate
	c.State.PeerCertificates = nil
	var a kemi.Args
	a.N, a.V[0].S = 1, "peer_subject"
	if got := mod.cget(m, a); !got.IsNull() {
		t.Errorf("peer_subject without a peer certificate = %#v", got)
	}
	if got := mod.isPeerVerified(m, kemi.Args{}); got != kemi.Int(-1) {
		t.Errorf("is_peer_verified without a certificate = %v, want -1", got)
	}
}

func TestNotTLS(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	host := tlsHost{Host: kemitest.NewHost(), c: &kemi.TLSConn{}}
	for _, m := range []*kemi.Msg{
		{Proto: "udp", Host: host},
		{Proto: "tcp", ConnID: 7, Host: host},
		{Proto: "tls", ConnID: 8, Host: host},               // connection gone
		{Proto: "tls", ConnID: 7, Host: kemitest.NewHost()}, // a host without TLS
	} {
		var a kemi.Args
		a.N, a.V[0].S = 1, "version"
		if got := mod.cget(m, a); !got.IsNull() {
			t.Errorf("%s conn %d: cget(version) = %#v, want nil", m.Proto, m.ConnID, got)
		}
		if got := mod.isPeerVerified(m, kemi.Args{}); got != kemi.Int(-1) {
			t.Errorf("%s conn %d: is_peer_verified = %v, want -1", m.Proto, m.ConnID, got)
		}
	}
	var a kemi.Args
	a.N, a.V[0].S = 1, "no_such_thing"
	m := &kemi.Msg{Proto: "tls", ConnID: 7, Host: host}
	if got := mod.cget(m, a); !got.IsNull() {
		t.Errorf("cget of an unknown name = %#v", got)
	}
}

func TestSetConnectServerID(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	m := &kemi.Msg{}
	var a kemi.Args
	a.N, a.V[0].S = 1, "carrier"
	if got := mod.setConnectServerID(m, a); got != kemi.Int(1) {
		t.Fatalf("set_connect_server_id = %v", got)
	}
	if got := kemi.TLSConnectServerID(m); got != "carrier" {
		t.Errorf("server id on the message %q", got)
	}
	a.V[0].S = ""
	if got := mod.setConnectServerID(m, a); got != kemi.Int(-1) {
		t.Errorf("set_connect_server_id(\"\") = %v, want -1", got)
	}
}

func TestPVsRegistered(t *testing.T) {
	pvs := kemi.NewPVTable()
	env := kemi.NewEnv("tls", kemitest.NewHost(), pvs, nil, nil, nil, nil)
	if err := (&Module{}).ModInit(env); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"$tls_peer_subject", "$tls_version", "$tls_cipher_info", "$tls_peer_verified", "$tls_my_subject_cn"} {
		if _, err := pvs.Parse(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.HasPrefix(pvClasses()[0].Name, "tls_") {
		t.Error("a class without the tls_ prefix")
	}
}
