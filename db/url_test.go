package db

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in         string
		kind, path string
		err        string // a part of the error; "" when it parses
	}{
		{in: "", kind: KindSQLite, path: "kemi.db"},
		{in: "sqlite://kemi.db", kind: KindSQLite, path: "kemi.db"},
		{in: "sqlite:///var/lib/kemi/kemi.db", kind: KindSQLite, path: "/var/lib/kemi/kemi.db"},
		{in: "sqlite://data/../kemi.db", kind: KindSQLite, path: "kemi.db"},
		{in: "sqlite://data/kemi.db", kind: KindSQLite, path: "data/kemi.db"},
		{in: "sqlite3:///tmp/k.db", kind: KindSQLite, path: "/tmp/k.db"},
		{in: "sqlite://", err: "no file"},
		{in: "sqlite:///tmp/k.db?mode=ro", err: "SQLite URLs take no options"},
		{in: "redis://127.0.0.1:6379/0", kind: KindRedis},
		{in: "redis://localhost", kind: KindRedis},
		{in: "redis://user:secret@10.0.0.1:6379/3", kind: KindRedis},
		{in: "rediss://redis.example.com:6380/1", kind: KindRedis},
		{in: "unix:///run/redis/redis.sock?db=2", kind: KindRedis},
		{in: "redis://:sentinelpw@10.0.0.1:26379/0?master_name=mymaster&addr=10.0.0.2:26379", kind: KindRedis},
		{in: "redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000", kind: KindRedis},
		{in: "redis://127.0.0.1:6379/notanumber", err: "redis URL"},
		{in: "redis://127.0.0.1:6379/0?no_such_option=1", err: "unexpected option"},
		{in: "redis://10.0.0.1:7000?addr=nohostport", err: "cluster URL"},
		{in: "memory", kind: KindMemory},
		{in: "memory://", kind: KindMemory},
		{in: "memory:", kind: KindMemory},
		{in: "mysql://kamailio:kamailiorw@localhost/kamailio", err: `unknown database kind "mysql"`},
		{in: "postgres://localhost/kamailio", err: `unknown database kind "postgres"`},
		{in: "kemi.db", err: "not a database URL"},
		{in: "/var/lib/kemi/kemi.db", err: "not a database URL"},
	} {
		t.Run(c.in, func(t *testing.T) {
			u, err := ParseURL(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseURL(%q) = %+v, %v; want an error with %q", c.in, u, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", c.in, err)
			}
			if u.Kind != c.kind || u.Path != c.path {
				t.Errorf("ParseURL(%q) = kind %q path %q, want %q %q", c.in, u.Kind, u.Path, c.kind, c.path)
			}
			want := c.in
			if want == "" {
				want = DefaultURL
			}
			if u.Raw != want {
				t.Errorf("ParseURL(%q).Raw = %q, want %q", c.in, u.Raw, want)
			}
		})
	}
}

// TestRedisOptions checks that each form of Redis URL reaches the client
// go-redis should build for it: one server, Sentinel, cluster or a socket.
func TestRedisOptions(t *testing.T) {
	for _, c := range []struct {
		in                 string
		addrs              []string
		db                 int
		master             string
		cluster, dialer    bool
		user, pass         string
		sentUser, sentPass string
		tls                bool
	}{
		{in: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://localhost", addrs: []string{"localhost:6379"}},
		{in: "redis://u:pw@10.0.0.1:6379/3", addrs: []string{"10.0.0.1:6379"}, db: 3, user: "u", pass: "pw"},
		{in: "rediss://redis.example.com:6380/1", addrs: []string{"redis.example.com:6380"}, db: 1, tls: true},
		{in: "unix:///run/redis/redis.sock?db=2", addrs: []string{"/run/redis/redis.sock"}, db: 2, dialer: true},
		{
			in:    "redis://:sentinelpw@10.0.0.1:26379/4?master_name=mymaster&addr=10.0.0.2:26379&password=masterpw",
			addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"},
			db:    4, master: "mymaster", pass: "masterpw", sentPass: "sentinelpw",
		},
		{
			in:      "redis://u:pw@10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000",
			addrs:   []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
			cluster: true, user: "u", pass: "pw",
		},
	} {
		t.Run(c.in, func(t *testing.T) {
			o, err := redisOptions(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Addrs, c.addrs) || o.DB != c.db || o.MasterName != c.master ||
				o.IsClusterMode != c.cluster || (o.Dialer != nil) != c.dialer || (o.TLSConfig != nil) != c.tls {
				t.Errorf("options: addrs %q db %d master %q cluster %v dialer %v tls %v; want %q %d %q %v %v %v",
					o.Addrs, o.DB, o.MasterName, o.IsClusterMode, o.Dialer != nil, o.TLSConfig != nil,
					c.addrs, c.db, c.master, c.cluster, c.dialer, c.tls)
			}
			if o.Username != c.user || o.Password != c.pass || o.SentinelUsername != c.sentUser || o.SentinelPassword != c.sentPass {
				t.Errorf("credentials %q:%q sentinel %q:%q, want %q:%q sentinel %q:%q",
					o.Username, o.Password, o.SentinelUsername, o.SentinelPassword, c.user, c.pass, c.sentUser, c.sentPass)
			}
			if o.DialTimeout != redisDialTimeout || o.ReadTimeout != redisIOTimeout || o.WriteTimeout != redisIOTimeout {
				t.Errorf("timeouts dial %v read %v write %v, want the short ones", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
			}
		})
	}
}

// TestURLHidesPassword checks that no password of a db_url reaches a log
// line or an error: String masks it, and a URL that does not parse says so
// without repeating it.
func TestURLHidesPassword(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"redis://user:s3cret@10.0.0.1:6379/0", "redis://user:xxxxx@10.0.0.1:6379/0"},
		{"redis://:s3cret@10.0.0.1:6379/0", "redis://:xxxxx@10.0.0.1:6379/0"},
		{"rediss://user:s3cret@10.0.0.1:6380/0", "rediss://user:xxxxx@10.0.0.1:6380/0"},
		{"unix://user:s3cret@/run/redis.sock?db=1", "unix://user:xxxxx@/run/redis.sock?db=1"},
		{"redis://:s3cret@10.0.0.1:26379/0?master_name=m&password=s3cret", "redis://:xxxxx@10.0.0.1:26379/0?master_name=m&password=xxxxx"},
		{"redis://user@10.0.0.1:6379/0", "redis://user@10.0.0.1:6379/0"},
		{"redis://10.0.0.1:7000?addr=10.0.0.2:7000", "redis://10.0.0.1:7000?addr=10.0.0.2:7000"},
		{"redis://u:s3cret@10.0.0.1:7000?addr=10.0.0.2:7000", "redis://u:xxxxx@10.0.0.1:7000?addr=10.0.0.2:7000"},
		{"redis://10.0.0.1:6379/0", "redis://10.0.0.1:6379/0"},
		{"sqlite:///var/lib/kemi/kemi.db", "sqlite:///var/lib/kemi/kemi.db"},
		{"memory", "memory"},
	} {
		u, err := ParseURL(c.in)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", c.in, err)
		}
		if got := u.String(); got != c.want {
			t.Errorf("URL(%q).String() = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{
		"redis://user:s3cret@10.0.0.1:notaport/0",
		"redis://user:s3cret@10.0.0.1:6379/x",
		"redis://user:s3cret@10.0.0.1:6379/0?bogus=1",
		"redis://:s3cret@10.0.0.1:26379/x?master_name=m",
		"redis://user:s3cret@10.0.0.1:7000?addr=bad",
		"redis://10.0.0.1:6379/x?password=s3cret",
		"redis://user:s3#cret@10.0.0.1:6379/0",
		"redis://user:s3?cret@10.0.0.1:6379/0",
	} {
		_, err := ParseURL(bad)
		if err == nil {
			t.Errorf("ParseURL(%q) parsed", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "cret@") {
			t.Errorf("ParseURL(%q) error shows the password: %v", bad, err)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		in, dir   string
		path, raw string
	}{
		{in: "sqlite://kemi.db", dir: "/etc/kemi", path: "/etc/kemi/kemi.db", raw: "sqlite:///etc/kemi/kemi.db"},
		{in: "sqlite://data/kemi.db", dir: "/etc/kemi", path: "/etc/kemi/data/kemi.db", raw: "sqlite:///etc/kemi/data/kemi.db"},
		{in: "sqlite://kemi.db", dir: "conf", path: "conf/kemi.db", raw: "sqlite://conf/kemi.db"},
		{in: "sqlite:///var/lib/kemi/kemi.db", dir: "/etc/kemi", path: "/var/lib/kemi/kemi.db", raw: "sqlite:///var/lib/kemi/kemi.db"},
		{in: "sqlite://kemi.db", dir: "", path: "kemi.db", raw: "sqlite://kemi.db"},
		{in: "redis://127.0.0.1:6379/0", dir: "/etc/kemi", raw: "redis://127.0.0.1:6379/0"},
		{in: "memory", dir: "/etc/kemi", raw: "memory"},
	} {
		u, err := ParseURL(c.in)
		if err != nil {
			t.Fatal(err)
		}
		r := u.Resolve(c.dir)
		if r.Path != c.path || r.Raw != c.raw || r.Kind != u.Kind {
			t.Errorf("ParseURL(%q).Resolve(%q) = path %q raw %q kind %q, want %q %q %q", c.in, c.dir, r.Path, r.Raw, r.Kind, c.path, c.raw, u.Kind)
		}
		// what Resolve gives parses to the same file
		if again, err := ParseURL(r.Raw); err != nil || again.Path != r.Path {
			t.Errorf("ParseURL(%q) = %q, %v; want path %q", r.Raw, again.Path, err, r.Path)
		}
	}
}

func TestModuleURL(t *testing.T) {
	for _, c := range []struct {
		param, core, raw string
		err              bool
	}{
		{param: "sqlite://mod.db", core: "sqlite://core.db", raw: "sqlite://mod.db"},
		{param: "", core: "redis://127.0.0.1:6379/0", raw: "redis://127.0.0.1:6379/0"},
		{param: "", core: "", raw: DefaultURL},
		{param: "memory", core: "", raw: "memory"},
		{param: "mysql://x", core: "sqlite://core.db", err: true},
		{param: "", core: "mysql://x", err: true},
	} {
		u, err := ModuleURL(c.param, c.core)
		if (err != nil) != c.err || err == nil && u.Raw != c.raw {
			t.Errorf("ModuleURL(%q, %q) = %q, %v; want %q (error %v)", c.param, c.core, u.Raw, err, c.raw, c.err)
		}
	}
}

// TestRedisCluster tells cluster URLs from one server and Sentinel.
func TestRedisCluster(t *testing.T) {
	for in, want := range map[string]bool{
		"redis://10.0.0.1:7000?addr=10.0.0.2:7000":                   true,
		"redis://10.0.0.1:6379/0":                                    false,
		"redis://10.0.0.1:26379/0?master_name=m&addr=10.0.0.2:26379": false,
		"sqlite://kemi.db":                                           false,
		"memory":                                                     false,
	} {
		u, err := ParseURL(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.RedisCluster(); got != want {
			t.Errorf("%s: RedisCluster %v, want %v", in, got, want)
		}
	}
}

// TestRedisURLTuning: the pool and timeout options of a Redis URL reach
// the client for each kind of URL (they were parsed, then dropped: a
// pool_size or read_timeout in db_url did nothing); unset timeouts are
// kemi's short ones.
func TestRedisURLTuning(t *testing.T) {
	const q = "pool_size=7&min_idle_conns=2&read_timeout=3s&dial_timeout=4s&max_retries=3&client_name=kemi1"
	for _, in := range []string{
		"redis://127.0.0.1:6379/0?" + q,
		"redis://127.0.0.1:26379/0?master_name=m&" + q,
		"redis://127.0.0.1:7000?addr=127.0.0.1:7001&" + q,
	} {
		o, err := redisOptions(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if o.PoolSize != 7 || o.MinIdleConns != 2 || o.ReadTimeout != 3*time.Second || o.DialTimeout != 4*time.Second ||
			o.MaxRetries != 3 || o.ClientName != "kemi1" || o.WriteTimeout != redisIOTimeout {
			t.Errorf("%s: pool %d idle %d read %v dial %v write %v retries %d name %q", in,
				o.PoolSize, o.MinIdleConns, o.ReadTimeout, o.DialTimeout, o.WriteTimeout, o.MaxRetries, o.ClientName)
		}
	}
}
