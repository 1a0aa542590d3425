package websocket

import (
	"errors"
	"fmt"
	"strconv"
)

// Close codes of RFC 6455 §7.4.1 that this package sends or reports.
const (
	CloseNormal            = 1000 // the purpose of the connection is fulfilled
	CloseGoingAway         = 1001 // server shutting down, page left
	CloseProtocolError     = 1002 // a frame broke RFC 6455
	CloseUnsupportedData   = 1003 // a data type the endpoint does not take
	CloseNoStatus          = 1005 // reported for a close frame without a code; never sent
	CloseAbnormal          = 1006 // reported when the connection ended without a close frame; never sent
	CloseInvalidPayload    = 1007 // a text message that is not UTF-8
	ClosePolicyViolation   = 1008 // a generic refusal
	CloseMessageTooBig     = 1009 // a message over the configured maximum
	CloseMandatoryExt      = 1010 // client wanted an extension the server did not give
	CloseInternalError     = 1011 // the server failed
	closeTLSHandshakeError = 1015 // reserved, never on the wire
)

// Reasons a frame or message is refused. The error returned by
// [Conn.ReadMessage] is a *CloseError that wraps one of them, so
// errors.Is(err, ErrMessageTooBig) works.
var (
	ErrMasking          = errors.New("websocket: frame masking wrong for this side")
	ErrReservedBits     = errors.New("websocket: reserved bits set without an extension")
	ErrBadOpcode        = errors.New("websocket: reserved opcode")
	ErrControlFrame     = errors.New("websocket: control frame fragmented or over 125 bytes")
	ErrBadLength        = errors.New("websocket: payload length not in its shortest form or over 2^63")
	ErrMessageTooBig    = errors.New("websocket: message over the maximum size")
	ErrTooManyFragments = errors.New("websocket: message in too many fragments")
	ErrBadContinuation  = errors.New("websocket: continuation frame out of place")
	ErrInvalidUTF8      = errors.New("websocket: text not valid UTF-8")
	ErrBadClosePayload  = errors.New("websocket: close frame payload invalid")
	// ErrClosed is returned by writes after a close frame was sent.
	ErrClosed = errors.New("websocket: connection closed")
)

// CloseError ends a connection: the peer sent a close frame (Remote), or
// this side sent one because the peer broke the protocol (Err says how),
// or the connection ended without a close frame (Code CloseAbnormal, Err
// the read error).
type CloseError struct {
	Code   int    // close code sent or received; CloseNoStatus when the peer sent none
	Reason string // reason text of the close frame, possibly empty
	Remote bool   // the peer sent the close frame
	Err    error  // the violation or read error behind a local close, nil for Remote
}

func (e *CloseError) Error() string {
	switch {
	case e.Remote && e.Reason != "":
		return fmt.Sprintf("websocket: closed by peer: %d %s", e.Code, e.Reason)
	case e.Remote:
		return "websocket: closed by peer: " + strconv.Itoa(e.Code)
	case e.Err != nil:
		return fmt.Sprintf("websocket: close %d: %v", e.Code, e.Err)
	}
	return "websocket: closed: " + strconv.Itoa(e.Code)
}

// Unwrap returns the violation or read error behind the close.
func (e *CloseError) Unwrap() error { return e.Err }

// HandshakeError refuses an upgrade request. Status and Header are the
// HTTP reply the caller sends ([AppendReject] writes it), chosen as
// Kamailio's websocket module does: 426 with the supported version for a
// wrong Sec-WebSocket-Version, 400 with the supported subprotocols and
// version for a missing header or subprotocol, 405 for a method other
// than GET.
type HandshakeError struct {
	Status int
	Header Header // extra reply header fields, in order
	Msg    string
}

func (e *HandshakeError) Error() string {
	return "websocket: handshake refused (" + strconv.Itoa(e.Status) + "): " + e.Msg
}

// validCloseCode reports whether code may appear in a close frame
// (RFC 6455 §7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
