package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

// Limits of the JSON-RPC control interface.
const (
	// RPCMaxBody is the largest request body read, in bytes: a control
	// request is a method name and a few parameters.
	RPCMaxBody = 1 << 20
	// RPCMaxBatch is the most requests one batch may hold.
	RPCMaxBatch = 100
	// rpcCallTimeout bounds one method call (the context handlers get).
	rpcCallTimeout = 30 * time.Second
)

// rpcTable holds the RPC methods of one engine, by name: the core ones
// and those every module offered at ModInit (kemi.Env.AddRPC).
type rpcTable struct {
	methods map[string]kemi.RPCMethod
	names   []string // sorted, for system.listMethods
	log     *slog.Logger
	calls   *metrics.Counter
	errs    *metrics.Counter
}

// newRPCTable collects core and module methods; a name offered twice is
// an error naming both owners, so a clash fails the start (and kemi check)
// rather than hiding one method.
func newRPCTable(core []kemi.RPCMethod, mods []*kemi.LoadedModule) (*rpcTable, error) {
	t := &rpcTable{methods: map[string]kemi.RPCMethod{}}
	owner := map[string]string{}
	add := func(who string, m kemi.RPCMethod) error {
		if m.Name == "" || m.Handler == nil {
			return fmt.Errorf("engine: rpc: %s offers a method without a name or a handler", who)
		}
		if prev, dup := owner[m.Name]; dup {
			return fmt.Errorf("engine: rpc: method %s offered by %s and by %s", m.Name, prev, who)
		}
		owner[m.Name] = who
		t.methods[m.Name] = m
		t.names = append(t.names, m.Name)
		return nil
	}
	for _, m := range core {
		if err := add("core", m); err != nil {
			return nil, err
		}
	}
	for _, lm := range mods {
		for _, m := range lm.Env.RPCs() {
			if err := add("module "+lm.Name, m); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(t.names)
	return t, nil
}

// rpcRequest is one JSON-RPC 2.0 request object. ID is nil when the
// member is absent (a notification) and "null" when it is null.
type rpcRequest struct {
	JSONRPC *string         `json:"jsonrpc"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// rpcResponse is one JSON-RPC 2.0 response object.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *kemi.RPCError  `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

var jsonNull = json.RawMessage("null")

// errResponse is an error response to the request with id (null when the
// id could not be read).
func errResponse(id json.RawMessage, code int, msg string) *rpcResponse {
	if id == nil {
		id = jsonNull
	}
	return &rpcResponse{JSONRPC: "2.0", Error: &kemi.RPCError{Code: code, Message: msg}, ID: id}
}

// serve answers a request body: one request or a batch. It returns the
// response body, or nil when nothing is due (notifications only).
func (t *rpcTable) serve(ctx context.Context, body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return marshalResponse(errResponse(nil, kemi.RPCParseError, "parse error: "+err.Error()))
		}
		switch {
		case len(batch) == 0:
			return marshalResponse(errResponse(nil, kemi.RPCInvalidRequest, "invalid request: empty batch"))
		case len(batch) > RPCMaxBatch:
			return marshalResponse(errResponse(nil, kemi.RPCInvalidRequest,
				fmt.Sprintf("invalid request: a batch of %d requests (at most %d)", len(batch), RPCMaxBatch)))
		}
		var out []*rpcResponse
		for _, raw := range batch {
			if r := t.one(ctx, raw); r != nil {
				out = append(out, r)
			}
		}
		if len(out) == 0 {
			return nil
		}
		b, err := json.Marshal(out)
		if err != nil {
			return marshalResponse(errResponse(nil, kemi.RPCInternalError, "internal error: "+err.Error()))
		}
		return b
	}
	if !json.Valid(body) {
		return marshalResponse(errResponse(nil, kemi.RPCParseError, "parse error: the body is not JSON"))
	}
	r := t.one(ctx, body)
	if r == nil {
		return nil
	}
	return marshalResponse(r)
}

func marshalResponse(r *rpcResponse) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// only a result can fail to encode, and call has encoded it already
		b, _ = json.Marshal(errResponse(r.ID, kemi.RPCInternalError, "internal error: "+err.Error()))
	}
	return b
}

// one answers one request object; nil for a notification.
func (t *rpcTable) one(ctx context.Context, raw json.RawMessage) *rpcResponse {
	var req rpcRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return errResponse(nil, kemi.RPCInvalidRequest, "invalid request: not a request object")
	}
	id := req.ID
	if id != nil && !validID(id) {
		return errResponse(nil, kemi.RPCInvalidRequest, "invalid request: id must be a string, a number or null")
	}
	// kamcmd-era clients leave "jsonrpc" out; Kamailio accepts that too
	if req.JSONRPC != nil && *req.JSONRPC != "2.0" {
		return errResponse(id, kemi.RPCInvalidRequest, `invalid request: jsonrpc must be "2.0"`)
	}
	if req.Method == nil || *req.Method == "" {
		return errResponse(id, kemi.RPCInvalidRequest, "invalid request: no method")
	}
	res := t.call(ctx, *req.Method, req.Params)
	if id == nil {
		return nil // a notification: run, never answered
	}
	res.ID = id
	return res
}

// validID reports whether a JSON-RPC id is a string, a number or null.
func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// call runs a method; the response has no id yet.
func (t *rpcTable) call(ctx context.Context, name string, rawParams json.RawMessage) (res *rpcResponse) {
	if t.calls != nil {
		t.calls.Inc()
	}
	defer func() {
		if res.Error != nil && t.errs != nil {
			t.errs.Inc()
		}
	}()
	m, ok := t.methods[name]
	if !ok {
		return errResponse(nil, kemi.RPCMethodNotFound, "method not found: "+name+" (system.listMethods lists them)")
	}
	var params kemi.RPCParams
	if len(rawParams) > 0 && !bytes.Equal(rawParams, jsonNull) {
		if err := json.Unmarshal(rawParams, &params); err != nil {
			return errResponse(nil, kemi.RPCInvalidParams, "invalid params: params must be an array (positional, as kamcmd sends them)")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, rpcCallTimeout)
	defer cancel()
	v, err := t.run(ctx, m, params)
	if err != nil {
		var re *kemi.RPCError
		if errors.As(err, &re) {
			return errResponse(nil, re.Code, re.Message)
		}
		return errResponse(nil, kemi.RPCServerError, err.Error())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return errResponse(nil, kemi.RPCInternalError, fmt.Sprintf("internal error: %s: result: %v", name, err))
	}
	return &rpcResponse{JSONRPC: "2.0", Result: b}
}

// run calls the handler; a panic is an internal error, logged with its
// stack, and the server goes on.
func (t *rpcTable) run(ctx context.Context, m kemi.RPCMethod, params kemi.RPCParams) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			if t.log != nil {
				t.log.Error("rpc method panicked", "method", m.Name, "panic", p, "stack", string(debug.Stack()))
			}
			err = &kemi.RPCError{Code: kemi.RPCInternalError, Message: fmt.Sprintf("internal error: %s failed", m.Name)}
		}
	}()
	return m.Handler(ctx, params)
}

// initRPC builds the engine's method table from the core methods and the
// loaded modules'.
func (e *Engine) initRPC() error {
	cfgMethods, err := e.initCfg()
	if err != nil {
		return err
	}
	t, err := newRPCTable(append(e.coreRPCs(), cfgMethods...), e.mods)
	if err != nil {
		return err
	}
	t.log = e.log
	t.calls = e.metrics.NewCounter(`kemi_engine_rpc_calls_total`, "JSON-RPC method calls received (on /RPC and the control socket), a batch counting each of its requests.")
	t.errs = e.metrics.NewCounter(`kemi_engine_rpc_errors_total`, "JSON-RPC method calls answered with an error object (unknown method, bad parameters, a failure of the method).")
	e.rpc = t
	return nil
}
