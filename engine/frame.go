package engine

import (
	"bytes"
	"math"
)

// frameError is a stream that cannot be cut into SIP messages: its
// connection is closed and the message counted as dropped for reason.
type frameError struct {
	reason dropReason
	msg    string
}

func (e *frameError) Error() string { return e.msg }

var (
	errHeaderTooLarge  = &frameError{dropOversized, "header section larger than the maximum message size"}
	errMessageTooLarge = &frameError{dropOversized, "Content-Length larger than the maximum message size"}
	errBadLength       = &frameError{dropMalformed, "Content-Length is not a decimal number below 2^32"}
	errConflictingCL   = &frameError{dropMalformed, "Content-Length headers disagree"}
	headerSectionEnd   = []byte("\r\n\r\n")
	crlf               = []byte("\r\n")
	nameContentLength  = []byte("content-length")
	nameCompactLength  = []byte("l")
)

// messageLength returns the length of the first message in buf once its
// header section is complete (the body may still be missing), or 0 when
// it cannot be known yet. Every length from the wire is checked against
// max before anything is added to it, so no sum can overflow.
func messageLength(buf []byte, max int) (int, *frameError) {
	if len(buf) == 0 {
		return 0, nil
	}
	if buf[0] == '\r' || buf[0] == '\n' {
		i := 0
		for i < len(buf) && (buf[i] == '\r' || buf[i] == '\n') {
			i++
		}
		if i == len(buf) && i < 4 {
			return 0, nil // maybe the start of a double CRLF
		}
		return i, nil
	}
	end := bytes.Index(buf, headerSectionEnd)
	if end < 0 {
		if len(buf) > max {
			return 0, errHeaderTooLarge
		}
		return 0, nil
	}
	head := end + len(headerSectionEnd)
	if head > max {
		return 0, errHeaderTooLarge
	}
	cl, err := contentLength(buf[:end+2])
	if err != nil {
		return 0, err
	}
	if cl > uint64(max-head) {
		return 0, errMessageTooLarge
	}
	return head + int(cl), nil
}

// contentLength returns the Content-Length (or compact "l") of a header
// section, start line included, 0 when there is none. Folded lines are
// joined. A value that is not 1*DIGIT, one that no SIP parser holds (over
// 2^32-1, as sipgo's), or several values that disagree are malformed:
// a framer and a parser that read different lengths cut a stream
// differently (request smuggling). Leading zeros are valid digits.
func contentLength(hdr []byte) (uint64, *frameError) {
	// skip the start line: it is not a header
	if i := bytes.Index(hdr, crlf); i >= 0 {
		hdr = hdr[i+2:]
	} else {
		return 0, nil
	}
	var (
		cl    uint64
		found bool
		value []byte // the value being read, with its folded lines
		inCL  bool   // the header being read is Content-Length
	)
	finish := func() *frameError {
		if !inCL {
			return nil
		}
		inCL = false
		v, ok := parseContentLength(value)
		if !ok {
			return errBadLength
		}
		if found && v != cl {
			return errConflictingCL
		}
		cl, found = v, true
		return nil
	}
	for len(hdr) > 0 {
		eol := bytes.Index(hdr, crlf)
		if eol < 0 {
			eol = len(hdr)
		}
		line := hdr[:eol]
		hdr = hdr[min(eol+2, len(hdr)):]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if inCL {
				value = append(value, ' ')
				value = append(value, line...)
			}
			continue
		}
		if err := finish(); err != nil {
			return 0, err
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // not a header: the parser refuses the message
		}
		name := bytes.TrimSpace(line[:colon])
		if bytes.EqualFold(name, nameContentLength) || bytes.EqualFold(name, nameCompactLength) {
			inCL = true
			value = append(value[:0], line[colon+1:]...)
		}
	}
	if err := finish(); err != nil {
		return 0, err
	}
	return cl, nil
}

// parseContentLength reads 1*DIGIT surrounded by optional white space,
// refusing values over math.MaxUint32 (the digits are bounded before they
// are added, so it cannot overflow).
func parseContentLength(v []byte) (uint64, bool) {
	v = bytes.Trim(v, " \t")
	if len(v) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > math.MaxUint32 {
			return 0, false
		}
	}
	return n, true
}

// isKeepalive reports a datagram of only CR, LF, spaces or NULs (RFC 5626
// keep-alives and NAT pings).
func isKeepalive(b []byte) bool {
	for _, c := range b {
		switch c {
		case '\r', '\n', ' ', 0:
		default:
			return false
		}
	}
	return true
}

// streamFramer cuts the messages out of one TCP connection's bytes as
// they arrive. It looks for the end of a header section only in the bytes
// it has not searched yet, and waits for a body without looking at all,
// so a message sent a byte at a time costs linear work.
type streamFramer struct {
	max      int
	buf      []byte
	searched int // bytes at the front of buf known to hold no "\r\n\r\n"
	need     int // the length of the next message, once its header section is in
}

// push appends bytes read from the connection.
func (f *streamFramer) push(b []byte) { f.buf = append(f.buf, b...) }

// next returns the next complete message (a copy), or nil when more bytes
// are needed. After an error the stream cannot be framed any more.
func (f *streamFramer) next() ([]byte, *frameError) {
	if len(f.buf) == 0 || f.need > len(f.buf) {
		return nil, nil
	}
	if f.need == 0 && f.buf[0] != '\r' && f.buf[0] != '\n' {
		from := max(f.searched-len(headerSectionEnd)+1, 0)
		if bytes.Index(f.buf[from:], headerSectionEnd) < 0 {
			f.searched = len(f.buf)
			if len(f.buf) > f.max {
				return nil, errHeaderTooLarge
			}
			return nil, nil
		}
	}
	n, err := messageLength(f.buf, f.max)
	if err != nil {
		return nil, err
	}
	if n == 0 || n > len(f.buf) {
		f.need = n
		return nil, nil
	}
	msg := make([]byte, n)
	copy(msg, f.buf[:n])
	f.buf = f.buf[n:]
	if len(f.buf) == 0 {
		f.buf = nil // let a large buffer go
	}
	f.searched, f.need = 0, 0
	return msg, nil
}

// partial reports whether part of a message is buffered, once next has
// returned nil: bytes other than the CRs and LFs of a keep-alive (those
// are left only when they may be the start of a double CRLF).
func (f *streamFramer) partial() bool {
	return len(f.buf) > 0 && f.buf[0] != '\r' && f.buf[0] != '\n'
}
