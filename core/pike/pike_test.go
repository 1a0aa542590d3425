package pike

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/kemisip/kemi/core/ksr"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// clock is a settable time for the module.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// load loads pike with params and a clock standing at the table's start.
func load(t *testing.T, params map[string]any) (*kemitest.Env, *Module, *clock) {
	t.Helper()
	env := kemitest.Load(t, map[string]map[string]any{"pike": params}, "core", "pike")
	t.Cleanup(env.Destroy)
	mod := env.Mods["pike"].(*Module)
	c := &clock{t: mod.tab.start}
	mod.now = c.now
	return env, mod, c
}

// msg is a request to make the checks with (a KEMI function needs one).
func msg(t *testing.T) *kemi.Msg {
	t.Helper()
	return kemitest.ParseMsg(t, "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c1\nCSeq: 1 OPTIONS\n\n")
}

func metric(t *testing.T, env *kemitest.Env, name string) string {
	t.Helper()
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	for _, l := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no metric %s in\n%s", name, buf.String())
	return ""
}

// TestReturnCodes follows one source through Kamailio's states: 1 under
// the limit, -2 on the request that reaches it, -1 while blocked (also in
// the next sampling unit, since the previous one was over the limit), 1
// again after a unit under the limit, and a fresh -2 when it floods again.
func TestReturnCodes(t *testing.T) {
	env, _, c := load(t, map[string]any{"sampling_time_unit": 2, "reqs_density_per_unit": 3})
	start := c.now()
	steps := []struct {
		at   time.Duration
		want []int64
	}{
		{0, []int64{1, 1, -2, -1}},
		{2 * time.Second, []int64{-1}},           // previous unit had 4
		{4 * time.Second, []int64{1, 1, -2, -1}}, // previous unit had 1: unblocked
		{5 * time.Second, []int64{-1}},
		{20 * time.Second, []int64{1}}, // units passed without a hit
	}
	for _, s := range steps {
		c.set(start.Add(s.at))
		for i, want := range s.want {
			if got := env.Call(t, "KSR.pike.pike_check_ip", msg(t), "198.51.100.7").Int; got != want {
				t.Errorf("at %v, check %d: got %d, want %d", s.at, i+1, got, want)
			}
		}
	}
	if got := metric(t, env, "kemi_pike_blocked_total"); got != "2" {
		t.Errorf("kemi_pike_blocked_total %s, want 2", got)
	}
	if logs := env.Logs(); !strings.Contains(logs, "PIKE - BLOCKing ip") || !strings.Contains(logs, "PIKE - UNBLOCKing ip") {
		t.Errorf("block and unblock not logged:\n%s", logs)
	}
}

// TestCheckIPBadAddress: an empty or unparsable address, and IPv6 text
// (Kamailio's str2ip takes IPv4 only), give -1 and count nothing.
func TestCheckIPBadAddress(t *testing.T) {
	tests := []struct {
		ip      string
		logged  bool
		wantRes int64
	}{
		{"", false, -1},
		{"not-an-ip", true, -1},
		{"2001:db8::1", true, -1},
		{"192.0.2.300", true, -1},
		{"192.0.2.1", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			env, mod, _ := load(t, nil)
			if got := env.Call(t, "KSR.pike.pike_check_ip", msg(t), tt.ip).Int; got != tt.wantRes {
				t.Errorf("got %d, want %d", got, tt.wantRes)
			}
			if logged := strings.Contains(env.Logs(), "failed to parse ip address"); logged != tt.logged {
				t.Errorf("error logged %v, want %v:\n%s", logged, tt.logged, env.Logs())
			}
			if n, want := mod.tab.len(), int(tt.wantRes+1)/2; n != want {
				t.Errorf("%d sources counted, want %d", n, want)
			}
		})
	}
}

// TestCheckReqCountsSourceAddress: pike_check_req counts the address the
// message came from, in the same table as pike_check_ip, IPv4-mapped IPv6
// as IPv4; a reply is counted too (Kamailio allows onreply_route).
func TestCheckReqCountsSourceAddress(t *testing.T) {
	env, _, _ := load(t, map[string]any{"reqs_density_per_unit": 3})
	req := kemitest.ParseMsg(t, "OPTIONS sip:a@127.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>\nCall-ID: c1\nCSeq: 1 OPTIONS\n\n")
	if got := env.Call(t, "KSR.pike.pike_check_req", req).Int; got != 1 {
		t.Fatalf("first request: %d, want 1", got)
	}
	res := kemitest.ParseMsg(t, "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\nFrom: <sip:b@x>;tag=1\nTo: <sip:a@x>;tag=2\nCall-ID: c1\nCSeq: 1 OPTIONS\n\n")
	res.Src = netip.MustParseAddrPort("[::ffff:192.0.2.10]:5062")
	if got := env.Call(t, "KSR.pike.pike_check_req", res).Int; got != 1 {
		t.Fatalf("reply: %d, want 1", got)
	}
	if got := env.Call(t, "KSR.pike.pike_check_ip", msg(t), "192.0.2.10").Int; got != -2 {
		t.Errorf("third hit through pike_check_ip: %d, want -2", got)
	}
}

// TestRemoveLatency: a source not seen for remove_latency is forgotten:
// it no longer takes memory and starts again from zero.
func TestRemoveLatency(t *testing.T) {
	env, mod, c := load(t, map[string]any{"sampling_time_unit": 60, "reqs_density_per_unit": 2, "remove_latency": 5})
	start := c.now()
	env.Call(t, "KSR.pike.pike_check_ip", msg(t), "203.0.113.1")
	c.set(start.Add(6 * time.Second))
	// same sampling unit, but the source expired: this is its first hit
	if got := env.Call(t, "KSR.pike.pike_check_ip", msg(t), "203.0.113.1").Int; got != 1 {
		t.Errorf("hit after remove_latency: %d, want 1", got)
	}
	for i := 2; i <= 64*sweepPerHit; i++ {
		env.Call(t, "KSR.pike.pike_check_ip", msg(t), fmt.Sprintf("203.0.113.%d", i%250+2))
	}
	c.set(start.Add(20 * time.Second))
	for i := 0; i < 1000 && mod.tab.len() > 1; i++ {
		env.Call(t, "KSR.pike.pike_check_ip", msg(t), "198.51.100.1")
	}
	if n := mod.tab.len(); n != 1 {
		t.Errorf("%d sources after all but one expired, want 1", n)
	}
}

// TestSpoofedFloodBoundedMemory: 100 000 distinct source addresses keep
// the table at max_sources at most (the least recently seen are
// forgotten), and a real flooder among them is still blocked.
func TestSpoofedFloodBoundedMemory(t *testing.T) {
	for _, max := range []int{0, 1000} {
		t.Run(fmt.Sprint("max_sources=", max), func(t *testing.T) {
			params := map[string]any{"reqs_density_per_unit": 30}
			if max > 0 {
				params["max_sources"] = max
			} else {
				max = defaultMaxSources
			}
			_, mod, _ := load(t, params)
			const spoofed = 100000
			flooderBlocked := false
			for i := 0; i < spoofed; i++ {
				a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				if i%8 == 0 {
					a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
				}
				if res := mod.check(a); res != resOK {
					t.Fatalf("spoofed source %v: %d, want 1", a, res)
				}
				if i%100 == 0 && mod.check(netip.MustParseAddr("192.0.2.66")) == resNewBlocked {
					flooderBlocked = true
				}
			}
			n := mod.tab.len()
			if n > max {
				t.Errorf("%d sources held, want at most max_sources %d", n, max)
			}
			if n < max/2 {
				t.Errorf("%d sources held: the table forgets far more than it needs to (max %d)", n, max)
			}
			if ev := mod.evicted.Get(); ev+uint64(n) != spoofed+1 {
				t.Errorf("evicted %d + held %d, want %d", ev, n, spoofed+1)
			}
			if !flooderBlocked {
				t.Error("the flooding source was not blocked among the spoofed ones")
			}
		})
	}
}

// TestConcurrentWorkersShareCounts: checks from many goroutines on one
// source lose no hit: exactly the request that reaches the limit gets -2.
func TestConcurrentWorkersShareCounts(t *testing.T) {
	const workers, each = 8, 250
	env, _, _ := load(t, map[string]any{"reqs_density_per_unit": workers * each})
	var mu sync.Mutex
	counts := map[int64]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := env.Call(t, "KSR.pike.pike_check_ip", msg(t), "192.0.2.99").Int
				mu.Lock()
				counts[r]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts[1] != workers*each-1 || counts[-2] != 1 {
		t.Errorf("results %v, want %d × 1 and 1 × -2", counts, workers*each-1)
	}
}

// TestBadParams: values Kamailio could not use stop start-up.
func TestBadParams(t *testing.T) {
	for _, p := range []map[string]any{
		{"sampling_time_unit": 0},
		{"reqs_density_per_unit": -1},
		{"remove_latency": -5},
		{"max_sources": 10},
		{"sampling_time_unit": "x"},
	} {
		if env, err := kemitest.LoadErr(map[string]map[string]any{"pike": p}, "core", "pike"); err == nil {
			env.Destroy()
			t.Errorf("%v: loaded, want an error", p)
		}
	}
}
