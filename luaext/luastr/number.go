package luastr

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// Lua 5.1 converts numbers to strings with "%.14g" (LUA_NUMBER_FMT) and
// strings to numbers with strtod; gopher-lua uses Go's shortest formatting
// (1e15 is "1000000000000000" there, "1e+15" in Lua), so the functions here
// do it as Lua 5.1 does. strconv's 'g' with a precision writes finite
// numbers as C's %g does; C's inf and nan are written here.

// numberScratch is large enough for any "%.14g" of a float64.
const numberScratch = 32

// appendNumber appends f as Lua 5.1's tostring writes it ("%.14g").
func appendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	// Integers below 1e14 have at most 14 digits: "%.14g" prints them
	// exactly, as an integer.
	if f > -1e14 && f < 1e14 && f == math.Trunc(f) {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return appendNonFinite(dst, f, false)
	}
	return strconv.AppendFloat(dst, f, 'g', 14, 64)
}

// numberString returns f as Lua 5.1's tostring writes it.
func numberString(f float64) string {
	var tmp [numberScratch]byte
	return string(appendNumber(tmp[:0], f))
}

// numberLen returns len(numberString(f)) without allocating.
func numberLen(f float64) int {
	if f >= 0 && f < 10 && f == math.Trunc(f) && !math.Signbit(f) {
		return 1
	}
	var tmp [numberScratch]byte
	return len(appendNumber(tmp[:0], f))
}

// appendNonFinite appends inf or nan as C's printf does, with its sign.
func appendNonFinite(dst []byte, f float64, upper bool) []byte {
	if math.Signbit(f) {
		dst = append(dst, '-')
	}
	s := "inf"
	if math.IsNaN(f) {
		s = "nan"
	}
	if upper {
		s = strings.ToUpper(s)
	}
	return append(dst, s...)
}

// appendG appends the non-negative finite f as C's "%.<prec>g" does (with
// '#' when alt). strconv's 'g' is C's %g; C's '#' keeps the fraction's
// trailing zeros and always writes the point, which strconv cannot do.
func appendG(dst []byte, f float64, prec int, alt, upper bool) []byte {
	if !alt {
		conv := byte('g')
		if upper {
			conv = 'G'
		}
		return strconv.AppendFloat(dst, f, conv, prec, 64)
	}
	if prec == 0 {
		prec = 1
	}
	var tmp [400]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', prec-1, 64)
	i := bytes.LastIndexByte(e, 'e')
	x, _ := strconv.Atoi(string(e[i+1:])) // the decimal exponent after rounding to prec digits
	mant, exp := e[:i], e[i:]
	if x >= -4 && x < prec {
		mant, exp = strconv.AppendFloat(tmp[:0], f, 'f', prec-1-x, 64), nil
	}
	dst = append(dst, mant...)
	if bytes.IndexByte(mant, '.') < 0 {
		dst = append(dst, '.')
	}
	if len(exp) > 0 {
		if upper {
			dst = append(dst, 'E')
			exp = exp[1:]
		}
		dst = append(dst, exp...)
	}
	return dst
}

// str2number converts s as Lua 5.1's lua_tonumber does: strtod's syntax
// (decimal, hexadecimal, inf, nan) surrounded by optional spaces. Lua reads
// the string as a C string, so it ends at a zero byte.
func str2number(s string) (float64, bool) {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimFunc(s, func(r rune) bool { return r < 256 && classTable[r]&clSpace != 0 })
	if s == "" || strings.ContainsRune(s, '_') {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	if len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		if !strings.ContainsAny(body, "pP.") {
			u, err := strconv.ParseUint(body[2:], 16, 64)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
					return 0, false
				}
				u = math.MaxUint64
			}
			f := float64(u)
			if s[0] == '-' {
				f = -f
			}
			return f, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

// toInteger converts f as a C cast to a 64-bit integer does on amd64:
// truncation, and the minimum integer when f is out of range.
func toInteger(f float64) int64 {
	if f != f || f >= 1<<63 || f < -(1<<63) {
		return math.MinInt64
	}
	return int64(f)
}

// toUnsigned converts f as a C cast to unsigned long does on amd64.
func toUnsigned(f float64) uint64 {
	if f >= 1<<63 {
		if f < 1<<64 {
			return uint64(f)
		}
		return 0
	}
	return uint64(toInteger(f))
}

// toCInt converts f as a C cast to int does on amd64.
func toCInt(f float64) int32 {
	if f != f || f >= 1<<31 || f < -(1<<31) {
		return math.MinInt32
	}
	return int32(f)
}
