package dispatcher

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const testList = `# set 1: three equal destinations
1 sip:127.0.0.1:5071 0 0 duid=a
1 sip:127.0.0.1:5072 0 0 duid=b

1 sip:127.0.0.1:5073 0 0 duid=c
# set 2: weights and priorities
2 sip:10.0.0.1:5060 0 1 weight=50;rweight=50
2 sip:10.0.0.2 0 3 weight=30;rweight=30
2 sip:10.0.0.3;transport=tcp 0 2 weight=20;rweight=20
# set 3: all down
3 sip:10.0.1.1 1 0
3 sip:10.0.1.2 4 0
`

// load starts the module with list as list_file and extra parameters.
func load(t testing.TB, list string, params map[string]any) *kemitest.Env {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	if _, ok := params["flags"]; !ok {
		params["flags"] = 2 // failover, as most deployments set it
	}
	if list != "" {
		path := filepath.Join(t.TempDir(), "dispatcher.list")
		if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
			t.Fatal(err)
		}
		params["list_file"] = path
	}
	env := kemitest.Load(t, map[string]map[string]any{"dispatcher": params}, "core", "dispatcher")
	t.Cleanup(env.Destroy)
	return env
}

func invite(t testing.TB, callID string) *kemi.Msg {
	t.Helper()
	return kemitest.ParseMsg(t, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: "+callID+"\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
}

func TestStartsWithoutList(t *testing.T) {
	env := load(t, "", nil)
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 4).AsInt(); got != -1 {
		t.Errorf("ds_select_dst with no list = %d, want -1", got)
	}
}

func TestBadListLines(t *testing.T) {
	for _, tc := range []struct{ list, want string }{
		{"1\n", ":1: want"},
		{"# c\n\nx sip:a\n", ":3: set id"},
		{"1 sip:a 0 0 a b\n", ":1: too many fields"},
		{"1 sip:a z\n", ":1: flags"},
		{"1 sip:a 0 p\n", ":1: priority"},
		{"1 sip:a 0 0 weight=abc\n", ":1: attribute"},
		{"1 sip:a 0 0 weight=101\n", ":1: attribute"},
		{"1 sip:a\n2 not a uri\n", ":2: "},
	} {
		path := filepath.Join(t.TempDir(), "dispatcher.list")
		if err := os.WriteFile(path, []byte(tc.list), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := kemitest.LoadErr(map[string]map[string]any{"dispatcher": {"list_file": path}}, "core", "dispatcher")
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("list %q: error %v, want one containing %q", tc.list, err, path+tc.want)
		}
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"dispatcher": {"list_file": "/nonexistent/ds.list"}}, "core", "dispatcher"); err == nil {
		t.Error("a missing list_file was accepted")
	}
}

func TestPriorityOrder(t *testing.T) {
	env := load(t, testList, nil)
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 2, 8).AsInt(); got != 1 {
		t.Fatalf("ds_select_dst = %d", got)
	}
	var got []string
	for _, c := range loadCandidates(m) {
		got = append(got, c.uri)
	}
	want := "sip:10.0.0.2 sip:10.0.0.3;transport=tcp sip:10.0.0.1:5060"
	if strings.Join(got, " ") != want || m.DstURI != "sip:10.0.0.2" {
		t.Errorf("candidates %v, $du %q; want %s", got, m.DstURI, want)
	}
}

// picks selects n times from set with alg and counts the $du chosen.
func picks(t *testing.T, env *kemitest.Env, set, alg, n int, msg func(i int) *kemi.Msg) map[string]int {
	t.Helper()
	count := map[string]int{}
	for i := 0; i < n; i++ {
		m := msg(i)
		if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, set, alg).AsInt(); got != 1 {
			t.Fatalf("ds_select_dst(%d, %d) = %d", set, alg, got)
		}
		count[m.DstURI]++
	}
	return count
}

func TestAlgorithms(t *testing.T) {
	const n = 10000
	for _, tc := range []struct {
		name string
		set  int
		alg  int
		msg  func(t *testing.T, i int) *kemi.Msg
		want map[string]float64 // share of picks; 0 tolerance means exact
		tol  float64
	}{
		{"round robin", 1, 4, func(t *testing.T, i int) *kemi.Msg { return invite(t, "same") },
			map[string]float64{"sip:127.0.0.1:5071": 1. / 3, "sip:127.0.0.1:5072": 1. / 3, "sip:127.0.0.1:5073": 1. / 3}, 0.001},
		{"weight", 2, 9, func(t *testing.T, i int) *kemi.Msg { return invite(t, "same") },
			map[string]float64{"sip:10.0.0.1:5060": .5, "sip:10.0.0.2": .3, "sip:10.0.0.3;transport=tcp": .2}, 0.1},
		{"relative weight", 2, 11, func(t *testing.T, i int) *kemi.Msg { return invite(t, "same") },
			map[string]float64{"sip:10.0.0.1:5060": .5, "sip:10.0.0.2": .3, "sip:10.0.0.3;transport=tcp": .2}, 0.1},
		{"random", 1, 6, func(t *testing.T, i int) *kemi.Msg { return invite(t, "same") },
			map[string]float64{"sip:127.0.0.1:5071": 1. / 3, "sip:127.0.0.1:5072": 1. / 3, "sip:127.0.0.1:5073": 1. / 3}, 0.1},
		{"hash call-id", 1, 0, func(t *testing.T, i int) *kemi.Msg { return invite(t, fmt.Sprintf("call-%d", i)) },
			map[string]float64{"sip:127.0.0.1:5071": 1. / 3, "sip:127.0.0.1:5072": 1. / 3, "sip:127.0.0.1:5073": 1. / 3}, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := load(t, testList, nil)
			count := picks(t, env, tc.set, tc.alg, n, func(i int) *kemi.Msg { return tc.msg(t, i) })
			total := 0
			for uri, share := range tc.want {
				got := float64(count[uri]) / n
				if got < share*(1-tc.tol) || got > share*(1+tc.tol) {
					t.Errorf("%s got %.4f of picks, want %.4f ± %.0f%%", uri, got, share, tc.tol*100)
				}
				total += count[uri]
			}
			if total != n {
				t.Errorf("picks outside the set: %v", count)
			}
		})
	}
	t.Run("round robin exact", func(t *testing.T) {
		env := load(t, testList, nil)
		count := picks(t, env, 1, 4, 9999, func(int) *kemi.Msg { return invite(t, "x") })
		for uri, c := range count {
			if c != 3333 {
				t.Errorf("%s picked %d times of 9999, want 3333", uri, c)
			}
		}
	})
}

func TestHashAlgorithmsAreStable(t *testing.T) {
	env := load(t, testList, map[string]any{"hash_pvar": "$fU"})
	for _, alg := range []int{0, 1, 2, 3, 7} {
		first := ""
		for i := 0; i < 5; i++ {
			m := invite(t, "stable-call")
			if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, alg).AsInt(); got != 1 {
				t.Fatalf("alg %d: ds_select_dst = %d", alg, got)
			}
			if first == "" {
				first = m.DstURI
			} else if m.DstURI != first {
				t.Errorf("alg %d: same message went to %s then %s", alg, first, m.DstURI)
			}
		}
	}
}

func TestFailover(t *testing.T) {
	env := load(t, testList, nil)
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 4).AsInt(); got != 1 {
		t.Fatalf("ds_select_dst = %d", got)
	}
	got := []string{m.DstURI}
	// The failure route runs on a copy that keeps the AVPs, as tm's does.
	f := m.Copy()
	for env.Call(t, "KSR.dispatcher.ds_next_dst", f).AsInt() == 1 {
		got = append(got, f.DstURI)
	}
	// Equal priorities: reverse file order, as Kamailio 5.6 gives them.
	want := "sip:127.0.0.1:5073 sip:127.0.0.1:5072 sip:127.0.0.1:5071"
	if strings.Join(got, " ") != want {
		t.Errorf("failover order %v, want %s", got, want)
	}

	// ds_select_dst_limit keeps only limit candidates; the second selection
	// starts from the next destination.
	m = invite(t, "c2")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst_limit", m, 1, 4, 2).AsInt(); got != 1 {
		t.Fatalf("ds_select_dst_limit = %d", got)
	}
	if c := loadCandidates(m); len(c) != 2 || c[0].uri != "sip:127.0.0.1:5072" {
		t.Errorf("limited candidates %v", c)
	}
	env.Call(t, "KSR.dispatcher.ds_next_dst", m)
	if got := env.Call(t, "KSR.dispatcher.ds_next_dst", m).AsInt(); got != -1 {
		t.Errorf("ds_next_dst past the limit = %d, want -1", got)
	}

	// ds_mark_dst takes the destination in use out of rotation.
	m = invite(t, "c3")
	env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 8)
	if got := env.Call(t, "KSR.dispatcher.ds_mark_dst", m).AsInt(); got != 1 {
		t.Fatalf("ds_mark_dst = %d", got)
	}
	count := picks(t, env, 1, 4, 6, func(int) *kemi.Msg { return invite(t, "x") })
	if count["sip:127.0.0.1:5073"] != 0 {
		t.Errorf("a marked destination was selected: %v", count)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_is_active_uri", m, 1, "sip:127.0.0.1:5073").AsInt(); got != -1 {
		t.Errorf("ds_is_active_uri of a marked destination = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_mark_dst_state", m, "a").AsInt(); got != 1 {
		t.Fatalf("ds_mark_dst_state(a) = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_is_active_uri", m, 1, "sip:127.0.0.1:5073").AsInt(); got != 1 {
		t.Errorf("ds_is_active_uri after marking active = %d", got)
	}
}

func TestDomainAndParallel(t *testing.T) {
	env := load(t, testList, nil)
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_domain", m, 1, 8).AsInt(); got != 1 {
		t.Fatalf("ds_select_domain = %d", got)
	}
	if m.RURI() != "sip:bob@127.0.0.1:5073" || m.DstURI != "" {
		t.Errorf("R-URI %s, $du %q", m.RURI(), m.DstURI)
	}
	env.Call(t, "KSR.dispatcher.ds_next_domain", m)
	if m.RURI() != "sip:bob@127.0.0.1:5072" {
		t.Errorf("after ds_next_domain R-URI %s", m.RURI())
	}

	m = invite(t, "c2")
	if got := env.Call(t, "KSR.dispatcher.ds_select", m, 1, 4).AsInt(); got != 1 || m.DstURI != "" || len(loadCandidates(m)) != 3 {
		t.Errorf("ds_select = %d, $du %q, candidates %v", got, m.DstURI, loadCandidates(m))
	}
	if got := env.Call(t, "KSR.dispatcher.ds_set_dst", m).AsInt(); got != 1 || m.DstURI == "" {
		t.Errorf("ds_set_dst = %d, $du %q", got, m.DstURI)
	}

	m = invite(t, "c3")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 12).AsInt(); got != 1 {
		t.Fatalf("ds_select_dst(1, 12) = %d", got)
	}
	all := []string{m.DstURI}
	for _, b := range m.Branches {
		all = append(all, b.DstURI)
	}
	if strings.Join(all, " ") != "sip:127.0.0.1:5073 sip:127.0.0.1:5072 sip:127.0.0.1:5071" {
		t.Errorf("parallel destinations %v", all)
	}
	if c := loadCandidates(m); len(c) != 0 {
		t.Errorf("parallel forking kept failover candidates %v; Kamailio keeps none", c)
	}
}

func TestEmptyOrDown(t *testing.T) {
	env := load(t, testList, nil)
	for _, tc := range []struct{ set, alg int }{{3, 4}, {3, 0}, {3, 8}, {3, 9}, {3, 11}, {3, 12}, {9, 4}} {
		m := invite(t, "c1")
		if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, tc.set, tc.alg).AsInt(); got != -1 || m.DstURI != "" {
			t.Errorf("ds_select_dst(%d, %d) = %d, $du %q; want -1", tc.set, tc.alg, got, m.DstURI)
		}
	}
	m := invite(t, "c1")
	for _, alg := range []int{10, 99} {
		// As Kamailio 5.6: an algorithm it does not implement takes the
		// first destination.
		if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, alg).AsInt(); got != 1 || m.DstURI != "sip:127.0.0.1:5073" {
			t.Errorf("algorithm %d = %d, $du %s; want 1, the first destination", alg, got, m.DstURI)
		}
	}
	if got := env.Call(t, "KSR.dispatcher.ds_is_active", m, 3).AsInt(); got != -1 {
		t.Errorf("ds_is_active(3) = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_list_exists", m, 3).AsInt(); got != 1 {
		t.Errorf("ds_list_exists(3) = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_list_exists", m, 9).AsInt(); got != -1 {
		t.Errorf("ds_list_exists(9) = %d", got)
	}
}

func TestIsFromList(t *testing.T) {
	env := load(t, testList, map[string]any{"setid_pvname": "$avp(dsset)", "attrs_pvname": "$avp(dsattrs)"})
	from := func(src, proto string) *kemi.Msg {
		m := invite(t, "c1")
		m.Src, m.Proto = netip.MustParseAddrPort(src), proto
		return m
	}
	for _, tc := range []struct {
		name string
		fn   string
		src  string
		args []any
		want int64
	}{
		{"in set", "ds_is_from_list", "127.0.0.1:5072", []any{1}, 1},
		{"other set", "ds_is_from_list", "127.0.0.1:5072", []any{2}, -1},
		{"wrong port", "ds_is_from_list", "127.0.0.1:5080", []any{1}, -1},
		{"no port in the list", "ds_is_from_list", "10.0.0.2:5099", []any{2}, 1},
		{"any set", "ds_is_from_lists", "10.0.1.1:5060", nil, 1},
		{"any set -1", "ds_is_from_list", "10.0.1.1:5060", []any{-1}, 1},
		{"no port, no proto mode", "ds_is_from_list_mode", "127.0.0.1:5999", []any{1, 3}, 1},
		{"proto matched", "ds_is_from_list_mode", "10.0.0.3:5060", []any{2, 0}, -1},
		{"proto ignored", "ds_is_from_list_mode", "10.0.0.3:5060", []any{2, 2}, 1},
		// As Kamailio 5.6: a destination without transport has no
		// protocol, so mode 0 never matches it against a source.
		{"no transport, mode 0", "ds_is_from_list_mode", "127.0.0.1:5072", []any{1, 0}, -1},
		{"no transport, uri without transport", "ds_is_from_list_uri", "192.0.2.1:5060", []any{1, 0, "sip:127.0.0.1:5072"}, 1},
		{"active only", "ds_is_from_list_mode", "10.0.1.1:5060", []any{3, 4}, -1},
		{"uri with a transport the list lacks", "ds_is_from_list_uri", "192.0.2.1:5060", []any{1, 0, "sip:127.0.0.1:5073;transport=udp"}, -1},
		{"uri not in set", "ds_is_from_list_uri", "127.0.0.1:5073", []any{1, 0, "sip:127.0.0.9:5073"}, -1},
	} {
		m := from(tc.src, "udp")
		if got := env.Call(t, "KSR.dispatcher."+tc.fn, m, tc.args...).AsInt(); got != tc.want {
			t.Errorf("%s: %s%v from %s = %d, want %d", tc.name, tc.fn, tc.args, tc.src, got, tc.want)
		}
	}
	m := from("127.0.0.1:5072", "udp")
	env.Call(t, "KSR.dispatcher.ds_is_from_list", m, 1)
	if v, _ := m.AVPs.Get("dsset", 0); v.AsInt() != 1 {
		t.Errorf("$avp(dsset) = %v", v)
	}
	if v, _ := m.AVPs.Get("dsattrs", 0); v.String() != "duid=b" {
		t.Errorf("$avp(dsattrs) = %v", v)
	}
}

func TestSelectRoutes(t *testing.T) {
	env := load(t, testList, nil)
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_routes", m, "2=8;1=8", "d").AsInt(); got != 1 {
		t.Fatalf("ds_select_routes = %d", got)
	}
	var got []string
	for _, c := range loadCandidates(m) {
		got = append(got, c.uri)
	}
	want := "sip:10.0.0.2 sip:10.0.0.3;transport=tcp sip:10.0.0.1:5060 sip:127.0.0.1:5073 sip:127.0.0.1:5072 sip:127.0.0.1:5071"
	if strings.Join(got, " ") != want || m.DstURI != "sip:10.0.0.2" {
		t.Errorf("candidates %v, $du %q; want %s", got, m.DstURI, want)
	}
	m = invite(t, "c2")
	if got := env.Call(t, "KSR.dispatcher.ds_select_routes_limit", m, "3=4;1=8", "r", 2).AsInt(); got != 1 || m.RURI() != "sip:bob@127.0.0.1:5073" || len(loadCandidates(m)) != 2 {
		t.Errorf("ds_select_routes_limit = %d, R-URI %s, candidates %v", got, m.RURI(), loadCandidates(m))
	}
	m = invite(t, "c4")
	if got := env.Call(t, "KSR.dispatcher.ds_select_routes", m, "1=8", "ruri").AsInt(); got != 1 || m.RURI() != "sip:bob@127.0.0.1:5073" {
		t.Errorf("ds_select_routes(1=8, ruri) = %d, R-URI %s", got, m.RURI())
	}
	for _, bad := range [][]any{{"1", "d"}, {"1=4", "q"}, {"3=4", "d"}, {"1=4", ""}} {
		if got := env.Call(t, "KSR.dispatcher.ds_select_routes", invite(t, "c3"), bad...).AsInt(); got != -1 {
			t.Errorf("ds_select_routes%v = %d, want -1", bad, got)
		}
	}
	// ds_mark_addr takes a destination out of rotation by its URI.
	if got := env.Call(t, "KSR.dispatcher.ds_mark_addr", m, "ip", 1, "sip:127.0.0.1:5071").AsInt(); got != 1 {
		t.Fatalf("ds_mark_addr = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_is_active_uri", m, 1, "sip:127.0.0.1:5071").AsInt(); got != -1 {
		t.Errorf("ds_is_active_uri after ds_mark_addr = %d", got)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_mark_addr", m, "a", 1, "sip:127.0.0.9").AsInt(); got != -1 {
		t.Errorf("ds_mark_addr of an unknown address = %d", got)
	}
}

// TestNoFailoverWithoutFlag2 checks that without flags bit 2 nothing is
// kept and ds_next_dst and ds_mark_dst fail, as Kamailio 5.6 does.
func TestNoFailoverWithoutFlag2(t *testing.T) {
	env := load(t, testList, map[string]any{"flags": 0})
	m := invite(t, "c1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 4).AsInt(); got != 1 {
		t.Fatalf("ds_select_dst = %d", got)
	}
	if c := loadCandidates(m); len(c) != 0 || m.DstURI != "sip:127.0.0.1:5073" {
		t.Errorf("candidates %v, $du %s; want none, sip:127.0.0.1:5073", c, m.DstURI)
	}
	for _, fn := range []string{"ds_next_dst", "ds_set_dst", "ds_mark_dst"} {
		if got := env.Call(t, "KSR.dispatcher."+fn, m).AsInt(); got != -1 {
			t.Errorf("%s without failover = %d, want -1", fn, got)
		}
	}
	if m.DstURI != "sip:127.0.0.1:5073" || !strings.Contains(env.Logs(), "failover support disabled") {
		t.Errorf("$du %s after a failed ds_next_dst; logs:\n%s", m.DstURI, env.Logs())
	}
}

// TestAuthUserFallsBackToRoundRobin checks algorithm 5: the same username
// always goes to one destination; without credentials it is round robin.
func TestAuthUserFallsBackToRoundRobin(t *testing.T) {
	env := load(t, testList, nil)
	count := picks(t, env, 1, 5, 6, func(int) *kemi.Msg { return invite(t, "x") })
	for uri, c := range count {
		if c != 2 {
			t.Errorf("without credentials %s picked %d of 6, want 2", uri, c)
		}
	}
	withAuth := func(int) *kemi.Msg {
		m := kemitest.ParseMsg(t, "INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:alice@example.com>;tag=1\nTo: <sip:bob@example.com>\nCall-ID: x\nCSeq: 1 INVITE\nProxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\"r\"\nContent-Length: 0\n\n")
		return m
	}
	if count := picks(t, env, 1, 5, 6, withAuth); len(count) != 1 {
		t.Errorf("one username went to %v", count)
	}
}

func TestWeightSlots(t *testing.T) {
	mk := func(ws ...int) []*dest {
		var ds []*dest
		for _, w := range ws {
			ds = append(ds, &dest{weight: w})
		}
		return ds
	}
	for _, tc := range []struct {
		weights []int
		want    []int // slots per destination
	}{
		{[]int{50, 30, 20}, []int{50, 30, 20}},
		{[]int{10, 20}, []int{10, 90}},        // the last fills the rest
		{[]int{60, 50, 40}, []int{60, 0, 40}}, // 50 would take the sum over 100
		{[]int{0, 0}, nil},
	} {
		slots := weightSlots(mk(tc.weights...))
		if tc.want == nil {
			if slots != nil {
				t.Errorf("weights %v: slots %v, want none", tc.weights, slots)
			}
			continue
		}
		got := make([]int, len(tc.weights))
		for _, s := range slots {
			got[s]++
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("weights %v: slots per destination %v, want %v", tc.weights, got, tc.want)
		}
	}
}
