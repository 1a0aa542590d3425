package luastr

import (
	"errors"
	"unsafe"
)

// maxStringLen bounds every string this package builds, Budget or not:
// past it Go's allocator would panic or take the whole process down with
// a fatal out-of-memory error, where Lua raises "not enough memory".
const maxStringLen = 1<<31 - 1

// errTooLarge is raised for a string longer than maxStringLen (Lua 5.3's
// wording for string.rep).
var errTooLarge = errors.New("resulting string too large")

// grow checks that n more bytes make a string of at most maxStringLen and
// asks b for them; a nil Budget allows everything else.
func grow(b Budget, n int) error {
	if uint(n) > maxStringLen {
		return errTooLarge
	}
	if b == nil || n == 0 {
		return nil
	}
	return b.Grow(n)
}

// builder builds one result string whose size is not known in advance. It
// accounts its buffer's capacity with the Budget before allocating it, so
// a result that would pass the bound is refused before it is built.
type builder struct {
	buf       []byte
	budget    Budget
	accounted int
}

// reserve makes room for n more bytes.
func (b *builder) reserve(n int) error {
	if n <= cap(b.buf)-len(b.buf) {
		return nil
	}
	if n < 0 || n > maxStringLen-len(b.buf) {
		return errTooLarge
	}
	need := len(b.buf) + n
	newCap := need
	if len(b.buf) > 0 {
		// Grow by a quarter, as append does for large slices, so the
		// accounted capacity stays close to the result's size.
		newCap = min(need+need/4, maxStringLen)
	}
	if err := grow(b.budget, newCap-b.accounted); err != nil {
		return err
	}
	b.accounted = newCap
	nb := make([]byte, len(b.buf), newCap)
	copy(nb, b.buf)
	b.buf = nb
	return nil
}

// appendString appends s.
func (b *builder) appendString(s string) error {
	if err := b.reserve(len(s)); err != nil {
		return err
	}
	b.buf = append(b.buf, s...)
	return nil
}

// appendByte appends c.
func (b *builder) appendByte(c byte) error {
	if err := b.reserve(1); err != nil {
		return err
	}
	b.buf = append(b.buf, c)
	return nil
}

// String returns the built string. The builder must not be used after.
func (b *builder) String() string {
	return bytesString(b.buf)
}

// bytesString turns a buffer that is never written again into a string
// without copying it, as strings.Builder does: the result's bytes are
// already accounted and copying them would double the memory a large
// result holds.
func bytesString(buf []byte) string {
	if len(buf) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(buf), len(buf))
}
