package xlog_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/xlog"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-x1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: xlog-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n" +
	"\n"

// logBuf collects JSON log lines; it is safe for concurrent use.
type logBuf struct{ kemitest.LogBuffer }

// entries returns the logged records, optionally only those of a module.
func (b *logBuf) entries(t *testing.T, module string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		if module == "" || e["module"] == module {
			out = append(out, e)
		}
	}
	return out
}

func (b *logBuf) reset() { b.Reset() }

func load(t *testing.T, level slog.Level, params map[string]map[string]any) (*kemitest.Env, *logBuf) {
	t.Helper()
	b := &logBuf{}
	log := slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level}))
	return kemitest.LoadOpts(t, kemitest.Options{Params: params, Logger: log}, "core", "xlog"), b
}

func TestFunctions(t *testing.T) {
	env, logs := load(t, slog.LevelDebug, nil)
	tests := []struct {
		fn    string
		args  []any
		level slog.Level
		msg   string
		attrs map[string]any
	}{
		{"xdbg", []any{"dbg $rm"}, slog.LevelDebug, "dbg INVITE", nil},
		{"xinfo", []any{"from $si:$sp to $ru\n"}, slog.LevelInfo, "from 192.0.2.10:5062 to sip:bob@example.com", nil},
		{"xnotice", []any{"notice"}, slog.LevelInfo + 2, "notice", nil},
		{"xwarn", []any{"du=$du"}, slog.LevelWarn, "du=<null>", nil},
		{"xerr", []any{"cost $$5 for $var(who)"}, slog.LevelError, "cost $5 for alice", nil},
		{"xcrit", []any{"crit\r\n\n"}, slog.LevelError + 4, "crit", nil},
		{"xalert", []any{"line1\nline2\n"}, slog.LevelError + 8, "line1\nline2", nil},
		{"xlog", []any{"L_INFO", "$rm"}, slog.LevelInfo, "INVITE", nil},
		{"xlog_facility", []any{"LOG_LOCAL0", "L_WARN", "fac $rm"}, slog.LevelWarn, "fac INVITE", map[string]any{"facility": "LOG_LOCAL0"}},
		{"xlog_facility", []any{"log_local7", "notice", "lower"}, slog.LevelInfo + 2, "lower", map[string]any{"facility": "LOG_LOCAL7"}},
	}
	for _, tc := range tests {
		t.Run(tc.fn, func(t *testing.T) {
			logs.reset()
			m := kemitest.ParseMsg(t, invite)
			m.Proc.Vars["who"] = kemi.Str("alice")
			if v := env.Call(t, "KSR.xlog."+tc.fn, m, tc.args...); v != kemi.OK {
				t.Fatalf("%s = %+v, want 1", tc.fn, v)
			}
			es := logs.entries(t, "script")
			if len(es) != 1 {
				t.Fatalf("logged %d records, want 1: %v", len(es), es)
			}
			e := es[0]
			if e["msg"] != tc.msg || e["level"] != tc.level.String() {
				t.Fatalf("logged %v %q, want %v %q", e["level"], e["msg"], tc.level, tc.msg)
			}
			for k, v := range tc.attrs {
				if e[k] != v {
					t.Errorf("attribute %s = %v, want %v", k, e[k], v)
				}
			}
			if _, ok := e["facility"]; ok && tc.attrs == nil {
				t.Errorf("unexpected facility attribute %v", e["facility"])
			}
		})
	}
}

func TestLevelNames(t *testing.T) {
	env, logs := load(t, slog.LevelDebug, nil)
	tests := map[string]slog.Level{
		"L_ALERT":  slog.LevelError + 8,
		"L_BUG":    slog.LevelError + 4,
		"L_CRIT":   slog.LevelError + 4,
		"L_CRIT0":  slog.LevelError + 4,
		"l_crit2":  slog.LevelError + 4,
		"L_ERR":    slog.LevelError,
		"L_WARN":   slog.LevelWarn,
		"L_NOTICE": slog.LevelInfo + 2,
		"L_INFO":   slog.LevelInfo,
		"L_DBG":    slog.LevelDebug,
		"alert":    slog.LevelError + 8,
		"crit":     slog.LevelError + 4,
		"err":      slog.LevelError,
		"warn":     slog.LevelWarn,
		"Notice":   slog.LevelInfo + 2,
		"info":     slog.LevelInfo,
		"dbg":      slog.LevelDebug,
		"bogus":    slog.LevelError, // Kamailio: unknown names log at L_ERR
		"":         slog.LevelError,
	}
	for name, want := range tests {
		logs.reset()
		m := kemitest.ParseMsg(t, invite)
		if v := env.Call(t, "KSR.xlog.xlog", m, name, "level "+name); v != kemi.OK {
			t.Errorf("xlog(%q) = %+v, want 1", name, v)
		}
		es := logs.entries(t, "script")
		if len(es) != 1 || es[0]["level"] != want.String() || es[0]["msg"] != "level "+name {
			t.Errorf("xlog(%q) logged %v, want one record at %v", name, es, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	env, logs := load(t, slog.LevelDebug, nil)
	m := kemitest.ParseMsg(t, invite)

	for _, fn := range []string{"xdbg", "xinfo", "xnotice", "xwarn", "xerr", "xcrit", "xalert"} {
		logs.reset()
		if v := env.Call(t, "KSR.xlog."+fn, m, "unknown $nope here"); v != kemi.Fail {
			t.Errorf("%s with an unknown pseudo-variable = %+v, want -1", fn, v)
		}
		if es := logs.entries(t, "script"); len(es) != 0 {
			t.Errorf("%s logged %v for a bad format", fn, es)
		}
		es := logs.entries(t, "xlog")
		if len(es) != 1 || es[0]["level"] != "ERROR" || !strings.Contains(es[0]["msg"].(string), "$nope") {
			t.Errorf("%s: error log = %v", fn, es)
		}
	}
	for _, f := range []string{"$", "$(ru", "$var(", "$var", "$ru[x]"} {
		if v := env.Call(t, "KSR.xlog.xlog", m, "L_ERR", f); v != kemi.Fail {
			t.Errorf("xlog(%q) = %+v, want -1", f, v)
		}
	}
	if v := env.Call(t, "KSR.xlog.xlog_facility", m, "LOG_LOCAL0", "L_INFO", "$nope"); v != kemi.Fail {
		t.Errorf("xlog_facility with a bad format = %+v, want -1", v)
	}

	// an unknown facility is a warning; the message is still logged
	logs.reset()
	if v := env.Call(t, "KSR.xlog.xlog_facility", m, "LOG_NOPE", "L_INFO", "still $rm"); v != kemi.OK {
		t.Fatalf("xlog_facility with a bad facility = %+v, want 1", v)
	}
	if es := logs.entries(t, "script"); len(es) != 1 || es[0]["msg"] != "still INVITE" || es[0]["facility"] != nil {
		t.Errorf("xlog_facility with a bad facility logged %v", es)
	}
	if es := logs.entries(t, "xlog"); len(es) != 1 || es[0]["level"] != "WARN" {
		t.Errorf("bad facility warning = %v", es)
	}

	// a reply has no R-URI: the variable prints as <null>
	logs.reset()
	r := kemitest.ParseMsg(t, "SIP/2.0 200 OK\n"+
		"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-x1\n"+
		"From: <sip:alice@example.com>;tag=a1\n"+
		"To: <sip:bob@example.com>;tag=b1\n"+
		"Call-ID: xlog-1@192.0.2.10\n"+
		"CSeq: 1 INVITE\n\n")
	if v := env.Call(t, "KSR.xlog.xinfo", r, "reply for $rm to $ru"); v != kemi.OK {
		t.Fatalf("xinfo on a reply = %+v", v)
	}
	if es := logs.entries(t, "script"); len(es) != 1 || es[0]["msg"] != "reply for INVITE to <null>" {
		t.Errorf("xinfo on a reply logged %v", es)
	}
}

// TestDisabledLevel checks that a message below the log level is neither
// evaluated nor logged, and still returns 1, as in Kamailio.
func TestDisabledLevel(t *testing.T) {
	env, logs := load(t, slog.LevelInfo, nil)
	m := kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.xlog.xdbg", m, "bad $nope"); v != kemi.OK {
		t.Fatalf("xdbg below the level = %+v, want 1", v)
	}
	if v := env.Call(t, "KSR.xlog.xlog", m, "L_DBG", "hidden $rm"); v != kemi.OK {
		t.Fatalf("xlog L_DBG below the level = %+v, want 1", v)
	}
	if es := logs.entries(t, ""); len(es) != 0 {
		t.Fatalf("logged below the level: %v", es)
	}
	if v := env.Call(t, "KSR.xlog.xinfo", m, "shown $rm"); v != kemi.OK {
		t.Fatalf("xinfo = %+v", v)
	}
	if es := logs.entries(t, "script"); len(es) != 1 || es[0]["msg"] != "shown INVITE" {
		t.Fatalf("xinfo logged %v", es)
	}
}

func TestPrefix(t *testing.T) {
	env, logs := load(t, slog.LevelDebug, map[string]map[string]any{"xlog": {"prefix": "[$rm $si] "}})
	m := kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.xlog.xinfo", m, "hello $ru\n"); v != kemi.OK {
		t.Fatalf("xinfo = %+v", v)
	}
	if es := logs.entries(t, "script"); len(es) != 1 || es[0]["msg"] != "[INVITE 192.0.2.10] hello sip:bob@example.com" {
		t.Fatalf("logged %v", es)
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"xlog": {"prefix": "$nope: "}}, "core", "xlog"); err == nil {
		t.Fatal("a prefix with an unknown pseudo-variable was accepted")
	}
}

func TestMetrics(t *testing.T) {
	env, _ := load(t, slog.LevelDebug, nil)
	m := kemitest.ParseMsg(t, invite)
	env.Call(t, "KSR.xlog.xinfo", m, "a")
	env.Call(t, "KSR.xlog.xinfo", m, "b $rm")
	env.Call(t, "KSR.xlog.xlog", m, "L_BUG", "c")
	env.Call(t, "KSR.xlog.xerr", m, "$nope")
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	for _, want := range []string{
		`kemi_xlog_messages_total{level="info"} 2` + "\n",
		`kemi_xlog_messages_total{level="bug"} 1` + "\n",
		`kemi_xlog_messages_total{level="err"} 0` + "\n",
		"kemi_xlog_format_errors_total 1\n",
		"kemi_xlog_formats_uncached_total 0\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

// TestConcurrentCache calls xlog from many goroutines with more distinct
// formats than the cache holds; run with -race.
func TestConcurrentCache(t *testing.T) {
	env, logs := load(t, slog.LevelDebug, nil)
	const workers, perWorker = 8, 200 // 1600 distinct formats > 1024
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			m := kemitest.ParseMsg(t, invite)
			for i := 0; i < perWorker; i++ {
				f := fmt.Sprintf("w%d i%d $rm", w, i)
				if v := env.Call(t, "KSR.xlog.xinfo", m, f); v != kemi.OK {
					t.Errorf("xinfo(%q) = %+v", f, v)
				}
				// a repeated format is served from the cache
				if v := env.Call(t, "KSR.xlog.xinfo", m, "same $si"); v != kemi.OK {
					t.Errorf("xinfo = %+v", v)
				}
			}
		}(w)
	}
	wg.Wait()
	es := logs.entries(t, "script")
	if len(es) != 2*workers*perWorker {
		t.Fatalf("logged %d records, want %d", len(es), 2*workers*perWorker)
	}
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	// 1601 distinct formats, 1024 cached: the rest are compiled every time
	want := fmt.Sprintf("kemi_xlog_formats_uncached_total %d\n", workers*perWorker+1-1024)
	if !strings.Contains(buf.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, buf.String())
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	kemitest.Load(t, nil, "xlog").CheckExports(t, "xlog")
}
