package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// runUser runs kemi with stdin.
func runUser(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	app := newApp()
	var out, errb bytes.Buffer
	app.Reader = strings.NewReader(stdin)
	app.Writer, app.ErrWriter = &out, &errb
	code := 0
	if err := app.Run(append([]string{"kemi"}, args...)); err != nil {
		code = exitUsage
		if ec, ok := err.(interface{ ExitCode() int }); ok {
			code = ec.ExitCode()
		}
		errb.WriteString(err.Error())
	}
	return code, out.String(), errb.String()
}

// userRoundTrip adds, lists, changes and removes subscribers with the
// exit statuses of each outcome.
func userRoundTrip(t *testing.T, dbFlag []string, check func(user, field string) string) {
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string
	}{
		{"", []string{"user", "list"}, 0, ""},
		{"", []string{"user", "rm", "alice@example.com"}, 1, ""},
		{"", []string{"user", "add", "alice@example.com", "pw"}, 0, ""},
		{"s3cret\n", []string{"user", "add", "--ha1-only", "bob@example.org"}, 0, ""},
		{"", []string{"user", "add", "alice@example.com", "other"}, 1, ""},
		{"", []string{"user", "list"}, 0, "alice@example.com\nbob@example.org\n"},
		{"", []string{"user", "list", "example.org"}, 0, "bob@example.org\n"},
		{"", []string{"user", "passwd", "carol@example.com", "x"}, 1, ""},
		{"new\n", []string{"user", "passwd", "alice@example.com"}, 0, ""},
		{"", []string{"user", "add", "nodomain", "pw"}, 2, ""},
		{"", []string{"user", "add", "dave@example.com"}, 2, ""}, // no password on stdin
		{"", []string{"user", "rm", "alice@example.com", "extra"}, 2, ""},
	}
	for i, s := range steps {
		args := append(append([]string{s.args[0], s.args[1]}, dbFlag...), s.args[2:]...)
		code, out, errs := runUser(t, s.stdin, args...)
		if code != s.code || s.out != "" && out != s.out {
			t.Errorf("step %d %v: status %d out %q (%s), want %d %q", i, s.args, code, out, errs, s.code, s.out)
		}
	}
	// kamctl's columns: ha1 = MD5(user:domain:password)
	if got := check("alice@example.com", "ha1"); got != md5hex("alice:example.com:new") {
		t.Errorf("alice's ha1 %q", got)
	}
	if got := check("alice@example.com", "password"); got != "new" {
		t.Errorf("alice's password %q, want new", got)
	}
	if got := check("bob@example.org", "password"); got != "" {
		t.Errorf("bob's password %q stored with --ha1-only", got)
	}
	if got := check("bob@example.org", "ha1b"); got != md5hex("bob@example.org:example.org:s3cret") {
		t.Errorf("bob's ha1b %q", got)
	}
	if code, _, errs := runUser(t, "", append(append([]string{"user", "rm"}, dbFlag...), "bob@example.org")...); code != 0 {
		t.Errorf("rm bob: %d %s", code, errs)
	}
	if code, out, _ := runUser(t, "", append([]string{"user", "list"}, dbFlag...)...); code != 0 || out != "alice@example.com\n" {
		t.Errorf("list after rm: %d %q", code, out)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestUserSQLite round-trips kemi user on a SQLite file, chosen by the
// config's [auth_db] db_url, which wins over [core] db_url.
func TestUserSQLite(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kemi.toml")
	os.WriteFile(cfg, []byte("[core]\ndb_url = \"sqlite://core.db\"\n[auth_db]\ndb_url = \"sqlite://subs.db\"\n"), 0o644)
	userRoundTrip(t, []string{"--config", cfg}, func(user, field string) string {
		u, d, _ := strings.Cut(user, "@")
		out, err := exec.Command("sqlite3", filepath.Join(dir, "subs.db"), fmt.Sprintf("SELECT %s FROM subscriber WHERE username='%s' AND domain='%s'", field, u, d)).Output()
		if err != nil {
			t.Skipf("sqlite3: %v", err)
		}
		return strings.TrimSpace(string(out))
	})
	if _, err := os.Stat(filepath.Join(dir, "core.db")); err == nil {
		t.Errorf("kemi user wrote [core] db_url's file, not [auth_db]'s")
	}
}

// TestUserRedis round-trips kemi user on a real redis-server.
func TestUserRedis(t *testing.T) {
	r := redistest.New(t)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port)})
	defer c.Close()
	userRoundTrip(t, []string{"--db-url", r.URL}, func(user, field string) string {
		return c.HGet(context.Background(), "kemi:subscriber:subscriber:"+user, field).Val()
	})
}
