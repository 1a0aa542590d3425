package auth_db_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/kemisip/kemi/core/auth"
	"github.com/kemisip/kemi/core/auth_db"
	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const register = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:%[1]s@example.com>;tag=a1
To: <sip:%[1]s@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 REGISTER
Contact: <sip:%[1]s@192.0.2.10:5062>
Max-Forwards: 70
%[2]s
`

func hexHash(alg, s string) string {
	var h hash.Hash = md5.New()
	if alg == "SHA-256" {
		h = sha256.New()
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// newSubscribers makes a SQLite file with Kamailio's subscriber table,
// as kemi user add or kamctl add would.
func newSubscribers(t testing.TB, path string, rows ...[3]string) {
	t.Helper()
	f := db.NewSQLite(path, db.Subscriber)
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		user, domain, pass := r[0], r[1], r[2]
		if _, err := d.Exec(`INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)`,
			user, domain, pass, hexHash("MD5", user+":"+domain+":"+pass), hexHash("MD5", user+"@"+domain+":"+domain+":"+pass)); err != nil {
			t.Fatal(err)
		}
	}
}

type tester struct {
	env *kemitest.Env
	nc  int
}

func load(t testing.TB, params map[string]any, auth map[string]any) *tester {
	t.Helper()
	env := kemitest.Load(t, map[string]map[string]any{"auth_db": params, "auth": auth}, "core", "auth", "auth_db")
	t.Cleanup(env.Destroy)
	return &tester{env: env}
}

// register challenges a REGISTER of user, answers it with pass and alg,
// and returns the result of auth_check on the answer.
func (tt *tester) register(t testing.TB, user, pass, alg string, flags int) int64 {
	t.Helper()
	env := tt.env
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, user, ""))
	if v := env.Call(t, "KSR.auth.auth_challenge", m, "example.com", 1); v.Int != 1 {
		t.Fatalf("auth_challenge = %v", v)
	}
	var ch string
	for _, line := range strings.Split(env.Host.Last().Msg, "\r\n") {
		if v, ok := strings.CutPrefix(line, "WWW-Authenticate: "); ok && (alg == "" || strings.HasSuffix(v, "algorithm="+alg)) {
			ch = v
		}
	}
	d, err := kemi.ParseDigest(ch)
	if err != nil {
		t.Fatalf("challenge %q: %v", ch, err)
	}
	nonce, _ := d.Param("nonce")
	return tt.auth(t, user, pass, alg, nonce, flags)
}

func (tt *tester) auth(t testing.TB, user, pass, alg, nonce string, flags int) int64 {
	tt.nc++
	h := func(s string) string {
		if alg == "SHA-256" {
			return hexHash("SHA-256", s)
		}
		return hexHash("MD5", s)
	}
	nc := fmt.Sprintf("%08x", tt.nc)
	resp := h(h(user+":example.com:"+pass) + ":" + nonce + ":" + nc + ":cn:auth:" + h("REGISTER:sip:example.com"))
	algp := ""
	if alg != "" {
		algp = ", algorithm=" + alg
	}
	creds := fmt.Sprintf(`Authorization: Digest username="%s", realm="example.com", nonce="%s", uri="sip:example.com", response="%s", qop=auth, nc=%s, cnonce="cn"%s`,
		user, nonce, resp, nc, algp)
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, user, creds))
	return tt.env.Call(t, "KSR.auth_db.auth_check", m, "example.com", "subscriber", flags).Int
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

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	load(t, map[string]any{"db_url": "memory"}, nil).env.CheckExports(t, "auth_db")
}

// TestSQLite authenticates against a SQLite subscriber table: every
// return code, MD5 and SHA-256, password and ha1 columns.
func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	newSubscribers(t, path, [3]string{"alice", "example.com", "pw"})
	url := "sqlite://" + path
	tests := []struct {
		name       string
		params     map[string]any
		auth       map[string]any
		user, pass string
		alg        string
		flags      int
		want       int64
	}{
		{"ha1 column", map[string]any{"db_url": url}, nil, "alice", "pw", "", 0, 1},
		{"ha1 column wrong password", map[string]any{"db_url": url}, nil, "alice", "nope", "", 0, -2},
		{"unknown user", map[string]any{"db_url": url}, nil, "carol", "pw", "", 0, -3},
		{"password column", map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, nil, "alice", "pw", "", 0, 1},
		{"password column wrong", map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, nil, "alice", "x", "", 0, -2},
		{"sha-256 from password", map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, map[string]any{"algorithm": "SHA-256"}, "alice", "pw", "SHA-256", 0, 1},
		{"both, sha-256", map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, map[string]any{"algorithm": "SHA-256,MD5"}, "alice", "pw", "SHA-256", 0, 1},
		{"both, md5", map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, map[string]any{"algorithm": "SHA-256,MD5"}, "alice", "pw", "MD5", 0, 1},
		// the ha1 column holds an MD5 HA1: a SHA-256 response cannot match (Kamailio: -2 too)
		{"sha-256 with md5 ha1", map[string]any{"db_url": url}, map[string]any{"algorithm": "SHA-256"}, "alice", "pw", "SHA-256", 0, -2},
		{"use_domain", map[string]any{"db_url": url, "use_domain": 1}, nil, "alice", "pw", "", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt := load(t, tc.params, tc.auth)
			if got := tt.register(t, tc.user, tc.pass, tc.alg, tc.flags); got != tc.want {
				t.Errorf("auth_check = %d, want %d; logs:\n%s", got, tc.want, tt.env.Logs())
			}
		})
	}
}

// TestUserMismatch checks auth_check flag 1: bob's credentials on
// alice's REGISTER give -8.
func TestUserMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	newSubscribers(t, path, [3]string{"bob", "example.com", "pw"})
	tt := load(t, map[string]any{"db_url": "sqlite://" + path}, nil)
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, "alice", ""))
	tt.env.Call(t, "KSR.auth.auth_challenge", m, "example.com", 1)
	d, _ := kemi.ParseDigest(strings.TrimPrefix(strings.Split(strings.SplitAfter(tt.env.Host.Last().Msg, "WWW-Authenticate: ")[1], "\r\n")[0], ""))
	nonce, _ := d.Param("nonce")
	// bob's credentials, alice's From/To
	tt.nc++
	h := func(s string) string { return hexHash("MD5", s) }
	resp := h(h("bob:example.com:pw") + ":" + nonce + ":00000001:cn:auth:" + h("REGISTER:sip:example.com"))
	creds := fmt.Sprintf(`Authorization: Digest username="bob", realm="example.com", nonce="%s", uri="sip:example.com", response="%s", qop=auth, nc=00000001, cnonce="cn"`, nonce, resp)
	m = kemitest.ParseMsg(t, fmt.Sprintf(register, "alice", creds))
	if v := tt.env.Call(t, "KSR.auth_db.auth_check", m, "example.com", "subscriber", 1); v.Int != -8 {
		t.Errorf("auth_check = %v, want -8", v)
	}
}

// TestMissingFileAndRecovery: no file yet is an empty table (-3, as
// Kamailio with no rows); a file deleted under a running kemi is an
// error (-1) counted in kemi_auth_db_errors_total; once a file is there
// again, auth_check works without a restart.
func TestMissingFileAndRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	tt := load(t, map[string]any{"db_url": "sqlite://" + path}, nil)
	if got := tt.register(t, "alice", "pw", "", 0); got != -3 {
		t.Errorf("no file: %d, want -3", got)
	}
	if !strings.Contains(tt.env.Logs(), path) {
		t.Errorf("the log does not name the file:\n%s", tt.env.Logs())
	}
	newSubscribers(t, path, [3]string{"alice", "example.com", "pw"})
	if got := tt.register(t, "alice", "pw", "", 0); got != 1 {
		t.Errorf("file created: %d, want 1", got)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	if got := tt.register(t, "alice", "pw", "", 0); got != -1 {
		t.Errorf("file deleted: %d, want -1", got)
	}
	if v := metric(tt.env, "kemi_auth_db_errors_total"); v != "1" {
		t.Errorf("kemi_auth_db_errors_total = %q, want 1", v)
	}
	newSubscribers(t, path, [3]string{"alice", "example.com", "pw"})
	if got := tt.register(t, "alice", "pw", "", 0); got != 1 {
		t.Errorf("file back: %d, want 1; logs:\n%s", got, tt.env.Logs())
	}
}

// TestIsSubscriber checks is_subscriber: 1 found, -2 not, -1 bad input.
func TestIsSubscriber(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	newSubscribers(t, path, [3]string{"alice", "example.com", "pw"})
	tt := load(t, map[string]any{"db_url": "sqlite://" + path}, nil)
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, "alice", ""))
	for _, c := range []struct {
		uri   string
		flags int
		want  int64
	}{
		{"sip:alice@example.com", 0, 1},
		{"sip:alice@example.org", 0, 1},
		{"sip:alice@example.org", 1, -2},
		{"sip:alice@example.com", 1, 1},
		{"sip:carol@example.com", 0, -2},
		{"", 0, -1},
	} {
		if v := tt.env.Call(t, "KSR.auth_db.is_subscriber", m, c.uri, "subscriber", c.flags); v.Int != c.want {
			t.Errorf("is_subscriber(%q, %d) = %v, want %d", c.uri, c.flags, v, c.want)
		}
	}
	if v := tt.env.Call(t, "KSR.auth_db.is_subscriber", m, "sip:alice@example.com", "sub; DROP", 0); v.Int != -1 {
		t.Errorf("bad table name = %v", v)
	}
}

// TestBadStart checks the errors at start: a file that is not a
// database, a Redis that does not answer, bad parameters.
func TestBadStart(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o644)
	for _, p := range []map[string]any{
		{"db_url": "sqlite://" + junk},
		{"db_url": "redis://127.0.0.1:1/0"},
		{"db_url": "nosuch://x"},
		{"db_url": "memory", "user_column": "user name"},
		{"db_url": "memory", "load_credentials": "$avp(x)=rpid"},
	} {
		_, err := kemitest.LoadErr(map[string]map[string]any{"auth_db": p}, "core", "auth", "auth_db")
		if err == nil {
			t.Errorf("%v: no error", p)
		} else if p["db_url"] == "sqlite://"+junk && !strings.Contains(err.Error(), junk) {
			t.Errorf("error %v does not name the file", err)
		}
	}
}

// TestRedis authenticates against subscribers in a real redis-server,
// then stops it: -1 and counted.
func TestRedis(t *testing.T) {
	url, stop := redistest.Start(t)
	u, _ := db.ParseURL(url)
	c, err := db.OpenRedis(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.HSet(context.Background(), auth_db.RedisKey("subscriber", "alice", "example.com"),
		"username", "alice", "domain", "example.com", "password", "pw", "ha1", hexHash("MD5", "alice:example.com:pw")).Err(); err != nil {
		t.Fatal(err)
	}
	tt := load(t, map[string]any{"db_url": url, "calculate_ha1": 1, "password_column": "password"}, map[string]any{"algorithm": "SHA-256,MD5"})
	for _, c := range []struct {
		user, pass, alg string
		want            int64
	}{
		{"alice", "pw", "MD5", 1}, {"alice", "pw", "SHA-256", 1}, {"alice", "x", "MD5", -2}, {"carol", "pw", "MD5", -3},
	} {
		if got := tt.register(t, c.user, c.pass, c.alg, 0); got != c.want {
			t.Errorf("%s/%s/%s: %d, want %d", c.user, c.pass, c.alg, got, c.want)
		}
	}
	m := kemitest.ParseMsg(t, fmt.Sprintf(register, "alice", ""))
	if v := tt.env.Call(t, "KSR.auth_db.is_subscriber", m, "sip:alice@example.com", "subscriber", 0); v.Int != 1 {
		t.Errorf("is_subscriber = %v", v)
	}
	stop()
	if got := tt.register(t, "alice", "pw", "MD5", 0); got != -1 {
		t.Errorf("redis stopped: %d, want -1", got)
	}
	if v := metric(tt.env, "kemi_auth_db_errors_total"); v != "1" {
		t.Errorf("kemi_auth_db_errors_total = %q, want 1", v)
	}
}

// BenchmarkAuthCheckSQLite measures auth_check of a valid response
// against a SQLite file (calculate_ha1=0, the ha1 column), nonce check
// and nonce count included.
func BenchmarkAuthCheckSQLite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kemi.db")
	rows := make([][3]string, 1000)
	for i := range rows {
		rows[i] = [3]string{fmt.Sprintf("user%d", i), "example.com", "pw"}
	}
	rows = append(rows, [3]string{"alice", "example.com", "pw"})
	newSubscribers(b, path, rows...)
	tt := load(b, map[string]any{"db_url": "sqlite://" + path}, nil)
	m := kemitest.ParseMsg(b, fmt.Sprintf(register, "alice", ""))
	tt.env.Call(b, "KSR.auth.auth_challenge", m, "example.com", 1)
	d, _ := kemi.ParseDigest(strings.Split(strings.SplitAfter(tt.env.Host.Last().Msg, "WWW-Authenticate: ")[1], "\r\n")[0])
	nonce, _ := d.Param("nonce")
	h := func(s string) string { return hexHash("MD5", s) }
	ha1 := h("alice:example.com:pw")
	ha2 := h("REGISTER:sip:example.com")
	msgs := make([]*kemi.Msg, b.N)
	for i := range msgs {
		nc := fmt.Sprintf("%08x", i+1)
		resp := h(ha1 + ":" + nonce + ":" + nc + ":cn:auth:" + ha2)
		creds := fmt.Sprintf(`Authorization: Digest username="alice", realm="example.com", nonce="%s", uri="sip:example.com", response="%s", qop=auth, nc=%s, cnonce="cn"`, nonce, resp, nc)
		msgs[i] = kemitest.ParseMsg(b, fmt.Sprintf(register, "alice", creds))
	}
	x := tt.env.Export(b, "KSR.auth_db.auth_check")
	args := kemi.MakeArgs("example.com", "subscriber", "0")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if v := x.Func(msgs[i], args); v.Int != 1 {
			b.Fatalf("auth_check = %v", v)
		}
	}
}

// TestEmptyDBURLIsTheCore: db_url = "" in [auth_db] is no db_url, the
// core db_url is used, as usrloc and kemi user read it (it was
// db.DefaultURL, so that kemi user and kemi run opened different files).
func TestEmptyDBURLIsTheCore(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o644)
	env := kemi.NewEnv("auth_db", nil, kemi.NewPVTable(), kemi.NewServices(), nil, kemi.NewParams("auth_db", map[string]any{"db_url": ""}), nil)
	env.DBURL = "sqlite://" + junk
	mod := &auth_db.Module{}
	err := mod.ModInit(env)
	mod.Destroy()
	if err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("ModInit with db_url \"\" and the core's on a corrupt file: %v, want an error naming %s", err, junk)
	}
}
