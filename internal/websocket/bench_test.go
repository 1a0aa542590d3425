package websocket

import (
	"bytes"
	"io"
	"testing"
)

// sipOptions is a typical SIP message as a WebSocket client sends it.
var sipOptions = []byte("OPTIONS sip:kemi@127.0.0.1;transport=ws SIP/2.0\r\n" +
	"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-524287-1---7b3c9f0c1e2a5d64;rport\r\n" +
	"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=9fxced76sl\r\n" +
	"To: <sip:kemi@127.0.0.1>\r\nCall-ID: 3848276298220188511@df7jal23ls0d.invalid\r\n" +
	"CSeq: 1 OPTIONS\r\nUser-Agent: JsSIP 3.10.0\r\nContent-Length: 0\r\n\r\n")

func BenchmarkParseUpgrade(b *testing.B) {
	head := []byte(goodHead)
	b.ReportAllocs()
	for b.Loop() {
		req, _, err := ParseRequest(head, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := CheckUpgrade(req, []string{"sip"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerRead reads masked client messages as the engine would.
func BenchmarkServerRead(b *testing.B) {
	frame := AppendFrame(nil, true, OpText, &rfcMask, sipOptions)
	r := &repeatReader{b: frame}
	c := NewServer(struct {
		io.Reader
		io.Writer
	}{r, io.Discard}, nil, Config{})
	var buf []byte
	b.SetBytes(int64(len(sipOptions)))
	b.ReportAllocs()
	for b.Loop() {
		_, msg, err := c.ReadMessage(buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = msg
	}
}

// BenchmarkServerWrite writes unmasked messages.
func BenchmarkServerWrite(b *testing.B) {
	c := NewServer(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(nil), io.Discard}, nil, Config{})
	b.SetBytes(int64(len(sipOptions)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteMessage(OpText, sipOptions); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader returns b over and over, as a socket would deliver it.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}
