package dispatcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// fakeUAC answers each request with the code set for its R-URI (200 by
// default) at once; a code of 0 makes SendRequest fail.
type fakeUAC struct {
	mu    sync.Mutex
	codes map[string]int
	sent  []kemi.UACRequest
}

func (f *fakeUAC) SendRequest(r kemi.UACRequest, done func(kemi.UACResult)) error {
	f.mu.Lock()
	f.sent = append(f.sent, r)
	code, ok := f.codes[r.RURI]
	f.mu.Unlock()
	if !ok {
		code = 200
	}
	if code == 0 {
		return fmt.Errorf("cannot send")
	}
	done(kemi.UACResult{Code: code, Reason: "R" + fmt.Sprint(code)})
	return nil
}

func (f *fakeUAC) set(uri string, code int) {
	f.mu.Lock()
	f.codes[uri] = code
	f.mu.Unlock()
}

func (f *fakeUAC) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.sent {
		out = append(out, r.RURI)
	}
	f.sent = nil
	return out
}

// eventRunner records the event callbacks run and the $ru and $dsv they saw.
type eventRunner struct {
	mu   sync.Mutex
	pvs  *kemi.PVTable
	seen []string
}

func (r *eventRunner) Where() string        { return "" }
func (r *eventRunner) Has(name string) bool { return true }
func (r *eventRunner) Call(name string, rt kemi.RouteType, m *kemi.Msg, args ...string) (kemi.CallResult, error) {
	code, _ := r.pvs.Get(m, "$dsv(code)")
	r.mu.Lock()
	r.seen = append(r.seen, fmt.Sprintf("%s %s %s code=%s", name, args[0], m.Request().Recipient.String(), code.String()))
	r.mu.Unlock()
	return kemi.CallResult{Ran: true}, nil
}

func (r *eventRunner) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

const probeList = `1 sip:127.0.0.1:5071
1 sip:127.0.0.1:5072 8
1 sip:127.0.0.1:5073 4
2 sip:127.0.0.1:5074 9
`

// writeList writes a dispatcher.list and returns its path.
func writeList(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadProbing starts the module with a fake tm UAC and event runner.
func loadProbing(t *testing.T, params map[string]any) (*Module, *fakeUAC, *eventRunner) {
	t.Helper()
	uac := &fakeUAC{codes: map[string]int{}}
	params["list_file"] = writeList(t, probeList)
	params["ds_ping_interval"] = 1
	params["event_callback"] = "ksr_dispatcher_event"
	env, err := kemitest.LoadErrWith(func(e *kemitest.Env) error {
		return e.Services.Provide(kemi.ServiceUAC, kemi.UAC(uac))
	}, map[string]map[string]any{"dispatcher": params}, "core", "dispatcher")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Destroy)
	run := &eventRunner{pvs: env.PVs}
	env.Host.Run = run
	return env.Mods["dispatcher"].(*Module), uac, run
}

// TestProbingModes checks which destinations each ds_probing_mode probes
// (the disabled one never) and what the answers do to the flags.
func TestProbingModes(t *testing.T) {
	for _, tc := range []struct {
		mode       int
		probed     []string
		flagsAfter []string // 5071, 5072, 5073, 5074 after one round of 200s
	}{
		{0, []string{"sip:127.0.0.1:5072", "sip:127.0.0.1:5074"}, []string{"AX", "AX", "DX", "AX"}},
		{1, []string{"sip:127.0.0.1:5071", "sip:127.0.0.1:5072", "sip:127.0.0.1:5074"}, []string{"AP", "AP", "DX", "AP"}},
		{2, []string{"sip:127.0.0.1:5074"}, []string{"AX", "AP", "DX", "AX"}},
		{3, []string{"sip:127.0.0.1:5072", "sip:127.0.0.1:5074"}, []string{"AX", "AP", "DX", "AP"}},
	} {
		mod, uac, _ := loadProbing(t, map[string]any{"ds_probing_mode": tc.mode})
		mod.prober.round()
		got := uac.take()
		slices.Sort(got)
		if !slices.Equal(got, tc.probed) {
			t.Errorf("mode %d probed %v, want %v", tc.mode, got, tc.probed)
		}
		var flags []string
		for _, p := range []int{5071, 5072, 5073, 5074} {
			id := 1
			if p == 5074 {
				id = 2
			}
			flags = append(flags, stateString(mod.sets.Load().find(id, fmt.Sprintf("sip:127.0.0.1:%d", p)).rt.st.Load()))
		}
		if !slices.Equal(flags, tc.flagsAfter) {
			t.Errorf("mode %d: flags after a round of 200s %v, want %v", tc.mode, flags, tc.flagsAfter)
		}
	}
}

// TestProbeThresholds has a destination stop answering: it stays in
// rotation (trying) until ds_probing_threshold failures, then leaves with
// dst-down; it comes back after ds_inactive_threshold answers with dst-up.
// Each event sees the destination as $ru and the reply code as $dsv(code).
func TestProbeThresholds(t *testing.T) {
	mod, uac, run := loadProbing(t, map[string]any{"ds_probing_mode": 1, "ds_probing_threshold": 3, "ds_inactive_threshold": 2, "ds_ping_reply_codes": "code=404;class=3"})
	const uri = "sip:127.0.0.1:5071"
	d := mod.sets.Load().find(1, uri)
	uac.set("sip:127.0.0.1:5074", 408) // stays down: no event of its own
	steps := []struct {
		code   int
		flags  string
		events []string
	}{
		{404, "AP", nil}, // an accepted code
		{302, "AP", nil}, // an accepted class
		{408, "TP", nil},
		{500, "TP", nil},
		{0, "IP", []string{"ksr_dispatcher_event dispatcher:dst-down sip:127.0.0.1:5071 code=500"}}, // send error: 500
		{408, "IP", nil},
		{200, "IP", nil},
		{200, "AP", []string{"ksr_dispatcher_event dispatcher:dst-up sip:127.0.0.1:5071 code=200"}},
	}
	for i, s := range steps {
		uac.set(uri, s.code)
		mod.prober.round()
		if got := stateString(d.rt.st.Load()); got != s.flags {
			t.Errorf("step %d (code %d): flags %s, want %s", i, s.code, got, s.flags)
		}
		if got := run.take(); !slices.Equal(got, s.events) {
			t.Errorf("step %d (code %d): events %q, want %q", i, s.code, got, s.events)
		}
	}
	if ok, failed := mod.prober.ok.Get(), mod.prober.failed.Get(); ok == 0 || failed == 0 {
		t.Errorf("probe counters ok=%d failed=%d, want both counted", ok, failed)
	}
}

// TestPingActive stops the probes with dispatcher.ping_active 0.
func TestPingActiveStopsProbes(t *testing.T) {
	mod, uac, _ := loadProbing(t, map[string]any{"ds_probing_mode": 1})
	mod.prober.active.Store(0)
	mod.prober.tick()
	if got := uac.take(); len(got) != 0 {
		t.Errorf("probes sent while inactive: %v", got)
	}
	mod.prober.active.Store(1)
	mod.prober.tick()
	if got := uac.take(); len(got) != 3 {
		t.Errorf("probes sent when active: %v, want 3", got)
	}
}

func TestParseReplyCodes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"class=2;code=403;code=488;class=3", []int{2, 403, 488, 3}, false},
		{"code=99;class=7;code=404", []int{404}, false}, // out of range: skipped, as Kamailio
		{"code=abc", nil, true},
		{"kind=2", nil, true},
	} {
		got, err := parseReplyCodes(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseReplyCodes(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestBadProbeParams(t *testing.T) {
	for _, p := range []map[string]any{
		{"ds_probing_mode": 4},
		{"ds_ping_reply_codes": "x"},
		{"ds_ping_interval": 1, "ds_ping_timeout": 2000},
		{"ds_ping_interval": 1}, // no tm UAC service
	} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"dispatcher": p}, "core", "dispatcher"); err == nil {
			t.Errorf("params %v accepted", p)
		}
	}
}
