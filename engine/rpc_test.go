package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/kemi"
)

// rpcModule is a test module offering RPC methods, as dispatcher or
// usrloc do at ModInit.
type rpcModule struct{}

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-rpc", New: func() kemi.Module { return rpcModule{} }})
}

func (rpcModule) Exports() []kemi.Export { return nil }

func (rpcModule) ModInit(env *kemi.Env) error {
	env.AddRPC(kemi.RPCMethod{Name: "rpctest.add", Doc: "Adds integers.", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
		sum := 0
		for i := range p.Len() {
			n, err := p.Int(i)
			if err != nil {
				return nil, err
			}
			sum += n
		}
		return map[string]int{"sum": sum}, nil
	}})
	return nil
}

var _ kemi.ModIniter = rpcModule{}

// rpcModules are the modules of the RPC tests' engines.
func rpcModules(c *engine.Config) { c.Modules = []string{"core", "sl", "enginetest-rpc"} }

// rpcReply is a decoded JSON-RPC response.
type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *kemi.RPCError  `json:"error"`
	ID      json.RawMessage `json:"id"`
}

// postRPC posts body to url with client and returns the status and body.
func postRPC(t *testing.T, client *http.Client, url, body string) (int, []byte) {
	t.Helper()
	res, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// TestRPCOverHTTP calls core and module methods on a live engine.
func TestRPCOverHTTP(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(rpcModules), enginetest.WithConfig(func(c *engine.Config) {
		c.Version = "1.2.3"
	}))

	if out, rerr := s.RPC("rpctest.add", 2, "40"); string(out) != `{"sum":42}` || rerr != nil {
		t.Errorf("rpctest.add = %s %v", out, rerr)
	}
	if out, rerr := s.RPC("core.version"); rerr != nil || string(out) != `"kemi 1.2.3 (`+goarch()+`)"` {
		t.Errorf("core.version = %s %v", out, rerr)
	}
	var methods []string
	if out, rerr := s.RPC("system.listMethods"); rerr != nil || json.Unmarshal(out, &methods) != nil {
		t.Fatalf("system.listMethods = %s %v", out, rerr)
	}
	for _, want := range []string{"app_lua.reload", "core.ps", "core.psx", "core.uptime", "core.version", "rpctest.add", "system.listMethods", "system.methodHelp"} {
		if !contains(methods, want) {
			t.Errorf("system.listMethods lacks %s: %v", want, methods)
		}
	}
	if out, rerr := s.RPC("system.methodHelp", "rpctest.add"); rerr != nil || string(out) != `"Adds integers."` {
		t.Errorf("system.methodHelp = %s %v", out, rerr)
	}
	var up struct {
		Now     string `json:"now"`
		UpSince string `json:"up_since"`
		Uptime  *int   `json:"uptime"`
	}
	if out, rerr := s.RPC("core.uptime"); rerr != nil || json.Unmarshal(out, &up) != nil || up.Uptime == nil || *up.Uptime < 0 || len(up.Now) != len("Sun Dec  6 18:15:39 2026") || len(up.UpSince) != len(up.Now) {
		t.Errorf("core.uptime = %s %v", out, rerr)
	}
	var psx []struct {
		IDX, PID int
		DSC      string
	}
	if out, rerr := s.RPC("core.psx"); rerr != nil || json.Unmarshal(out, &psx) != nil || len(psx) < 3 {
		t.Fatalf("core.psx = %s %v", out, rerr)
	}
	if psx[0].DSC != "main process - attendant" || psx[1].DSC != "worker rank=1" || psx[2].DSC != "worker rank=2" || psx[1].PID != os.Getpid() {
		t.Errorf("core.psx = %+v", psx)
	}
	var ps []any
	if out, rerr := s.RPC("core.ps"); rerr != nil || json.Unmarshal(out, &ps) != nil || len(ps) != 2*len(psx) || ps[1] != "main process - attendant" {
		t.Errorf("core.ps = %s %v", out, rerr)
	}
	var mem map[string]uint64
	if out, rerr := s.RPC("core.shmmem"); rerr != nil || json.Unmarshal(out, &mem) != nil || mem["total"] == 0 || mem["used"] == 0 || mem["total"] != mem["free"]+mem["real_used"] {
		t.Errorf("core.shmmem = %s %v", out, rerr)
	}
	if out, rerr := s.RPC("core.echo", "a", 1); rerr != nil || string(out) != `["a","1"]` {
		t.Errorf("core.echo = %s %v", out, rerr)
	}

	// errors are JSON-RPC error objects (with the request's id: see the
	// batch below)
	if out, rerr := s.RPC("rpctest.add", 1, "x"); rerr == nil || rerr.Code != kemi.RPCInvalidParams {
		t.Errorf("bad param: %s %+v", out, rerr)
	}
	if out, rerr := s.RPC("no.such"); rerr == nil || rerr.Code != kemi.RPCMethodNotFound {
		t.Errorf("unknown method: %s %+v", out, rerr)
	}

	// a batch is answered in order, notifications left out
	url := "http://" + s.MetricsAddr() + engine.RPCPath
	status, body := postRPC(t, http.DefaultClient, url, `[{"jsonrpc":"2.0","method":"rpctest.add","params":[1,2],"id":"a"},
		{"jsonrpc":"2.0","method":"core.version"},{"jsonrpc":"2.0","method":"nope","id":"b"}]`)
	var batch []rpcReply
	if err := json.Unmarshal(body, &batch); err != nil || status != 200 || len(batch) != 2 {
		t.Fatalf("batch: %d %s (%v)", status, body, err)
	}
	if string(batch[0].ID) != `"a"` || string(batch[0].Result) != `{"sum":3}` || string(batch[1].ID) != `"b"` || batch[1].Error.Code != kemi.RPCMethodNotFound {
		t.Errorf("batch = %s", body)
	}
	if status, body := postRPC(t, http.DefaultClient, url, `{"jsonrpc":"2.0","method":"core.version"}`); status != http.StatusNoContent || len(body) != 0 {
		t.Errorf("notification: %d %q, want 204 and nothing", status, body)
	}
	big := `{"jsonrpc":"2.0","method":"core.echo","params":["` + strings.Repeat("x", engine.RPCMaxBody) + `"],"id":1}`
	if status, body := postRPC(t, http.DefaultClient, url, big); status != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte(`"code":-32600`)) {
		t.Errorf("too large: %d %q", status, body)
	}
	if status, body := postRPC(t, http.DefaultClient, url, `{"jsonrpc":`); status != 200 || !bytes.Contains(body, []byte(`"code":-32700`)) {
		t.Errorf("malformed: %d %q", status, body)
	}
	// the engine still serves SIP
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "rpc-1"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Alive") {
		t.Errorf("after the RPC calls: %q", res)
	}
	if v := s.Metric("kemi_engine_rpc_calls_total"); v < 14 {
		t.Errorf("kemi_engine_rpc_calls_total = %v, want at least 14", v)
	}
	if v := s.Metric("kemi_engine_rpc_errors_total"); v != 3 {
		t.Errorf("kemi_engine_rpc_errors_total = %v, want 3", v)
	}
}

func goarch() string { return runtime.GOARCH + "/" + runtime.GOOS }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unixClient talks HTTP over the Unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// TestRPCOverUnixSocket: the control socket serves the same methods, is
// private to its owner, and is removed at stop.
func TestRPCOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "kemi.sock")
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(rpcModules), enginetest.WithConfig(func(c *engine.Config) {
		c.CtlSocket = sock
	}))
	if s.CtlAddr() != sock {
		t.Fatalf("CtlAddr = %q, want %q", s.CtlAddr(), sock)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v %v, want a socket with mode 0600", sock, fi.Mode(), err)
	}
	status, body := postRPC(t, unixClient(sock), "http://kemi"+engine.RPCPath, `{"jsonrpc":"2.0","method":"rpctest.add","params":[20,22],"id":9}`)
	if status != 200 || string(body) != `{"jsonrpc":"2.0","result":{"sum":42},"id":9}`+"\n" {
		t.Errorf("over the socket: %d %q", status, body)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket is left after stop: %v", err)
	}
}

// TestRPCCtlSocketInTheWay: a file that is not a socket is never removed
// to bind the control socket.
func TestRPCCtlSocketInTheWay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.sock")
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Script: []byte(answerScript), Listen: []string{"udp:127.0.0.1:0"}, Workers: 1, DBURL: "memory", CtlSocket: path,
		Modules: []string{"core", "sl"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	if err := e.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Start = %v, want the file in the way named", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Error("the file in the way was changed")
	}
}

// TestRPCReload: app_lua.reload reloads as SIGHUP does; a broken script
// is refused with its file:line and the old one keeps serving.
func TestRPCReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routing.lua")
	if err := os.WriteFile(path, []byte(answerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var told []string // the scripts OnReload was told of; "refused" for a failure
	s := enginetest.Start(t, "", enginetest.WithConfig(func(c *engine.Config) {
		c.Script, c.ScriptPath = nil, path
		c.OnReload = func(gen int64, src []byte, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				told = append(told, "refused")
				return
			}
			told = append(told, string(src))
		}
	}))
	if err := os.WriteFile(path, []byte("function ksr_request_route()\n\tKSR.sl.sl_send_reply(200, 'New'\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, rerr := s.RPC("app_lua.reload")
	if rerr == nil || !strings.Contains(rerr.Message, "routing.lua:3") {
		t.Fatalf("reload of a broken script = %s %+v, want an error with routing.lua:3", out, rerr)
	}
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "rpc-reload-1"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Alive") {
		t.Fatalf("after a refused reload: %q, want the old script's reply", res)
	}
	if err := os.WriteFile(path, []byte("function ksr_request_route()\n\tKSR.sl.sl_send_reply(200, 'New')\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, rerr := s.RPC("app_lua.reload"); rerr != nil || string(out) != `{"generation":2}` {
		t.Fatalf("reload = %s %+v", out, rerr)
	}
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "rpc-reload-2"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 New") {
		t.Fatalf("after the reload: %q", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 2 || told[0] != "refused" || !strings.Contains(told[1], "'New'") {
		t.Errorf("OnReload was told %q, want two reloads, the second with the new script", told)
	}
}

// TestRPCDuplicateMethodFailsStart: two owners of one method name stop
// the engine from being built, and kemi check says so too.
func TestRPCDuplicateMethodFailsStart(t *testing.T) {
	cfg := engine.Config{Script: []byte(answerScript), Listen: []string{"udp:127.0.0.1:0"}, Workers: 1, DBURL: "memory",
		Modules: []string{"core", "sl", "enginetest-rpc", "enginetest-rpc2"}, Logger: slog.New(slog.DiscardHandler)}
	want := "method rpctest.add offered by module enginetest-rpc and by module enginetest-rpc2"
	if _, err := engine.New(cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("New = %v, want %q", err, want)
	}
	if _, err := engine.Check(cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Check = %v, want %q", err, want)
	}
}

func init() {
	// a second module offering rpctest.add
	kemi.Register(kemi.ModuleInfo{Name: "enginetest-rpc2", New: func() kemi.Module { return rpcModule{} }})
}
