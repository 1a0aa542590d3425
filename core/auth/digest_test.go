package auth

import (
	"strings"
	"testing"
	"time"
)

// TestResponseVectors checks the digest computation against the examples
// of RFC 2617 §3.5 and RFC 7616 §3.9.1 (MD5 and SHA-256).
func TestResponseVectors(t *testing.T) {
	tests := []struct {
		name, alg                                 string
		user, realm, pass                         string
		nonce, nc, cnonce, qop, method, uri, want string
	}{
		{"RFC 2617", MD5, "Mufasa", "testrealm@host.com", "Circle Of Life",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", "GET", "/dir/index.html",
			"6629fae49393a05397450978507c4ef1"},
		{"RFC 7616 MD5", MD5, "Mufasa", "http-auth@example.org", "Circle of Life",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth", "GET", "/dir/index.html",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 SHA-256", SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth", "GET", "/dir/index.html",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		// RFC 2069 form (no qop): H(HA1:nonce:HA2), checked against the
		// same HA1 computed by hand with md5sum
		{"no qop", MD5, "alice", "example.com", "secret",
			"abc", "", "", "", "REGISTER", "sip:example.com",
			"e4aa2d4b6ea5b1e1f0d9c45f1d4c8f3f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := lookupAlgorithm(tt.alg)
			if !ok {
				t.Fatalf("no algorithm %s", tt.alg)
			}
			ha1 := a.ha1(tt.user, tt.realm, tt.pass)
			got := a.response(ha1, tt.nonce, tt.nc, tt.cnonce, tt.qop, tt.method, tt.uri, nil)
			if tt.name == "no qop" {
				// H(H(u:r:p):nonce:H(m:uri))
				want := a.sum(a.sum("alice", "example.com", "secret"), "abc", a.sum("REGISTER", "sip:example.com"))
				if got != want {
					t.Errorf("response %s, want %s", got, want)
				}
				return
			}
			if got != tt.want {
				t.Errorf("response %s, want %s", got, tt.want)
			}
		})
	}
}

// clock is a settable time for nonce tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testNonces(c *clock, secret string, nc, otn bool, size int) *nonces {
	return newNonces(nonceConfig{secret: []byte(secret), expire: 30 * time.Second, instance: 7,
		ncEnabled: nc, otnEnabled: otn, arraySize: size, now: c.now})
}

// TestNonceChecks covers signing, expiry, realm, auth checks, replay by
// nonce count and one-time nonces.
func TestNonceChecks(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	f := &fields{"sip:example.com", "call-1", "tag-1", "192.0.2.1"}
	other := &fields{"sip:example.com", "call-2", "tag-1", "192.0.2.1"}
	type step struct {
		realm  string
		checks uint8
		f      *fields
		nc     string
		after  time.Duration
		want   nonceResult
	}
	tests := []struct {
		name     string
		nc, otn  bool
		size     int
		checks   uint8 // of the issued nonce
		mutate   func(string) string
		verifier func(c *clock) *nonces // another node
		steps    []step
	}{
		{name: "valid", steps: []step{{realm: "example.com", want: nonceOK}}},
		{name: "realm case does not matter", steps: []step{{realm: "EXAMPLE.com", want: nonceOK}}},
		{name: "other realm", steps: []step{{realm: "example.org", want: nonceInvalid}}},
		{name: "expired is stale", steps: []step{{realm: "example.com", after: 31 * time.Second, want: nonceStale}}},
		{name: "just before expiry", steps: []step{{realm: "example.com", after: 30 * time.Second, want: nonceOK}}},
		{name: "tampered", mutate: func(s string) string { return s[:30] + flip(s[30]) + s[31:] }, steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "garbage", mutate: func(string) string { return "not-a-nonce!" }, steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "truncated", mutate: func(s string) string { return s[:20] }, steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "too long to decode", mutate: func(string) string { return strings.Repeat("A", maxNonceB64) }, steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "longer than ours", mutate: func(s string) string { return s + "AAAA" }, steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "foreign secret", verifier: func(c *clock) *nonces { return testNonces(c, "other", true, false, 8) },
			steps: []step{{realm: "example.com", want: nonceInvalid}}},
		{name: "another node with the same secret", nc: true, size: 8,
			verifier: func(c *clock) *nonces {
				n := testNonces(c, "s3cret", true, false, 8)
				n.instance = 8
				return n
			},
			steps: []step{{realm: "example.com", nc: "00000001", want: nonceOK}}},
		{name: "nc increases", nc: true, size: 8, steps: []step{
			{realm: "example.com", nc: "00000001", want: nonceOK},
			{realm: "example.com", nc: "00000002", want: nonceOK},
			{realm: "example.com", nc: "00000002", want: nonceStale},
			{realm: "example.com", nc: "00000001", want: nonceStale},
			{realm: "example.com", nc: "0000000a", want: nonceOK},
		}},
		{name: "bad nc", nc: true, size: 8, steps: []step{
			{realm: "example.com", nc: "1", want: nonceBadNC},
			{realm: "example.com", nc: "0000000g", want: nonceBadNC},
			{realm: "example.com", nc: "00000000", want: nonceBadNC},
		}},
		{name: "one-time nonce", otn: true, size: 8, steps: []step{
			{realm: "example.com", want: nonceOK},
			{realm: "example.com", want: nonceReused},
		}},
		{name: "nc wins over one-time", nc: true, otn: true, size: 8, steps: []step{
			{realm: "example.com", nc: "00000001", want: nonceOK},
			{realm: "example.com", nc: "00000002", want: nonceOK},
			{realm: "example.com", want: nonceOK}, // no nc: the one-time check
			{realm: "example.com", want: nonceReused},
		}},
		{name: "bound to Call-ID", checks: CheckCallID, steps: []step{
			{realm: "example.com", checks: CheckCallID, f: other, want: nonceStale},
			{realm: "example.com", checks: CheckCallID, f: f, want: nonceOK},
			{realm: "example.com", checks: 0, f: f, want: nonceStale},
		}},
		{name: "nonce without checks used where checks apply", steps: []step{
			{realm: "example.com", checks: CheckFromTag, f: f, want: nonceStale},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: start}
			size := tt.size
			if size == 0 {
				size = 8
			}
			n := testNonces(c, "s3cret", tt.nc, tt.otn, size)
			nonce := n.issue("example.com", tt.checks, f)
			if tt.mutate != nil {
				nonce = tt.mutate(nonce)
			}
			v := n
			if tt.verifier != nil {
				v = tt.verifier(c)
			}
			for i, s := range tt.steps {
				c.t = start.Add(s.after)
				ff := s.f
				if ff == nil {
					ff = f
				}
				if got := v.check(nonce, s.realm, s.checks, ff, s.nc); got != s.want {
					t.Errorf("step %d: check = %d, want %d", i, got, s.want)
				}
			}
		})
	}
}

// TestNonceArrayBounded checks that the replay state is bounded: a nonce
// older than the nc array is stale, a one-time nonce reused.
func TestNonceArrayBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var f fields
	n := testNonces(c, "s", true, true, 4)
	old := n.issue("r", 0, &f)
	for i := 0; i < 4; i++ {
		n.issue("r", 0, &f)
	}
	if got := n.check(old, "r", 0, &f, "00000001"); got != nonceStale {
		t.Errorf("old nonce with nc: %d, want stale", got)
	}
	if got := n.check(old, "r", 0, &f, ""); got != nonceReused {
		t.Errorf("old one-time nonce: %d, want reused", got)
	}
}

// TestRandomSecretRestart checks that with a random secret a nonce from
// before the start is stale (the UA retries silently), while with a
// configured secret it stays valid across a restart.
func TestRandomSecretRestart(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	var f fields
	before := testNonces(c, "shared", false, false, 1)
	nonce := before.issue("r", 0, &f)
	c.t = c.t.Add(5 * time.Second)
	restarted := testNonces(c, "shared", false, false, 1)
	if got := restarted.check(nonce, "r", 0, &f, ""); got != nonceOK {
		t.Errorf("configured secret after restart: %d, want ok", got)
	}
	restarted.randomSecret = true
	if got := restarted.check(nonce, "r", 0, &f, ""); got != nonceStale {
		t.Errorf("random secret after restart: %d, want stale", got)
	}
	// from the future beyond the drift: stale
	c.t = c.t.Add(-10 * time.Second)
	if got := before.check(nonce, "r", 0, &f, ""); got != nonceStale {
		t.Errorf("nonce from the future: %d, want stale", got)
	}
}

// flip returns another base64 character than c.
func flip(c byte) string {
	if c == 'B' {
		return "C"
	}
	return "B"
}
