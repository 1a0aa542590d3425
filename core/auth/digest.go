package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strings"
)

// Digest algorithms (RFC 7616 and RFC 8760 for SIP).
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// algorithm is one digest hash.
type algorithm struct {
	name   string
	hexLen int
	new    func() hash.Hash
}

var algorithms = []algorithm{
	{name: MD5, hexLen: 32, new: md5.New},
	{name: SHA256, hexLen: 64, new: sha256.New},
}

// lookupAlgorithm returns the algorithm called name (case does not
// matter), or false.
func lookupAlgorithm(name string) (algorithm, bool) {
	for _, a := range algorithms {
		if strings.EqualFold(a.name, name) {
			return a, true
		}
	}
	return algorithm{}, false
}

// sum returns the lower-case hex hash of the parts joined by ':'.
func (a algorithm) sum(parts ...string) string {
	h := a.new()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	var buf [sha256.Size]byte
	return hex.EncodeToString(h.Sum(buf[:0]))
}

// ha1 is H(username:realm:password) (RFC 2617 §3.2.2.2).
func (a algorithm) ha1(username, realm, password string) string {
	return a.sum(username, realm, password)
}

// response computes the request-digest (RFC 2617 §3.2.2.1, RFC 7616
// §3.4.1) from the HA1 and the credentials' values: with a qop
// H(HA1:nonce:nc:cnonce:qop:HA2), without one H(HA1:nonce:HA2); HA2 is
// H(method:uri), or H(method:uri:H(body)) for qop auth-int.
func (a algorithm) response(ha1, nonce, nc, cnonce, qop, method, uri string, body []byte) string {
	var ha2 string
	if strings.EqualFold(qop, "auth-int") {
		ha2 = a.sum(method, uri, a.sum(string(body)))
	} else {
		ha2 = a.sum(method, uri)
	}
	if qop == "" {
		return a.sum(ha1, nonce, ha2)
	}
	return a.sum(ha1, nonce, nc, cnonce, qop, ha2)
}

// equalHex compares two hex digests in constant time, as Kamailio
// compares them byte for byte (case matters).
func equalHex(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
