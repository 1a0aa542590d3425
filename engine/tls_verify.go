package engine

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// tls.cfg's verify_depth, cipher_list and crl, for Go's crypto/tls.

// defaultVerifyDepth is Kamailio's verify_depth when none is set.
const defaultVerifyDepth = 9

// openSSLCiphers maps the OpenSSL names of the TLS 1.2 cipher suites that
// Go's crypto/tls offers to its ids. Go chooses the TLS 1.3 suites
// itself: a cipher_list names TLS 1.2 suites only, as OpenSSL's does
// (TLS 1.3 suites are its separate ciphersuites setting).
var openSSLCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// parseCipherList reads a cipher_list of OpenSSL cipher names separated
// by ':' (or ',' or spaces, as OpenSSL takes them), in order of
// preference. OpenSSL's keywords and operators (HIGH, DEFAULT, !aNULL,
// +RC4, @STRENGTH) and ciphers Go does not offer are refused by name: Go
// cannot do what they ask.
func parseCipherList(list string) ([]uint16, error) {
	names := strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	if len(names) == 0 {
		return nil, errors.New("cipher_list is empty")
	}
	var ids []uint16
	for _, name := range names {
		id, ok := openSSLCiphers[strings.ToUpper(name)]
		if !ok {
			known := make([]string, 0, len(openSSLCiphers))
			for k := range openSSLCiphers {
				known = append(known, k)
			}
			slices.Sort(known)
			why := "not a TLS 1.2 cipher Go offers"
			switch {
			case strings.HasPrefix(strings.ToUpper(name), "TLS_"):
				why = "a TLS 1.3 suite: Go chooses those itself"
			case strings.ContainsAny(name[:1], "!+-@") || strings.ToUpper(name) == name && !strings.Contains(name, "-"):
				why = "an OpenSSL keyword or operator: name the ciphers one by one"
			}
			return nil, fmt.Errorf("cipher_list: %q is %s (Go's: %s)", name, why, strings.Join(known, ":"))
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// loadCRLs reads the certificate revocation lists of a crl file, PEM
// ("X509 CRL" blocks) or a single DER list.
func loadCRLs(file string) ([]*x509.RevocationList, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []*x509.RevocationList
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			continue
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		crl, err := x509.ParseRevocationList(b)
		if err != nil {
			return nil, fmt.Errorf("%s: no PEM X509 CRL and not a DER one: %w", file, err)
		}
		out = append(out, crl)
	}
	return out, nil
}

// chainCheck is what a profile checks of a peer's certificate chain once
// Go verified it: its depth, and revocation against the profile's CRLs.
type chainCheck struct {
	depth int // verify_depth: how many CA certificates may follow the peer's, the trust anchor aside
	crls  []*x509.RevocationList
	now   func() time.Time
}

// verify is a tls.Config's VerifyPeerCertificate. Without verified
// chains (verification off, or no certificate given where none is
// required) there is nothing to check, as with OpenSSL. One chain that
// passes both checks is enough.
func (c *chainCheck) verify(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 {
		return nil
	}
	var errs []error
	for _, chain := range chains {
		err := c.checkChain(chain)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("tls: peer certificate refused: %w", errors.Join(errs...))
}

// checkChain checks one verified chain, leaf first and the trust anchor
// last. As OpenSSL counts it, verify_depth d allows the peer's
// certificate, d CA certificates and the trust anchor. With CRLs, as
// Kamailio's crl (OpenSSL's CRL_CHECK and CRL_CHECK_ALL), every
// certificate but the anchor needs a current CRL from its issuer, and
// must not be on it.
func (c *chainCheck) checkChain(chain []*x509.Certificate) error {
	if len(chain) > c.depth+2 {
		return fmt.Errorf("chain of %d certificates is deeper than verify_depth %d allows", len(chain), c.depth)
	}
	if len(c.crls) == 0 {
		return nil
	}
	now := c.now()
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		found := false
		var stale error // an issuer's CRL out of date, when it has no current one
		for _, crl := range c.crls {
			if !slices.Equal(crl.RawIssuer, cert.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			// a file may hold an issuer's old CRLs beside its current one:
			// only a current one counts (OpenSSL picks it)
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				stale = fmt.Errorf("the CRL of %q expired at %s", issuer.Subject, crl.NextUpdate.Format(time.RFC3339))
				continue
			}
			if now.Before(crl.ThisUpdate) {
				stale = fmt.Errorf("the CRL of %q is not valid before %s", issuer.Subject, crl.ThisUpdate.Format(time.RFC3339))
				continue
			}
			found = true
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("certificate %q (serial %s) is revoked", cert.Subject, cert.SerialNumber)
				}
			}
		}
		if !found {
			if stale != nil {
				return stale
			}
			return fmt.Errorf("no CRL of %q for certificate %q", issuer.Subject, cert.Subject)
		}
	}
	return nil
}
