package permissions_test

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:alice@trusted.example>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10:5062>
Max-Forwards: 70

`

// newFile makes a SQLite file with Kamailio's address and trusted tables
// holding the rows given as SQL VALUES lists.
func newFile(t testing.TB, address, trusted []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kemi.db")
	f := db.NewSQLite(path, db.Address, db.Trusted)
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range address {
		if _, err := d.Exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES ` + v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	for _, v := range trusted {
		if _, err := d.Exec(`INSERT INTO trusted (src_ip, proto, from_pattern, ruri_pattern, tag, priority) VALUES ` + v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
	}
	return path
}

// load loads permissions on the database url.
func load(t testing.TB, url string, params map[string]any) *kemitest.Env {
	t.Helper()
	p := map[string]any{"db_url": url, "peer_tag_avp": "$avp(s:peer)"}
	for k, v := range params {
		p[k] = v
	}
	env := kemitest.Load(t, map[string]map[string]any{"permissions": p}, "core", "permissions")
	t.Cleanup(env.Destroy)
	return env
}

// msgFrom is the INVITE as received from src over proto.
func msgFrom(t testing.TB, src, proto string) *kemi.Msg {
	m := kemitest.ParseMsg(t, invite)
	m.Src = netip.MustParseAddrPort(src)
	m.Proto = proto
	return m
}

func tags(m *kemi.Msg) string {
	var out []string
	for _, v := range m.AVPs.All("peer") {
		out = append(out, v.String())
	}
	return strings.Join(out, ",")
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	env := kemitest.Load(t, map[string]map[string]any{"permissions": {"db_url": "memory"}}, "core", "permissions")
	defer env.Destroy()
	env.CheckExports(t, "permissions")
}

var addressRows = []string{
	`(1, '192.0.2.10', 32, 0, 'gw-a')`,
	`(1, '198.51.100.0', 24, 5060, 'net-b')`,
	`(2, '198.51.100.7', 32, 5080, NULL)`,
	`(3, '10.0.0.0', 8, 0, 'ten')`,
	`(2, '10.1.0.0', 16, 0, 'ten-one')`,
	`(4, '2001:db8::', 32, 0, 'v6')`,
	`(5, '[2001:db8:1::1]', 128, 0, 'v6-host')`,
	`(6, 'gw.example.com', 32, 0, 'byname')`,
	`(7, '203.0.113.1', 32, 0, '')`,
	`(8, '192.0.2.10', 32, 5070, 'gw-a-8')`,
}

// TestAllowSourceAddress checks allow_source_address and
// allow_source_address_group: hosts, CIDR subnets, port 0 = any port,
// IPv6, the tag in peer_tag_avp (none for a NULL tag, "" for an empty
// one), and the group search order (hosts first, newest row first; then
// subnets by increasing group).
func TestAllowSourceAddress(t *testing.T) {
	for _, url := range dbURLs(t, newFile(t, addressRows, nil)) {
		t.Run(scheme(url), func(t *testing.T) { allowSourceAddress(t, load(t, url, nil)) })
	}
}

func allowSourceAddress(t *testing.T, env *kemitest.Env) {
	tests := []struct {
		src      string
		grp      int
		want     int64
		wantTag  string
		wantAny  int64 // allow_source_address_group
		wantAnyT string
	}{
		{"192.0.2.10:5062", 1, 1, "gw-a", 1, "gw-a"},
		{"192.0.2.10:5070", 8, 1, "gw-a-8", 8, "gw-a-8"}, // newest host row first
		{"192.0.2.10:5070", 1, 1, "gw-a", 8, "gw-a-8"},
		{"192.0.2.11:5062", 1, -1, "", -1, ""},
		{"198.51.100.99:5060", 1, 1, "net-b", 1, "net-b"},
		{"198.51.100.99:5061", 1, -1, "", -1, ""}, // port must match
		{"198.51.100.7:5080", 2, 1, "", 2, ""},    // NULL tag: no AVP
		{"198.51.100.7:5060", 1, 1, "net-b", 1, "net-b"},
		{"10.1.2.3:1000", 3, 1, "ten", 2, "ten-one"}, // subnets by group: 2 before 3
		{"10.1.2.3:1000", 2, 1, "ten-one", 2, "ten-one"},
		{"10.200.0.1:1", 3, 1, "ten", 3, "ten"},
		{"[2001:db8:ff::1]:5060", 4, 1, "v6", 4, "v6"},
		{"[2001:db8:1::1]:5060", 5, 1, "v6-host", 5, "v6-host"},
		{"[2001:db9::1]:5060", 4, -1, "", -1, ""},
		{"[::ffff:192.0.2.10]:5062", 1, 1, "gw-a", 1, "gw-a"}, // v4-mapped
		{"203.0.113.1:5060", 7, 1, "", 7, ""},
	}
	for _, tc := range tests {
		m := msgFrom(t, tc.src, "udp")
		if v := env.Call(t, "KSR.permissions.allow_source_address", m, tc.grp); v.Int != tc.want || tags(m) != tc.wantTag {
			t.Errorf("allow_source_address(%d) from %s = %d tag %q, want %d %q", tc.grp, tc.src, v.Int, tags(m), tc.want, tc.wantTag)
		}
		m = msgFrom(t, tc.src, "udp")
		if v := env.Call(t, "KSR.permissions.allow_source_address_group", m); v.Int != tc.wantAny || tags(m) != tc.wantAnyT {
			t.Errorf("allow_source_address_group() from %s = %d tag %q, want %d %q", tc.src, v.Int, tags(m), tc.wantAny, tc.wantAnyT)
		}
	}
	// the empty tag is an AVP with an empty value
	m := msgFrom(t, "203.0.113.1:5060", "udp")
	env.Call(t, "KSR.permissions.allow_source_address", m, 7)
	if n := len(m.AVPs.All("peer")); n != 1 {
		t.Errorf("empty tag: %d AVPs, want 1", n)
	}
}

// TestAllowAddress checks allow_address and allow_address_group with
// addresses given as text: IPv4, IPv6 in brackets, domain names.
func TestAllowAddress(t *testing.T) {
	for _, url := range dbURLs(t, newFile(t, addressRows, nil)) {
		t.Run(scheme(url), func(t *testing.T) { allowAddress(t, load(t, url, nil)) })
	}
}

func allowAddress(t *testing.T, env *kemitest.Env) {
	tests := []struct {
		grp      int
		ip       string
		port     int
		want     int64
		wantTag  string
		wantAny  int64
		wantAnyT string
	}{
		{1, "192.0.2.10", 1, 1, "gw-a", 1, "gw-a"},
		{1, "198.51.100.1", 5060, 1, "net-b", 1, "net-b"},
		{1, "198.51.100.1", 0, -1, "", -1, ""},
		{4, "[2001:db8::5]", 5060, 1, "v6", 4, "v6"},
		{4, "2001:db8::5", 5060, 1, "v6", 4, "v6"},
		{6, "gw.example.com", 5060, 1, "byname", 6, ""}, // the group search sets no tag for names
		{6, "GW.example.com", 5060, -1, "", -1, ""},
		{1, "gw.example.com", 5060, -1, "", 6, ""},
		{1, "not an address", 5060, -1, "", -1, ""},
	}
	for _, tc := range tests {
		m := msgFrom(t, "127.0.0.1:5060", "udp")
		if v := env.Call(t, "KSR.permissions.allow_address", m, tc.grp, tc.ip, tc.port); v.Int != tc.want || tags(m) != tc.wantTag {
			t.Errorf("allow_address(%d, %q, %d) = %d tag %q, want %d %q", tc.grp, tc.ip, tc.port, v.Int, tags(m), tc.want, tc.wantTag)
		}
		m = msgFrom(t, "127.0.0.1:5060", "udp")
		if v := env.Call(t, "KSR.permissions.allow_address_group", m, tc.ip, tc.port); v.Int != tc.wantAny || tags(m) != tc.wantAnyT {
			t.Errorf("allow_address_group(%q, %d) = %d tag %q, want %d %q", tc.ip, tc.port, v.Int, tags(m), tc.wantAny, tc.wantAnyT)
		}
	}
}

var trustedRows = []string{
	`('192.0.2.20', 'any', NULL, NULL, 'plain', 0)`,
	`('192.0.2.21', 'tcp', NULL, NULL, 'tcp-only', 0)`,
	`('192.0.2.22', 'udp', '^sip:alice@', NULL, 'from-alice', 0)`,
	`('192.0.2.22', 'udp', NULL, '^sip:bob@example\.com$', 'to-bob', 5)`,
	`('192.0.2.23', 'any', '^sip:carol@', NULL, 'no', 0)`,
	`('192.0.2.24', 'none', NULL, NULL, 'skipped', 0)`,
	`('2001:db8::1', 'ANY', NULL, NULL, 'v6', 0)`,
}

// TestAllowTrusted checks allow_trusted: source address and protocol,
// From and R-URI patterns, priority order, peer_tag_mode 0 (first match)
// and 1 (every match, their count returned).
func TestAllowTrusted(t *testing.T) {
	for _, url := range dbURLs(t, newFile(t, nil, trustedRows)) {
		t.Run(scheme(url), func(t *testing.T) { allowTrusted(t, url) })
	}
}

func allowTrusted(t *testing.T, url string) {
	tests := []struct {
		mode     int
		src      string
		proto    string
		want     int64
		wantTags string // newest first
	}{
		{0, "192.0.2.20:5060", "udp", 1, "plain"},
		{0, "192.0.2.20:5060", "tls", 1, "plain"},
		{0, "192.0.2.21:5060", "udp", -1, ""},
		{0, "192.0.2.21:5060", "tcp", 1, "tcp-only"},
		{0, "192.0.2.22:5060", "udp", 1, "to-bob"}, // priority 5 first
		{1, "192.0.2.22:5060", "udp", 2, "from-alice,to-bob"},
		{0, "192.0.2.23:5060", "udp", -1, ""}, // From is alice
		{0, "192.0.2.24:5060", "udp", -1, ""}, // proto none: not loaded
		{0, "[2001:db8::1]:5060", "udp", 1, "v6"},
		{0, "192.0.2.99:5060", "udp", -1, ""},
	}
	envs := map[int]*kemitest.Env{}
	for _, tc := range tests {
		env := envs[tc.mode]
		if env == nil {
			env = load(t, url, map[string]any{"peer_tag_mode": tc.mode})
			envs[tc.mode] = env
		}
		m := msgFrom(t, tc.src, tc.proto)
		if v := env.Call(t, "KSR.permissions.allow_trusted", m); v.Int != tc.want || tags(m) != tc.wantTags {
			t.Errorf("mode %d allow_trusted() from %s/%s = %d tags %q, want %d %q", tc.mode, tc.src, tc.proto, v.Int, tags(m), tc.want, tc.wantTags)
		}
	}
}

// TestBadRowsRefused: a row that does not parse stops the start with an
// error naming the file (or the Redis key) and the row.
func TestBadRowsRefused(t *testing.T) {
	tests := []struct {
		name             string
		address, trusted []string
		want             string
	}{
		{"group 0", []string{`(0, '192.0.2.1', 32, 0, NULL)`}, nil, "grp 0"},
		{"v4 mask 33", []string{`(1, '192.0.2.1', 33, 0, NULL)`}, nil, "mask 33"},
		{"v6 mask 129", []string{`(1, '2001:db8::', 129, 0, NULL)`}, nil, "mask 129"},
		{"negative port", []string{`(1, '192.0.2.1', 32, -1, NULL)`}, nil, "port -1"},
		{"cidr in ip_addr", []string{`(1, '10.0.0.0/8', 32, 0, NULL)`}, nil, `"10.0.0.0/8"`},
		{"empty ip", []string{`(1, '', 32, 0, NULL)`}, nil, "ip_addr is empty"},
		{"bad proto", nil, []string{`('192.0.2.1', 'quic', NULL, NULL, NULL, 0)`}, `proto "quic"`},
		{"bad pattern", nil, []string{`('192.0.2.1', 'any', 'sip:(', NULL, NULL, 0)`}, "from_pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := newFile(t, append([]string{`(1, '192.0.2.9', 32, 0, NULL)`}, tc.address...), tc.trusted)
			for _, url := range dbURLs(t, path) {
				where := path
				if !strings.HasPrefix(url, "sqlite:") {
					where = permissions.RedisAddressKey("address")
					if tc.trusted != nil {
						where = permissions.RedisTrustedKey("trusted")
					}
				}
				_, err := kemitest.LoadErr(map[string]map[string]any{"permissions": {"db_url": url}}, "core", "permissions")
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), where) || !strings.Contains(err.Error(), "id=2") && tc.address != nil {
					t.Errorf("start error %v, want one naming %s, the row id=2 and %q", err, where, tc.want)
				}
			}
		})
	}
}

// TestBadParams: parameters that cannot work stop the start.
func TestBadParams(t *testing.T) {
	for _, p := range []map[string]any{
		{"db_url": "memory", "peer_tag_avp": "$var(x)"},
		{"db_url": "memory", "peer_tag_mode": 2},
		{"db_url": "memory", "db_mode": 3},
		{"db_url": "memory", "address_table": "addr; DROP"},
		{"db_url": "memory", "no_such_param": 1},
	} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"permissions": p}, "core", "permissions"); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
}

// TestNoFileIsEmpty: no database file yet is two empty tables, and
// nothing is created.
func TestNoFileIsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	env := load(t, "sqlite://"+path, nil)
	m := msgFrom(t, "192.0.2.10:5060", "udp")
	if v := env.Call(t, "KSR.permissions.allow_source_address", m, 1); v.Int != -1 {
		t.Errorf("allow_source_address = %d, want -1", v.Int)
	}
	if v := env.Call(t, "KSR.permissions.allow_trusted", m); v.Int != -1 {
		t.Errorf("allow_trusted = %d, want -1", v.Int)
	}
}

// TestSchemaIsKamailios compares the tables kemi creates with those of
// Kamailio's permissions-create.sql, version rows included.
func TestSchemaIsKamailios(t *testing.T) {
	const sql = "/usr/share/kamailio/db_sqlite/permissions-create.sql"
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed")
	}
	if _, err := exec.Command("test", "-r", sql).CombinedOutput(); err != nil {
		t.Skip(sql + " not installed (kamailio-sqlite-modules)")
	}
	dir := t.TempDir()
	kam := filepath.Join(dir, "kamailio.db")
	cli := func(file, in string) string {
		cmd := exec.Command(sqlite3, file)
		cmd.Stdin = strings.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", file, err, out)
		}
		return string(out)
	}
	cli(kam, "CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));\n.read "+sql+"\n")
	kemiFile := newFile(t, nil, nil)
	for _, table := range []string{"address", "trusted"} {
		want, got := cli(kam, ".schema "+table+"\n"), cli(kemiFile, ".schema "+table+"\n")
		if want == "" || got != want {
			t.Errorf("schema of %s:\nkemi:\n%s\nKamailio:\n%s", table, got, want)
		}
	}
	const versions = "SELECT table_name, table_version FROM version WHERE table_name IN ('address', 'trusted') ORDER BY table_name;\n"
	if want, got := cli(kam, versions), cli(kemiFile, versions); got != want {
		t.Errorf("version rows:\nkemi:\n%s\nKamailio:\n%s", got, want)
	}
}
