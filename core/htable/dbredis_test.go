package htable

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
	"github.com/redis/go-redis/v9"
)

// redisClient connects to the test's redis-server at url.
func redisClient(t *testing.T, url string) redis.UniversalClient {
	return redistest.Client(t, url)
}

// redisEntries returns the rows of dbtable in Redis,
// "key_name|key_type|value_type|key_value|expires", sorted.
func redisEntries(t *testing.T, c redis.UniversalClient, dbtable string) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, dbtable+":entry::*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		h := c.HGetAll(ctx, k).Val()
		if k != dbtable+":entry::"+h["key_name"] {
			t.Errorf("row %s holds key_name %q", k, h["key_name"])
		}
		out = append(out, strings.Join([]string{h["key_name"], h["key_type"], h["value_type"], h["key_value"], h["expires"]}, "|"))
	}
	slices.Sort(out)
	return out
}

// TestDBTableOnRedis loads rows kept as Kamailio's db_redis keeps them
// (one hash per row, an array ordered by id, with db_expires an expiry
// time), changes the tables, writes them back at shutdown and finds the
// changes in a second engine; a table without dbmode is not written.
func TestDBTableOnRedis(t *testing.T) {
	url, _ := redistest.Start(t)
	c := redisClient(t, url)
	ctx := context.Background()
	now := time.Now().Unix()
	rows := []map[string]any{
		{"key_name": "greeting", "key_type": "0", "value_type": "0", "key_value": "hello", "expires": "0"},
		{"key_name": "count", "key_type": "0", "value_type": "1", "key_value": "42", "expires": "0"},
		{"id": "2", "key_name": "gw", "key_type": "1", "value_type": "0", "key_value": "192.0.2.2", "expires": "0"},
		{"id": "1", "key_name": "gw", "key_type": "1", "value_type": "0", "key_value": "192.0.2.1", "expires": "0"},
		{"key_name": "old", "key_type": "0", "value_type": "0", "key_value": "gone", "expires": fmt.Sprint(now - 10)},
	}
	for i, r := range rows {
		if err := c.HSet(ctx, fmt.Sprintf("htable:entry::%s-%d", r["key_name"], i), r).Err(); err != nil {
			t.Fatal(err)
		}
	}
	defs := []string{
		"k=>autoexpire=300;initval=0;dbtable=htable;dbmode=1",
		"ro=>dbtable=htable",
	}
	params := map[string]any{"db_expires": 1}
	e, err := loadURLErr(url, params, defs...)
	if err != nil {
		t.Fatal(err)
	}
	m := e.Prepare(kemitest.ParseMsg(t, invite))
	checkItems(t, e, m, append(kamailioItems,
		item{"k", "old", kemi.Int(0)}, // past its expires: skipped, initval
		item{"ro", "old", kemi.Str("gone")},
	))
	e.Call(t, "KSR.htable.sht_inc", m, "k", "count")
	e.Call(t, "KSR.htable.sht_sets", m, "k", "new", "v")
	e.Call(t, "KSR.htable.sht_rm", m, "k", "greeting")
	e.Call(t, "KSR.htable.sht_sets", m, "ro", "lost", "v")
	before := time.Now().Unix()
	e.Destroy()

	// every item of k expires with autoexpire (db_expires=1): 300 s
	// from when it was loaded or set
	want := "count|0|1|43;gw::size|0|1|2;gw[0]|0|0|192.0.2.1;gw[1]|0|0|192.0.2.2;new|0|0|v"
	var got []string
	for _, r := range redisEntries(t, c, "htable") {
		i := strings.LastIndexByte(r, '|')
		var exp int64
		fmt.Sscan(r[i+1:], &exp)
		if exp < now+299 || exp > before+301 {
			t.Errorf("row %s: expires %d, want about %d", r, exp, now+300)
		}
		got = append(got, r[:i])
	}
	if strings.Join(got, ";") != want {
		t.Errorf("rows written back:\n got %v\nwant %v", got, want)
	}

	e2, err := loadURLErr(url, params, defs...)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Destroy()
	m2 := e2.Prepare(kemitest.ParseMsg(t, invite))
	for key, want := range map[string]kemi.Value{"count": kemi.Int(43), "new": kemi.Str("v"), "greeting": kemi.Int(0), "gw[1]": kemi.Str("192.0.2.2")} {
		if got := e2.Call(t, "KSR.htable.sht_get", m2, "k", key); got != want {
			t.Errorf("after restart sht_get(k, %s) = %#v, want %#v", key, got, want)
		}
	}
}

// TestDBTableOnRedisRefusesBadRows stops the start on a row kemi cannot
// read, naming the key, and leaves Redis as it was.
func TestDBTableOnRedisRefusesBadRows(t *testing.T) {
	url, _ := redistest.Start(t)
	c := redisClient(t, url)
	ctx := context.Background()
	c.HSet(ctx, "htable:entry::n", "key_name", "n", "key_type", "0", "value_type", "1", "key_value", "abc")
	_, err := loadURLErr(url, nil, "t=>dbtable=htable;dbmode=1")
	if err == nil || !strings.Contains(err.Error(), `key "n": value_type 1 but key_value "abc" is not an integer`) {
		t.Errorf("error %v; want one naming the row", err)
	}
	if got := redisEntries(t, c, "htable"); len(got) != 1 {
		t.Errorf("after the refused start Redis holds %v", got)
	}
	c.Set(ctx, "htable:entry::s", "not a hash", 0)
	if _, err := loadURLErr(url, nil, "t=>dbtable=htable"); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("a row that is not a hash: error %v", err)
	}
}
