package enginetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
)

// RPC calls method with params over a raw HTTP POST to the engine's /RPC,
// as curl would, and returns the JSON-RPC result, or the error object the
// server answered. A request that gets no JSON-RPC answer fails the test.
func (s *Server) RPC(method string, params ...any) (json.RawMessage, *kemi.RPCError) {
	s.t.Helper()
	return CallRPC(s.t, "http://"+s.MetricsAddr()+engine.RPCPath, method, params...)
}

// CallRPC is Server.RPC for the JSON-RPC server at url: another engine,
// or Kamailio's jsonrpcs to compare with.
func CallRPC(t testing.TB, url, method string, params ...any) (json.RawMessage, *kemi.RPCError) {
	t.Helper()
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	if err != nil {
		t.Fatalf("enginetest: rpc %s: %v", method, err)
	}
	res, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("enginetest: rpc %s: %v", method, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("enginetest: rpc %s: %v", method, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *kemi.RPCError  `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || (r.Result == nil && r.Error == nil) {
		t.Fatalf("enginetest: rpc %s: HTTP %d, not a JSON-RPC response: %q", method, res.StatusCode, raw)
	}
	return r.Result, r.Error
}

// RPCResult is RPC for a call that must succeed: it returns the result as
// compact JSON text.
func (s *Server) RPCResult(method string, params ...any) string {
	s.t.Helper()
	res, rerr := s.RPC(method, params...)
	if rerr != nil {
		s.t.Fatalf("enginetest: rpc %s %v: error %d %s", method, params, rerr.Code, rerr.Message)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, res); err != nil {
		s.t.Fatalf("enginetest: rpc %s: %v", method, err)
	}
	return b.String()
}
