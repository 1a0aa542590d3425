package permissions_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi/kemitest"
	"github.com/redis/go-redis/v9"
)

// redisClient connects to the test server at url.
func redisClient(t testing.TB, url string) redis.UniversalClient {
	return redistest.Client(t, url)
}

// putRow writes a row of a table hash as a writer other than kemi would:
// field id, value the JSON given.
func putRow(t testing.TB, c redis.UniversalClient, key string, id int64, value string) {
	t.Helper()
	if err := c.HSet(context.Background(), key, strconv.FormatInt(id, 10), value).Err(); err != nil {
		t.Fatal(err)
	}
}

// copyToRedis starts a redis-server holding the rows of the SQLite file
// path, as JSON, and returns its URL.
func copyToRedis(t testing.TB, path string) string {
	t.Helper()
	url := redistest.New(t).URL
	c := redisClient(t, url)
	d, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	arows, err := permissions.ReadAddressRows(context.Background(), d, "address")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range arows {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		putRow(t, c, permissions.RedisAddressKey("address"), r.ID, string(b))
	}
	rows, err := d.Query(`SELECT id, src_ip, proto, from_pattern, ruri_pattern, tag, priority FROM trusted`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r permissions.TrustedRow
		var from, ruri, tag sql.NullString
		if err := rows.Scan(&r.ID, &r.SrcIP, &r.Proto, &from, &ruri, &tag, &r.Priority); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			v   sql.NullString
			dst **string
		}{{from, &r.FromPattern}, {ruri, &r.RURIPattern}, {tag, &r.Tag}} {
			if p.v.Valid {
				*p.dst = &p.v.String
			}
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		putRow(t, c, permissions.RedisTrustedKey("trusted"), r.ID, string(b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return url
}

// dbURLs returns the databases a test of the tables in the SQLite file
// path runs on: the file, and a redis-server holding the same rows when
// one is installed.
func dbURLs(t testing.TB, path string) []string {
	t.Helper()
	urls := []string{"sqlite://" + path}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Log("redis-server is not installed: the Redis half of the test is skipped")
		return urls
	}
	return append(urls, copyToRedis(t, path))
}

// scheme names a database URL's kind in subtests.
func scheme(url string) string {
	s, _, _ := strings.Cut(url, ":")
	return s
}

// TestRowJSON reads rows as Redis holds them: Kamailio's column names,
// the schema's defaults for columns left out, NULL refused where the
// schema refuses it, unknown columns and wrong types refused.
func TestRowJSON(t *testing.T) {
	tag := "gw"
	// decode reads a row of the table whose first column is given: the
	// JSON says which table it is for
	decode := func(in string) (fmt.Stringer, error) {
		if strings.Contains(in, "src_ip") || strings.Contains(in, "proto") {
			r := &permissions.TrustedRow{}
			return r, json.Unmarshal([]byte(in), r)
		}
		r := &permissions.AddressRow{}
		return r, json.Unmarshal([]byte(in), r)
	}
	for _, c := range []struct {
		in, want, err string
	}{
		{in: `{"ip_addr":"192.0.2.1"}`, want: `id=0 grp=1 ip_addr="192.0.2.1" mask=32 port=0 tag=NULL`},
		{in: `{"id":7,"grp":3,"ip_addr":"10.0.0.0","mask":8,"port":5060,"tag":"gw"}`, want: `id=7 grp=3 ip_addr="10.0.0.0" mask=8 port=5060 tag="gw"`},
		{in: `{"ip_addr":"192.0.2.1","tag":""}`, want: `id=0 grp=1 ip_addr="192.0.2.1" mask=32 port=0 tag=""`},
		{in: `{"grp":1}`, err: "must not be NULL"},
		{in: `{"ip_addr":"192.0.2.1","mask":null}`, err: "must not be NULL"},
		{in: `{"ip_addr":"192.0.2.1","ip":"x"}`, err: `unknown field "ip"`},
		{in: `{"ip_addr":"192.0.2.1","grp":"1"}`, err: "cannot unmarshal string"},
		{in: `{"ip_addr":"192.0.2.1"} x`, err: "after top-level value"},
		{in: `192.0.2.1`, err: "invalid"},
		{in: `{"src_ip":"192.0.2.1","proto":"any"}`, want: `id=0 src_ip="192.0.2.1" proto="any" from_pattern=NULL ruri_pattern=NULL tag=NULL priority=0`},
		{in: `{"id":2,"src_ip":"192.0.2.1","proto":"udp","from_pattern":"^sip:a@","ruri_pattern":null,"tag":"t","priority":5}`,
			want: `id=2 src_ip="192.0.2.1" proto="udp" from_pattern="^sip:a@" ruri_pattern=NULL tag="t" priority=5`},
		{in: `{"src_ip":"192.0.2.1"}`, err: "must not be NULL"},
		{in: `{"proto":"any"}`, err: "must not be NULL"},
		{in: `{"src_ip":"192.0.2.1","proto":"any","priority":null}`, err: "must not be NULL"},
		{in: `{"src_ip":"192.0.2.1","proto":"any","pattern":"x"}`, err: "unknown field"},
	} {
		r, err := decode(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
		case err != nil || r.String() != c.want:
			t.Errorf("%s: %s, %v; want %s", c.in, r, err, c.want)
		}
	}
	// what kemi writes, it reads back
	a := permissions.AddressRow{ID: 4, Grp: 2, IP: "2001:db8::", Mask: 32, Port: 5061, Tag: &tag}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"id":4,"grp":2,"ip_addr":"2001:db8::","mask":32,"port":5061,"tag":"gw"}` {
		t.Errorf("address row as JSON: %s", b)
	}
	var back permissions.AddressRow
	if err := json.Unmarshal(b, &back); err != nil || back.String() != a.String() {
		t.Errorf("read back: %s, %v; want %s", back, err, a)
	}
}

// TestRedisBadRowsRefused: a table hash whose field is not an id, or
// whose value is not a row, stops the start with an error naming the
// key and the value.
func TestRedisBadRowsRefused(t *testing.T) {
	s := redistest.New(t)
	c := redisClient(t, s.URL)
	akey, tkey := permissions.RedisAddressKey("address"), permissions.RedisTrustedKey("trusted")
	for _, tc := range []struct {
		key, field, value string
		want              []string
	}{
		{akey, "x", `{"ip_addr":"192.0.2.1"}`, []string{akey, `field "x"`}},
		{akey, "02", `{"ip_addr":"192.0.2.1"}`, []string{akey, `field "02"`}},
		{akey, "0", `{"ip_addr":"192.0.2.1"}`, []string{akey, `field "0"`}},
		{akey, "2", `{"ip_addr":"192.0.2.1"`, []string{akey, `row 2 {"ip_addr":"192.0.2.1"`, "unexpected end of JSON input"}},
		{akey, "2", `{"ip_addr":"192.0.2.1","grp":null}`, []string{akey, `row 2 {"ip_addr":"192.0.2.1","grp":null}`, "NULL"}},
		{akey, "2", `{"ip_addr":"192.0.2.1","ip":"x"}`, []string{akey, `"ip"`}},
		{akey, "2", `{"id":3,"ip_addr":"192.0.2.1"}`, []string{akey, "id 3 is not its field"}},
		{akey, "2", `{"ip_addr":"192.0.2.1","mask":40}`, []string{akey, "address row id=2", "mask 40"}},
		{tkey, "1", `{"src_ip":"192.0.2.1","proto":"quic"}`, []string{tkey, "trusted row id=1", `proto "quic"`}},
		{tkey, "1", `{"src_ip":"192.0.2.1","proto":"any","ruri_pattern":"sip:("}`, []string{tkey, "ruri_pattern"}},
		{tkey, "1", `{"proto":"any"}`, []string{tkey, "NULL"}},
	} {
		ctx := context.Background()
		if err := c.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		putRow(t, c, akey, 1, `{"ip_addr":"192.0.2.9"}`)
		if err := c.HSet(ctx, tc.key, tc.field, tc.value).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := kemitest.LoadErr(map[string]map[string]any{"permissions": {"db_url": s.URL}}, "core", "permissions")
		if err == nil {
			t.Errorf("%s %s %s: started", tc.key, tc.field, tc.value)
			continue
		}
		for _, w := range append(tc.want, s.URL) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s %s: error %q does not name %q", tc.key, tc.field, tc.value, err, w)
			}
		}
	}
}

// TestRedisStartErrors: a Redis server that does not answer stops the
// start naming it; a Redis Cluster is refused.
func TestRedisStartErrors(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:1/0", "127.0.0.1:1"},
		{"redis://u:pw@127.0.0.1:1?addr=127.0.0.1:2", "Redis Cluster is not supported"},
	} {
		_, err := kemitest.LoadErr(map[string]map[string]any{"permissions": {"db_url": c.url}}, "core", "permissions")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "permissions") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: start error %v, want one from permissions naming %q, without the password", c.url, err, c.want)
		}
	}
}

// TestRedisReload: PrepareReload reads the Redis tables again; a bad row,
// or a Redis server that does not answer, refuses the reload and the
// tables in use stay; once it answers again, a reload takes its rows.
func TestRedisReload(t *testing.T) {
	s := redistest.New(t)
	c := redisClient(t, s.URL)
	akey := permissions.RedisAddressKey("address")
	putRow(t, c, akey, 1, `{"grp":1,"ip_addr":"192.0.2.10"}`)
	mod, from := newModule(t, s.URL)
	if g := from("192.0.2.10:5060"); g != 1 {
		t.Fatalf("at start: group %d, want 1", g)
	}

	putRow(t, c, akey, 2, `{"grp":2,"ip_addr":"192.0.2.11","mask":40}`)
	if commit, err := mod.PrepareReload(); err == nil || commit != nil || !strings.Contains(err.Error(), "mask 40") || !strings.Contains(err.Error(), akey) {
		t.Errorf("reload with a bad row: %v", err)
	}
	putRow(t, c, akey, 2, `{"grp":2,"ip_addr":"192.0.2.11"}`)
	commit, err := mod.PrepareReload()
	if err != nil {
		t.Fatal(err)
	}
	if g := from("192.0.2.11:5060"); g != -1 {
		t.Errorf("prepared, not committed: group %d, want -1", g)
	}
	commit()
	if g := from("192.0.2.11:5060"); g != 2 {
		t.Errorf("after the reload: group %d, want 2", g)
	}

	s.Stop()
	if commit, err := mod.PrepareReload(); err == nil || commit != nil || !strings.Contains(err.Error(), s.URL) {
		t.Errorf("reload with Redis down: %v, want an error naming it", err)
	}
	if g := from("192.0.2.11:5060"); g != 2 {
		t.Errorf("after a refused reload: group %d, want 2 (the tables in use)", g)
	}
	s.Restart() // empty: the reload takes an empty table, as SQL would
	putRow(t, c, akey, 5, `{"grp":5,"ip_addr":"192.0.2.11"}`)
	if commit, err = mod.PrepareReload(); err != nil {
		t.Fatal(err)
	}
	commit()
	if g := from("192.0.2.11:5060"); g != 5 {
		t.Errorf("after Redis came back: group %d, want 5", g)
	}
}
