package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// kamailioDSList is Kamailio 5.6's dispatcher.list reply for
//
//	1 sip:127.0.0.1:5091 0 0 duid=abc;weight=50
//	1 sip:127.0.0.1:5092 8 5
//	2 sip:127.0.0.1:5093 0 0
//
// with ds_ping_latency_stats on, as kamailio -f ... answered it here.
const kamailioDSList = `{"NRSETS":2,"RECORDS":[{"SET":{"ID":2,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:5093","FLAGS":"AX","PRIORITY":0,"LATENCY":{"AVG":0,"STD":0,"EST":0,"MAX":0,"TIMEOUT":0}}}]}},
{"SET":{"ID":1,"TARGETS":[{"DEST":{"URI":"sip:127.0.0.1:5092","FLAGS":"AP","PRIORITY":5,"LATENCY":{"AVG":12.5,"STD":1.25,"EST":12,"MAX":20,"TIMEOUT":1}}},
{"DEST":{"URI":"sip:127.0.0.1:5091","FLAGS":"IP","PRIORITY":0,"ATTRS":{"BODY":"duid=abc;weight=50","DUID":"abc","MAXLOAD":0,"WEIGHT":50,"RWEIGHT":0,"SOCKET":null,"SOCKNAME":null,"OBPROXY":null},"LATENCY":{"AVG":0,"STD":0,"EST":0,"MAX":0,"TIMEOUT":3}}}]}}]}`

// ctlTestModule offers a dispatcher.list with Kamailio's reply and a
// method that reports the JSON types of its parameters.
type ctlTestModule struct{}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "ctltest", New: func() kemi.Module { return ctlTestModule{} }})
}

func (ctlTestModule) Exports() []kemi.Export { return nil }

func (ctlTestModule) ModInit(env *kemi.Env) error {
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.list", Doc: "Kamailio's sample reply.", Handler: func(context.Context, kemi.RPCParams) (any, error) {
		return json.RawMessage(kamailioDSList), nil
	}})
	env.AddRPC(kemi.RPCMethod{Name: "ctltest.types", Doc: "Types of the parameters.", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
		var out []string
		for _, raw := range p {
			if raw[0] == '"' {
				out = append(out, "string")
			} else {
				out = append(out, "number")
			}
		}
		return out, nil
	}})
	return nil
}

var _ kemi.ModIniter = ctlTestModule{}

func TestCtlParams(t *testing.T) {
	cases := []struct {
		args     []string
		asString bool
		want     []any
	}{
		{[]string{"1", "-2", "x", "1.5", "s:3", "0x10"}, false, []any{int64(1), int64(-2), "x", "1.5", "3", "0x10"}},
		{[]string{"1", "s:s:1"}, true, []any{"1", "s:1"}},
		{nil, false, []any{}},
	}
	for _, c := range cases {
		if got := ctlParams(c.args, c.asString); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ctlParams(%q, %v) = %#v, want %#v", c.args, c.asString, got, c.want)
		}
	}
}

func TestRPCURLOf(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:9090": "http://127.0.0.1:9090/RPC",
		"0.0.0.0:9091":   "http://127.0.0.1:9091/RPC",
		":9092":          "http://127.0.0.1:9092/RPC",
		"[::]:9093":      "http://[::1]:9093/RPC",
		"[::1]:9094":     "http://[::1]:9094/RPC",
	} {
		if got, err := rpcURLOf(addr); err != nil || got != want {
			t.Errorf("rpcURLOf(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := rpcURLOf("nohostport"); err == nil {
		t.Error("rpcURLOf accepted an address without a port")
	}
}

func TestWriteDSTable(t *testing.T) {
	var out bytes.Buffer
	if err := writeDSTable(&out, json.RawMessage(kamailioDSList)); err != nil {
		t.Fatal(err)
	}
	want := `SET  URI                 FLAGS  PRIORITY  ATTRS               LATENCY (ms)
1    sip:127.0.0.1:5092  AP     5         -                   avg 12.5 std 1.25 est 12 max 20 timeouts 1
1    sip:127.0.0.1:5091  IP     0         duid=abc;weight=50  avg 0 std 0 est 0 max 0 timeouts 3
2    sip:127.0.0.1:5093  AX     0         -                   avg 0 std 0 est 0 max 0 timeouts 0
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}

	// without latency figures there is no LATENCY column
	out.Reset()
	noLatency := `{"NRSETS":1,"RECORDS":[{"SET":{"ID":7,"TARGETS":[{"DEST":{"URI":"sip:a.example.com","FLAGS":"DX","PRIORITY":1}}]}}]}`
	if err := writeDSTable(&out, json.RawMessage(noLatency)); err != nil {
		t.Fatal(err)
	}
	if want := "SET  URI                FLAGS  PRIORITY  ATTRS\n7    sip:a.example.com  DX     1         -\n"; out.String() != want {
		t.Errorf("table:\n%q\nwant:\n%q", out.String(), want)
	}
	out.Reset()
	if err := writeDSTable(&out, json.RawMessage(`{"NRSETS":0,"RECORDS":[]}`)); err != nil || !strings.Contains(out.String(), "(no destinations)") {
		t.Errorf("empty list: %q %v", out.String(), err)
	}
	if err := writeDSTable(&out, json.RawMessage(`[1,2]`)); err == nil {
		t.Error("a reply of another shape was accepted")
	}
}

// TestCtlAgainstEngine runs kemi ctl and kemi ds list against a live
// engine, over HTTP and over the control socket.
func TestCtlAgainstEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	s := enginetest.Start(t, "function ksr_request_route() end", enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "ctltest"}
		c.CtlSocket = sock
	}))
	url := "http://" + s.MetricsAddr() + engine.RPCPath

	code, out, errOut := runCLI(t, "ctl", "--url", url, "ctltest.types", "1", "a", "-7", "s:8", "2.5")
	if code != 0 || out != "[\n  \"number\",\n  \"string\",\n  \"number\",\n  \"string\",\n  \"string\"\n]\n" {
		t.Errorf("kemi ctl ctltest.types = %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "ctl", "--socket", sock, "-s", "ctltest.types", "1", "a")
	if code != 0 || out != "[\n  \"string\",\n  \"string\"\n]\n" {
		t.Errorf("kemi ctl -s over the socket = %d %q", code, out)
	}
	code, out, _ = runCLI(t, "ctl", "--socket", sock, "system.listMethods")
	if code != 0 || !strings.Contains(out, `"dispatcher.list"`) || !strings.Contains(out, `"core.uptime"`) {
		t.Errorf("kemi ctl system.listMethods = %d %q", code, out)
	}
	code, out, errOut = runCLI(t, "ctl", "--url", url, "no.such")
	if code != 1 || out != "" || !strings.Contains(errOut, "-32601") || !strings.Contains(errOut, "no.such") {
		t.Errorf("kemi ctl no.such = %d %q %q", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, "ctl", "--url", url); code != 2 || !strings.Contains(errOut, "METHOD") {
		t.Errorf("kemi ctl without a method = %d %q", code, errOut)
	}

	code, out, errOut = runCLI(t, "ds", "list", "--url", url)
	if code != 0 || !strings.HasPrefix(out, "SET  URI") || !strings.Contains(out, "duid=abc;weight=50") || strings.Count(out, "\n") != 4 {
		t.Errorf("kemi ds list = %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "ds", "list", "--socket", sock, "--json")
	var got, want any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || json.Unmarshal([]byte(kamailioDSList), &want) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("kemi ds list --json = %d %q", code, out)
	}
}

// TestCtlFindsServerFromConfig: with only --config, kemi ctl uses the
// file's ctl_socket, else /RPC on its metrics_addr.
func TestCtlFindsServerFromConfig(t *testing.T) {
	dir := t.TempDir()
	s := enginetest.Start(t, "function ksr_request_route() end", enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "ctltest"}
		c.CtlSocket = filepath.Join(dir, "kemi.sock")
	}))
	for name, toml := range map[string]string{
		"socket.toml":  "[core]\nctl_socket = \"kemi.sock\"\nmetrics_addr = \"127.0.0.1:1\"\n",
		"metrics.toml": "[core]\nmetrics_addr = " + strconv.Quote(s.MetricsAddr()) + "\n",
	} {
		path := writeFile(t, dir, name, toml)
		if code, out, errOut := runCLI(t, "ctl", "--config", path, "ctltest.types", "1"); code != 0 || !strings.Contains(out, "number") {
			t.Errorf("%s: kemi ctl = %d %q %q", name, code, out, errOut)
		}
	}
}

const replyScript = `
function ksr_request_route()
	KSR.sl.sl_send_reply(200, "First")
end
`

// TestCtlForkMode: in fork mode the supervisor binds the control socket,
// which answers for each worker process in turn; a reload over RPC is
// what a restarted worker process runs.
func TestCtlForkMode(t *testing.T) {
	p := startKemi(t, procOpts{script: replyScript, args: []string{"--ctl-socket", "@DIR@/ctl.sock", "--db-url", "memory"}})
	sock := filepath.Join(p.dir, "ctl.sock")
	psx := func() []struct {
		PID int
		DSC string
	} {
		t.Helper()
		code, out, errOut := runCLI(t, "ctl", "--socket", sock, "core.psx")
		var ps []struct {
			PID int
			DSC string
		}
		if code != 0 || json.Unmarshal([]byte(out), &ps) != nil || len(ps) < 2 {
			t.Fatalf("kemi ctl core.psx = %d %q %q", code, out, errOut)
		}
		return ps
	}
	first := p.worker()
	if ps := psx(); ps[0].PID != p.pid() || ps[0].DSC != "main process - attendant" || ps[1].PID != first {
		t.Fatalf("core.psx = %+v, want the supervisor %d then the worker process %d", ps, p.pid(), first)
	}

	writeFile(t, p.dir, "routing.lua", strings.ReplaceAll(replyScript, "First", "Second"))
	if code, out, errOut := runCLI(t, "ctl", "--socket", sock, "app_lua.reload"); code != 0 || !strings.Contains(out, `"generation": 2`) {
		t.Fatalf("app_lua.reload = %d %q %q", code, out, errOut)
	}
	if r := options(p.sip, "ctl-fork-1", 2*time.Second); r != "SIP/2.0 200 Second" {
		t.Fatalf("after the reload: %q", r)
	}
	// the file changes again, but was not reloaded: a restart runs the
	// script the RPC reload installed
	writeFile(t, p.dir, "routing.lua", strings.ReplaceAll(replyScript, "First", "Third"))
	syscall.Kill(first, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c := childrenOf(p.pid()); len(c) == 1 && c[0] != first {
			if r := options(p.sip, "ctl-fork-2", 300*time.Millisecond); r != "" {
				if r != "SIP/2.0 200 Second" {
					t.Fatalf("the restarted worker process answers %q, want the script reloaded over RPC", r)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no new worker process answered within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ps := psx(); ps[1].PID == first || ps[1].PID != p.worker() {
		t.Errorf("core.psx after the restart = %+v", ps)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket is left after exit: %v", err)
	}
}
