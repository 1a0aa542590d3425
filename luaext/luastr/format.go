package luastr

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// string.format as Lua 5.1 has it: the format is validated as lstrlib.c
// validates it (at most five flags, widths and precisions of at most two
// digits, the conversions c d i o u x X e E f g G q s), and each item is
// then formatted as C's sprintf formats it. gopher-lua hands the format to
// Go's fmt.Sprintf, whose verbs and output differ (%5.1s, %i, %c, inf, %q,
// %g, errors written into the result), so the conversions are written
// here.

const formatFlags = "-+ #0"

// fspec is one parsed conversion.
type fspec struct {
	minus, plus, space, alt, zero bool
	width                         int // 0 when absent
	prec                          int // -1 when absent
}

// scanFormat reads the flags, width and precision of the item at f[i:]
// and returns them with the index of the conversion character.
func scanFormat(f string, i int) (fspec, int, string) {
	at := func(j int) byte {
		if j < len(f) {
			return f[j]
		}
		return 0
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	sp := fspec{prec: -1}
	start := i
	for at(i) != 0 && strings.IndexByte(formatFlags, at(i)) >= 0 {
		switch f[i] {
		case '-':
			sp.minus = true
		case '+':
			sp.plus = true
		case ' ':
			sp.space = true
		case '#':
			sp.alt = true
		case '0':
			sp.zero = true
		}
		i++
	}
	if i-start > len(formatFlags) {
		return sp, i, "invalid format (repeated flags)"
	}
	for n := 0; n < 2 && isDigit(at(i)); n++ {
		sp.width = sp.width*10 + int(f[i]-'0')
		i++
	}
	if at(i) == '.' {
		i++
		sp.prec = 0
		for n := 0; n < 2 && isDigit(at(i)); n++ {
			sp.prec = sp.prec*10 + int(f[i]-'0')
			i++
		}
	}
	if isDigit(at(i)) {
		return sp, i, "invalid format (width or precision too long)"
	}
	return sp, i, ""
}

// format is string.format(fmt, ...).
func (x *lib) format(L *lua.LState) int {
	f := checkString(L, 1)
	top := L.GetTop()
	arg := 1
	b := builder{budget: x.budget}
	if err := b.reserve(formatEstimate(L, f, top)); err != nil {
		raise(L, err.Error())
	}
	var item [512]byte
	for i := 0; i < len(f); {
		if f[i] != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			x.add(L, &b, f[i:i+j])
			i += j
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			x.add(L, &b, "%")
			i++
			continue
		}
		arg++
		if arg > top {
			argError(L, arg, "no value")
		}
		sp, ci, msg := scanFormat(f, i)
		if msg != "" {
			raise(L, msg)
		}
		var conv byte
		if ci < len(f) {
			conv = f[ci]
		}
		i = ci + 1
		var out []byte
		switch conv {
		case 'c':
			c := byte(toCInt(checkNumber(L, arg)))
			out = pad(item[:0], sp, "", []byte{c}, false)
		case 'd', 'i':
			n := toInteger(checkNumber(L, arg))
			mag := uint64(n)
			sign := ""
			switch {
			case n < 0:
				mag = -mag
				sign = "-"
			case sp.plus:
				sign = "+"
			case sp.space:
				sign = " "
			}
			out = appendInt(item[:0], sp, sign, mag, 10, false)
		case 'o':
			out = appendInt(item[:0], sp, "", toUnsigned(checkNumber(L, arg)), 8, false)
		case 'u':
			out = appendInt(item[:0], sp, "", toUnsigned(checkNumber(L, arg)), 10, false)
		case 'x', 'X':
			out = appendInt(item[:0], sp, "", toUnsigned(checkNumber(L, arg)), 16, conv == 'X')
		case 'e', 'E', 'f', 'g', 'G':
			out = appendFloat(item[:0], sp, conv, checkNumber(L, arg))
		case 'q':
			x.addQuoted(L, &b, checkString(L, arg))
			continue
		case 's':
			s := checkString(L, arg)
			if sp.prec < 0 && len(s) >= 100 {
				// Lua 5.1 adds a long string whole, width and all ignored.
				x.add(L, &b, s)
				continue
			}
			if k := strings.IndexByte(s, 0); k >= 0 {
				s = s[:k] // sprintf stops at the zero byte
			}
			if sp.prec >= 0 && len(s) > sp.prec {
				s = s[:sp.prec]
			}
			out = pad(item[:0], fspec{minus: sp.minus, width: sp.width, prec: -1}, "", []byte(s), false)
		default:
			// Lua 5.1 prints the option with %c, which drops a zero byte.
			opt := string([]byte{conv})
			if conv == 0 {
				opt = ""
			}
			raise(L, "invalid option '%"+opt+"' to 'format'")
		}
		// Lua 5.1 adds sprintf's output up to its first zero byte.
		if k := bytes.IndexByte(out, 0); k >= 0 {
			out = out[:k]
		}
		if err := b.reserve(len(out)); err != nil {
			raise(L, err.Error())
		}
		b.buf = append(b.buf, out...)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// formatEstimate guesses the size of string.format's result, so that the
// usual call builds it in one allocation: the format, the strings (the
// first 256 bytes of each; longer ones are reserved when added) and 24
// bytes for any other argument.
func formatEstimate(L *lua.LState, f string, top int) int {
	n := len(f)
	for i := 2; i <= top; i++ {
		if s, ok := L.Get(i).(lua.LString); ok {
			n += min(len(s), 256)
		} else {
			n += 24
		}
	}
	return min(n, 1<<16)
}

// addQuoted appends s as %q writes it: between double quotes, with ", \
// and newline escaped by a backslash, \r as \r and the zero byte as \000.
func (x *lib) addQuoted(L *lua.LState, b *builder, s string) {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n++
		case 0:
			n += 3
		}
	}
	if err := b.reserve(n); err != nil {
		raise(L, err.Error())
	}
	buf := append(b.buf, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			buf = append(buf, '\\', c)
		case '\r':
			buf = append(buf, '\\', 'r')
		case 0:
			buf = append(buf, '\\', '0', '0', '0')
		default:
			buf = append(buf, c)
		}
	}
	b.buf = append(buf, '"')
}

// pad appends sign and body padded to sp.width: with spaces on the left,
// on the right with '-', or with zeros between sign and body when zeros
// is set.
func pad(dst []byte, sp fspec, sign string, body []byte, zeros bool) []byte {
	fill := sp.width - len(sign) - len(body)
	switch {
	case fill <= 0:
		dst = append(dst, sign...)
		dst = append(dst, body...)
	case sp.minus:
		dst = append(dst, sign...)
		dst = append(dst, body...)
		dst = appendRepeat(dst, ' ', fill)
	case zeros:
		dst = append(dst, sign...)
		dst = appendRepeat(dst, '0', fill)
		dst = append(dst, body...)
	default:
		dst = appendRepeat(dst, ' ', fill)
		dst = append(dst, sign...)
		dst = append(dst, body...)
	}
	return dst
}

func appendRepeat(dst []byte, c byte, n int) []byte {
	for ; n > 0; n-- {
		dst = append(dst, c)
	}
	return dst
}

// appendInt formats an integer conversion: sign ("" for the unsigned
// ones), magnitude and base.
func appendInt(dst []byte, sp fspec, sign string, mag uint64, base int, upper bool) []byte {
	var tmp [160]byte
	digits := strconv.AppendUint(tmp[:0], mag, base)
	if upper {
		for i, c := range digits {
			if c >= 'a' && c <= 'f' {
				digits[i] = c - 'a' + 'A'
			}
		}
	}
	if sp.prec == 0 && mag == 0 {
		digits = digits[:0]
	}
	if sp.prec > len(digits) {
		z := sp.prec - len(digits)
		digits = append(digits, make([]byte, z)...)
		copy(digits[z:], digits)
		for i := 0; i < z; i++ {
			digits[i] = '0'
		}
	}
	if sp.alt {
		switch base {
		case 8:
			if len(digits) == 0 || digits[0] != '0' {
				digits = append([]byte{'0'}, digits...)
			}
		case 16:
			if mag != 0 {
				if upper {
					sign = "0X"
				} else {
					sign = "0x"
				}
			}
		}
	}
	return pad(dst, sp, sign, digits, sp.zero && !sp.minus && sp.prec < 0)
}

// appendFloat formats %e, %E, %f, %g or %G of f as C does.
func appendFloat(dst []byte, sp fspec, conv byte, f float64) []byte {
	sign := ""
	switch {
	case math.Signbit(f):
		sign = "-"
		f = -f
	case sp.plus:
		sign = "+"
	case sp.space:
		sign = " "
	}
	upper := conv == 'E' || conv == 'G'
	var tmp [512]byte
	var body []byte
	if math.IsInf(f, 0) || math.IsNaN(f) {
		body = appendNonFinite(tmp[:0], math.Abs(f), upper)
		return pad(dst, sp, sign, body, false)
	}
	prec := sp.prec
	if prec < 0 {
		prec = 6
	}
	switch conv {
	case 'f':
		body = strconv.AppendFloat(tmp[:0], f, 'f', prec, 64)
		if sp.alt && prec == 0 {
			body = append(body, '.')
		}
	case 'e', 'E':
		body = strconv.AppendFloat(tmp[:0], f, 'e', prec, 64)
		if sp.alt && prec == 0 {
			i := bytes.IndexByte(body, 'e')
			body = append(body[:i+1], body[i:]...)
			body[i] = '.'
		}
		if upper {
			body[bytes.IndexByte(body, 'e')] = 'E'
		}
	default:
		body = appendG(tmp[:0], f, prec, sp.alt, upper)
	}
	return pad(dst, sp, sign, body, sp.zero && !sp.minus)
}
