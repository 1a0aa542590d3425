package engine_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// crl writes to file a CRL of p listing the certificates of certFiles,
// valid until next.
func (p *testPKI) crl(file string, next time.Time, certFiles ...string) string {
	t := p.t
	t.Helper()
	var revoked []x509.RevocationListEntry
	for _, f := range certFiles {
		revoked = append(revoked, x509.RevocationListEntry{SerialNumber: pair(t, f, strings.TrimSuffix(f, ".pem")+".key").Leaf.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	serials++
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(serials), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: next,
		RevokedCertificateEntries: revoked,
	}, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(p.dir, file)
	writePEM(t, file, "X509 CRL", der)
	return file
}

// chainFile writes the certificate certFile followed by the CA
// certificates of cas, for a peer that sends its chain.
func chainFile(t *testing.T, certFile string, cas ...*testPKI) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range cas {
		c, err := os.ReadFile(ca.caFile())
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, c...)
	}
	out := strings.TrimSuffix(certFile, ".pem") + "-chain.pem"
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTLSCRL: with crl, a client whose certificate is revoked is refused,
// one that is not is served; a chain without a current CRL of its issuer
// (none in the file, or expired) is refused, as OpenSSL's CRL_CHECK_ALL
// under Kamailio's crl.
func TestTLSCRL(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	other := newPKI(t, dir, "other")
	cert, key := ca.issue("server", "sip.test", "sip.test")
	good, goodKey := ca.issue("good", "good.test")
	bad, badKey := ca.issue("bad", "bad.test")
	// last month's CRL left in the file beside the current one
	both := filepath.Join(dir, "both.crl")
	old, _ := os.ReadFile(ca.crl("old-in-both.crl", time.Now().Add(-time.Minute)))
	cur, _ := os.ReadFile(ca.crl("cur-in-both.crl", time.Now().Add(time.Hour), bad))
	if err := os.WriteFile(both, append(old, cur...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		crl       string
		good, bad bool // served
	}{
		{"revoked", ca.crl("ca.crl", time.Now().Add(time.Hour), bad), true, false},
		{"no CRL of the issuer", other.crl("other.crl", time.Now().Add(time.Hour)), false, false},
		{"expired CRL", ca.crl("old.crl", time.Now().Add(-time.Minute)), false, false},
		{"an expired CRL beside the current one", both, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{
				Server: map[string]engine.TLSProfile{"default": {
					Certificate: cert, PrivateKey: key, CAList: ca.caFile(), CRL: tc.crl,
					VerifyCertificate: boolp(true), RequireCertificate: boolp(true),
				}},
			}))
			for _, c := range []struct {
				who, cert, key string
				want           bool
			}{{"good", good, goodKey, tc.good}, {"bad", bad, badKey, tc.bad}} {
				before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="in"}`)
				msg, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test",
					Certificates: []tls.Certificate{pair(t, c.cert, c.key)}})
				served := err == nil && header(msg, "X-Verified") == "1"
				if served != c.want {
					t.Errorf("client %s: served %v (%v), want %v\n%s", c.who, served, err, c.want, s.Logs())
				}
				if !c.want {
					waitFailures(t, s, before+1, 5*time.Second)
				}
			}
		})
	}
}

// TestTLSVerifyDepth: a client sending its certificate and an
// intermediate CA is served with verify_depth 1 (the default, 9, too),
// refused with 0, as OpenSSL counts depth. The intermediate's CRL is
// checked as well as the root's when both are in crl.
func TestTLSVerifyDepth(t *testing.T) {
	dir := t.TempDir()
	root := newPKI(t, dir, "root")
	inter := newCA(t, dir, "inter", root)
	cert, key := root.issue("server", "sip.test", "sip.test")
	leaf, leafKey := inter.issue("leaf", "leaf.test")
	chain := chainFile(t, leaf, inter)
	// one file with both CRLs, the leaf revoked in the last case only
	crls := func(name string, revoked ...string) string {
		b, _ := os.ReadFile(root.crl(name+"-root.crl", time.Now().Add(time.Hour)))
		c, _ := os.ReadFile(inter.crl(name+"-inter.crl", time.Now().Add(time.Hour), revoked...))
		file := filepath.Join(dir, name+".crl")
		if err := os.WriteFile(file, append(b, c...), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	for _, tc := range []struct {
		name  string
		depth *int
		crl   string
		want  bool
	}{
		{"default depth", nil, "", true},
		{"depth 1", intp(1), "", true},
		{"depth 0", intp(0), "", false},
		{"CRLs of both CAs", nil, crls("both"), true},
		{"leaf revoked by the intermediate", nil, crls("revoked", leaf), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{
				Server: map[string]engine.TLSProfile{"default": {
					Certificate: cert, PrivateKey: key, CAList: root.caFile(), VerifyDepth: tc.depth, CRL: tc.crl,
					VerifyCertificate: boolp(true), RequireCertificate: boolp(true),
				}},
			}))
			msg, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: root.pool(), ServerName: "sip.test",
				Certificates: []tls.Certificate{pair(t, chain, leafKey)}})
			served := err == nil && header(msg, "X-Verified") == "1"
			if served != tc.want {
				t.Errorf("served %v (%v), want %v\n%s", served, err, tc.want, s.Logs())
			}
		})
	}
}

func intp(n int) *int { return &n }

// TestTLSCipherList: cipher_list limits the TLS 1.2 suites kemi takes; a
// peer with none of them fails the handshake; OpenSSL keywords and
// ciphers Go does not offer are refused at start.
func TestTLSCipherList(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{TLSProfile: engine.TLSProfile{
		Certificate: cert, PrivateKey: key, Method: "TLSv1.2",
		CipherList: "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
	}}))
	for _, tc := range []struct {
		name  string
		offer []uint16
		want  uint16 // 0: refused
	}{
		{"one of the list", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
		{"the second", []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{"none of them", []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, st, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test",
				MaxVersion: tls.VersionTLS12, CipherSuites: tc.offer})
			if tc.want == 0 {
				if err == nil {
					t.Errorf("served with %s", tls.CipherSuiteName(st.CipherSuite))
				}
				return
			}
			if err != nil || st.CipherSuite != tc.want || header(msg, "X-Cipher") != tls.CipherSuiteName(tc.want) {
				t.Errorf("suite %s, X-Cipher %q (%v), want %s", tls.CipherSuiteName(st.CipherSuite), header(msg, "X-Cipher"), err, tls.CipherSuiteName(tc.want))
			}
		})
	}

	bad := []struct{ list, want string }{
		{"HIGH:!aNULL", `"HIGH" is an OpenSSL keyword`},
		{"ECDHE-RSA-AES128-GCM-SHA256:!MD5", `"!MD5" is an OpenSSL keyword`},
		{"TLS_AES_128_GCM_SHA256", "a TLS 1.3 suite"},
		{"DES-CBC3-SHA", "not a TLS 1.2 cipher Go offers"},
		{"::", "cipher_list is empty"},
	}
	for _, b := range bad {
		_, err := engine.New(engine.Config{Listen: []string{"udp:127.0.0.1:0", "tls:127.0.0.1:0"}, Script: []byte(tlsScript), ScriptPath: "test.lua",
			TLS: &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key, CipherList: b.list}}})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("cipher_list %q: %v, want an error with %q", b.list, err, b.want)
		}
	}
}

// TestTLSCRLOutbound: a client profile's crl refuses a peer whose
// certificate is revoked; the forward fails and one to a peer not listed
// goes out.
func TestTLSCRLOutbound(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	goodCert, goodKey := ca.issue("good", "good.test", "127.0.0.1")
	badCert, badKey := ca.issue("bad", "bad.test", "127.0.0.1")
	good, goodMsgs, _ := goTLSServer(t, pair(t, goodCert, goodKey), nil)
	bad, badMsgs, _ := goTLSServer(t, pair(t, badCert, badKey), nil)
	script := `
function ksr_request_route()
	KSR.pv.sets("$du", KSR.hdr.get("X-Next"))
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(503, "Forward Failed")
		return
	end
	KSR.sl.sl_send_reply(200, "Forwarded")
end
`
	kemiCert, kemiKey := ca.issue("kemi", "kemi.test", "127.0.0.1")
	s := enginetest.Start(t, script, withTLS(&engine.TLSConfig{
		TLSProfile: engine.TLSProfile{Certificate: kemiCert, PrivateKey: kemiKey},
		Client: map[string]engine.TLSProfile{"default": {
			CAList: ca.caFile(), CRL: ca.crl("ca.crl", time.Now().Add(time.Hour), badCert),
		}},
	}))
	for _, tc := range []struct {
		name string
		peer uint16
		msgs chan string
		want string
	}{
		{"not revoked", good.Port(), goodMsgs, "SIP/2.0 200 Forwarded"},
		{"revoked", bad.Port(), badMsgs, "SIP/2.0 503 Forward Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := strings.Replace(sipOptions("UDP", "crl-"+tc.name[:3]), "Content-Length: 0\r\n",
				"X-Next: sip:127.0.0.1:"+strconv.Itoa(int(tc.peer))+";transport=tls\r\nContent-Length: 0\r\n", 1)
			if got := sendUDP(t, s, req, tc.want); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want %s\n%s", got, tc.want, s.Logs())
			}
			if tc.name == "revoked" && !strings.Contains(s.Logs(), `certificate \"CN=bad.test,O=kemi test\" (serial`) {
				t.Errorf("no log of the revoked certificate:\n%s", s.Logs())
			}
			select {
			case msg := <-tc.msgs:
				if tc.want != "SIP/2.0 200 Forwarded" {
					t.Errorf("the revoked peer got:\n%s", msg)
				}
			case <-time.After(time.Second):
				if tc.want == "SIP/2.0 200 Forwarded" {
					t.Errorf("the peer got nothing\n%s", s.Logs())
				}
			}
		})
	}
}
