package auth_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"testing"

	_ "github.com/kemisip/kemi/core/auth"
	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const register = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:alice@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 REGISTER
Contact: <sip:alice@192.0.2.10:5062>
Max-Forwards: 70
%s
`

const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-2
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c2@192.0.2.10
CSeq: 1 INVITE
Max-Forwards: 70
%s
`

func load(t *testing.T, params map[string]any) *kemitest.Env {
	t.Helper()
	return kemitest.Load(t, map[string]map[string]any{"auth": params}, "core", "auth")
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	load(t, nil).CheckExports(t, "auth")
}

// challengeOf returns the value of the named challenge header(s) in the
// last reply sent.
func challengesOf(t *testing.T, env *kemitest.Env, name string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(env.Host.Last().Msg, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s in %q", name, env.Host.Last().Msg)
	}
	return out
}

// client answers a challenge as a UA does.
type client struct {
	user, pass, method, uri string
	alg                     string // "" MD5 without naming it
	nc                      int
}

func (c *client) answer(t *testing.T, challenge string) string {
	t.Helper()
	d, err := kemi.ParseDigest(challenge)
	if err != nil {
		t.Fatalf("challenge %q: %v", challenge, err)
	}
	nonce, _ := d.Param("nonce")
	qop, _ := d.Param("qop")
	var newHash func() hash.Hash = md5.New
	if c.alg == "SHA-256" {
		newHash = sha256.New
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := h(c.user + ":" + d.Realm + ":" + c.pass)
	ha2 := h(c.method + ":" + c.uri)
	alg := ""
	if c.alg != "" {
		alg = ", algorithm=" + c.alg
	}
	if qop == "" {
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s"%s`,
			c.user, d.Realm, nonce, c.uri, h(ha1+":"+nonce+":"+ha2), alg)
	}
	c.nc++
	nc := fmt.Sprintf("%08x", c.nc)
	resp := h(ha1 + ":" + nonce + ":" + nc + ":cn0nce:auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", qop=auth, nc=%s, cnonce="cn0nce"%s`,
		c.user, d.Realm, nonce, c.uri, resp, nc, alg)
}

func reg(t *testing.T, hdr string) *kemi.Msg {
	if hdr != "" {
		hdr = "Authorization: " + hdr
	}
	return kemitest.ParseMsg(t, fmt.Sprintf(register, hdr))
}

// challenge sends a REGISTER without credentials through auth_challenge
// and returns the WWW-Authenticate values of the 401.
func challenge(t *testing.T, env *kemitest.Env, flags int) []string {
	t.Helper()
	if v := env.Call(t, "KSR.auth.auth_challenge", reg(t, ""), "example.com", flags); v.Int != 1 {
		t.Fatalf("auth_challenge = %v", v)
	}
	if !strings.HasPrefix(env.Host.Last().Msg, "SIP/2.0 401 Unauthorized") {
		t.Fatalf("reply %q", env.Host.Last().Msg)
	}
	return challengesOf(t, env, "WWW-Authenticate")
}

// TestChallengeHeader checks the challenge as Kamailio spells it.
func TestChallengeHeader(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		flags  int
		want   []string // patterns with NONCE for the nonce
	}{
		{"default no qop", nil, 0, []string{`Digest realm="example.com", nonce="NONCE"`}},
		{"qop auth", nil, 1, []string{`Digest realm="example.com", nonce="NONCE", qop="auth"`}},
		{"qop auth-int", nil, 3, []string{`Digest realm="example.com", nonce="NONCE", qop="auth-int"`}},
		{"stale", nil, 17, []string{`Digest realm="example.com", nonce="NONCE", qop="auth", stale=true`}},
		{"md5 named", map[string]any{"algorithm": "MD5"}, 1, []string{`Digest realm="example.com", nonce="NONCE", qop="auth", algorithm=MD5`}},
		{"sha-256", map[string]any{"algorithm": "SHA-256"}, 1, []string{`Digest realm="example.com", nonce="NONCE", qop="auth", algorithm=SHA-256`}},
		{"both", map[string]any{"algorithm": "SHA-256,MD5"}, 1, []string{
			`Digest realm="example.com", nonce="NONCE", qop="auth", algorithm=SHA-256`,
			`Digest realm="example.com", nonce="NONCE", qop="auth", algorithm=MD5`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := load(t, tt.params)
			got := challenge(t, env, tt.flags)
			if len(got) != len(tt.want) {
				t.Fatalf("challenges %q, want %d", got, len(tt.want))
			}
			for i := range got {
				d, _ := kemi.ParseDigest(got[i])
				nonce, _ := d.Param("nonce")
				if want := strings.Replace(tt.want[i], "NONCE", nonce, 1); got[i] != want || nonce == "" {
					t.Errorf("challenge %q, want %q", got[i], want)
				}
			}
		})
	}
	// INVITE: 407 with Proxy-Authenticate
	env := load(t, nil)
	m := kemitest.ParseMsg(t, fmt.Sprintf(invite, ""))
	env.Call(t, "KSR.auth.auth_challenge", m, "example.com", 1)
	if !strings.HasPrefix(env.Host.Last().Msg, "SIP/2.0 407 Proxy Authentication Required") {
		t.Errorf("INVITE challenge %q", env.Host.Last().Msg)
	}
	challengesOf(t, env, "Proxy-Authenticate")
}

func metric(env *kemitest.Env, series string) string {
	var b bytes.Buffer
	env.Metrics.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestReturnCodes walks every return code of pv_www_authenticate and
// pv_auth_check, with the failure counted under its reason.
func TestReturnCodes(t *testing.T) {
	type tc struct {
		name   string
		params map[string]any
		flags  int // challenge flags
		// creds builds the Authorization from a challenge
		creds  func(t *testing.T, ch string) string
		fn     string
		pass   string
		twice  bool // call twice with the same credentials; the second is checked
		want   int64
		reason string
	}
	alice := func(pass, alg string) func(*testing.T, string) string {
		return func(t *testing.T, ch string) string {
			c := &client{user: "alice", pass: pass, method: "REGISTER", uri: "sip:example.com", alg: alg}
			return c.answer(t, ch)
		}
	}
	tests := []tc{
		{name: "ok md5", flags: 1, creds: alice("pw", ""), want: 1},
		{name: "ok md5 no qop", flags: 0, creds: alice("pw", ""), want: 1},
		{name: "ok sha-256", params: map[string]any{"algorithm": "SHA-256"}, flags: 1, creds: alice("pw", "SHA-256"), want: 1},
		{name: "both: sha-256", params: map[string]any{"algorithm": "SHA-256,MD5"}, flags: 1, creds: alice("pw", "SHA-256"), want: 1},
		{name: "both: md5", params: map[string]any{"algorithm": "SHA-256,MD5"}, flags: 1, creds: alice("pw", "MD5"), want: 1},
		{name: "md5 answer to sha-256 only", params: map[string]any{"algorithm": "SHA-256"}, flags: 1, creds: alice("pw", "MD5"), want: -1, reason: "malformed"},
		{name: "wrong password", flags: 1, creds: alice("nope", ""), want: -2, reason: "invalid_password"},
		{name: "no credentials", flags: 1, creds: func(*testing.T, string) string { return "" }, want: -5, reason: "no_credentials"},
		{name: "other realm only", flags: 1, creds: func(t *testing.T, ch string) string {
			return strings.Replace(alice("pw", "")(t, ch), `realm="example.com"`, `realm="example.org"`, 1)
		}, want: -5, reason: "realm"},
		{name: "nonce for another realm", flags: 1, creds: func(t *testing.T, ch string) string {
			return alice("pw", "")(t, strings.Replace(ch, `realm="example.com"`, `realm="EXAMPLE.net"`, 1))
		}, fn: "net", want: -1, reason: "invalid_nonce"},
		{name: "forged nonce", flags: 1, creds: func(t *testing.T, ch string) string {
			return alice("pw", "")(t, `Digest realm="example.com", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", qop="auth"`)
		}, want: -1, reason: "invalid_nonce"},
		{name: "malformed header", flags: 1, creds: func(*testing.T, string) string { return `Digest username="alice", realm="example.com", nonce="x` }, want: -1, reason: "malformed"},
		{name: "missing response", flags: 1, creds: func(t *testing.T, ch string) string {
			s := alice("pw", "")(t, ch)
			i := strings.Index(s, `, response=`)
			return s[:i] + s[i+len(`, response="`)+32+1:]
		}, want: -1, reason: "malformed"},
		{name: "replayed nc is stale", flags: 1, creds: alice("pw", ""), twice: true, want: -4, reason: "stale_nonce"},
		{name: "one-time nonce reused", params: map[string]any{"one_time_nonce": 1}, flags: 0, creds: alice("pw", ""), twice: true, want: -6, reason: "nonce_reused"},
		{name: "replay without nc protection", params: map[string]any{"nonce_count": 0}, flags: 1, creds: alice("pw", ""), twice: true, want: 1},
		{name: "user mismatch", flags: 1, fn: "check", creds: func(t *testing.T, ch string) string {
			c := &client{user: "bob", pass: "pw", method: "REGISTER", uri: "sip:example.com"}
			return c.answer(t, ch)
		}, want: -8, reason: "user_mismatch"},
		{name: "check ok", flags: 1, fn: "check", creds: alice("pw", ""), want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := load(t, tt.params)
			ch := challenge(t, env, tt.flags)[0]
			creds := tt.creds(t, ch)
			call := func() int64 {
				m := reg(t, creds)
				realm := "example.com"
				if tt.fn == "net" {
					realm = "example.net"
					m = reg(t, strings.Replace(creds, `realm="EXAMPLE.net"`, `realm="example.net"`, 1))
				}
				if tt.fn == "check" {
					return env.Call(t, "KSR.auth.pv_auth_check", m, realm, "pw", 0, 1).Int
				}
				return env.Call(t, "KSR.auth.pv_www_authenticate", m, realm, "pw", 0).Int
			}
			got := call()
			if tt.twice {
				if got != 1 {
					t.Fatalf("first call = %d, want 1", got)
				}
				got = call()
			}
			if got != tt.want {
				t.Errorf("= %d, want %d; logs:\n%s", got, tt.want, env.Logs())
			}
			if tt.reason != "" {
				if v := metric(env, fmt.Sprintf(`kemi_auth_failures_total{reason=%q}`, tt.reason)); v != "1" {
					t.Errorf("failures{reason=%s} = %q, want 1", tt.reason, v)
				}
			}
		})
	}
}

// TestStaleChallenge checks that the challenge that follows a stale
// nonce says stale=true, and that a node with the same secret accepts
// another node's nonce while one with another secret does not.
func TestStaleChallenge(t *testing.T) {
	env := load(t, nil)
	ch := challenge(t, env, 1)[0]
	c := &client{user: "alice", pass: "pw", method: "REGISTER", uri: "sip:example.com"}
	creds := c.answer(t, ch)
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", reg(t, creds), "example.com", "pw", 0); v.Int != 1 {
		t.Fatalf("first = %v", v)
	}
	m := reg(t, creds)
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", m, "example.com", "pw", 0); v.Int != -4 {
		t.Fatalf("replay = %v, want -4", v)
	}
	env.Call(t, "KSR.auth.auth_challenge", m, "example.com", 1)
	if got := challengesOf(t, env, "WWW-Authenticate")[0]; !strings.HasSuffix(got, `, qop="auth", stale=true`) {
		t.Errorf("challenge after a stale nonce %q, want stale=true", got)
	}
}

// TestSharedSecret checks that nodes with the same secret accept each
// other's nonces, and a node with another secret refuses them.
func TestSharedSecret(t *testing.T) {
	a := load(t, map[string]any{"secret": "the same on every node"})
	b := load(t, map[string]any{"secret": "the same on every node"})
	other := load(t, map[string]any{"secret": "another"})
	c := &client{user: "alice", pass: "pw", method: "REGISTER", uri: "sip:example.com"}
	creds := c.answer(t, challenge(t, a, 1)[0])
	if v := b.Call(t, "KSR.auth.pv_www_authenticate", reg(t, creds), "example.com", "pw", 0); v.Int != 1 {
		t.Errorf("node b = %v, want 1", v)
	}
	if v := other.Call(t, "KSR.auth.pv_www_authenticate", reg(t, creds), "example.com", "pw", 0); v.Int != -1 {
		t.Errorf("node with another secret = %v, want -1", v)
	}
}

// TestCredentialsHelpers covers has_credentials, consume_credentials,
// is_user's service, auth_algorithm, auth_get_www_authenticate and the
// challenge AVP of the pv functions.
func TestCredentialsHelpers(t *testing.T) {
	env := load(t, nil)
	ch := challenge(t, env, 1)[0]
	c := &client{user: "alice", pass: "pw", method: "REGISTER", uri: "sip:example.com"}
	m := reg(t, c.answer(t, ch))
	if v := env.Call(t, "KSR.auth.has_credentials", m, "example.com"); v.Int != 1 {
		t.Errorf("has_credentials = %v", v)
	}
	if v := env.Call(t, "KSR.auth.has_credentials", m, "example.org"); v.Int != -1 {
		t.Errorf("has_credentials other realm = %v", v)
	}
	if v := env.Call(t, "KSR.auth.consume_credentials", m); v.Int != -1 {
		t.Errorf("consume_credentials before authentication = %v", v)
	}
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", m, "example.com", "pw", 0); v.Int != 1 {
		t.Fatalf("pv_www_authenticate = %v", v)
	}
	au, _ := env.Services.Lookup(kemi.ServiceAuth).(kemi.AuthorizedUser)
	if u, ok := au.AuthorizedUser(m); !ok || u != "alice" {
		t.Errorf("AuthorizedUser = %q %v", u, ok)
	}
	if v := env.Call(t, "KSR.auth.consume_credentials", m); v.Int != 1 || m.HasHeader("Authorization") {
		t.Errorf("consume_credentials = %v, Authorization left: %v", v, m.HasHeader("Authorization"))
	}

	// the HA1 as password (flag 1)
	m = reg(t, c.answer(t, challenge(t, env, 1)[0]))
	sum := md5.Sum([]byte("alice:example.com:pw"))
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", m, "example.com", hex.EncodeToString(sum[:]), 1); v.Int != 1 {
		t.Errorf("pv_www_authenticate with HA1 = %v", v)
	}

	// a failure with flag 4 leaves the challenge in $avp(digest_challenge)
	m = reg(t, "")
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", m, "example.com", "pw", 4); v.Int != -5 {
		t.Errorf("pv_www_authenticate without credentials = %v", v)
	}
	if v, ok := m.AVPs.Get("digest_challenge", 0); !ok || !strings.HasPrefix(v.Str, `WWW-Authenticate: Digest realm="example.com", nonce="`) || !strings.HasSuffix(v.Str, "qop=\"auth\"\r\n") {
		t.Errorf("challenge AVP %q", v.Str)
	}

	// auth_get_www_authenticate into a $var
	m = reg(t, "")
	if v := env.Call(t, "KSR.auth.auth_get_www_authenticate", m, "example.com", 1, "$var(ch)"); v.Int != 1 {
		t.Fatalf("auth_get_www_authenticate = %v", v)
	}
	if v, _ := env.PVs.Get(m, "$var(ch)"); !strings.HasPrefix(v.Str, `WWW-Authenticate: Digest realm="example.com", nonce="`) {
		t.Errorf("$var(ch) = %q", v.Str)
	}

	// auth_algorithm switches to SHA-256
	if v := env.Call(t, "KSR.auth.auth_algorithm", m, "SHA-256"); v.Int != 1 {
		t.Errorf("auth_algorithm = %v", v)
	}
	if v := env.Call(t, "KSR.auth.auth_algorithm", m, "SHA-512-256"); v.Int != -1 {
		t.Errorf("auth_algorithm unknown = %v", v)
	}
	ch = challenge(t, env, 1)[0]
	if !strings.HasSuffix(ch, "algorithm=SHA-256") {
		t.Errorf("challenge after auth_algorithm %q", ch)
	}
	c.alg = "SHA-256"
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", reg(t, c.answer(t, ch)), "example.com", "pw", 0); v.Int != 1 {
		t.Errorf("SHA-256 after auth_algorithm = %v", v)
	}
	if v := metric(env, "kemi_auth_challenges_total"); v != "5" {
		t.Errorf("challenges = %q, want 5", v)
	}
}

// TestChecksBindNonce checks auth_checks_register: a nonce given to one
// Call-ID is stale for another.
func TestChecksBindNonce(t *testing.T) {
	env := load(t, map[string]any{"auth_checks_register": 2})
	c := &client{user: "alice", pass: "pw", method: "REGISTER", uri: "sip:example.com"}
	creds := c.answer(t, challenge(t, env, 1)[0])
	other := kemitest.ParseMsg(t, strings.Replace(fmt.Sprintf(register, "Authorization: "+creds), "c1@192.0.2.10", "c9@192.0.2.10", 1))
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", other, "example.com", "pw", 0); v.Int != -4 {
		t.Errorf("other Call-ID = %v, want -4", v)
	}
	if v := env.Call(t, "KSR.auth.pv_www_authenticate", reg(t, creds), "example.com", "pw", 0); v.Int != 1 {
		t.Errorf("same Call-ID = %v, want 1", v)
	}
}

// TestBadParams checks that bad parameters stop the start.
func TestBadParams(t *testing.T) {
	for _, p := range []map[string]any{
		{"algorithm": "SHA-1"}, {"algorithm": "MD5,MD5"}, {"qop": "conf"}, {"auth_checks_register": 16},
		{"nonce_expire": 0}, {"nc_array_size": 0}, {"challenge_attr": "x"}, {"nosuch": 1},
		{"nc_array_order": -1}, {"nc_array_order": 64}, {"nc_array_order": 27}, {"auth_checks_register": 256}, {"auth_checks_in_dlg": 257},
	} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"auth": p}, "core", "auth"); err == nil {
			t.Errorf("params %v: no error", p)
		}
	}
}
