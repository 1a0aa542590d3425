package main

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestAddressRoundTrip runs addressRoundTrip on a SQLite file.
func TestAddressRoundTrip(t *testing.T) {
	addressRoundTrip(t, "sqlite://"+filepath.Join(t.TempDir(), "kemi.db"))
}

// TestAddressRoundTripRedis runs addressRoundTrip on a redis-server.
func TestAddressRoundTripRedis(t *testing.T) {
	addressRoundTrip(t, redistest.New(t).URL)
}

// addressRoundTrip adds, lists and removes address rows with the exit
// statuses of each outcome, then loads the database into permissions:
// the rows kemi address writes are rows the module takes.
func addressRoundTrip(t *testing.T, url string) {
	dbFlag := []string{"--db-url", url}
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"address", "list"}, 0, ""},
		{[]string{"address", "rm", "1", "192.0.2.10"}, 1, ""},
		{[]string{"address", "add", "1", "192.0.2.10"}, 0, ""},
		{[]string{"address", "add", "1", "192.0.2.10"}, 1, ""}, // exists
		{[]string{"address", "add", "1", "192.0.2.10", "5060", "gw-a"}, 0, ""},
		{[]string{"address", "add", "2", "10.0.0.0/8", "0", "ten"}, 0, ""},
		{[]string{"address", "add", "3", "2001:db8::1"}, 0, ""},
		{[]string{"address", "add", "3", "gw.example.com", "5061"}, 0, ""},
		{[]string{"address", "list"}, 0, "1\t192.0.2.10/32\t0\t\n1\t192.0.2.10/32\t5060\tgw-a\n2\t10.0.0.0/8\t0\tten\n3\t2001:db8::1/128\t0\t\n3\tgw.example.com/32\t5061\t\n"},
		{[]string{"address", "list", "2"}, 0, "2\t10.0.0.0/8\t0\tten\n"},
		{[]string{"address", "add", "0", "192.0.2.1"}, 2, ""},
		{[]string{"address", "add", "1", "192.0.2.1/33"}, 2, ""},
		{[]string{"address", "add", "1", "2001:db8::/129"}, 2, ""},
		{[]string{"address", "add", "1", "192.0.2.1", "70000"}, 2, ""},
		{[]string{"address", "add", "x", "192.0.2.1"}, 2, ""},
		{[]string{"address", "add", "1"}, 2, ""},
		{[]string{"address", "add", "1", "192.0.2.1", "0", "t", "extra"}, 2, ""},
		{[]string{"address", "list", "0"}, 2, ""},
		{[]string{"address", "rm", "1", "192.0.2.10", "5060"}, 0, ""},
		{[]string{"address", "rm", "1", "192.0.2.10", "5060"}, 1, ""},
		{[]string{"address", "list", "1"}, 0, "1\t192.0.2.10/32\t0\t\n"},
	}
	for i, s := range steps {
		args := append(append([]string{s.args[0], s.args[1]}, dbFlag...), s.args[2:]...)
		code, out, errs := runUser(t, "", args...)
		if code != s.code || s.code == 0 && out != s.out {
			t.Errorf("step %d %v: status %d out %q (%s), want %d %q", i, s.args, code, out, errs, s.code, s.out)
		}
	}
	env := kemitest.Load(t, map[string]map[string]any{"permissions": {"db_url": url}}, "core", "permissions")
	defer env.Destroy()
	for _, c := range []struct {
		src  string
		want int64
	}{{"192.0.2.10:9", 1}, {"10.9.9.9:9", 2}, {"[2001:db8::1]:9", 3}, {"192.0.2.11:9", -1}} {
		m := kemitest.ParseMsg(t, "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:x@example.com>\nCall-ID: a\nCSeq: 1 OPTIONS\n\n")
		m.Src = netip.MustParseAddrPort(c.src)
		if v := env.Call(t, "KSR.permissions.allow_source_address_group", m); v.Int != c.want {
			t.Errorf("allow_source_address_group from %s = %d, want %d", c.src, v.Int, c.want)
		}
	}
}

// TestAddressDatabases: a database that keeps nothing, or a Redis
// Cluster, is a usage error; a Redis server that does not answer is a
// failure naming it.
func TestAddressDatabases(t *testing.T) {
	for _, c := range []struct {
		url, err string
		code     int
	}{
		{"memory", "keeps nothing", exitUsage},
		{"redis://127.0.0.1:1?addr=127.0.0.1:2", "Redis Cluster is not supported", exitUsage},
		{"redis://127.0.0.1:1/0", "127.0.0.1:1", exitFailure},
	} {
		for _, args := range [][]string{{"list"}, {"add", "1", "192.0.2.1"}, {"rm", "1", "192.0.2.1"}} {
			args = append([]string{"address", args[0], "--db-url", c.url}, args[1:]...)
			if code, _, errs := runUser(t, "", args...); code != c.code || !strings.Contains(errs, c.err) {
				t.Errorf("%v: status %d (%s), want %d and %q", args, code, errs, c.code, c.err)
			}
		}
	}
}
