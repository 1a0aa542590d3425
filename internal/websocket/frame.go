package websocket

import "encoding/binary"

// Opcode is the kind of a frame (RFC 6455 §5.2).
type Opcode byte

// Opcodes defined by RFC 6455; the others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xa
)

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// isControl reports whether op is a control opcode (high bit set).
func (op Opcode) isControl() bool { return op&0x8 != 0 }

const (
	finBit      = 0x80
	rsvBits     = 0x70
	opcodeBits  = 0x0f
	maskBit     = 0x80
	lenBits     = 0x7f
	maxHeader   = 14  // 2 + 8 extended length + 4 mask key
	maxControl  = 125 // RFC 6455 §5.5
	len16Marker = 126
	len64Marker = 127
)

// frameHeader is a decoded frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     Opcode
	masked bool
	mask   [4]byte
	length uint64
}

// headerSize returns the number of bytes of the header whose first two
// bytes are b0 and b1.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & lenBits {
	case len16Marker:
		n += 2
	case len64Marker:
		n += 8
	}
	if b1&maskBit != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a header of headerSize(b[1]) bytes. It checks only
// what the encoding itself forbids (64-bit lengths with the top bit set,
// lengths not in their shortest form); the rules that depend on the
// connection are the reader's.
func parseHeader(b []byte) (frameHeader, error) {
	h := frameHeader{
		fin:    b[0]&finBit != 0,
		rsv:    b[0] & rsvBits,
		op:     Opcode(b[0] & opcodeBits),
		masked: b[1]&maskBit != 0,
	}
	p := 2
	switch l := b[1] & lenBits; l {
	case len16Marker:
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
		p += 2
		if h.length < len16Marker {
			return h, ErrBadLength
		}
	case len64Marker:
		h.length = binary.BigEndian.Uint64(b[2:])
		p += 8
		if h.length>>63 != 0 || h.length <= 0xffff {
			return h, ErrBadLength
		}
	default:
		h.length = uint64(l)
	}
	if h.masked {
		copy(h.mask[:], b[p:p+4])
	}
	return h, nil
}

// AppendFrame appends one frame to dst: FIN set when fin, opcode op, the
// payload masked with mask when mask is not nil (a client's frames) and
// sent as is otherwise (a server's). The length takes its shortest form.
// It is the encoder behind [Conn]'s writes, exported for a caller that
// queues frames on its own.
func AppendFrame(dst []byte, fin bool, op Opcode, mask *[4]byte, payload []byte) []byte {
	dst = appendHeader(dst, fin, op, mask, len(payload))
	if mask == nil {
		return append(dst, payload...)
	}
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(dst[start:], *mask, 0)
	return dst
}

// appendHeader appends the header of a frame of n payload bytes.
func appendHeader(dst []byte, fin bool, op Opcode, mask *[4]byte, n int) []byte {
	b0 := byte(op) & opcodeBits
	if fin {
		b0 |= finBit
	}
	var b1 byte
	if mask != nil {
		b1 = maskBit
	}
	switch {
	case n < len16Marker:
		dst = append(dst, b0, b1|byte(n))
	case n <= 0xffff:
		dst = append(dst, b0, b1|len16Marker)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, b1|len64Marker)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if mask != nil {
		dst = append(dst, mask[:]...)
	}
	return dst
}

// maskBytes XORs b with key, b starting at offset pos of the payload, and
// returns the offset after b (masking a payload read in pieces).
func maskBytes(b []byte, key [4]byte, pos int) int {
	end := (pos + len(b)) & 3
	// Eight bytes at a time with the key spread over a word, then the rest.
	if len(b) >= 16 {
		var k [8]byte
		for i := range k {
			k[i] = key[(pos+i)&3]
		}
		kw := binary.LittleEndian.Uint64(k[:])
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^kw)
			b = b[8:]
		}
		// pos advances by multiples of 8, which keeps pos&3.
	}
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return end
}
