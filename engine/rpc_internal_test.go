package engine

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// testRPCTable has methods that answer, fail in each way, and panic.
func testRPCTable(t *testing.T) *rpcTable {
	t.Helper()
	methods := []kemi.RPCMethod{
		{Name: "t.sum", Doc: "adds", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
			a, err := p.Int(0)
			if err != nil {
				return nil, err
			}
			b, err := p.Int(1)
			if err != nil {
				return nil, err
			}
			return a + b, nil
		}},
		{Name: "t.nil", Handler: func(context.Context, kemi.RPCParams) (any, error) { return nil, nil }},
		{Name: "t.fail", Handler: func(context.Context, kemi.RPCParams) (any, error) { return nil, errors.New("db down") }},
		{Name: "t.code", Handler: func(context.Context, kemi.RPCParams) (any, error) {
			return nil, &kemi.RPCError{Code: 404, Message: "no such set"}
		}},
		{Name: "t.panic", Handler: func(context.Context, kemi.RPCParams) (any, error) { panic("boom") }},
		{Name: "t.chan", Handler: func(context.Context, kemi.RPCParams) (any, error) { return make(chan int), nil }},
	}
	tb, err := newRPCTable(methods, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestRPCServe(t *testing.T) {
	tb := testRPCTable(t)
	cases := []struct {
		name, req, want string
	}{
		{"result", `{"jsonrpc":"2.0","method":"t.sum","params":[1,"2"],"id":7}`,
			`{"jsonrpc":"2.0","result":3,"id":7}`},
		{"string id", `{"jsonrpc":"2.0","method":"t.sum","params":[1,2],"id":"x"}`,
			`{"jsonrpc":"2.0","result":3,"id":"x"}`},
		{"null result is present", `{"jsonrpc":"2.0","method":"t.nil","id":1}`,
			`{"jsonrpc":"2.0","result":null,"id":1}`},
		{"without jsonrpc, as Kamailio accepts", `{"method":"t.sum","params":[2,2],"id":1}`,
			`{"jsonrpc":"2.0","result":4,"id":1}`},
		{"null id is answered", `{"jsonrpc":"2.0","method":"t.nil","id":null}`,
			`{"jsonrpc":"2.0","result":null,"id":null}`},
		{"notification", `{"jsonrpc":"2.0","method":"t.sum","params":[1,2]}`, ``},
		{"parse error", `{"jsonrpc":"2.0","method":`,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: the body is not JSON"},"id":null}`},
		{"not an object", `"t.sum"`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: not a request object"},"id":null}`},
		{"wrong version", `{"jsonrpc":"1.0","method":"t.nil","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: jsonrpc must be \"2.0\""},"id":1}`},
		{"no method", `{"jsonrpc":"2.0","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: no method"},"id":1}`},
		{"bad id", `{"jsonrpc":"2.0","method":"t.nil","id":{"a":1}}`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: id must be a string, a number or null"},"id":null}`},
		{"unknown method", `{"jsonrpc":"2.0","method":"t.nope","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: t.nope (system.listMethods lists them)"},"id":1}`},
		{"named params", `{"jsonrpc":"2.0","method":"t.sum","params":{"a":1},"id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"invalid params: params must be an array (positional, as kamcmd sends them)"},"id":1}`},
		{"missing param", `{"jsonrpc":"2.0","method":"t.sum","params":[1],"id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"missing parameter 2"},"id":1}`},
		{"wrong param type", `{"jsonrpc":"2.0","method":"t.sum","params":[1,"two"],"id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32602,"message":"parameter 2 is not an integer: \"two\""},"id":1}`},
		{"plain error", `{"jsonrpc":"2.0","method":"t.fail","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32000,"message":"db down"},"id":1}`},
		{"rpc error keeps its code", `{"jsonrpc":"2.0","method":"t.code","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":404,"message":"no such set"},"id":1}`},
		{"panic", `{"jsonrpc":"2.0","method":"t.panic","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: t.panic failed"},"id":1}`},
		{"result that does not encode", `{"jsonrpc":"2.0","method":"t.chan","id":1}`,
			`{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: t.chan: result: json: unsupported type: chan int"},"id":1}`},
		{"batch, in order, notifications left out", `[{"jsonrpc":"2.0","method":"t.sum","params":[1,1],"id":1},{"jsonrpc":"2.0","method":"t.nil"},5,{"jsonrpc":"2.0","method":"t.nope","id":2}]`,
			`[{"jsonrpc":"2.0","result":2,"id":1},{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: not a request object"},"id":null},{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: t.nope (system.listMethods lists them)"},"id":2}]`},
		{"batch of notifications", `[{"jsonrpc":"2.0","method":"t.nil"},{"jsonrpc":"2.0","method":"t.nil"}]`, ``},
		{"empty batch", `[]`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: empty batch"},"id":null}`},
		{"broken batch", `[{"jsonrpc":"2.0","method":"t.nil","id":1},`,
			`{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: unexpected end of JSON input"},"id":null}`},
		{"batch too long", "[" + strings.Repeat(`{"jsonrpc":"2.0","method":"t.nil","id":1},`, RPCMaxBatch) + `{"method":"t.nil","id":1}]`,
			`{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: a batch of 101 requests (at most 100)"},"id":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := string(tb.serve(context.Background(), []byte(c.req)))
			if got != c.want {
				t.Errorf("serve(%s)\n got %s\nwant %s", c.req, got, c.want)
			}
		})
	}
}

func TestRPCTableRefusesDuplicates(t *testing.T) {
	h := func(context.Context, kemi.RPCParams) (any, error) { return nil, nil }
	env := kemi.NewEnv("dispatcher", nil, nil, nil, nil, nil, nil)
	env.AddRPC(kemi.RPCMethod{Name: "core.version", Handler: h})
	mods := []*kemi.LoadedModule{{Name: "dispatcher", Env: env}}
	_, err := newRPCTable([]kemi.RPCMethod{{Name: "core.version", Handler: h}}, mods)
	if err == nil || err.Error() != "engine: rpc: method core.version offered by core and by module dispatcher" {
		t.Fatalf("err = %v, want the clash named", err)
	}
	bad := kemi.NewEnv("x", nil, nil, nil, nil, nil, nil)
	bad.AddRPC(kemi.RPCMethod{Name: "x.nohandler"})
	if _, err := newRPCTable(nil, []*kemi.LoadedModule{{Name: "x", Env: bad}}); err == nil {
		t.Fatal("a method without a handler was accepted")
	}
}

// TestRPCAccess: loopback clients are served; others only with the token.
func TestRPCAccess(t *testing.T) {
	cases := []struct {
		remote, token, auth string
		want                bool
	}{
		{"127.0.0.1:4000", "", "", true},
		{"[::1]:4000", "", "", true},
		{"192.0.2.1:4000", "", "", false},
		{"192.0.2.1:4000", "", "Bearer ", false},
		{"192.0.2.1:4000", "s3cret", "", false},
		{"192.0.2.1:4000", "s3cret", "Bearer wrong", false},
		{"192.0.2.1:4000", "s3cret", "s3cret", false},
		{"192.0.2.1:4000", "s3cret", "Bearer s3cret", true},
	}
	for _, c := range cases {
		h := &rpcHandler{token: c.token}
		r := httptest.NewRequest("POST", RPCPath, nil)
		r.RemoteAddr = c.remote
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if got := h.allowed(r); got != c.want {
			t.Errorf("allowed(%s, token %q, auth %q) = %v, want %v", c.remote, c.token, c.auth, got, c.want)
		}
	}
}

// TestRPCErrorsAreJSON: refusals at the HTTP level still carry a JSON-RPC
// error object.
func TestRPCErrorsAreJSON(t *testing.T) {
	h := &rpcHandler{t: testRPCTable(t), log: slog.New(slog.DiscardHandler)}
	cases := []struct {
		method, remote, body string
		status, code         int
	}{
		{"GET", "127.0.0.1:1", "", 405, kemi.RPCInvalidRequest},
		{"POST", "192.0.2.1:1", `{"method":"t.nil","id":1}`, 403, kemi.RPCInvalidRequest},
		{"POST", "127.0.0.1:1", `{"method":"t.nil","id":1,"x":"` + strings.Repeat("a", RPCMaxBody) + `"}`, 413, kemi.RPCInvalidRequest},
		{"POST", "127.0.0.1:1", `{`, 200, kemi.RPCParseError},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, RPCPath, strings.NewReader(c.body))
		r.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var res rpcResponse
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || res.Error == nil {
			t.Errorf("%s from %s: body %q is not a JSON-RPC error (%v)", c.method, c.remote, w.Body.String(), err)
			continue
		}
		if w.Code != c.status || res.Error.Code != c.code {
			t.Errorf("%s from %s: status %d code %d, want %d %d", c.method, c.remote, w.Code, res.Error.Code, c.status, c.code)
		}
	}
}
