package websocket

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// pipeRW reads from in and records what is written.
type pipeRW struct {
	in  io.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *pipeRW) Read(b []byte) (int, error) { return p.in.Read(b) }

func (p *pipeRW) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *pipeRW) written() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.out.Bytes())
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var rfcMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// RFC 6455 §5.7, byte for byte, both ways.
func TestRFCExamples(t *testing.T) {
	big256 := bytes.Repeat([]byte{'x'}, 256)
	big64k := bytes.Repeat([]byte{'y'}, 65536)
	tests := []struct {
		name    string
		wire    string // hex
		payload []byte
		op      Opcode
		mask    bool
	}{
		{name: "unmasked text", wire: "81 05 48 65 6c 6c 6f", payload: []byte("Hello"), op: OpText},
		{name: "masked text", wire: "81 85 37 fa 21 3d 7f 9f 4d 51 58", payload: []byte("Hello"), op: OpText, mask: true},
		{name: "unmasked ping", wire: "89 05 48 65 6c 6c 6f", payload: []byte("Hello"), op: OpPing},
		{name: "masked pong", wire: "8a 85 37 fa 21 3d 7f 9f 4d 51 58", payload: []byte("Hello"), op: OpPong, mask: true},
		{name: "256 bytes binary", wire: "82 7e 01 00" + hex.EncodeToString(big256), payload: big256, op: OpBinary},
		{name: "64 KiB binary", wire: "82 7f 00 00 00 00 00 01 00 00" + hex.EncodeToString(big64k), payload: big64k, op: OpBinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := unhex(t, tt.wire)
			var mask *[4]byte
			if tt.mask {
				mask = &rfcMask
			}
			if got := AppendFrame(nil, true, tt.op, mask, tt.payload); !bytes.Equal(got, wire) {
				t.Errorf("AppendFrame = %x\nwant %x", got, wire)
			}
			if tt.op.isControl() {
				return
			}
			rw := &pipeRW{in: bytes.NewReader(wire)}
			var c *Conn
			if tt.mask {
				c = NewServer(rw, nil, Config{MaxMessageSize: 1 << 20})
			} else {
				c = NewClient(rw, nil, Config{MaxMessageSize: 1 << 20})
			}
			op, msg, err := c.ReadMessage(nil)
			if err != nil || op != tt.op || !bytes.Equal(msg, tt.payload) {
				t.Errorf("ReadMessage = %v, %d bytes, %v", op, len(msg), err)
			}
			// A server writes it unmasked, byte for byte.
			if !tt.mask {
				out := &pipeRW{in: strings.NewReader("")}
				if err := NewServer(out, nil, Config{}).WriteMessage(tt.op, tt.payload); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.written(), wire) {
					t.Errorf("server wrote %x", out.written())
				}
			}
		})
	}
}

// The RFC's fragmented "Hello", and its ping in the middle answered by a pong.
func TestFragments(t *testing.T) {
	wire := unhex(t, "01 03 48 65 6c"+"89 05 48 65 6c 6c 6f"+"80 02 6c 6f"+"82 00")
	rw := &pipeRW{in: bytes.NewReader(wire)}
	c := NewClient(rw, nil, Config{})
	op, msg, err := c.ReadMessage(nil)
	if err != nil || op != OpText || string(msg) != "Hello" {
		t.Fatalf("ReadMessage = %v %q %v", op, msg, err)
	}
	// The client answered the ping with a masked pong carrying "Hello".
	out := rw.written()
	if len(out) != 2+4+5 || out[0] != 0x8a || out[1] != 0x85 {
		t.Fatalf("pong = %x", out)
	}
	pong := bytes.Clone(out[6:])
	maskBytes(pong, [4]byte(out[2:6]), 0)
	if string(pong) != "Hello" {
		t.Errorf("pong payload %q", pong)
	}
	// An empty binary message follows.
	op, msg, err = c.ReadMessage(msg)
	if err != nil || op != OpBinary || len(msg) != 0 {
		t.Errorf("second ReadMessage = %v %q %v", op, msg, err)
	}
	_, _, err = c.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseAbnormal || !errors.Is(err, io.EOF) {
		t.Errorf("end = %v", err)
	}
}

// frameMasked builds one client frame with an arbitrary first byte.
func frameMasked(b0 byte, payload []byte) []byte {
	f := AppendFrame(nil, true, 0, &rfcMask, payload)
	f[0] = b0
	return f
}

func TestViolations(t *testing.T) {
	hello := []byte("Hello")
	tests := []struct {
		name   string
		wire   []byte
		server bool
		cfg    Config
		want   error
		code   int
	}{
		{name: "unmasked from client", wire: AppendFrame(nil, true, OpText, nil, hello), server: true, want: ErrMasking, code: 1002},
		{name: "masked from server", wire: AppendFrame(nil, true, OpText, &rfcMask, hello), want: ErrMasking, code: 1002},
		{name: "reserved opcode 3", wire: frameMasked(0x83, hello), server: true, want: ErrBadOpcode, code: 1002},
		{name: "reserved control opcode 0xb", wire: frameMasked(0x8b, nil), server: true, want: ErrBadOpcode, code: 1002},
		{name: "RSV1", wire: frameMasked(0xc1, hello), server: true, want: ErrReservedBits, code: 1002},
		{name: "RSV3", wire: frameMasked(0x91, hello), server: true, want: ErrReservedBits, code: 1002},
		{name: "control over 125", wire: AppendFrame(nil, true, OpPing, &rfcMask, make([]byte, 126)), server: true, want: ErrControlFrame, code: 1002},
		{name: "fragmented ping", wire: AppendFrame(nil, false, OpPing, &rfcMask, hello), server: true, want: ErrControlFrame, code: 1002},
		{name: "2^63 length", wire: unhex(t, "82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d"), server: true, want: ErrBadLength, code: 1002},
		{name: "16-bit length not shortest", wire: unhex(t, "82 fe 00 05 37 fa 21 3d 7f 9f 4d 51 58"), server: true, want: ErrBadLength, code: 1002},
		{name: "continuation first", wire: AppendFrame(nil, true, OpContinuation, &rfcMask, hello), server: true, want: ErrBadContinuation, code: 1002},
		{name: "text inside text", wire: append(AppendFrame(nil, false, OpText, &rfcMask, hello), AppendFrame(nil, true, OpText, &rfcMask, hello)...),
			server: true, want: ErrBadContinuation, code: 1002},
		{name: "too large single frame", wire: AppendFrame(nil, true, OpBinary, &rfcMask, make([]byte, 101)), server: true,
			cfg: Config{MaxMessageSize: 100}, want: ErrMessageTooBig, code: 1009},
		{name: "too large announced, never sent", wire: unhex(t, "82 ff 00 00 00 01 00 00 00 00 37 fa 21 3d"), server: true,
			want: ErrMessageTooBig, code: 1009},
		{name: "too large over fragments", wire: append(AppendFrame(nil, false, OpBinary, &rfcMask, make([]byte, 60)),
			AppendFrame(nil, true, OpContinuation, &rfcMask, make([]byte, 60))...), server: true,
			cfg: Config{MaxMessageSize: 100}, want: ErrMessageTooBig, code: 1009},
		{name: "invalid UTF-8", wire: AppendFrame(nil, true, OpText, &rfcMask, []byte{'a', 0xff, 'b'}), server: true, want: ErrInvalidUTF8, code: 1007},
		{name: "UTF-8 split over fragments is fine until it ends wrong", wire: append(AppendFrame(nil, false, OpText, &rfcMask, []byte{0xe2, 0x82}),
			AppendFrame(nil, true, OpContinuation, &rfcMask, []byte{'x'})...), server: true, want: ErrInvalidUTF8, code: 1007},
		{name: "invalid UTF-8 in the first fragment of many", wire: append(AppendFrame(nil, false, OpText, &rfcMask, []byte{'a', 0xc0, 0xaf}),
			AppendFrame(nil, false, OpContinuation, &rfcMask, []byte("b"))...), server: true, want: ErrInvalidUTF8, code: 1007},
		{name: "close with 1 byte", wire: AppendFrame(nil, true, OpClose, &rfcMask, []byte{3}), server: true, want: ErrBadClosePayload, code: 1002},
		{name: "close with code 1005", wire: AppendFrame(nil, true, OpClose, &rfcMask, []byte{0x03, 0xed}), server: true, want: ErrBadClosePayload, code: 1002},
		{name: "close with code 999", wire: AppendFrame(nil, true, OpClose, &rfcMask, []byte{0x03, 0xe7}), server: true, want: ErrBadClosePayload, code: 1002},
		{name: "close reason not UTF-8", wire: AppendFrame(nil, true, OpClose, &rfcMask, []byte{0x03, 0xe8, 0xff}), server: true, want: ErrInvalidUTF8, code: 1007},
		{name: "truncated header", wire: []byte{0x81}, server: true, want: io.ErrUnexpectedEOF, code: 1006},
		{name: "truncated payload", wire: AppendFrame(nil, true, OpText, &rfcMask, hello)[:8], server: true, want: io.ErrUnexpectedEOF, code: 1006},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := &pipeRW{in: bytes.NewReader(tt.wire)}
			c := newConn(rw, nil, tt.cfg, tt.server)
			_, _, err := c.ReadMessage(nil)
			var ce *CloseError
			if !errors.As(err, &ce) || !errors.Is(err, tt.want) || ce.Code != tt.code || ce.Remote {
				t.Fatalf("err = %v (%#v), want %v with code %d", err, ce, tt.want, tt.code)
			}
			// The same error again, and nothing more read.
			if _, _, err2 := c.ReadMessage(nil); err2 != err {
				t.Errorf("second read: %v", err2)
			}
			out := rw.written()
			if tt.code == CloseAbnormal {
				if len(out) != 0 {
					t.Errorf("wrote %x after a read error", out)
				}
				return
			}
			// One close frame with the code went back, masked by a client.
			r := newConn(&pipeRW{in: bytes.NewReader(out)}, nil, Config{}, !tt.server)
			_, _, err = r.ReadMessage(nil)
			if !errors.As(err, &ce) || !ce.Remote || ce.Code != tt.code {
				t.Errorf("close sent = %x, read back %v", out, err)
			}
			if err := c.WriteMessage(OpText, hello); !errors.Is(err, ErrClosed) {
				t.Errorf("write after close: %v", err)
			}
		})
	}
}

// A character split between fragments is whole in the message.
func TestUTF8AcrossFragments(t *testing.T) {
	euro := []byte("€") // e2 82 ac
	wire := AppendFrame(nil, false, OpText, &rfcMask, append([]byte("a"), euro[0]))
	wire = append(wire, AppendFrame(nil, false, OpContinuation, &rfcMask, euro[1:2])...)
	wire = append(wire, AppendFrame(nil, true, OpContinuation, &rfcMask, append(euro[2:], 'b'))...)
	c := NewServer(&pipeRW{in: bytes.NewReader(wire)}, nil, Config{})
	if op, msg, err := c.ReadMessage(nil); err != nil || op != OpText || string(msg) != "a€b" {
		t.Fatalf("ReadMessage = %v %q %v", op, msg, err)
	}
}

// A message fragmented forever (empty continuations) ends at the
// fragment limit, having read no more than its frames.
func TestFragmentedForever(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		f := AppendFrame(nil, false, OpText, &rfcMask, []byte("a"))
		for i := 0; ; i++ {
			if _, err := pw.Write(f); err != nil {
				return
			}
			f = AppendFrame(f[:0], false, OpContinuation, &rfcMask, nil)
		}
	}()
	defer pr.Close()
	rw := &pipeRW{in: pr}
	c := NewServer(rw, nil, Config{MaxFragments: 10})
	_, msg, err := c.ReadMessage(nil)
	if !errors.Is(err, ErrTooManyFragments) {
		t.Fatalf("err = %v", err)
	}
	var ce *CloseError
	if errors.As(err, &ce); ce.Code != CloseMessageTooBig {
		t.Errorf("code %d", ce.Code)
	}
	if string(msg) != "a" {
		t.Errorf("msg %q", msg)
	}
}

// A peer announcing a large frame and sending part of it makes the
// reader hold memory for what was sent, not what was announced.
func TestSlowLargeFrameBoundedMemory(t *testing.T) {
	hdr := unhex(t, "82 ff 00 00 00 00 00 0f 00 00 37 fa 21 3d") // 983040 bytes announced
	wire := append(hdr, make([]byte, 100)...)
	c := NewServer(&pipeRW{in: bytes.NewReader(wire)}, nil, Config{MaxMessageSize: 1 << 20})
	_, msg, err := c.ReadMessage(nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if cap(msg) > readChunk {
		t.Errorf("buffer grew to %d for 100 bytes received", cap(msg))
	}
}

func TestCloseHandshake(t *testing.T) {
	t.Run("peer closes", func(t *testing.T) {
		wire := AppendFrame(nil, true, OpClose, &rfcMask, append([]byte{0x03, 0xe9}, "going"...))
		rw := &pipeRW{in: bytes.NewReader(wire)}
		c := NewServer(rw, nil, Config{})
		_, _, err := c.ReadMessage(nil)
		var ce *CloseError
		if !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseGoingAway || ce.Reason != "going" {
			t.Fatalf("err = %v", err)
		}
		if got, want := rw.written(), unhex(t, "88 02 03 e9"); !bytes.Equal(got, want) {
			t.Errorf("reply %x, want %x", got, want)
		}
	})
	t.Run("peer closes without code", func(t *testing.T) {
		rw := &pipeRW{in: bytes.NewReader(AppendFrame(nil, true, OpClose, nil, nil))}
		c := NewClient(rw, nil, Config{})
		_, _, err := c.ReadMessage(nil)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != CloseNoStatus {
			t.Fatalf("err = %v", err)
		}
		out := rw.written()
		if len(out) != 8 || out[0] != 0x88 || out[1] != 0x82 {
			t.Errorf("reply %x", out)
		}
	})
	t.Run("we close first", func(t *testing.T) {
		// The peer's answer is read after ours; no second close is sent.
		wire := append(AppendFrame(nil, true, OpText, &rfcMask, []byte("late")),
			AppendFrame(nil, true, OpClose, &rfcMask, []byte{0x03, 0xe8})...)
		rw := &pipeRW{in: bytes.NewReader(wire)}
		c := NewServer(rw, nil, Config{})
		if err := c.WriteClose(CloseNormal, "bye"); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteClose(CloseNormal, "bye"); !errors.Is(err, ErrClosed) {
			t.Errorf("second close: %v", err)
		}
		if _, msg, err := c.ReadMessage(nil); err != nil || string(msg) != "late" {
			t.Errorf("read after our close: %q %v", msg, err)
		}
		_, _, err := c.ReadMessage(nil)
		var ce *CloseError
		if !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseNormal {
			t.Fatalf("err = %v", err)
		}
		if got, want := rw.written(), append(unhex(t, "88 05 03 e8"), "bye"...); !bytes.Equal(got, want) {
			t.Errorf("written %x, want %x", got, want)
		}
	})
}

func TestWriteLimits(t *testing.T) {
	c := NewServer(&pipeRW{in: strings.NewReader("")}, nil, Config{})
	if err := c.WritePing(make([]byte, 126)); !errors.Is(err, ErrControlFrame) {
		t.Errorf("big ping: %v", err)
	}
	if err := c.WriteClose(1000, strings.Repeat("r", 124)); !errors.Is(err, ErrControlFrame) {
		t.Errorf("long reason: %v", err)
	}
	if err := c.WriteMessage(OpPing, nil); err == nil {
		t.Error("WriteMessage(OpPing) accepted")
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := range 40 {
		for split := 0; split <= n; split++ {
			b := make([]byte, n)
			want := make([]byte, n)
			for i := range want {
				want[i] = key[i&3]
			}
			pos := maskBytes(b[:split], key, 0)
			maskBytes(b[split:], key, pos)
			if !bytes.Equal(b, want) {
				t.Fatalf("n=%d split=%d: %v", n, split, b)
			}
		}
	}
}
