package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// startRedis starts a redis-server for t and connects to it; the client
// is closed when t ends.
func startRedis(t *testing.T) (*redistest.Server, redis.UniversalClient) {
	t.Helper()
	s := redistest.New(t)
	return s, redistest.Client(t, s.URL)
}

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
			s, rc := startRedis(t)
			ctx := context.Background()
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

// TestAddressRedisConcurrent: kemi address writers that race on one
// Redis table: of adds of one row exactly one wins, adds of different
// rows all land with ids of their own; a row written by hand with a high
// id is below the next one added.
func TestAddressRedisConcurrent(t *testing.T) {
	_, rc := startRedis(t)
	ctx := context.Background()
	tbl := &redisAddresses{c: rc}
	const writers = 8
	race := func(row func(i int) permissions.AddressRow) []error {
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() { errs[i] = tbl.change(ctx, addRow(row(i))) })
		}
		wg.Wait()
		return errs
	}
	won := 0
	for _, err := range race(func(int) permissions.AddressRow { return permissions.AddressRow{Grp: 1, IP: "192.0.2.1", Mask: 32} }) {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errAddressExists):
			t.Errorf("add of one row: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d adds of one row won, want 1", won)
	}
	for i, err := range race(func(i int) permissions.AddressRow {
		return permissions.AddressRow{Grp: 2, IP: fmt.Sprintf("192.0.2.%d", 100+i), Mask: 32}
	}) {
		if err != nil {
			t.Errorf("add of row %d: %v", i, err)
		}
	}
	if err := rc.HSet(ctx, permissions.RedisAddressKey("address"), "50", `{"grp":3,"ip_addr":"192.0.2.50"}`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tbl.change(ctx, addRow(permissions.AddressRow{Grp: 3, IP: "192.0.2.51", Mask: 32})); err != nil {
		t.Fatal(err)
	}
	rows, err := tbl.rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for _, r := range rows {
		ids[r.ID] = true
	}
	if len(rows) != 1+writers+2 || len(ids) != len(rows) {
		t.Errorf("%d rows, %d ids, want %d of each: %v", len(rows), len(ids), 1+writers+2, rows)
	}
	if last := rows[len(rows)-1]; last.ID != 51 || last.IP != "192.0.2.51" {
		t.Errorf("the row added after id 50: %s, want id=51", last)
	}
	if n, err := rc.Get(ctx, permissions.RedisIDKey(permissions.RedisAddressKey("address"))).Int64(); err != nil || n != 51 {
		t.Errorf("id counter %d, %v; want 51", n, err)
	}
}
