package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
)

// rpcClient calls JSON-RPC methods of a running kemi over HTTP, on its
// metrics address or on its control socket.
type rpcClient struct {
	url     string // http://host:port/RPC, when socket is ""
	socket  string // control socket path
	token   string
	timeout time.Duration
}

// rpcAnswer is a JSON-RPC response as the client reads it.
type rpcAnswer struct {
	Result json.RawMessage `json:"result"`
	Error  *kemi.RPCError  `json:"error"`
}

// call sends one request and returns its result; an error object comes
// back as a *kemi.RPCError.
func (cl *rpcClient) call(ctx context.Context, method string, params []any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
	if err != nil {
		return nil, fmt.Errorf("%s request: %w", method, err)
	}
	hc := &http.Client{Timeout: cl.timeout}
	url, where := cl.url, cl.url
	if cl.socket != "" {
		url, where = "http://kemi"+engine.RPCPath, cl.socket
		hc.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", cl.socket)
		}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s request to %s: %w", method, where, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no answer from %s (is kemi running? --url, --socket): %w", where, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var ans rpcAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("%s answered %s, not JSON-RPC: %.200q", where, res.Status, data)
	}
	if ans.Error != nil {
		return nil, ans.Error
	}
	if ans.Result == nil {
		return nil, fmt.Errorf("%s answered %s with neither a result nor an error", where, res.Status)
	}
	return ans.Result, nil
}
