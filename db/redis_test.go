package db

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
)

func mustParse(t *testing.T, raw string) URL {
	t.Helper()
	u, err := ParseURL(raw)
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", raw, err)
	}
	return u
}

func TestOpenRedis(t *testing.T) {
	ctx := context.Background()
	r := redistest.New(t)
	u := mustParse(t, fmt.Sprintf("redis://127.0.0.1:%d/2", r.Port))
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "kemi:test", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// the key is in database 2, not in 0
	u0 := mustParse(t, r.URL)
	c0, err := OpenRedis(ctx, u0)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if n, err := c0.Exists(ctx, "kemi:test").Result(); err != nil || n != 0 {
		t.Errorf("database 0 has the key: %d, %v", n, err)
	}
	if v, err := c.Get(ctx, "kemi:test").Result(); err != nil || v != "v" {
		t.Errorf("Get = %q, %v", v, err)
	}
}

func TestOpenRedisPassword(t *testing.T) {
	ctx := context.Background()
	r := redistest.New(t, "--requirepass", "s3cret")
	u := mustParse(t, fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", r.Port))
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	c.Close()
	for _, raw := range []string{
		fmt.Sprintf("redis://:wr0ng@127.0.0.1:%d/0", r.Port),
		r.URL,
	} {
		u := mustParse(t, raw)
		c, err := OpenRedis(ctx, u)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", u)
			continue
		}
		if strings.Contains(err.Error(), "wr0ng") || !strings.Contains(err.Error(), fmt.Sprint(r.Port)) {
			t.Errorf("%s: error %q; want it to name the server without the password", u, err)
		}
	}
}

func TestOpenRedisUnixSocket(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "redis.sock")
	redistest.New(t, "--unixsocket", sock)
	u := mustParse(t, "unix://"+sock+"?db=1")
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRedisServerAway: no server is an error naming the URL; a server
// that stops makes commands fail, and the same client works again once it
// is back, without being opened again.
func TestOpenRedisServerAway(t *testing.T) {
	ctx := context.Background()
	r := redistest.New(t, "--requirepass", "pw")
	r.Stop()
	u := mustParse(t, fmt.Sprintf("redis://:pw@127.0.0.1:%d/0", r.Port))
	if _, err := OpenRedis(ctx, u); err == nil || !strings.Contains(err.Error(), u.String()) || strings.Contains(err.Error(), ":pw@") {
		t.Fatalf("OpenRedis with no server: %v, want an error naming %s", err, u)
	}

	r.Restart()
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.Stop()
	if err := c.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("Set with the server stopped: nil")
	}
	r.Restart()
	var last error
	for range 50 { // the pool may hand out a dead connection first
		if last = c.Set(ctx, "k", "v", 0).Err(); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the client did not recover once the server was back: %v", last)
}
