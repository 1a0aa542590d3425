package rtpengine

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// The ng protocol carries bencoded values (BEP 3): byte strings
// ("4:spam"), integers ("i42e"), lists ("l...e") and dictionaries
// ("d...e", keys are byte strings in sorted order). In Go they are:
//
//	string          a byte string
//	int64 (or int)  an integer
//	[]any           a list
//	map[string]any  a dictionary
//
// Decode returns exactly these types; Encode also takes []string and int.

// maxDepth bounds the nesting of lists and dictionaries that Decode
// accepts: rtpengine's replies nest a few levels (totals, streams, SSRCs),
// and a hostile reply must not make the decoder recurse without end.
const maxDepth = 32

// errTruncated is reported when the input ends inside a value.
var errTruncated = errors.New("core/rtpengine: bencode: truncated")

// Encode returns the bencoding of v.
func Encode(v any) ([]byte, error) {
	return appendBencode(nil, v)
}

func appendBencode(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case []byte:
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case []string:
		b = append(b, 'l')
		for _, s := range x {
			b, _ = appendBencode(b, s)
		}
		return append(b, 'e'), nil
	case []any:
		b = append(b, 'l')
		for _, e := range x {
			var err error
			if b, err = appendBencode(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, 'e'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, 'd')
		for _, k := range keys {
			b, _ = appendBencode(b, k)
			var err error
			if b, err = appendBencode(b, x[k]); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		return append(b, 'e'), nil
	}
	return nil, fmt.Errorf("core/rtpengine: bencode: cannot encode %T", v)
}

func appendInt(b []byte, n int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, n, 10)
	return append(b, 'e')
}

// Decode parses one bencoded value that must fill all of b.
func Decode(b []byte) (any, error) {
	d := decoder{b: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(b) {
		return nil, fmt.Errorf("core/rtpengine: bencode: %d bytes after the value", len(b)-d.i)
	}
	return v, nil
}

type decoder struct {
	b []byte
	i int
}

func (d *decoder) value(depth int) (any, error) {
	if d.i >= len(d.b) {
		return nil, errTruncated
	}
	switch c := d.b[d.i]; {
	case c == 'i':
		d.i++
		return d.integer('e')
	case c == 'l' || c == 'd':
		if depth >= maxDepth {
			return nil, fmt.Errorf("core/rtpengine: bencode: nested deeper than %d", maxDepth)
		}
		d.i++
		if c == 'l' {
			return d.list(depth)
		}
		return d.dict(depth)
	case c >= '0' && c <= '9':
		return d.str()
	default:
		return nil, fmt.Errorf("core/rtpengine: bencode: unexpected %q at offset %d", c, d.i)
	}
}

func (d *decoder) list(depth int) (any, error) {
	list := []any{}
	for {
		if end, err := d.end(); end || err != nil {
			return list, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
}

func (d *decoder) dict(depth int) (any, error) {
	dict := map[string]any{}
	for {
		if end, err := d.end(); end || err != nil {
			return dict, err
		}
		if c := d.b[d.i]; c < '0' || c > '9' {
			return nil, fmt.Errorf("core/rtpengine: bencode: dictionary key at offset %d is not a string", d.i)
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		dict[k] = v
	}
}

// end reads the 'e' that closes a list or dictionary, if it is next.
func (d *decoder) end() (bool, error) {
	if d.i >= len(d.b) {
		return false, errTruncated
	}
	if d.b[d.i] == 'e' {
		d.i++
		return true, nil
	}
	return false, nil
}

// integer reads digits (with an optional minus) up to end.
func (d *decoder) integer(end byte) (int64, error) {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] != end {
		d.i++
	}
	if d.i >= len(d.b) {
		return 0, errTruncated
	}
	digits := string(d.b[start:d.i])
	d.i++
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || digits == "-0" || (len(digits) > 1 && digits[0] == '0') || (len(digits) > 2 && digits[:2] == "-0") {
		return 0, fmt.Errorf("core/rtpengine: bencode: bad integer %q at offset %d", digits, start)
	}
	return n, nil
}

func (d *decoder) str() (string, error) {
	start := d.i
	n, err := d.integer(':')
	if err != nil {
		return "", err
	}
	if n < 0 {
		return "", fmt.Errorf("core/rtpengine: bencode: negative string length at offset %d", start)
	}
	if n > int64(len(d.b)-d.i) {
		return "", fmt.Errorf("core/rtpengine: bencode: string of %d bytes at offset %d runs past the end: %w", n, start, errTruncated)
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	return s, nil
}
