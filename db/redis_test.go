package db

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisServer is a redis-server this test started.
type redisServer struct {
	cmd  *exec.Cmd
	port int
}

// startRedis starts redis-server on a free loopback port (the given one
// when not 0), with nothing saved to disk, and stops it by its pid when
// the test ends. It skips the test when redis-server is not installed.
func startRedis(t *testing.T, port int, args ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	if port == 0 {
		port = freePort(t)
	}
	all := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir()}, args...)
	cmd := exec.Command(bin, all...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{cmd: cmd, port: port}
	t.Cleanup(r.stop)
	for i := 0; ; i++ {
		if ping(port) == nil {
			return r
		}
		if i == 100 {
			r.stop()
			t.Fatalf("redis-server on port %d did not answer:\n%s", port, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *redisServer) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// ping says PING to a Redis server; one that wants a password answers
// NOAUTH, which is an answer too.
func ping(port int) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

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
	r := startRedis(t, 0)
	u := mustParse(t, fmt.Sprintf("redis://127.0.0.1:%d/2", r.port))
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "kemi:test", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// the key is in database 2, not in 0
	u0 := mustParse(t, fmt.Sprintf("redis://127.0.0.1:%d/0", r.port))
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
	r := startRedis(t, 0, "--requirepass", "s3cret")
	u := mustParse(t, fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", r.port))
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	c.Close()
	for _, raw := range []string{
		fmt.Sprintf("redis://:wr0ng@127.0.0.1:%d/0", r.port),
		fmt.Sprintf("redis://127.0.0.1:%d/0", r.port),
	} {
		u := mustParse(t, raw)
		c, err := OpenRedis(ctx, u)
		if err == nil {
			c.Close()
			t.Errorf("%s: opened", u)
			continue
		}
		if strings.Contains(err.Error(), "wr0ng") || !strings.Contains(err.Error(), fmt.Sprint(r.port)) {
			t.Errorf("%s: error %q; want it to name the server without the password", u, err)
		}
	}
}

func TestOpenRedisUnixSocket(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(t.TempDir(), "redis.sock")
	startRedis(t, 0, "--unixsocket", sock)
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
	port := freePort(t)
	u := mustParse(t, fmt.Sprintf("redis://:pw@127.0.0.1:%d/0", port))
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server is not installed (apt-get install redis-server): %v", err)
	}
	if _, err := OpenRedis(ctx, u); err == nil || !strings.Contains(err.Error(), u.String()) || strings.Contains(err.Error(), ":pw@") {
		t.Fatalf("OpenRedis with no server: %v, want an error naming %s", err, u)
	}

	r := startRedis(t, port, "--requirepass", "pw")
	c, err := OpenRedis(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.stop()
	if err := c.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Fatal("Set with the server stopped: nil")
	}
	startRedis(t, port, "--requirepass", "pw")
	var last error
	for range 50 { // the pool may hand out a dead connection first
		if last = c.Set(ctx, "k", "v", 0).Err(); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the client did not recover once the server was back: %v", last)
}
