package engine_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// cfgModules are the modules of the cfg tests' engines: those that
// declare run-time parameters, and slowtest for traceScript.
func cfgModules(c *engine.Config) {
	c.Modules = []string{"core", "sl", "tm", "maxfwd", "usrloc", "registrar", "slowtest"}
}

// TestCfgRPC reads, sets and lists run-time parameters over /RPC, and
// checks the error objects of bad calls.
func TestCfgRPC(t *testing.T) {
	lv := new(slog.LevelVar)
	s := enginetest.Start(t, traceScript, enginetest.WithConfig(cfgModules), enginetest.WithConfig(func(c *engine.Config) {
		c.LogLevelVar = lv
		c.LatencyLimit = 2 * time.Millisecond
	}))
	ok := []struct {
		method string
		params []any
		want   string
	}{
		{"cfg.get", []any{"tm", "fr_inv_timer"}, `120000`},
		{"cfg.get", []any{"core", "trace"}, `0`},
		{"cfg.get", []any{"core", "latency_limit_cfg"}, `2000`},
		{"cfg.get", []any{"maxfwd", "max_limit"}, `70`},
		{"cfg.set", []any{"tm", "fr_inv_timer", 5000}, `null`},
		{"cfg.get", []any{"tm", "fr_inv_timer"}, `5000`},
		{"cfg.seti", []any{"tm", "fr_timer", "4000"}, `null`}, // kamcmd sends "4000"
		{"cfg.sets", []any{"registrar", "max_expires", "7200"}, `null`},
		{"cfg.get", []any{"registrar", "max_expires"}, `7200`},
		{"cfg.get", []any{"tm"}, `{"fr_inv_timer":5000,"fr_timer":4000,"max_inv_lifetime":180000,"max_noninv_lifetime":32000,"wt_timer":5000}`},
		{"cfg.get", []any{"nosuch"}, `{}`},
		{"cfg.list", []any{"registrar"}, `["registrar: default_expires","registrar: max_contacts","registrar: max_expires","registrar: min_expires"]`},
		{"cfg.help", []any{"core", "debug"}, `{"desc":"Log level, in Kamailio's numbers: -5 alert ... 0 warning, 1 notice, 2 info, 3 debug.","type":"integer"}`},
		{"cfg.set", []any{"core", "debug", 0}, `null`},
		{"cfg.get", []any{"core", "debug"}, `0`},
	}
	for _, c := range ok {
		out, rerr := s.RPC(c.method, c.params...)
		if rerr != nil || string(out) != c.want {
			t.Errorf("%s %v = %s %+v, want %s", c.method, c.params, out, rerr, c.want)
		}
	}
	if lv.Level() != slog.LevelWarn {
		t.Errorf("cfg.set core debug 0: level %v, want WARN", lv.Level())
	}
	var list []string
	if out, rerr := s.RPC("cfg.list"); rerr != nil || json.Unmarshal(out, &list) != nil || len(list) != 14 || list[0] != "core: debug" {
		t.Errorf("cfg.list = %s %v", out, rerr)
	}

	bad := []struct {
		method string
		params []any
		code   int
		msg    string
	}{
		{"cfg.get", []any{"tm", "nosuch"}, 400, "Failed to get the variable: no variable nosuch in group tm"},
		{"cfg.get", []any{"nosuch", "fr_timer"}, 400, "Failed to get the variable"},
		{"cfg.set", []any{"tm", "nosuch", 1}, 400, "Failed to set the variable"},
		{"cfg.set", []any{"tm", "fr_inv_timer", "abc"}, 400, `Failed to set the variable: tm.fr_inv_timer is an integer variable, "abc" is not an integer`},
		{"cfg.set", []any{"tm", "fr_inv_timer", -5}, 400, "Failed to set the variable: fr_inv_timer must be between 1 and "},
		// overflows into 1.55 ms when multiplied before the range check
		{"cfg.set", []any{"tm", "fr_timer", "-18446744073708"}, 400, "Failed to set the variable: fr_timer must be between 1 and "},
		// max_expires is 7200 here, min_expires 60
		{"cfg.set", []any{"registrar", "min_expires", 7201}, 400, "Failed to set the variable: min_expires must be at most max_expires 7200 (is 7201)"},
		{"cfg.set", []any{"registrar", "max_expires", 59}, 400, "Failed to set the variable: max_expires must be 0 (no limit) or at least min_expires 60 (is 59)"},
		{"cfg.set", []any{"core", "trace", 2}, 400, "Failed to set the variable: trace must be 0 or 1"},
		{"cfg.set", []any{"core", "debug", 9}, 400, "Failed to set the variable: debug must be between -5 and 3"},
		{"cfg.set", []any{"maxfwd", "max_limit", 256}, 400, "Failed to set the variable: max_limit must be between 0 and 255"},
		{"cfg.seti", []any{"tm", "fr_timer", "x"}, -32602, "parameter 3 is not an integer"},
		{"cfg.set", []any{"tm", "fr_timer"}, -32602, "missing parameter 3"},
		{"cfg.get", nil, -32602, "missing parameter 1"},
		{"cfg.help", []any{"tm", []int{1}}, -32602, "parameter 2 is not a string"},
	}
	for _, c := range bad {
		out, rerr := s.RPC(c.method, c.params...)
		if rerr == nil || rerr.Code != c.code || !strings.HasPrefix(rerr.Message, c.msg) {
			t.Errorf("%s %v = %s %+v, want error %d %q", c.method, c.params, out, rerr, c.code, c.msg)
		}
	}
	// a refused value leaves the old one
	for _, c := range []struct{ group, name, want string }{
		{"tm", "fr_inv_timer", "5000"},
		{"tm", "fr_timer", "4000"},
		{"registrar", "min_expires", "60"},
		{"registrar", "max_expires", "7200"},
	} {
		if out, rerr := s.RPC("cfg.get", c.group, c.name); rerr != nil || string(out) != c.want {
			t.Errorf("%s.%s after refused sets = %s %v, want %s", c.group, c.name, out, rerr, c.want)
		}
	}
	if !strings.Contains(s.Logs(), `msg="cfg: run-time parameter set" module=core group=tm var=fr_inv_timer value=5000 was=120000`) {
		t.Errorf("the change is not logged:\n%s", s.Logs())
	}
}

// TestCfgSetTraceAtRunTime turns tracing on and off with cfg.set core
// trace while the engine serves.
func TestCfgSetTraceAtRunTime(t *testing.T) {
	s := enginetest.Start(t, traceScript, enginetest.WithConfig(cfgModules))
	p := newPeer(t)
	send := func(id string) {
		t.Helper()
		p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", id))
		if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Traced") {
			t.Fatalf("reply = %q", res)
		}
	}
	send("cfg-before")
	// the reply comes before the route's end (KSR.x.exit follows it):
	// tracing must go on only once that route is over
	const runs = `kemi_script_route_runs_total{route="ksr_request_route"}`
	if n := s.WaitMetric(runs, 1, 5*time.Second); n != 1 {
		t.Fatalf("%s = %v, want 1", runs, n)
	}
	if _, rerr := s.RPC("cfg.set", "core", "trace", 1); rerr != nil {
		t.Fatal(rerr)
	}
	send("cfg-on")
	if waitLine(s, "route ksr_request_route ends", "callid=cfg-on") == "" {
		t.Fatalf("no trace after cfg.set core trace 1:\n%s", s.Logs())
	}
	if l := waitLine(s, `trace: KSR.sl.sl_send_reply(200, \"Traced\") = 1`, "callid=cfg-on"); !strings.Contains(l, "at=test.lua:4") {
		t.Errorf("trace line of the reply = %q", l)
	}
	if _, rerr := s.RPC("cfg.set", "core", "trace", 0); rerr != nil {
		t.Fatal(rerr)
	}
	send("cfg-off")
	waitLine(s, "callid=cfg-off")
	for _, id := range []string{"cfg-before", "cfg-off"} {
		for _, l := range linesOf(s.Logs(), id) {
			if strings.Contains(l, "trace:") {
				t.Errorf("traced while off: %s", l)
			}
		}
	}
}

// TestCfgSetFrInvTimer shortens fr_inv_timer at run time: an INVITE
// answered 180 and nothing more ends with 408 after the new value, not
// after the 120 s default.
func TestCfgSetFrInvTimer(t *testing.T) {
	uas := newPeer(t)
	s := enginetest.Start(t, fmt.Sprintf(`
function ksr_request_route()
	KSR.pv.sets("$ru", "sip:bob@127.0.0.1:%d")
	KSR.tm.t_relay()
end`, uas.port()), enginetest.WithConfig(cfgModules))
	if _, rerr := s.RPC("cfg.set", "tm", "fr_inv_timer", 400); rerr != nil {
		t.Fatal(rerr)
	}
	p := newPeer(t)
	p.send(s.UDP(), fmt.Sprintf("INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKfrinv;rport\r\n"+
		"From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n"+
		"Call-ID: fr-inv\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:%d>\r\n"+
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p.port(), p.port()))
	req := uas.recv(2 * time.Second)
	if !strings.HasPrefix(req, "INVITE ") {
		t.Fatalf("the INVITE did not reach the UAS: %q", req)
	}
	uas.send(s.UDP(), reply(req, 180, "Ringing"))
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for time.Now().Before(deadline) {
		got := p.recv(time.Until(deadline))
		if strings.HasPrefix(got, "SIP/2.0 408") {
			if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
				t.Errorf("408 after %v, want about 400ms", took)
			}
			return
		}
	}
	t.Fatalf("no 408 within 5s of the 180 with fr_inv_timer 400ms:\n%s", s.Logs())
}
