package engine_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/all"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// testPKI is a CA made by a test, and the certificates it issues, as PEM
// files in a temporary folder.
type testPKI struct {
	t    testing.TB
	dir  string
	name string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serials int64 = 100

func newPKI(t testing.TB, dir, name string) *testPKI {
	t.Helper()
	return newCA(t, dir, name, nil)
}

// newCA makes a CA that can sign certificates and CRLs: a root, or one
// that parent issues (an intermediate).
func newCA(t testing.TB, dir, name string, parent *testPKI) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serials++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"kemi test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &testPKI{t: t, dir: dir, name: name, cert: cert, key: key}
	writePEM(t, p.caFile(), "CERTIFICATE", der)
	return p
}

// serverPKI makes a CA and a server certificate for sip.test.
func serverPKI(t testing.TB) (ca *testPKI, cert, key string) {
	t.Helper()
	ca = newPKI(t, t.TempDir(), "ca")
	cert, key = ca.issue("server", "sip.test", "sip.test")
	return ca, cert, key
}

func (p *testPKI) caFile() string { return filepath.Join(p.dir, p.name+"-ca.pem") }

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a certificate for cn (and the names and addresses given)
// and writes it and its key to file.pem and file.key.
func (p *testPKI) issue(file, cn string, names ...string) (certFile, keyFile string) {
	t := p.t
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serials++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"kemi test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, file+".pem"), filepath.Join(p.dir, file+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

// pair loads a certificate issue wrote, for a Go peer.
func pair(t testing.TB, certFile, keyFile string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func boolp(b bool) *bool { return &b }

// withTLS listens on udp and tls and sets the TLS configuration.
func withTLS(c *engine.TLSConfig) enginetest.Option {
	return enginetest.WithConfig(func(cfg *engine.Config) {
		cfg.Listen = []string{"udp:127.0.0.1:0", "tls:127.0.0.1:0"}
		cfg.TLS = c
	})
}

// tlsScript answers every request with what the script sees of its TLS
// connection, in X- headers.
const tlsScript = `
function ksr_request_route()
	KSR.hdr.append_to_reply("X-Proto: " .. tostring(KSR.pv.get("$pr")) .. "\r\n")
	KSR.hdr.append_to_reply("X-Subject: " .. tostring(KSR.pv.get("$tls_peer_subject")) .. "\r\n")
	KSR.hdr.append_to_reply("X-Verified: " .. tostring(KSR.tls.is_peer_verified()) .. "\r\n")
	KSR.hdr.append_to_reply("X-PV-Verified: " .. tostring(KSR.pv.get("$tls_peer_verified")) .. "\r\n")
	KSR.hdr.append_to_reply("X-Cipher: " .. tostring(KSR.tls.cget("cipher")) .. "\r\n")
	KSR.hdr.append_to_reply("X-Version: " .. tostring(KSR.tls.cget("tls_version")) .. "\r\n")
	KSR.hdr.append_to_reply("X-My-CN: " .. tostring(KSR.pv.get("$tls_my_subject_cn")) .. "\r\n")
	KSR.hdr.append_to_reply("X-SNI: " .. tostring(KSR.pv.get("$tls_peer_server_name")) .. "\r\n")
	KSR.sl.sl_send_reply(200, "OK")
end
`

// waitFailures waits until the inbound handshake failures reach want.
func waitFailures(t *testing.T, s *enginetest.Server, want float64, timeout time.Duration) {
	t.Helper()
	const series = `kemi_core_tls_handshake_failures_total{direction="in"}`
	if got := s.WaitMetric(series, want, timeout); got != want {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// sipOptions is an OPTIONS request over proto, with Call-ID id.
func sipOptions(proto, id string) string {
	return "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/" + proto + " 127.0.0.1:5999;branch=z9hG4bK-" + id + ";rport\r\n" +
		"From: <sip:alice@test>;tag=" + id + "\r\n" +
		"To: <sip:kemi@127.0.0.1>\r\n" +
		"Call-ID: " + id + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// readSIP reads one SIP message without a body from r.
func readSIP(t testing.TB, c net.Conn, r *bufio.Reader) (string, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		if line == "\r\n" {
			return b.String(), nil
		}
	}
}

// header returns the value of header name in msg.
func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// optionsOverTLS dials the engine's tls listener with cfg, sends an
// OPTIONS and returns the reply and the session.
func optionsOverTLS(t *testing.T, s *enginetest.Server, cfg *tls.Config) (string, tls.ConnectionState, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr("tls").String(), cfg)
	if err != nil {
		return "", tls.ConnectionState{}, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, sipOptions("TLS", strconv.FormatInt(time.Now().UnixNano(), 36))); err != nil {
		return "", c.ConnectionState(), err
	}
	msg, err := readSIP(t, c, bufio.NewReader(c))
	return msg, c.ConnectionState(), err
}

func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	cert, key := ca.issue("server", "sip.test", "sip.test", "127.0.0.1")
	otherCert, otherKey := ca.issue("other", "other.test", "other.test")
	clientCert, clientKey := ca.issue("client", "client.test")
	stranger := newPKI(t, dir, "stranger")
	strangerCert, strangerKey := stranger.issue("stranger", "stranger.test")

	s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{
		TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key, CAList: ca.caFile(), VerifyCertificate: boolp(true)},
		Server: map[string]engine.TLSProfile{
			"other": {Domain: "any", ServerName: "other.test", Certificate: otherCert, PrivateKey: otherKey},
		},
	}))

	t.Run("no client certificate", func(t *testing.T) {
		msg, st, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"})
		if err != nil {
			t.Fatalf("OPTIONS over TLS: %v", err)
		}
		if !strings.HasPrefix(msg, "SIP/2.0 200 OK") {
			t.Fatalf("reply:\n%s", msg)
		}
		want := map[string]string{
			"X-Proto": "tls", "X-Subject": "nil", "X-Verified": "-1", "X-PV-Verified": "0",
			"X-Cipher": tls.CipherSuiteName(st.CipherSuite), "X-Version": "TLSv1.3",
			"X-My-CN": "sip.test", "X-SNI": "sip.test",
		}
		for k, v := range want {
			if got := header(msg, k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if via := header(msg, "Via"); !strings.HasPrefix(via, "SIP/2.0/TLS 127.0.0.1:5999") {
			t.Errorf("Via of the reply %q", via)
		}
	})

	t.Run("verified client certificate", func(t *testing.T) {
		msg, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test",
			Certificates: []tls.Certificate{pair(t, clientCert, clientKey)}})
		if err != nil {
			t.Fatal(err)
		}
		if got := header(msg, "X-Subject"); got != "/O=kemi test/CN=client.test" {
			t.Errorf("$tls_peer_subject = %q", got)
		}
		if got := header(msg, "X-Verified"); got != "1" {
			t.Errorf("is_peer_verified = %q, want 1", got)
		}
		if got := header(msg, "X-PV-Verified"); got != "1" {
			t.Errorf("$tls_peer_verified = %q, want 1", got)
		}
	})

	t.Run("TLS 1.2", func(t *testing.T) {
		msg, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test", MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		if got := header(msg, "X-Version"); got != "TLSv1.2" {
			t.Errorf("version %q", got)
		}
	})

	t.Run("SNI picks the certificate", func(t *testing.T) {
		for _, c := range []struct{ sni, cn string }{{"other.test", "other.test"}, {"sip.test", "sip.test"}, {"", "sip.test"}} {
			cfg := &tls.Config{RootCAs: ca.pool(), ServerName: c.sni}
			if c.sni == "" {
				cfg.ServerName = "127.0.0.1" // an IP address sends no SNI
			}
			msg, st, err := optionsOverTLS(t, s, cfg)
			if err != nil {
				t.Fatalf("SNI %q: %v", c.sni, err)
			}
			if got := st.PeerCertificates[0].Subject.CommonName; got != c.cn {
				t.Errorf("SNI %q: certificate %s, want %s", c.sni, got, c.cn)
			}
			if got := header(msg, "X-My-CN"); got != c.cn {
				t.Errorf("SNI %q: $tls_my_subject_cn %q, want %s", c.sni, got, c.cn)
			}
		}
	})

	t.Run("handshake failures are counted", func(t *testing.T) {
		before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="in"}`)
		// a certificate of a CA the engine does not know (sent although
		// the engine names the CAs it accepts)
		strange := pair(t, strangerCert, strangerKey)
		_, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test",
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strange, nil }})
		if err == nil {
			t.Error("a client certificate of an unknown CA was accepted")
		}
		waitFailures(t, s, before+1, 5*time.Second)
		// TLS 1.1 is refused
		_, _, err = optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			t.Error("TLS 1.1 was accepted")
		}
		waitFailures(t, s, before+2, 5*time.Second)
		// plain text on the TLS port
		c, err := net.Dial("tcp", s.Addr("tls").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, sipOptions("TCP", "plain"))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, _ := io.ReadAll(c); strings.Contains(string(b), "SIP/2.0") {
			t.Errorf("plain SIP on the TLS port was answered: %q", b)
		}
		waitFailures(t, s, before+3, 5*time.Second)
		if !strings.Contains(s.Logs(), "tls handshake failed") {
			t.Error("the failure was not logged")
		}
	})

	t.Run("a handshake too large is closed", func(t *testing.T) {
		before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="in"}`)
		c, err := net.Dial("tcp", s.Addr("tls").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// a ClientHello of 65535 bytes, the most Go would take, in
		// records of 16 KiB: the engine stops reading at 64 KiB
		hello := make([]byte, 4+65535)
		hello[0], hello[1], hello[2], hello[3] = 1, 0x00, 0xff, 0xff
		sent := 0
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for len(hello) > 0 {
			n := min(len(hello), 16384)
			rec := append([]byte{22, 3, 1, byte(n >> 8), byte(n)}, hello[:n]...)
			if _, err := c.Write(rec); err != nil {
				break
			}
			sent += len(rec)
			hello = hello[n:]
		}
		waitFailures(t, s, before+1, 5*time.Second)
		if !strings.Contains(s.Logs(), "tls handshake larger than 65536 bytes") {
			t.Errorf("sent %d bytes; the log does not say the handshake was too large", sent)
		}
	})

	t.Run("a stalled handshake is closed", func(t *testing.T) {
		before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="in"}`)
		c, err := net.Dial("tcp", s.Addr("tls").String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the engine sent something to a peer that never said hello")
		}
		if d := time.Since(start); d > 7*time.Second {
			t.Errorf("closed after %v, want about 5s", d)
		}
		waitFailures(t, s, before+1, 5*time.Second)
	})
}

func TestTLSRequireCertificate(t *testing.T) {
	ca, cert, key := serverPKI(t)
	clientCert, clientKey := ca.issue("client", "client.test")
	s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{
		Server: map[string]engine.TLSProfile{"default": {
			Certificate: cert, PrivateKey: key, CAList: ca.caFile(),
			VerifyCertificate: boolp(true), RequireCertificate: boolp(true),
		}},
	}))
	before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="in"}`)
	_, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"})
	if err == nil {
		t.Error("a client without a certificate was served")
	}
	waitFailures(t, s, before+1, 5*time.Second)
	msg, _, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test",
		Certificates: []tls.Certificate{pair(t, clientCert, clientKey)}})
	if err != nil || header(msg, "X-Verified") != "1" {
		t.Errorf("client with a certificate: %v\n%s", err, msg)
	}
}

// goTLSServer is a SIP peer over TLS: it accepts connections, verifying
// the client's certificate against ca, and passes on every request it
// reads.
func goTLSServer(t *testing.T, cert tls.Certificate, clientCA *x509.CertPool) (netip.AddrPort, chan string, chan tls.ConnectionState) {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != nil {
		cfg.ClientCAs, cfg.ClientAuth = clientCA, tls.RequireAndVerifyClientCert
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msgs, states := make(chan string, 10), make(chan tls.ConnectionState, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				states <- tc.ConnectionState()
				r := bufio.NewReader(c)
				for {
					msg, err := readSIP(t, c, r)
					if err != nil {
						return
					}
					msgs <- msg
					if strings.HasPrefix(msg, "SIP/2.0") {
						continue
					}
					if _, err := io.WriteString(c, reply(msg, 200, "OK")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), msgs, states
}

// sendUDP sends text to the engine's UDP socket and returns the first
// reply that starts with want, or the last one received.
func sendUDP(t *testing.T, s *enginetest.Server, text, want string) string {
	t.Helper()
	c, err := net.Dial("udp", s.UDP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
	b := make([]byte, 65536)
	last := ""
	for {
		n, err := c.Read(b)
		if err != nil {
			return last
		}
		if last = string(b[:n]); strings.HasPrefix(last, want) {
			return last
		}
	}
}

func TestTLSOutbound(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	kemiCert, kemiKey := ca.issue("kemi", "kemi.test", "127.0.0.1")
	peerCert, peerKey := ca.issue("peer", "peer.test", "127.0.0.1", "peer.test")
	stranger := newPKI(t, dir, "stranger")
	badCert, badKey := stranger.issue("bad", "bad.test", "127.0.0.1")

	good, msgs, states := goTLSServer(t, pair(t, peerCert, peerKey), ca.pool())
	bad, badMsgs, _ := goTLSServer(t, pair(t, badCert, badKey), nil)
	named, namedMsgs, namedStates := goTLSServer(t, pair(t, peerCert, peerKey), ca.pool())

	// the request's X-Next header names the next hop; the route tells
	// the sender over UDP whether the forward went out
	script := `
function ksr_request_route()
	local id = KSR.hdr.get("X-Server-Id")
	if id then KSR.tls.set_connect_server_id(id) end
	KSR.pv.sets("$du", KSR.hdr.get("X-Next"))
	if KSR.hdr.is_present("X-Relay") > 0 then
		local proto, rc = KSR.hdr.get("X-Proto"), 0
		if proto then rc = KSR.tm.t_relay_to_proto(proto) else rc = KSR.tm.t_relay() end
		if rc < 0 then KSR.sl.sl_send_reply(500, "Relay Failed") end
		return
	end
	if KSR.forward() < 0 then
		KSR.sl.sl_send_reply(503, "Forward Failed")
		return
	end
	KSR.sl.sl_send_reply(200, "Forwarded")
end
`
	s := enginetest.Start(t, script, withTLS(&engine.TLSConfig{
		TLSProfile: engine.TLSProfile{Certificate: kemiCert, PrivateKey: kemiKey, CAList: ca.caFile()},
		Client: map[string]engine.TLSProfile{
			"named": {Domain: "any", ServerName: "peer.test", ServerID: "peer"},
		},
	}))
	send := func(want, next, serverID string, more ...string) string {
		req := sipOptions("UDP", "out"+strconv.FormatInt(time.Now().UnixNano(), 36))
		extra := "X-Next: " + next + "\r\n" + strings.Join(more, "")
		if serverID != "" {
			extra += "X-Server-Id: " + serverID + "\r\n"
		}
		req = strings.Replace(req, "Content-Length: 0\r\n", extra+"Content-Length: 0\r\n", 1)
		return sendUDP(t, s, req, want)
	}

	for _, next := range []string{
		fmt.Sprintf("sip:127.0.0.1:%d;transport=tls", good.Port()),
		fmt.Sprintf("sips:127.0.0.1:%d", good.Port()),
	} {
		reply := send("SIP/2.0 200 Forwarded", next, "")
		if !strings.HasPrefix(reply, "SIP/2.0 200 Forwarded") {
			t.Fatalf("forward to %s: %q\n%s", next, reply, s.Logs())
		}
		select {
		case msg := <-msgs:
			if via := header(msg, "Via"); !strings.HasPrefix(via, "SIP/2.0/TLS 127.0.0.1:"+strconv.Itoa(int(s.Addr("tls").Port()))) {
				t.Errorf("forward to %s: our Via %q", next, via)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("forward to %s: nothing arrived", next)
		}
	}
	// one connection for both: the second went over the first's
	st := <-states
	if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "kemi.test" {
		t.Errorf("kemi's client certificate: %+v", st.PeerCertificates)
	}

	t.Run("t_relay over TLS and the reply back", func(t *testing.T) {
		reply := send("SIP/2.0 200 OK", fmt.Sprintf("sips:127.0.0.1:%d", good.Port()), "", "X-Relay: 1\r\n")
		if !strings.HasPrefix(reply, "SIP/2.0 200 OK") || !strings.Contains(reply, "tag=uas-1") {
			t.Fatalf("relayed request: %q\n%s", reply, s.Logs())
		}
		<-msgs
	})

	t.Run("t_relay_to_proto tls to a next hop without a transport", func(t *testing.T) {
		reply := send("SIP/2.0 200 OK", fmt.Sprintf("sip:127.0.0.1:%d", good.Port()), "", "X-Relay: 1\r\nX-Proto: tls\r\n")
		if !strings.HasPrefix(reply, "SIP/2.0 200 OK") || !strings.Contains(reply, "tag=uas-1") {
			t.Fatalf("relayed request: %q\n%s", reply, s.Logs())
		}
		msg := <-msgs
		if via := header(msg, "Via"); !strings.HasPrefix(via, "SIP/2.0/TLS ") {
			t.Errorf("our Via %q, want TLS", via)
		}
	})

	t.Run("a peer the CA list does not vouch for", func(t *testing.T) {
		before := s.Metric(`kemi_core_tls_handshake_failures_total{direction="out"}`)
		reply := send("SIP/2.0 503", fmt.Sprintf("sip:127.0.0.1:%d;transport=tls", bad.Port()), "")
		if !strings.HasPrefix(reply, "SIP/2.0 503 Forward Failed") {
			t.Errorf("forward to an unverified peer: %q", reply)
		}
		if got := s.Metric(`kemi_core_tls_handshake_failures_total{direction="out"}`); got != before+1 {
			t.Errorf("outbound handshake failures %v, want %v", got, before+1)
		}
		select {
		case msg := <-badMsgs:
			t.Errorf("the unverified peer got %q", msg)
		default:
		}
		if !strings.Contains(s.Logs(), "certificate signed by unknown authority") {
			t.Error("the verification failure is not in the log")
		}
	})

	t.Run("set_connect_server_id picks the client profile", func(t *testing.T) {
		reply := send("SIP/2.0 200 Forwarded", fmt.Sprintf("sip:127.0.0.1:%d;transport=tls", named.Port()), "peer")
		if !strings.HasPrefix(reply, "SIP/2.0 200 Forwarded") {
			t.Fatalf("forward with a server id: %q", reply)
		}
		<-namedMsgs
		if st := <-namedStates; st.ServerName != "peer.test" {
			t.Errorf("SNI %q, want the profile's server_name peer.test", st.ServerName)
		}
	})
}

func TestTLSReloadCertificate(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{
		TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key},
	}))
	serial := func() string {
		t.Helper()
		_, st, err := optionsOverTLS(t, s, &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"})
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	ca.issue("server", "sip.test", "sip.test") // renewed, same files
	if got := serial(); got != first {
		t.Fatalf("a new certificate was served before the reload")
	}
	if _, err := s.Reload("test.lua", []byte(tlsScript)); err != nil {
		t.Fatal(err)
	}
	renewed := serial()
	if renewed == first {
		t.Fatalf("still the old certificate %s after the reload", first)
	}
	// a broken file refuses the reload and the certificate in use stays
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Reload("test.lua", []byte(tlsScript))
	if err == nil || !strings.Contains(err.Error(), cert) {
		t.Errorf("reload with a broken certificate: %v, want an error naming %s", err, cert)
	}
	if got := serial(); got != renewed {
		t.Errorf("certificate %s after a refused reload, want %s", got, renewed)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	ca, cert, key := serverPKI(t)
	missing := filepath.Join(ca.dir, "missing.pem")
	cases := []struct {
		name string
		cfg  *engine.TLSConfig
		want string
	}{
		{"no certificate", &engine.TLSConfig{}, "a tls listener needs a certificate"},
		{"missing file", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: missing}}, missing},
		{"key of another", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: ca.caFile()}}, "server:default"},
		{"old method", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key, Method: "TLSv1"}}, `tls_method "TLSv1" is refused`},
		{"bad ca", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key, CAList: key}}, "no PEM certificate"},
		{"any without name", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key},
			Server: map[string]engine.TLSProfile{"x": {Domain: "any"}}}, "domain any needs a server_name"},
		{"bad domain", &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key},
			Client: map[string]engine.TLSProfile{"peer.example": {}}}, `domain "peer.example"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := engine.Config{
				Script: []byte(tlsScript), ScriptPath: "test.lua", DBURL: "memory",
				Listen: []string{"tls:127.0.0.1:0"}, TLS: c.cfg,
			}
			_, err := engine.New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v, want an error with %q", err, c.want)
			}
			// kemi check reads the certificates as kemi run does
			if _, err := engine.Check(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check: %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestTLSConfigFile(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	ca.issue("server", "sip.test", "sip.test")
	ca.issue("b", "b.test", "b.test")
	file := filepath.Join(dir, "kemi.toml")
	const good = `
[core]
listen = ["tls:127.0.0.1:5061"]

[tls]
tls_method = "TLSv1.2+"
certificate = "server.pem"
private_key = "server.key"
ca_list = "ca-ca.pem"
verify_certificate = true
require_certificate = false

[tls.server."b.test"]
domain = "any"
server_name = "b.test"
server_name_mode = 1
certificate = "b.pem"
private_key = "b.key"

[tls.client.default]
verify_certificate = true

[tls.client."10.0.0.1:5061"]
server_name = "sip.example"
server_id = "carrier"
`
	fc, err := engine.ParseFile(file, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var cfg engine.Config
	if err := fc.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.Certificate != filepath.Join(dir, "server.pem") || cfg.TLS.Server["b.test"].PrivateKey != filepath.Join(dir, "b.key") {
		t.Fatalf("[tls] applied as %+v", cfg.TLS)
	}
	if cfg.TLS.Client["10.0.0.1:5061"].ServerID != "carrier" || !*cfg.TLS.VerifyCertificate {
		t.Errorf("[tls] applied as %+v", cfg.TLS)
	}
	if _, ok := fc.ModParams["tls"]; ok {
		t.Error("[tls] is also taken as module parameters")
	}

	bad := []struct{ text, want string }{
		{"[tls]\ncertificate = \"server.pem\"\nprivate_key = \"server.key\"\ncipher_list = \"HIGH\"\n", `cipher_list: "HIGH" is an OpenSSL keyword`},
		{"[tls]\ncertificate = \"server.pem\"\nprivate_key = \"server.key\"\ncrl = \"missing.crl\"\n", "missing.crl"},
		{"[tls]\ncertificate = \"server.pem\"\nprivate_key = \"server.key\"\nverify_depth = -1\n", "verify_depth -1"},
		{"[tls]\ncertificate = \"missing.pem\"\n", "missing.pem"},
		{"[tls]\ncertificate = \"server.pem\"\nprivate_key = \"server.key\"\ntls_method = \"SSLv23\"\n", `tls_method "SSLv23" is refused`},
		{"[tls.server.x]\ndomain = \"any\"\n", "domain any needs a server_name"},
		{"[tls]\nmethod = \"TLSv1.2+\"\n", "tls_method, certificate"},
		{"[tls]\nserver_id = \"x\"\n", "belong to a profile"},
	}
	for _, b := range bad {
		fc, err := engine.ParseFile(file, []byte(b.text))
		if err == nil {
			err = fc.Apply(&engine.Config{})
		}
		if err == nil || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%q: %v, want an error naming the file and %q", b.text, err, b.want)
		}
	}
}

// TestTLSConnectionLimits: TCP's connection limits hold for TLS too, and
// a refused connection costs no handshake.
func TestTLSConnectionLimits(t *testing.T) {
	ca, cert, key := serverPKI(t)
	s := enginetest.Start(t, tlsScript, withTLS(&engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}),
		enginetest.WithConfig(func(c *engine.Config) { c.TCPAcceptIPLimit = 1 }))
	cfg := &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}
	first, err := tls.Dial("tcp", s.Addr("tls").String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, _, err := optionsOverTLS(t, s, cfg); err == nil {
		t.Error("a second connection from the address was served over tcp_accept_iplimit 1")
	}
	if got := s.Metric(`kemi_core_tcp_refused_total{reason="ip_limit"}`); got != 1 {
		t.Errorf("ip_limit refusals %v, want 1", got)
	}
	if got := s.Metric(`kemi_core_tls_connections`); got != 1 {
		t.Errorf("kemi_core_tls_connections %v, want 1", got)
	}
}

// TestTLSInviteThroughToUDP: an INVITE over TLS, record-routed and
// relayed statefully to a UDP peer; the peer's 200 goes back over the
// client's TLS connection.
func TestTLSInviteThroughToUDP(t *testing.T) {
	ca, cert, key := serverPKI(t)
	peer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	script := fmt.Sprintf(`
function ksr_request_route()
	KSR.rr.record_route()
	KSR.pv.sets("$du", "sip:%s")
	KSR.tm.t_relay()
end
`, peer.LocalAddr())
	s := enginetest.Start(t, script, withTLS(&engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}))
	c, err := tls.Dial("tcp", s.Addr("tls").String(), &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	invite := strings.Replace(sipOptions("TLS", "inv1"), "OPTIONS", "INVITE", 2)
	invite = strings.Replace(invite, "Content-Length", "Contact: <sip:alice@127.0.0.1:5999;transport=tls>\r\nContent-Length", 1)
	if _, err := io.WriteString(c, invite); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 65536)
	n, from, err := peer.ReadFrom(b)
	if err != nil {
		t.Fatalf("the INVITE did not arrive: %v\n%s", err, s.Logs())
	}
	relayed := string(b[:n])
	tlsPort := strconv.Itoa(int(s.Addr("tls").Port()))
	if !strings.Contains(relayed, "Record-Route: <sip:127.0.0.1:"+tlsPort+";transport=tls;r2=on;lr") {
		t.Errorf("no Record-Route for the TLS socket in\n%s", relayed)
	}
	if _, err := peer.WriteTo([]byte(reply(relayed, 200, "OK")), from); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		msg, err := readSIP(t, c, r)
		if err != nil {
			t.Fatalf("no 200 over TLS: %v\n%s", err, s.Logs())
		}
		if strings.HasPrefix(msg, "SIP/2.0 200") {
			break
		}
	}
}
