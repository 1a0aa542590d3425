package sipmsg

import (
	"errors"
	"fmt"
)

// ErrIncomplete is returned (wrapped) by a stream parse when buf holds
// the start of a message but not all of it: read more and parse again.
var ErrIncomplete = errors.New("sipmsg: incomplete message")

// ErrTooLarge is returned (wrapped) when a message, a header line or the
// number of headers is over the limits of Options.
var ErrTooLarge = errors.New("sipmsg: over a limit")

// ErrPort is returned (wrapped) by ParseURI, and the parsers that use
// it, for a port outside 1-65535: a URI the engine must not send to,
// whereas other oddities in a Contact are the registrar's business.
var ErrPort = errors.New("sipmsg: port outside 1-65535")

// ParseError says why a message or a header is refused and where: Line is
// the 1-based line of the message (1 is the start line), Header the name
// of the header concerned when there is one.
type ParseError struct {
	Line   int
	Header string
	Reason string
	err    error // ErrIncomplete, ErrTooLarge or ErrPort, for errors.Is
}

// Error returns "sipmsg: line 3 (Via): reason".
func (e *ParseError) Error() string {
	switch {
	case e.Line > 0 && e.Header != "":
		return fmt.Sprintf("sipmsg: line %d (%s): %s", e.Line, e.Header, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("sipmsg: line %d: %s", e.Line, e.Reason)
	case e.Header != "":
		return fmt.Sprintf("sipmsg: %s: %s", e.Header, e.Reason)
	}
	return "sipmsg: " + e.Reason
}

// Unwrap returns ErrIncomplete, ErrTooLarge or ErrPort when the error
// is one.
func (e *ParseError) Unwrap() error { return e.err }

// parseErr builds a ParseError; name may be nil. It only runs on refusal,
// so its allocations do not count against the parse path.
func parseErr(line int, name []byte, reason string) error {
	return &ParseError{Line: line, Header: string(name), Reason: reason}
}

// valueErr is the error of an on-demand parser: which header, what is
// wrong.
func valueErr(what, reason string) error {
	return &ParseError{Header: what, Reason: reason}
}
