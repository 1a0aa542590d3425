package rtpengine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBencodeRoundTrip(t *testing.T) {
	tests := []struct {
		v    any
		wire string
	}{
		{"", "0:"},
		{"spam", "4:spam"},
		{"a b:c", "5:a b:c"},
		{int64(0), "i0e"},
		{int64(-42), "i-42e"},
		{int64(9223372036854775807), "i9223372036854775807e"},
		{[]any{}, "le"},
		{[]any{"x", int64(1), []any{"y"}}, "l1:xi1el1:yee"},
		{map[string]any{}, "de"},
		{map[string]any{"command": "ping"}, "d7:command4:pinge"},
		// keys sorted, nesting kept
		{map[string]any{"z": int64(1), "a": map[string]any{"b": []any{"c", "d"}}}, "d1:ad1:bl1:c1:dee1:zi1ee"},
		{"\x00\xff binary", "9:\x00\xff binary"},
	}
	for _, tt := range tests {
		b, err := Encode(tt.v)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", tt.v, err)
		}
		if string(b) != tt.wire {
			t.Errorf("Encode(%#v) = %q, want %q", tt.v, b, tt.wire)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(%q): %v", b, err)
		}
		if !reflect.DeepEqual(got, tt.v) {
			t.Errorf("Decode(%q) = %#v, want %#v", b, got, tt.v)
		}
	}
}

func TestBencodeEncodeGoTypes(t *testing.T) {
	b, err := Encode(map[string]any{"flags": []string{"trust-address", "SIP-source-address"}, "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := "d5:flagsl13:trust-address18:SIP-source-addresse1:ni3ee"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	if _, err := Encode(map[string]any{"x": 1.5}); err == nil {
		t.Error("a float was encoded")
	}
}

func TestBencodeRefusals(t *testing.T) {
	deep := strings.Repeat("l", maxDepth+1) + strings.Repeat("e", maxDepth+1)
	okDeep := strings.Repeat("l", maxDepth) + strings.Repeat("e", maxDepth)
	if _, err := Decode([]byte(okDeep)); err != nil {
		t.Errorf("nesting of %d refused: %v", maxDepth, err)
	}
	tests := []struct {
		in        string
		truncated bool
	}{
		{"", true},
		{"4:spa", true},
		{"i42", true},
		{"l1:x", true},
		{"d1:a", true},
		{"d1:ai1e", true},
		{"99999999999999999999:x", false},
		{"-1:x", false},
		{"i-0e", false},
		{"i01e", false},
		{"ie", false},
		{"i1.5e", false},
		{"x", false},
		{"di1ei2ee", false}, // key not a string
		{"4:spamextra", false},
		{"d6:result2:oke trailing", false},
		{"garbage that is not bencode", false},
		{deep, false},
		{strings.Repeat("d1:a", maxDepth+1), false},
	}
	for _, tt := range tests {
		v, err := Decode([]byte(tt.in))
		if err == nil {
			t.Errorf("Decode(%.40q) = %#v, want an error", tt.in, v)
			continue
		}
		if tt.truncated && !errors.Is(err, errTruncated) {
			t.Errorf("Decode(%.40q): %v, want a truncation", tt.in, err)
		}
	}
}

// TestBencodeFuzzish decodes every prefix and a byte-flipped copy of a
// real rtpengine reply: the decoder never panics, and a prefix is always
// refused.
func TestBencodeFuzzish(t *testing.T) {
	reply, err := Encode(map[string]any{
		"result": "ok", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n",
		"totals": map[string]any{"RTP": map[string]any{"bytes": int64(100), "packets": int64(2)}},
		"tags":   []any{"a", int64(-7), []any{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(reply); i++ {
		if _, err := Decode(reply[:i]); err == nil {
			t.Errorf("prefix of %d bytes decoded", i)
		}
		flipped := append([]byte(nil), reply...)
		for _, c := range []byte{0, 'e', 'i', 'l', 'd', ':', '9', '-', 0xff} {
			flipped[i] = c
			_, _ = Decode(flipped) // must not panic
		}
	}
}
