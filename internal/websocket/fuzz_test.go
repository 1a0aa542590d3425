package websocket

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzReadMessage feeds arbitrary bytes to both sides' reader: no panic,
// no message over the limit, no buffer much larger than the limit, and
// every end is a *CloseError.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})
	f.Add([]byte{0x01, 0x03, 'H', 'e', 'l', 0x89, 0x00, 0x80, 0x02, 'l', 'o'})
	f.Add([]byte{0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x88, 0x02, 0x03, 0xe8})
	f.Add(AppendFrame(nil, false, OpText, &rfcMask, []byte("a")))
	const limit = 1024
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, server := range []bool{true, false} {
			rw := &pipeRW{in: bytes.NewReader(data)}
			c := newConn(rw, nil, Config{MaxMessageSize: limit, MaxFragments: 8}, server)
			var buf []byte
			for range len(data) + 1 {
				op, msg, err := c.ReadMessage(buf)
				if cap(msg) > 4*limit {
					t.Fatalf("buffer of %d bytes for a %d limit", cap(msg), limit)
				}
				if err != nil {
					var ce *CloseError
					if !errors.As(err, &ce) {
						t.Fatalf("error %v is no CloseError", err)
					}
					break
				}
				if len(msg) > limit || (op != OpText && op != OpBinary) || (op == OpText && !utf8.Valid(msg)) {
					t.Fatalf("message %v of %d bytes: %q", op, len(msg), msg)
				}
				buf = msg
			}
			// Each frame read answers with at most one control frame.
			if len(rw.written()) > len(data)*(2+4+maxControl) {
				t.Fatalf("wrote %d bytes for %d read", len(rw.written()), len(data))
			}
		}
	})
}

// FuzzParseRequest: the head parser and the upgrade check never panic,
// never claim more bytes than given, and a head they accept is answered.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(goodHead))
	f.Add([]byte("GET / HTTP/1.1\nUpgrade: websocket\nConnection: upgrade\n\n"))
	f.Add([]byte("\r\n\r\nGET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, n, err := ParseRequest(data, 512)
		if err != nil {
			return
		}
		if n > len(data) || n > 512 {
			t.Fatalf("took %d of %d bytes", n, len(data))
		}
		u, err := CheckUpgrade(req, []string{"sip"})
		var reply []byte
		if err != nil {
			reply = AppendReject(nil, err)
		} else {
			reply = AppendAccept(nil, u, nil)
		}
		if !bytes.HasPrefix(reply, []byte("HTTP/1.1 ")) || !bytes.HasSuffix(reply, []byte("\r\n\r\n")) {
			t.Fatalf("reply %q", reply)
		}
	})
}
