package htable_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestDBTableOnRedisWithKamailio passes a dbtable kept in Redis from kemi
// to Kamailio 5.6 with db_redis and back: each reads what the other wrote
// back at shutdown.
func TestDBTableOnRedisWithKamailio(t *testing.T) {
	srv := redistest.New(t)
	u, _ := db.ParseURL(srv.URL)
	c, err := db.OpenRedis(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// the rows of seed(), as db_redis keeps them (the array by id)
	for key, row := range map[string][]any{
		"s":  {"key_name", "s", "key_type", "0", "value_type", "0", "key_value", "str"},
		"i":  {"key_name", "i", "key_type", "0", "value_type", "1", "key_value", "-3"},
		"n":  {"key_name", "n", "key_type", "0", "value_type", "1", "key_value", "5"},
		"g1": {"id", "1", "key_name", "gw", "key_type", "1", "value_type", "0", "key_value", "a"},
		"g2": {"id", "2", "key_name", "gw", "key_type", "1", "value_type", "0", "key_value", "b"},
	} {
		if err := c.HSet(ctx, "htable:entry::"+key, row...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s := startKemiOn(t, srv.URL)
	if got, want := mustVals(t, s.UDP()), "str|-3|6|a|b|2|yes"; got != want {
		t.Fatalf("kemi: X-Vals %q, want %q", got, want)
	}
	stop(t, s)

	c.Del(ctx, "htable:entry::done") // Kamailio increments n once more
	got := runKamailio(t, "testdata/kamailio-redis.cfg", "db_redis.so", "kamailio-redis-modules", "redis://127.0.0.1:"+strconv.Itoa(srv.Port)+"/0")
	if want := "str|-3|7|a|b|2|yes"; got != "" && got != want {
		t.Errorf("Kamailio on kemi's rows: X-Vals %q, want %q", got, want)
	}
	if got == "" {
		t.Skip("Kamailio did not run")
	}
	if v := c.HGet(ctx, "htable:entry::n", "key_value").Val(); v != "7" {
		t.Fatalf("after Kamailio Redis holds n = %q, want 7 (%v)", v, keysOf(ctx, c))
	}
	s3 := startKemiOn(t, srv.URL)
	if got, want := mustVals(t, s3.UDP()), "str|-3|7|a|b|2|yes"; got != want {
		t.Errorf("kemi on Kamailio's rows: X-Vals %q, want %q", got, want)
	}
}

func keysOf(ctx context.Context, c redis.UniversalClient) []string {
	return c.Keys(ctx, "*").Val()
}
