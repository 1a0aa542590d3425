package websocket

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Limits of an HTTP head (request or response) read by this package.
const (
	// DefaultMaxHeadSize bounds the bytes of a request or response head.
	DefaultMaxHeadSize = 16 << 10
	// maxHeaderFields bounds the header lines of a head.
	maxHeaderFields = 100
)

// ErrIncomplete says the bytes given end before the blank line that ends
// an HTTP head: read more and parse again.
var ErrIncomplete = errors.New("websocket: http head incomplete")

// Field is one header line.
type Field struct {
	Name, Value string
}

// Header is the header lines of a head, in their order.
type Header []Field

// Get returns the value of the first field called name (case-insensitive),
// "" if none.
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of every field called name.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// count returns how many fields are called name.
func (h Header) count(name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// hasToken reports whether a field called name holds token in its comma
// separated list, case-insensitively.
func (h Header) hasToken(name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Request is the head of an HTTP/1.x request.
type Request struct {
	Method string // "GET"
	Target string // request target, "/" or "/ws?x=y"
	Proto  string // "HTTP/1.1"
	Header Header
}

// ParseRequest parses the request head at the start of b (empty lines
// before it are skipped) and returns it with the number of bytes it took,
// the blank line included: what follows belongs to the connection. It
// returns ErrIncomplete when b holds no whole head yet and has fewer
// than max bytes (DefaultMaxHeadSize if max <= 0), and a *HandshakeError
// (400) when the head is malformed or larger than max.
func ParseRequest(b []byte, max int) (*Request, int, error) {
	first, hdr, n, err := parseHead(b, max)
	if err != nil {
		return nil, 0, err
	}
	method, rest, ok1 := strings.Cut(first, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || !isToken(method) ||
		strings.ContainsAny(target, " \t") || !strings.HasPrefix(proto, "HTTP/") {
		return nil, 0, badRequest("malformed request line")
	}
	return &Request{Method: method, Target: target, Proto: proto, Header: hdr}, n, nil
}

// response is the head of an HTTP/1.x response.
type response struct {
	status int
	reason string
	header Header
}

func parseResponse(b []byte, max int) (*response, int, error) {
	first, hdr, n, err := parseHead(b, max)
	if err != nil {
		return nil, 0, err
	}
	proto, rest, _ := strings.Cut(first, " ")
	code, reason, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 ||
		code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return nil, 0, errors.New("websocket: malformed status line")
	}
	status := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return &response{status: status, reason: reason, header: hdr}, n, nil
}

// parseHead splits a head into its first line and header fields. Lines
// end in CRLF or a bare LF; a folded line (obs-fold) is refused.
func parseHead(b []byte, max int) (string, Header, int, error) {
	if max <= 0 {
		max = DefaultMaxHeadSize
	}
	skip := 0
	for skip < len(b) && skip < 4 && (b[skip] == '\r' || b[skip] == '\n') {
		skip++
	}
	window := b[:min(len(b), max)]
	end, n := headEnd(window, skip)
	if end < 0 {
		if len(b) >= max {
			return "", nil, 0, badRequest("http head over " + strconv.Itoa(max) + " bytes")
		}
		return "", nil, 0, ErrIncomplete
	}
	var (
		first string
		hdr   Header
	)
	for i, line := range lines(b[skip:end]) {
		if i == 0 {
			first = string(line)
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "", nil, 0, badRequest("folded header line")
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || !isToken(string(name)) {
			return "", nil, 0, badRequest("malformed header line")
		}
		if bytes.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return "", nil, 0, badRequest("control character in header " + string(name))
		}
		if len(hdr) == maxHeaderFields {
			return "", nil, 0, badRequest("more than " + strconv.Itoa(maxHeaderFields) + " header lines")
		}
		hdr = append(hdr, Field{Name: string(name), Value: string(bytes.TrimSpace(value))})
	}
	if first == "" {
		return "", nil, 0, badRequest("empty request line")
	}
	return first, hdr, n, nil
}

// headEnd finds the blank line that ends a head starting at from: end is
// where the last header line ends, n where the connection's next bytes
// start; end is -1 when there is no blank line.
func headEnd(b []byte, from int) (end, n int) {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		// line ends at i; is the next line empty?
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return i + 1, j + 1
		}
	}
	return -1, 0
}

// lines yields the lines of b without their CRLF or LF.
func lines(b []byte) func(func(int, []byte) bool) {
	return func(yield func(int, []byte) bool) {
		for i := 0; len(b) > 0; i++ {
			line, rest, _ := bytes.Cut(b, []byte("\n"))
			b = rest
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(line) == 0 {
				continue
			}
			if !yield(i, line) {
				return
			}
		}
	}
}

// ReadRequest reads from r until a whole request head has arrived (at
// most max bytes, DefaultMaxHeadSize if max <= 0) and returns it with the
// bytes read after it.
func ReadRequest(r io.Reader, max int) (*Request, []byte, error) {
	var req *Request
	rest, err := readHead(r, max, func(b []byte) (int, error) {
		var n int
		var err error
		req, n, err = ParseRequest(b, max)
		return n, err
	})
	return req, rest, err
}

// readHead reads into a growing buffer until parse stops returning
// ErrIncomplete, and returns the bytes after the head.
func readHead(r io.Reader, max int, parse func([]byte) (int, error)) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxHeadSize
	}
	buf := make([]byte, 0, min(max, 1024))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(cap(buf), max+1-len(buf)))...)[:len(buf)]
		}
		m, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		n, err := parse(buf)
		if err == nil {
			return buf[n:], nil
		}
		if err != ErrIncomplete {
			return nil, err
		}
		if rerr != nil {
			return nil, unexpected(rerr)
		}
	}
}

func badRequest(msg string) *HandshakeError {
	return &HandshakeError{Status: 400, Msg: msg}
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
