package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// ping sends an OPTIONS and waits for the reply.
func ping(t *testing.T, s *enginetest.Server, p *udpPeer, n int) {
	t.Helper()
	p.send(s.UDP(), options(p, "sip:"+s.UDP(), fmt.Sprintf("%s-%d-%d", t.Name(), n, time.Now().UnixNano())))
	if r := p.recv(2 * time.Second); !strings.HasPrefix(r, "SIP/2.0 200 Alive") {
		t.Fatalf("OPTIONS %d: %q", n, r)
	}
}

// TestRPCStatistics: stats.get_statistics reads Kamailio's names from the
// counters behind /metrics; a reset counts from there on without touching
// /metrics, and leaves levels alone.
func TestRPCStatistics(t *testing.T) {
	s := enginetest.Start(t, answerScript)
	p := newPeer(t)
	ping(t, s, p, 1)
	ping(t, s, p, 2)

	for _, c := range []struct {
		params []any
		want   string
	}{
		{[]any{"rcv_requests_options"}, `["core:rcv_requests_options = 2"]`},
		{[]any{"sl:sent_replies", "1xx_replies"}, `["sl:sent_replies = 2","sl:1xx_replies = 0"]`},
		{[]any{"sl:"}, `["sl:1xx_replies = 0","sl:200_replies = 2","sl:202_replies = 0","sl:2xx_replies = 0","sl:300_replies = 0","sl:301_replies = 0","sl:302_replies = 0","sl:3xx_replies = 0","sl:400_replies = 0","sl:401_replies = 0","sl:403_replies = 0","sl:404_replies = 0","sl:407_replies = 0","sl:408_replies = 0","sl:483_replies = 0","sl:4xx_replies = 0","sl:500_replies = 0","sl:5xx_replies = 0","sl:6xx_replies = 0","sl:failures = 0","sl:sent_replies = 2"]`},
		{[]any{"registrar:"}, `["registrar:accepted_regs = 0","registrar:rejected_regs = 0"]`},
		{[]any{"nosuch"}, `[]`},
		{[]any{"nosuch:"}, `[]`},
		{[]any{"200_replies", "2xx_replies", "404_replies"}, `["sl:200_replies = 2","sl:2xx_replies = 0","sl:404_replies = 0"]`},
		{[]any{"received_ACKs"}, `[]`}, // a name kemi cannot count is absent
	} {
		if got := s.RPCResult("stats.get_statistics", c.params...); got != c.want {
			t.Errorf("stats.get_statistics %v = %s, want %s", c.params, got, c.want)
		}
	}
	var all []string
	if err := json.Unmarshal([]byte(s.RPCResult("stats.get_statistics", "all")), &all); err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{}
	for _, line := range all {
		g, _, _ := strings.Cut(line, ":")
		groups[g] = true
	}
	for _, g := range []string{"core", "registrar", "shmem", "sl", "tcp", "tmx", "usrloc"} {
		if !groups[g] {
			t.Errorf("stats.get_statistics all has no group %s: %v", g, all)
		}
	}

	if got := s.RPCResult("stats.reset_statistics", "sl:", "rcv_requests"); got != `{}` {
		t.Errorf("stats.reset_statistics = %s, want {} as Kamailio", got)
	}
	ping(t, s, p, 3)
	if got := s.RPCResult("stats.get_statistics", "sent_replies", "rcv_requests", "rcv_requests_options"); got != `["sl:sent_replies = 1","core:rcv_requests = 1","core:rcv_requests_options = 3"]` {
		t.Errorf("after the reset: %s", got)
	}
	if v := s.Metric(`kemi_sl_replies_sent_total{class="2xx"}`); v != 3 {
		t.Errorf("kemi_sl_replies_sent_total{class=\"2xx\"} = %v after the reset, want 3 (/metrics untouched)", v)
	}
	if got := s.RPCResult("stats.clear_statistics", "sent_replies"); got != `"sl:sent_replies = 0 (1)"` {
		t.Errorf("stats.clear_statistics sent_replies = %s", got)
	}
	if got := s.RPCResult("stats.clear_statistics", "sl:sent_replies", "rcv_requests_options"); got != `["sl:sent_replies = 0","core:rcv_requests_options = 0 (3)"]` {
		t.Errorf("stats.clear_statistics of two = %s", got)
	}
	if got := s.RPCResult("stats.clear_statistics", "nosuch"); got != `{}` {
		t.Errorf("stats.clear_statistics nosuch = %s", got)
	}
	// a level is not reset
	s.RPCResult("stats.reset_statistics", "all")
	var mem []string
	json.Unmarshal([]byte(s.RPCResult("stats.get_statistics", "shmem:")), &mem)
	if len(mem) != 4 || !strings.HasPrefix(mem[2], "shmem:total_size = ") || strings.HasSuffix(mem[2], " = 0") {
		t.Errorf("shmem: after a reset of all = %v", mem)
	}

	for _, c := range []struct {
		method string
		params []any
		code   int
		msg    string
	}{
		{"stats.get_statistics", nil, 400, "Please provide which stats to retrieve"},
		{"stats.reset_statistics", nil, 400, "Please provide stats name"},
		{"stats.clear_statistics", nil, 400, "Please provide stats name"},
		{"stats.get_statistics", []any{[]int{1}}, kemi.RPCInvalidParams, "parameter 1 is not a string"},
		{"stats.get_statistics", []any{"sl:", map[string]int{}}, kemi.RPCInvalidParams, "parameter 2 is not a string"},
		{"stats.get_statistics", []any{""}, kemi.RPCInvalidParams, "parameter 1 is empty"},
	} {
		res, rerr := s.RPC(c.method, c.params...)
		if rerr == nil || rerr.Code != c.code || rerr.Message != c.msg {
			t.Errorf("%s %v = %s %+v, want error %d %q", c.method, c.params, res, rerr, c.code, c.msg)
		}
	}
}

// TestRPCStatisticsOnlyLoadedModules: the groups of modules not loaded
// are absent, not 0.
func TestRPCStatisticsOnlyLoadedModules(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "sl"}
	}))
	for _, sel := range []string{"tmx:", "usrloc:", "registrar:", "UAS_transactions"} {
		if got := s.RPCResult("stats.get_statistics", sel); got != `[]` {
			t.Errorf("stats.get_statistics %s without the module = %s, want []", sel, got)
		}
	}
	if got := s.RPCResult("stats.get_statistics", "sl:failures"); got != `["sl:failures = 0"]` {
		t.Errorf("stats.get_statistics sl:failures = %s", got)
	}
}
