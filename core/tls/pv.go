package tls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// attr computes one attribute of a TLS connection.
type attr func(c *kemi.TLSConn) kemi.Value

// attrs are the $tls_* variables and KSR.tls.cget names, without their
// "tls_" prefix, as Kamailio's tls module names them.
var attrs = buildAttrs()

func buildAttrs() map[string]attr {
	m := map[string]attr{
		"version": func(c *kemi.TLSConn) kemi.Value { return kemi.Str(versionName(c.State.Version)) },
		"description": func(c *kemi.TLSConn) kemi.Value {
			return kemi.Str(tls.CipherSuiteName(c.State.CipherSuite) + " " + versionName(c.State.Version))
		},
		"cipher_info": func(c *kemi.TLSConn) kemi.Value { return kemi.Str(tls.CipherSuiteName(c.State.CipherSuite)) },
		"cipher_bits": func(c *kemi.TLSConn) kemi.Value { return kemi.Int(cipherBits(c.State.CipherSuite)) },
		"peer_verified": func(c *kemi.TLSConn) kemi.Value {
			return flag(c.Peer() != nil && c.PeerVerified())
		},
		"peer_server_name": func(c *kemi.TLSConn) kemi.Value { return strOrNull(c.State.ServerName) },
	}
	for _, side := range []string{"peer", "my"} {
		cert := func(c *kemi.TLSConn) *x509.Certificate { return c.Peer() }
		if side == "my" {
			cert = func(c *kemi.TLSConn) *x509.Certificate { return c.Local }
		}
		with := func(f func(*x509.Certificate) kemi.Value) attr {
			return func(c *kemi.TLSConn) kemi.Value {
				x := cert(c)
				if x == nil {
					return kemi.Null
				}
				return f(x)
			}
		}
		m[side+"_version"] = with(func(x *x509.Certificate) kemi.Value { return kemi.Str(fmt.Sprint(x.Version)) })
		m[side+"_serial"] = with(func(x *x509.Certificate) kemi.Value { return kemi.Str(x.SerialNumber.String()) })
		m[side+"_raw_cert"] = with(func(x *x509.Certificate) kemi.Value {
			return kemi.Str(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})))
		})
		m[side+"_subject"] = with(func(x *x509.Certificate) kemi.Value { return kemi.Str(oneline(x.Subject)) })
		m[side+"_issuer"] = with(func(x *x509.Certificate) kemi.Value { return kemi.Str(oneline(x.Issuer)) })
		comps := []struct {
			suffix string
			get    func(n pkix.Name) []string
		}{
			{"cn", func(n pkix.Name) []string { return nonEmpty(n.CommonName) }},
			{"locality", func(n pkix.Name) []string { return n.Locality }},
			{"country", func(n pkix.Name) []string { return n.Country }},
			{"state", func(n pkix.Name) []string { return n.Province }},
			{"organization", func(n pkix.Name) []string { return n.Organization }},
			{"unit", func(n pkix.Name) []string { return n.OrganizationalUnit }},
		}
		for _, comp := range comps {
			get := comp.get
			m[side+"_subject_"+comp.suffix] = with(func(x *x509.Certificate) kemi.Value { return first(get(x.Subject)) })
			m[side+"_issuer_"+comp.suffix] = with(func(x *x509.Certificate) kemi.Value { return first(get(x.Issuer)) })
		}
		m[side+"_subject_uid"] = with(func(x *x509.Certificate) kemi.Value { return first(nameAttr(x.Subject, oidUID)) })
		m[side+"_san_email"] = with(func(x *x509.Certificate) kemi.Value { return first(x.EmailAddresses) })
		m[side+"_san_hostname"] = with(func(x *x509.Certificate) kemi.Value { return first(x.DNSNames) })
		m[side+"_san_uri"] = with(func(x *x509.Certificate) kemi.Value {
			if len(x.URIs) == 0 {
				return kemi.Null
			}
			return kemi.Str(x.URIs[0].String())
		})
		m[side+"_san_ip"] = with(func(x *x509.Certificate) kemi.Value {
			if len(x.IPAddresses) == 0 {
				return kemi.Null
			}
			return kemi.Str(x.IPAddresses[0].String())
		})
		m[side+"_san_count"] = with(func(x *x509.Certificate) kemi.Value {
			return kemi.Int(len(x.EmailAddresses) + len(x.DNSNames) + len(x.URIs) + len(x.IPAddresses))
		})
	}
	peer := func(f func(*x509.Certificate) kemi.Value) attr {
		return func(c *kemi.TLSConn) kemi.Value {
			if x := c.Peer(); x != nil {
				return f(x)
			}
			return kemi.Null
		}
	}
	m["peer_expired"] = peer(func(x *x509.Certificate) kemi.Value {
		now := time.Now()
		return flag(now.After(x.NotAfter) || now.Before(x.NotBefore))
	})
	m["peer_selfsigned"] = peer(func(x *x509.Certificate) kemi.Value {
		// CheckSignatureFrom would ask the certificate to be a CA as well
		return flag(bytes.Equal(x.RawSubject, x.RawIssuer) &&
			x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature) == nil)
	})
	m["peer_notBefore"] = peer(func(x *x509.Certificate) kemi.Value { return kemi.Str(asn1Time(x.NotBefore)) })
	m["peer_notAfter"] = peer(func(x *x509.Certificate) kemi.Value { return kemi.Str(asn1Time(x.NotAfter)) })
	return m
}

// pvClasses are the $tls_* variables, read-only.
func pvClasses() []kemi.PVClass {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]kemi.PVClass, 0, len(names))
	for _, name := range names {
		get := attrs[name]
		out = append(out, kemi.PVClass{Name: "tls_" + name, Get: func(m *kemi.Msg, _ *kemi.PVName) (kemi.Value, error) {
			c := conn(m)
			if c == nil {
				return kemi.Null, nil
			}
			return get(c), nil
		}})
	}
	return out
}

// versionName names a TLS version as OpenSSL does ("TLSv1.3").
func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// cipherBits is the symmetric key size of a cipher suite.
func cipherBits(id uint16) int {
	name := tls.CipherSuiteName(id)
	switch {
	case strings.Contains(name, "AES_128"):
		return 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		return 256
	case strings.Contains(name, "3DES"):
		return 168
	}
	return 0
}

var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// shortNames are OpenSSL's short names of the attributes of a
// distinguished name, for oneline.
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber",
	"2.5.4.9": "street", "2.5.4.17": "postalCode",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// oneline writes a name as OpenSSL's X509_NAME_oneline does, which is
// what Kamailio shows: "/C=DE/O=Example/CN=sip.example.com", in the
// certificate's order.
func oneline(n pkix.Name) string {
	var b strings.Builder
	for _, atv := range n.Names {
		key := shortNames[atv.Type.String()]
		if key == "" {
			key = atv.Type.String()
		}
		fmt.Fprintf(&b, "/%s=%v", key, atv.Value)
	}
	return b.String()
}

// nameAttr returns the values of attribute oid in n.
func nameAttr(n pkix.Name, oid asn1.ObjectIdentifier) []string {
	var out []string
	for _, atv := range n.Names {
		if atv.Type.Equal(oid) {
			out = append(out, fmt.Sprint(atv.Value))
		}
	}
	return out
}

// asn1Time writes t as OpenSSL's ASN1_TIME_print: "Jan  2 15:04:05 2026 GMT".
func asn1Time(t time.Time) string {
	return t.UTC().Format("Jan _2 15:04:05 2006 GMT")
}

func first(vs []string) kemi.Value {
	if len(vs) == 0 {
		return kemi.Null
	}
	return kemi.Str(vs[0])
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func strOrNull(s string) kemi.Value {
	if s == "" {
		return kemi.Null
	}
	return kemi.Str(s)
}

// flag is 1 or 0, as Kamailio's $tls_peer_verified and the like are.
func flag(b bool) kemi.Value {
	if b {
		return kemi.Int(1)
	}
	return kemi.Int(0)
}
