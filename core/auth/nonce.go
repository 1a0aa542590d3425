package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A nonce is base64 of, in order:
//
//	version    1 byte (nonceVersion)
//	since      4 bytes, Unix seconds it was made
//	expires    4 bytes, Unix seconds it stops being valid
//	instance   4 bytes, random per engine: whose nc/otn state it has
//	nid        4 bytes, its index in the nc/otn arrays
//	flags      1 byte: ncReady, otnReady, and the auth checks in the top nibble
//	mac1      16 bytes, HMAC-SHA-256 with key1 over the bytes above and the realm
//	mac2      16 bytes, HMAC-SHA-256 with key2 over the bytes above and the
//	          request fields the auth checks name (only when they name any)
//
// As Kamailio's nonce, it carries its own times and is signed with the
// secret, so that any node that knows the secret can check it without
// shared state; unlike Kamailio's, the signature covers the realm, so a
// nonce given for one realm is refused for another.
const (
	nonceVersion  = 1
	nonceHeadLen  = 18
	nonceMACLen   = 16
	nonceBaseLen  = nonceHeadLen + nonceMACLen
	nonceFullLen  = nonceBaseLen + nonceMACLen
	flagNCReady   = 1
	flagOTNReady  = 2
	checksShift   = 4
	maxNonceB64   = 96 // longer than any nonce we make: refused before decoding
	defaultDrift  = 3  // seconds a nonce may come from the future (Kamailio's nonce_auth_max_drift)
	ncFieldLength = 8  // nc is 8 hex digits (RFC 2617)
)

// Auth checks: request fields a nonce is bound to, as Kamailio's
// auth_checks_register, auth_checks_no_dlg and auth_checks_in_dlg.
const (
	CheckFullURI = 1 << iota // the whole Request-URI
	CheckCallID              // the Call-ID
	CheckFromTag             // the From tag
	CheckSrcIP               // the source IP address
	checksMask   = CheckFullURI | CheckCallID | CheckFromTag | CheckSrcIP
)

// nonceResult is what checking a nonce found.
type nonceResult int

const (
	nonceOK      nonceResult = iota
	nonceInvalid             // not ours, forged, for another realm, undecodable
	nonceStale               // expired, from before a restart, nc replayed or too old, checks failed
	nonceReused              // a one-time nonce used again
	nonceBadNC               // an nc that is not 8 hex digits
)

// nonces makes and checks nonces. It is safe for concurrent use.
type nonces struct {
	key1, key2 []byte
	// randomSecret: no secret was configured, so a nonce from before
	// upSince cannot be ours and is called stale (the UA then retries
	// without asking its user), as Kamailio does after a restart.
	randomSecret bool
	upSince      int64
	expire       int64 // seconds
	drift        int64
	instance     uint32
	ncEnabled    bool
	otnEnabled   bool
	now          func() time.Time

	next atomic.Uint32
	// nc holds the last nonce count seen per nid slot, otn whether the
	// one-time nonce of a slot was used: bounded memory, as Kamailio's
	// nc and otn arrays; a nonce older than the array is stale.
	nc  []atomic.Uint32
	otn []atomic.Uint32

	macs1, macs2 sync.Pool
}

// nonceConfig configures newNonces.
type nonceConfig struct {
	secret       []byte
	randomSecret bool
	expire       time.Duration
	instance     uint32
	ncEnabled    bool
	otnEnabled   bool
	arraySize    int
	now          func() time.Time
}

func newNonces(c nonceConfig) *nonces {
	if c.now == nil {
		c.now = time.Now
	}
	// two keys from one secret, as Kamailio divides its secret in two
	k1 := hmac.New(sha256.New, c.secret)
	k1.Write([]byte("kemi auth nonce 1"))
	k2 := hmac.New(sha256.New, c.secret)
	k2.Write([]byte("kemi auth nonce 2"))
	n := &nonces{
		key1: k1.Sum(nil), key2: k2.Sum(nil),
		randomSecret: c.randomSecret,
		upSince:      c.now().Unix(),
		expire:       int64(c.expire / time.Second),
		drift:        defaultDrift,
		instance:     c.instance,
		ncEnabled:    c.ncEnabled,
		otnEnabled:   c.otnEnabled,
		now:          c.now,
	}
	if n.expire <= 0 {
		n.expire = 1
	}
	if c.ncEnabled {
		n.nc = make([]atomic.Uint32, c.arraySize)
	}
	if c.otnEnabled {
		n.otn = make([]atomic.Uint32, c.arraySize)
	}
	n.macs1.New = func() any { return hmac.New(sha256.New, n.key1) }
	n.macs2.New = func() any { return hmac.New(sha256.New, n.key2) }
	return n
}

// fields are the request values a nonce is bound to, indexed as the
// Check bits: R-URI, Call-ID, From tag, source IP.
type fields [4]string

// mac appends to dst the first nonceMACLen bytes of the HMAC of head
// and the strings, each followed by a zero byte.
func mac(pool *sync.Pool, dst, head []byte, strs ...string) []byte {
	h := pool.Get().(hash.Hash)
	h.Reset()
	h.Write(head)
	for _, s := range strs {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	out := append(dst, h.Sum(sum[:0])[:nonceMACLen]...)
	pool.Put(h)
	return out
}

func (n *nonces) checkedFields(checks uint8, f *fields) []string {
	var out []string
	for i := range f {
		if checks&(1<<i) != 0 {
			out = append(out, f[i])
		}
	}
	return out
}

// issue returns a new nonce for realm, bound to the fields the checks
// name.
func (n *nonces) issue(realm string, checks uint8, f *fields) string {
	now := n.now().Unix()
	nid := n.next.Add(1)
	var fl uint8
	if n.nc != nil {
		n.nc[int(nid)%len(n.nc)].Store(0)
		fl |= flagNCReady
	}
	if n.otn != nil {
		n.otn[int(nid)%len(n.otn)].Store(0)
		fl |= flagOTNReady
	}
	checks &= checksMask
	fl |= checks << checksShift
	b := make([]byte, nonceHeadLen, nonceFullLen)
	b[0] = nonceVersion
	binary.BigEndian.PutUint32(b[1:], uint32(now))
	binary.BigEndian.PutUint32(b[5:], uint32(now+n.expire))
	binary.BigEndian.PutUint32(b[9:], n.instance)
	binary.BigEndian.PutUint32(b[13:], nid)
	b[17] = fl
	b = mac(&n.macs1, b, b[:nonceHeadLen], strings.ToLower(realm))
	if checks != 0 {
		b = mac(&n.macs2, b, b[:nonceHeadLen], n.checkedFields(checks, f)...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// check checks a nonce the UA returned, with the realm of its
// credentials, the checks that apply to this request and its fields,
// and the nc of the credentials ("" without qop). The order follows
// Kamailio's check_nonce, except that the nc and one-time state are
// touched only once everything else passed.
func (n *nonces) check(nonce, realm string, checks uint8, f *fields, nc string) nonceResult {
	if len(nonce) > maxNonceB64 {
		return nonceInvalid
	}
	// room for all that maxNonceB64 characters decode to: Decode panics
	// when dst is shorter than that
	var buf [maxNonceB64 / 4 * 3]byte
	l, err := base64.StdEncoding.Decode(buf[:], []byte(nonce))
	if err != nil || (l != nonceBaseLen && l != nonceFullLen) || buf[0] != nonceVersion {
		return nonceInvalid
	}
	b := buf[:l]
	since := int64(binary.BigEndian.Uint32(b[1:]))
	expires := int64(binary.BigEndian.Uint32(b[5:]))
	instance := binary.BigEndian.Uint32(b[9:])
	nid := binary.BigEndian.Uint32(b[13:])
	fl := b[17]
	now := n.now().Unix()
	if n.randomSecret && since < n.upSince {
		// made before this engine started, with a secret we no longer
		// have: stale, so that the UA retries without asking its user
		return nonceStale
	}
	if since > now+n.drift {
		return nonceStale // from the future: another node's clock
	}
	var want [nonceMACLen]byte
	if !hmac.Equal(mac(&n.macs1, want[:0], b[:nonceHeadLen], strings.ToLower(realm)), b[nonceHeadLen:nonceBaseLen]) {
		return nonceInvalid
	}
	if n.ncEnabled && fl&flagNCReady == 0 || n.otnEnabled && fl&flagOTNReady == 0 {
		return nonceStale // made before nonce_count or one_time_nonce were enabled
	}
	nonceChecks := fl >> checksShift
	if nonceChecks != checks&checksMask {
		return nonceStale // made for another kind of request
	}
	if nonceChecks != 0 {
		if l != nonceFullLen || !hmac.Equal(mac(&n.macs2, want[:0], b[:nonceHeadLen], n.checkedFields(nonceChecks, f)...), b[nonceBaseLen:]) {
			return nonceStale // Kamailio: auth_extra_checks failed is stale
		}
	}
	if now > expires {
		return nonceStale
	}
	if instance != n.instance {
		// another node's nonce (same secret): its nc and one-time state
		// are there, not here
		return nonceOK
	}
	if n.nc != nil && nc != "" {
		v, ok := parseNC(nc)
		if !ok {
			return nonceBadNC
		}
		if !n.ownSlot(nid, len(n.nc)) {
			return nonceStale
		}
		slot := &n.nc[int(nid)%len(n.nc)]
		for {
			cur := slot.Load()
			if cur >= v {
				return nonceStale // Kamailio: an nc seen before is stale
			}
			if slot.CompareAndSwap(cur, v) {
				// with an nc, Kamailio skips the one-time check
				return nonceOK
			}
		}
	}
	if n.otn != nil {
		if !n.ownSlot(nid, len(n.otn)) || !n.otn[int(nid)%len(n.otn)].CompareAndSwap(0, 1) {
			return nonceReused
		}
	}
	return nonceOK
}

// ownSlot reports whether the array slot of nid still belongs to it:
// fewer than size nonces were made since.
func (n *nonces) ownSlot(nid uint32, size int) bool {
	return n.next.Load()-nid < uint32(size)
}

// parseNC reads an nc value: exactly 8 hex digits, not zero.
func parseNC(s string) (uint32, bool) {
	if len(s) != ncFieldLength {
		return 0, false
	}
	var b [4]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return 0, false
	}
	v := binary.BigEndian.Uint32(b[:])
	return v, v != 0
}
