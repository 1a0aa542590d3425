package websocket

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// acceptGUID is the fixed string RFC 6455 §1.3 appends to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// version is the only protocol version spoken (RFC 6455).
const version = "13"

// AcceptKey returns the Sec-WebSocket-Accept value for key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Upgrade is a valid opening handshake request, as [CheckUpgrade] read it.
type Upgrade struct {
	Target   string   // request target
	Host     string   // Host header, possibly empty
	Origin   string   // Origin header, possibly empty: policy is the caller's
	Key      string   // Sec-WebSocket-Key
	Offered  []string // subprotocols the client offered, in its order
	Protocol string   // subprotocol chosen, as the client spelled it; "" when none was required
}

// CheckUpgrade validates req as a WebSocket opening handshake (RFC 6455
// §4.2.1) and chooses its subprotocol: the first of protocols, in that
// order, the client offered (compared case-insensitively). With protocols
// empty no subprotocol is required nor chosen. A refusal is a
// *HandshakeError whose reply [AppendReject] writes.
func CheckUpgrade(req *Request, protocols []string) (*Upgrade, error) {
	h := req.Header
	if req.Method != "GET" {
		return nil, &HandshakeError{Status: 405, Header: Header{{"Allow", "GET"}},
			Msg: "method " + req.Method + " is not GET"}
	}
	if !httpAtLeast11(req.Proto) {
		return nil, refuse(protocols, "protocol "+req.Proto+" is not HTTP/1.1 or later")
	}
	for _, name := range []string{"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin"} {
		if h.count(name) > 1 {
			return nil, &HandshakeError{Status: 400, Msg: name + " found more than once"}
		}
	}
	if v := h.Get("Sec-WebSocket-Version"); v != version && v != "" {
		return nil, &HandshakeError{Status: 426,
			Header: Header{{"Sec-WebSocket-Version", version}, {"Upgrade", "websocket"}},
			Msg:    "Sec-WebSocket-Version " + strconv.Quote(v) + " is not " + version}
	}
	switch {
	case !h.hasToken("Upgrade", "websocket"):
		return nil, refuse(protocols, "no Upgrade: websocket")
	case !h.hasToken("Connection", "upgrade"):
		return nil, refuse(protocols, "no upgrade in Connection")
	case h.Get("Sec-WebSocket-Version") == "":
		return nil, refuse(protocols, "no Sec-WebSocket-Version")
	}
	key := h.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return nil, refuse(protocols, "Sec-WebSocket-Key "+strconv.Quote(key)+" is not 16 bytes in base64")
	}
	u := &Upgrade{Target: req.Target, Host: h.Get("Host"), Origin: h.Get("Origin"), Key: key}
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				u.Offered = append(u.Offered, p)
			}
		}
	}
	if len(protocols) == 0 {
		return u, nil
	}
	for _, want := range protocols {
		for _, p := range u.Offered {
			if strings.EqualFold(p, want) {
				u.Protocol = p
				return u, nil
			}
		}
	}
	return nil, refuse(protocols, fmt.Sprintf("no subprotocol of %q offered (offered %q)", protocols, u.Offered))
}

// refuse is the 400 of a request missing something: it tells the client
// the subprotocols and version spoken.
func refuse(protocols []string, msg string) *HandshakeError {
	e := &HandshakeError{Status: 400, Msg: msg}
	for _, p := range protocols {
		e.Header = append(e.Header, Field{"Sec-WebSocket-Protocol", p})
	}
	e.Header = append(e.Header, Field{"Sec-WebSocket-Version", version})
	return e
}

func httpAtLeast11(proto string) bool {
	v, ok := strings.CutPrefix(proto, "HTTP/")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && (ma > 1 || ma == 1 && mi >= 1)
}

// AppendAccept appends the 101 reply accepting u to dst, with the extra
// header fields (Access-Control-Allow-Origin, Server...) after the
// mandatory ones.
func AppendAccept(dst []byte, u *Upgrade, extra Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, AcceptKey(u.Key)...)
	dst = append(dst, "\r\n"...)
	if u.Protocol != "" {
		dst = appendField(dst, "Sec-WebSocket-Protocol", u.Protocol)
	}
	for _, f := range extra {
		dst = appendField(dst, f.Name, f.Value)
	}
	return append(dst, "\r\n"...)
}

// AppendReject appends the HTTP reply refusing an upgrade because of err:
// a *HandshakeError's status and header fields, 500 for any other error.
// The reply has no body and asks for the connection to be closed.
func AppendReject(dst []byte, err error) []byte {
	var he *HandshakeError
	if !errors.As(err, &he) {
		he = &HandshakeError{Status: 500}
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(he.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(he.Status)...)
	dst = append(dst, "\r\n"...)
	for _, f := range he.Header {
		dst = appendField(dst, f.Name, f.Value)
	}
	return append(dst, "Connection: close\r\nContent-Length: 0\r\n\r\n"...)
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 426:
		return "Upgrade Required"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

// ClientOptions is what a client's opening handshake asks for.
type ClientOptions struct {
	Host      string   // Host header, "host:port"
	Target    string   // request target, "/" when empty
	Protocols []string // subprotocols offered, in order; the server must choose one
	Origin    string   // Origin header, none when empty
	Header    Header   // extra request header fields
	// MaxHeadSize bounds the reply's head, DefaultMaxHeadSize when zero.
	MaxHeadSize int
}

// ClientHandshake sends an opening handshake request with a random key
// on rw and reads the reply: 101, Upgrade and Connection right, the
// accept value matching the key, a subprotocol among those offered (one
// is required when some were offered), no extension. It returns the
// subprotocol chosen and the bytes read after the reply's head, which
// belong to the frames ([NewClient]'s pending).
func ClientHandshake(rw io.ReadWriter, opt ClientOptions) (protocol string, rest []byte, err error) {
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", nil, fmt.Errorf("websocket: key: %w", err)
	}
	key := base64.StdEncoding.EncodeToString(k[:])
	target := opt.Target
	if target == "" {
		target = "/"
	}
	// what a script gives must not end the request line or a field early
	// (a CR LF in a path would add header fields of its own)
	if i := strings.IndexFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return "", nil, fmt.Errorf("websocket: request target %q: control character or space at %d", target, i)
	}
	for _, v := range append([]string{opt.Host, opt.Origin}, opt.Protocols...) {
		if strings.ContainsAny(v, "\r\n") {
			return "", nil, fmt.Errorf("websocket: handshake field %q: line break", v)
		}
	}
	for _, f := range opt.Header {
		if strings.ContainsAny(f.Name+f.Value, "\r\n") {
			return "", nil, fmt.Errorf("websocket: handshake field %q: line break", f.Name)
		}
	}
	b := make([]byte, 0, 256)
	b = append(b, "GET "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\n"...)
	b = appendField(b, "Host", opt.Host)
	b = append(b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"...)
	b = appendField(b, "Sec-WebSocket-Key", key)
	if len(opt.Protocols) > 0 {
		b = appendField(b, "Sec-WebSocket-Protocol", strings.Join(opt.Protocols, ", "))
	}
	if opt.Origin != "" {
		b = appendField(b, "Origin", opt.Origin)
	}
	for _, f := range opt.Header {
		b = appendField(b, f.Name, f.Value)
	}
	b = append(b, "\r\n"...)
	if _, err := rw.Write(b); err != nil {
		return "", nil, fmt.Errorf("websocket: handshake request: %w", err)
	}

	var resp *response
	rest, err = readHead(rw, opt.MaxHeadSize, func(b []byte) (int, error) {
		var n int
		var err error
		resp, n, err = parseResponse(b, opt.MaxHeadSize)
		return n, err
	})
	if err != nil {
		return "", nil, fmt.Errorf("websocket: handshake reply: %w", err)
	}
	h := resp.header
	switch {
	case resp.status != 101:
		return "", nil, fmt.Errorf("websocket: handshake refused: %d %s", resp.status, resp.reason)
	case !h.hasToken("Upgrade", "websocket"):
		return "", nil, errors.New("websocket: handshake reply without Upgrade: websocket")
	case !h.hasToken("Connection", "upgrade"):
		return "", nil, errors.New("websocket: handshake reply without Connection: upgrade")
	case h.Get("Sec-WebSocket-Accept") != AcceptKey(key):
		return "", nil, fmt.Errorf("websocket: handshake reply accept %q does not match the key", h.Get("Sec-WebSocket-Accept"))
	case h.Get("Sec-WebSocket-Extensions") != "":
		return "", nil, errors.New("websocket: handshake reply with an extension not asked for")
	}
	protocol = h.Get("Sec-WebSocket-Protocol")
	if len(opt.Protocols) > 0 {
		offered := false
		for _, p := range opt.Protocols {
			offered = offered || strings.EqualFold(p, protocol)
		}
		if !offered {
			return "", nil, fmt.Errorf("websocket: handshake reply chose subprotocol %q, offered %q", protocol, opt.Protocols)
		}
	} else if protocol != "" {
		return "", nil, fmt.Errorf("websocket: handshake reply chose subprotocol %q, none offered", protocol)
	}
	return protocol, rest, nil
}
