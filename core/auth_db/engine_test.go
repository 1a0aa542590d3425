package auth_db_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/kemisip/kemi/engine/enginetest"
)

// startRegistrar runs testdata/register.lua on a real engine whose
// auth_db reads the clear passwords of a SQLite file in t.TempDir()
// holding alice@example.com (password "secret"). auth gets authParams.
func startRegistrar(t *testing.T, authParams map[string]any) *enginetest.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kemi.db")
	newSubscribers(t, path, [3]string{"alice", "example.com", "secret"})
	return enginetest.Start(t, registerScript(t),
		enginetest.WithParams("auth_db", map[string]any{
			"db_url": "sqlite://" + path, "calculate_ha1": 1, "password_column": "password",
		}),
		enginetest.WithParams("auth", authParams))
}

// failures reads kemi_auth_failures_total for one reason (0 when absent).
func failures(s *enginetest.Server, reason string) float64 {
	return max(s.Metric(`kemi_auth_failures_total{reason="`+reason+`"}`), 0)
}

// Kamailio's challenge shape: realm, a base64 nonce, qop; no algorithm
// parameter for the default MD5.
var md5Challenge = regexp.MustCompile(`^Digest realm="example\.com", nonce="[A-Za-z0-9+/]+={0,2}", qop="auth"$`)

// TestChallengeOverUDP: a REGISTER without credentials gets a 401 with
// one challenge of Kamailio's shape, the script sees -5, and the
// challenge and the failure are counted.
func TestChallengeOverUDP(t *testing.T) {
	s := startRegistrar(t, nil)
	u := newUAC(t, s.UDP())
	res := u.register("alice", "example.com", "")
	o := outcomeOf(res)
	if o.status != 401 || o.reason != "Unauthorized" || o.rc != "-5" {
		t.Fatalf("REGISTER without credentials: %v, want 401 Unauthorized X-RC:-5", o)
	}
	hs := res.GetHeaders("WWW-Authenticate")
	if len(hs) != 1 || !md5Challenge.MatchString(hs[0].Value()) {
		t.Errorf("challenge %q, want one matching %s", hs, md5Challenge)
	}
	if v := s.Metric("kemi_auth_challenges_total"); v != 1 {
		t.Errorf("kemi_auth_challenges_total = %v, want 1", v)
	}
	if v := failures(s, "no_credentials"); v != 1 {
		t.Errorf(`kemi_auth_failures_total{reason="no_credentials"} = %v, want 1`, v)
	}
}

// TestDigestOverUDP authenticates over UDP with MD5 and SHA-256 (RFC
// 8760): sipgo's digest client answers the first challenge; in the dual
// "SHA-256,MD5" mode a UA may also pick the second (MD5) challenge.
func TestDigestOverUDP(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string   // auth's algorithm parameter
		offered   []string // the algorithm parameters of the challenges
		byHand    string   // "" sipgo's digest client; else compute this algorithm by hand
	}{
		{name: "MD5 sipgo", algorithm: "", offered: []string{""}},
		{name: "SHA-256 sipgo", algorithm: "SHA-256", offered: []string{"SHA-256"}},
		{name: "SHA-256 by hand", algorithm: "SHA-256", offered: []string{"SHA-256"}, byHand: "SHA-256"},
		{name: "dual, sipgo takes SHA-256", algorithm: "SHA-256,MD5", offered: []string{"SHA-256", "MD5"}},
		{name: "dual, UA picks MD5", algorithm: "SHA-256,MD5", offered: []string{"SHA-256", "MD5"}, byHand: "MD5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startRegistrar(t, map[string]any{"algorithm": tc.algorithm})
			u := newUAC(t, s.UDP())
			req := u.request("alice", "example.com", "")
			res := u.do(req)
			if res.StatusCode != 401 {
				t.Fatalf("first REGISTER: %v", outcomeOf(res))
			}
			var got []string
			nonces := map[string]bool{}
			for _, h := range res.GetHeaders("WWW-Authenticate") {
				alg := ""
				if m := regexp.MustCompile(`, algorithm=([A-Z0-9-]+)$`).FindStringSubmatch(h.Value()); m != nil {
					alg = m[1]
				}
				got = append(got, alg)
				nonces[nonceParam.FindString(h.Value())] = true
			}
			if strings.Join(got, ",") != strings.Join(tc.offered, ",") || len(nonces) != 1 {
				t.Fatalf("challenges %q: want algorithms %q with one nonce", res.GetHeaders("WWW-Authenticate"), tc.offered)
			}
			if tc.byHand == "" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := u.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "secret"})
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != 200 {
					t.Fatalf("sipgo's authenticated REGISTER: %v", outcomeOf(res))
				}
				return
			}
			_, nonce := u.challenge("alice", "example.com", tc.byHand)
			d := digest{user: "alice", realm: "example.com", pass: "secret", alg: tc.byHand, nonce: nonce, nc: 1}
			if o := outcomeOf(u.register("alice", "example.com", d.header())); o.status != 200 {
				t.Fatalf("authenticated REGISTER: %v", o)
			}
		})
	}
}

// TestRefusedOverUDP: what the script sees and the UA gets for every
// kind of bad credentials, and the failure counted by reason.
func TestRefusedOverUDP(t *testing.T) {
	// a nonce of another kemi, signed with another secret (set, so that
	// it is refused as not ours, not as made before our start)
	other := startRegistrar(t, map[string]any{"secret": "node-b"})
	_, foreign := newUAC(t, other.UDP()).challenge("alice", "example.com", "")

	tests := []struct {
		name   string
		authz  func(nonce string) string
		user   string // "" alice
		domain string // "" example.com: the realm the script uses
		want   string // outcome.String() prefix
		reason string // kemi_auth_failures_total reason counted
	}{
		{
			name: "wrong password",
			authz: func(n string) string {
				return digest{user: "alice", realm: "example.com", pass: "wrong", nonce: n, nc: 1}.header()
			},
			want:   "403 Forbidden rc=-2",
			reason: "invalid_password",
		},
		{
			name: "unknown user",
			user: "carol",
			authz: func(n string) string {
				return digest{user: "carol", realm: "example.com", pass: "secret", nonce: n, nc: 1}.header()
			},
			want:   "403 Forbidden rc=-3",
			reason: "user_unknown",
		},
		{
			name: "user differs from To",
			user: "bob",
			authz: func(n string) string {
				return digest{user: "alice", realm: "example.com", pass: "secret", nonce: n, nc: 1}.header()
			},
			want:   "403 Forbidden rc=-8",
			reason: "user_mismatch",
		},
		{
			name: "foreign nonce",
			authz: func(string) string {
				return digest{user: "alice", realm: "example.com", pass: "secret", nonce: foreign, nc: 1}.header()
			},
			want:   "403 Forbidden rc=-1",
			reason: "invalid_nonce",
		},
		{
			name: "forged nonce",
			authz: func(n string) string {
				return digest{user: "alice", realm: "example.com", pass: "secret", nonce: forge(n), nc: 1}.header()
			},
			want:   "403 Forbidden rc=-1",
			reason: "invalid_nonce",
		},
		{
			// the nonce was given for example.com; the right response
			// for other.example.com with it
			name:   "nonce of another realm",
			domain: "other.example.com",
			authz: func(n string) string {
				return digest{user: "alice", realm: "other.example.com", pass: "secret", nonce: n, nc: 1}.header()
			},
			want:   "403 Forbidden rc=-1",
			reason: "invalid_nonce",
		},
		{
			name:   "malformed header",
			authz:  func(n string) string { return `Digest username="alice", realm="example.com", nonce="` + n + `, uri=` },
			want:   "403 Forbidden rc=-1",
			reason: "malformed",
		},
		{
			name: "no response parameter",
			authz: func(n string) string {
				return `Digest username="alice", realm="example.com", nonce="` + n + `", uri="sip:example.com"`
			},
			want:   "403 Forbidden rc=-1",
			reason: "malformed",
		},
		{
			name: "credentials for another realm only",
			authz: func(n string) string {
				return digest{user: "alice", realm: "elsewhere.org", pass: "secret", nonce: n, nc: 1}.header()
			},
			want:   `401 Unauthorized X-RC:-5 [Digest realm="example.com", nonce="N", qop="auth"]`,
			reason: "realm",
		},
	}
	s := startRegistrar(t, map[string]any{"secret": "node-a"})
	u := newUAC(t, s.UDP())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, domain := tc.user, tc.domain
			if user == "" {
				user = "alice"
			}
			if domain == "" {
				domain = "example.com"
			}
			before := failures(s, tc.reason)
			_, nonce := u.challenge("alice", "example.com", "")
			o := outcomeOf(u.register(user, domain, tc.authz(nonce)))
			if !strings.HasPrefix(o.String(), tc.want) {
				t.Errorf("got %v, want %s", o, tc.want)
			}
			if v := failures(s, tc.reason); v != before+1 {
				t.Errorf(`kemi_auth_failures_total{reason=%q} = %v, want %v`, tc.reason, v, before+1)
			}
		})
	}
}

// TestReplayOverUDP: with nonce_count (kemi's default), credentials sent
// again with the same nonce and nc are stale (-4, as Kamailio) and the
// next challenge says stale=true; a higher nc on the same nonce is
// accepted. With one_time_nonce, the second use of a nonce is -6.
func TestReplayOverUDP(t *testing.T) {
	staleChallenge := `[Digest realm="example.com", nonce="N", qop="auth", stale=true]`
	tests := []struct {
		name   string
		auth   map[string]any
		ncs    []int    // the nc of each REGISTER on one nonce (0: no qop)
		want   []string // outcome.String() of each
		reason string   // counted once
	}{
		{
			name:   "nonce_count, same nc",
			ncs:    []int{1, 1, 2},
			want:   []string{"200 OK", "401 Unauthorized X-RC:-4 " + staleChallenge, "200 OK"},
			reason: "stale_nonce",
		},
		{
			name:   "nonce_count, lower nc",
			ncs:    []int{5, 3},
			want:   []string{"200 OK", "401 Unauthorized X-RC:-4 " + staleChallenge},
			reason: "stale_nonce",
		},
		{
			name:   "one_time_nonce",
			auth:   map[string]any{"one_time_nonce": 1, "nonce_count": 0},
			ncs:    []int{1, 2},
			want:   []string{"200 OK", `401 Unauthorized X-RC:-6 [Digest realm="example.com", nonce="N", qop="auth"]`},
			reason: "nonce_reused",
		},
		{
			name:   "one_time_nonce, no qop",
			auth:   map[string]any{"one_time_nonce": 1},
			ncs:    []int{0, 0},
			want:   []string{"200 OK", `401 Unauthorized X-RC:-6 [Digest realm="example.com", nonce="N", qop="auth"]`},
			reason: "nonce_reused",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startRegistrar(t, tc.auth)
			u := newUAC(t, s.UDP())
			_, nonce := u.challenge("alice", "example.com", "")
			for i, nc := range tc.ncs {
				d := digest{user: "alice", realm: "example.com", pass: "secret", nonce: nonce, nc: nc}
				if o := outcomeOf(u.register("alice", "example.com", d.header())); o.String() != tc.want[i] {
					t.Errorf("REGISTER %d (nc %d): %v, want %s", i+1, nc, o, tc.want[i])
				}
			}
			if v := failures(s, tc.reason); v != 1 {
				t.Errorf(`kemi_auth_failures_total{reason=%q} = %v, want 1`, tc.reason, v)
			}
			// the challenge without credentials and the one after the replay
			if v := s.Metric("kemi_auth_challenges_total"); v != 2 {
				t.Errorf("kemi_auth_challenges_total = %v, want 2", v)
			}
		})
	}
}
