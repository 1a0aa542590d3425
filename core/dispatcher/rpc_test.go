package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// rpcList is the list Kamailio 5.6.3 printed the testdata goldens from,
// after `dispatcher.set_state ip 2 sip:127.0.0.1:5999`, with
// ds_ping_latency_stats 1 and no pinging.
const rpcTestList = `# sets
2 sip:127.0.0.1:5999 0 5 duid=b1;weight=50
1 sip:127.0.0.1:5997 8 0
1 sip:127.0.0.1:5998 0 10 duid=a1;maxload=20;socket=udp:127.0.0.1:15060
3 sip:127.0.0.1:5996;transport=tcp 1
`

// rpc calls the dispatcher RPC method name of env with params.
func rpc(t *testing.T, env *kemitest.Env, name string, params ...any) (any, error) {
	t.Helper()
	var ps kemi.RPCParams
	for _, p := range params {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, b)
	}
	for _, lm := range env.Set.Modules {
		for _, m := range lm.Env.RPCs() {
			if m.Name == name {
				return m.Handler(context.Background(), ps)
			}
		}
	}
	t.Fatalf("no RPC method %s", name)
	return nil, nil
}

func rpcJSON(t *testing.T, env *kemitest.Env, name string, params ...any) string {
	t.Helper()
	res, err := rpc(t, env, name, params...)
	if err != nil {
		t.Fatalf("%s %v: %v", name, params, err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRPCListShape compares dispatcher.list, short and full, with what
// Kamailio 5.6.3 answers for the same list and states.
func TestRPCListShape(t *testing.T) {
	env := load(t, rpcTestList, map[string]any{"ds_ping_latency_stats": 1})
	if got := rpcJSON(t, env, "dispatcher.set_state", "ip", 2, "sip:127.0.0.1:5999"); got != `"Ok. Dispatcher state updated."` {
		t.Fatalf("set_state = %s", got)
	}
	for _, mode := range []string{"", "short", "full"} {
		golden := "testdata/kamailio-list.json"
		var params []any
		if mode != "" {
			golden = "testdata/kamailio-list-" + mode + ".json"
			params = append(params, mode)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if got := rpcJSON(t, env, "dispatcher.list", params...); got != strings.TrimSpace(string(want)) {
			t.Errorf("dispatcher.list %s:\n got %s\nwant %s", mode, got, want)
		}
	}
}

// TestRPCListRuntime: with ds_hash_size the call load of each destination
// is shown, as Kamailio's RUNTIME/DLGLOAD.
func TestRPCListRuntime(t *testing.T) {
	env := load(t, "1 sip:127.0.0.1:5071 0 0 duid=a\n", map[string]any{"ds_hash_size": 4})
	want := `{"NRSETS":1,"RECORDS":[{"SET":{"ID":1,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:5071","FLAGS":"AX","PRIORITY":0,"RUNTIME":{"DLGLOAD":0}}}]}}]}`
	if got := rpcJSON(t, env, "dispatcher.list", "short"); got != want {
		t.Errorf("dispatcher.list short with ds_hash_size:\n got %s\nwant %s", got, want)
	}
}

func TestRPCErrors(t *testing.T) {
	empty := load(t, "", nil)
	full := load(t, rpcTestList, nil)
	for _, tc := range []struct {
		env    *kemitest.Env
		method string
		params []any
		want   string
	}{
		{empty, "dispatcher.list", nil, "No Destination Sets"},
		{full, "dispatcher.set_state", nil, "Invalid Parameters"},
		{full, "dispatcher.set_state", []any{"x", 1, "sip:127.0.0.1:5997"}, "Unknown State Value"},
		{full, "dispatcher.set_state", []any{"a", 9, "sip:127.0.0.1:5997"}, "State Update Failed"},
		{full, "dispatcher.set_state", []any{"a", 1, "sip:nope"}, "State Update Failed"},
		{full, "dispatcher.set_duid_state", []any{"a", 1, "zz"}, "State Update Failed"},
	} {
		_, err := rpc(t, tc.env, tc.method, tc.params...)
		var re *kemi.RPCError
		if !errors.As(err, &re) || re.Code != 500 || re.Message != tc.want {
			t.Errorf("%s %v: error %v, want 500 %q", tc.method, tc.params, err, tc.want)
		}
	}
}

// TestRPCSetState sets states by URI, duid and "all" with Kamailio's
// letters and digits, and reads them back from dispatcher.list.
func TestRPCSetState(t *testing.T) {
	env := load(t, rpcTestList, nil)
	mod := env.Mods["dispatcher"].(*Module)
	flags := func(set int, uri string) string {
		return stateString(mod.sets.Load().find(set, uri).rt.st.Load())
	}
	for _, tc := range []struct {
		method      string
		state       string
		set         int
		which       string
		checkSet    int
		checkURI    string
		want        string
		usableAfter bool
	}{
		{"dispatcher.set_state", "i", 1, "sip:127.0.0.1:5998", 1, "sip:127.0.0.1:5998", "IX", false},
		{"dispatcher.set_state", "0p", 1, "sip:127.0.0.1:5998", 1, "sip:127.0.0.1:5998", "IP", false},
		{"dispatcher.set_state", "1", 1, "sip:127.0.0.1:5998", 1, "sip:127.0.0.1:5998", "AX", true},
		{"dispatcher.set_state", "dp", 1, "sip:127.0.0.1:5997", 1, "sip:127.0.0.1:5997", "DX", false},
		{"dispatcher.set_state", "tp", 3, "sip:127.0.0.1:5996;transport=tcp", 3, "sip:127.0.0.1:5996;transport=tcp", "TP", true},
		{"dispatcher.set_duid_state", "d", 2, "b1", 2, "sip:127.0.0.1:5999", "DX", false},
		{"dispatcher.set_state", "ap", 1, "all", 1, "sip:127.0.0.1:5997", "AP", true},
	} {
		if got := rpcJSON(t, env, tc.method, tc.state, tc.set, tc.which); got != `"Ok. Dispatcher state updated."` {
			t.Fatalf("%s %s %d %s = %s", tc.method, tc.state, tc.set, tc.which, got)
		}
		d := mod.sets.Load().find(tc.checkSet, tc.checkURI)
		if got := flags(tc.checkSet, tc.checkURI); got != tc.want || mod.state.usable(d) != tc.usableAfter {
			t.Errorf("%s %s %d %s: %s usable %v, want %s usable %v", tc.method, tc.state, tc.set, tc.which, got, mod.state.usable(d), tc.want, tc.usableAfter)
		}
	}
	if got := flags(1, "sip:127.0.0.1:5998"); got != "AP" {
		t.Errorf("\"all\" left the other destination of set 1 %s, want AP", got)
	}
}

func TestRPCPingActive(t *testing.T) {
	env := load(t, rpcTestList, nil)
	for _, tc := range []struct {
		params []any
		want   string
	}{
		{nil, `{"OldPingState":1}`},
		{[]any{0}, `{"NewPingState":0,"OldPingState":1}`},
		{nil, `{"OldPingState":0}`},
		{[]any{"1"}, `{"NewPingState":1,"OldPingState":0}`},
	} {
		if got := rpcJSON(t, env, "dispatcher.ping_active", tc.params...); got != tc.want {
			t.Errorf("ping_active %v = %s, want %s", tc.params, got, tc.want)
		}
	}
}
