package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/internal/redistest"
)

// TestAddressRedisEngine runs kemi on an address table in Redis, in fork
// and no-fork mode: a row added with kemi address lets the source in at
// the next SIGHUP; a bad row written by hand, or a Redis server that does
// not answer, refuses the reload and the tables in use keep serving.
func TestAddressRedisEngine(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"fork", nil}, {"no-fork", []string{"--no-fork"}}} {
		t.Run(mode.name, func(t *testing.T) {
			s := redistest.New(t)
			u, err := db.ParseURL(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			rc, err := db.OpenRedis(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			key := permissions.RedisAddressKey("address")
			p := startKemi(t, procOpts{script: permissionsScript, args: mode.args,
				config: "[permissions]\ndb_url = \"" + s.URL + "\"\n"})
			expect := func(step, want string) {
				t.Helper()
				if r := options(p.sip, step, 2*time.Second); r != want {
					t.Errorf("%s: %q, want %q", step, r, want)
				}
			}
			expect("before", "SIP/2.0 403 Forbidden")

			if code, _, errs := runUser(t, "", "address", "add", "--db-url", s.URL, "1", "127.0.0.1"); code != 0 {
				t.Fatalf("kemi address add: status %d: %s", code, errs)
			}
			if err := rc.HSet(ctx, key, "99", `{"grp":1,"ip_addr":"192.0.2.9","mask":40}`).Err(); err != nil {
				t.Fatal(err)
			}
			p.hup("kemi_engine_reload_failures_total", 1)
			expect("bad-row", "SIP/2.0 403 Forbidden")
			if log := p.log.String(); !strings.Contains(log, "mask 40") || !strings.Contains(log, key) {
				t.Errorf("the refused reload does not name the key and the row")
			}

			if err := rc.HDel(ctx, key, "99").Err(); err != nil {
				t.Fatal(err)
			}
			p.hup("kemi_engine_reloads_total", 1)
			expect("good", "SIP/2.0 200 Allowed")
			if v := p.metric("kemi_permissions_address_rows"); v != 1 {
				t.Errorf("kemi_permissions_address_rows = %v, want 1", v)
			}

			s.Stop()
			p.hup("kemi_engine_reload_failures_total", 2)
			expect("redis-down", "SIP/2.0 200 Allowed")
			s.Restart() // empty: nothing kept on disk
			p.hup("kemi_engine_reloads_total", 2)
			expect("redis-empty", "SIP/2.0 403 Forbidden")
		})
	}
}

// hup sends SIGHUP and waits until series (a reload counter) reaches want.
func (p *kemiProc) hup(series string, want float64) {
	p.t.Helper()
	p.signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for p.metric(series) != want {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not reach %v", series, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
