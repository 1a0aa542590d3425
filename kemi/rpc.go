package kemi

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// RPCMethod is a control command a module offers, served as JSON-RPC 2.0
// under Kamailio's method names ("dispatcher.list", "ul.dump"), so that
// `kemi ctl` and Kamailio tooling (kamcmd's JSON mode, kamcli) can call it.
type RPCMethod struct {
	// Name is the method, "<module>.<command>" as Kamailio names it.
	Name string
	// Doc is one line on what it does and its parameters, for
	// system.listMethods and `kemi ctl --help`.
	Doc string
	// Handler answers a call. The result is encoded as JSON; an error is
	// returned to the caller as a JSON-RPC error object (an *RPCError keeps
	// its code, any other error is code -32000 with its message).
	Handler func(ctx context.Context, params RPCParams) (any, error)
}

// RPCParams are a call's positional parameters, as kamcmd sends them.
type RPCParams []json.RawMessage

// Len returns the number of parameters.
func (p RPCParams) Len() int { return len(p) }

// Str returns parameter i as a string: a JSON string as it is, a number as
// its text. A missing parameter is an *RPCError (invalid params).
func (p RPCParams) Str(i int) (string, error) {
	if i >= len(p) {
		return "", &RPCError{Code: RPCInvalidParams, Message: fmt.Sprintf("missing parameter %d", i+1)}
	}
	var s string
	if err := json.Unmarshal(p[i], &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(p[i], &n); err == nil {
		return n.String(), nil
	}
	return "", &RPCError{Code: RPCInvalidParams, Message: fmt.Sprintf("parameter %d is not a string", i+1)}
}

// Int returns parameter i as an integer: a JSON number, or a string that
// holds one (kamcmd sends "1" for 1).
func (p RPCParams) Int(i int) (int, error) {
	s, err := p.Str(i)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &RPCError{Code: RPCInvalidParams, Message: fmt.Sprintf("parameter %d is not an integer: %q", i+1, s)}
	}
	return n, nil
}

// JSON-RPC 2.0 error codes.
const (
	RPCParseError     = -32700
	RPCInvalidRequest = -32600
	RPCMethodNotFound = -32601
	RPCInvalidParams  = -32602
	RPCInternalError  = -32603
	// RPCServerError is the code of a handler's plain error.
	RPCServerError = -32000
)

// RPCError is a JSON-RPC error object a handler returns.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// AddRPC offers an RPC method. Call it at ModInit; a name already taken
// fails the start.
func (e *Env) AddRPC(m RPCMethod) {
	e.rpcs = append(e.rpcs, m)
}

// RPCs returns the methods the module offers.
func (e *Env) RPCs() []RPCMethod {
	return e.rpcs
}
