package sipmsg

import (
	"strings"
	"testing"
)

func TestParseCSeq(t *testing.T) {
	tests := []struct {
		in     string
		num    uint32
		method string
		bad    bool
	}{
		{in: "1 INVITE", num: 1, method: "INVITE"},
		{in: " 2147483647 \t ACK ", num: 2147483647, method: "ACK"},
		{in: "2147483648 INVITE", bad: true},
		{in: "1INVITE", bad: true},
		{in: "INVITE", bad: true},
		{in: "1 INV ITE", bad: true},
		{in: "1 ", bad: true},
		{in: "-1 INVITE", bad: true},
	}
	for _, tc := range tests {
		c, err := ParseCSeq([]byte(tc.in))
		if tc.bad != (err != nil) || (!tc.bad && (c.Num != tc.num || string(c.Method) != tc.method)) {
			t.Errorf("ParseCSeq(%q) = %d %q, %v", tc.in, c.Num, c.Method, err)
		}
	}
}

func TestCheck(t *testing.T) {
	good := "INVITE sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>\nCall-ID: x@y\nCSeq: 1 INVITE\nMax-Forwards: 70\n\n"
	tests := []struct {
		name, from, to, want string
		opts                 Options
	}{
		{"good", "", "", "", Options{}},
		{"bad R-URI", "sip:b@example.com SIP", "b@example.com SIP", "Request-URI", Options{}},
		{"no Via", "Via: SIP/2.0/UDP a;branch=z9hG4bK1\n", "", "Via: missing", Options{}},
		{"bad second Via", "z9hG4bK1\n", "z9hG4bK1, SIP/2.0\n", "Via", Options{}},
		{"bad From", "From: <sip:a@example.com>", "From: <sip:a@example.com", "From", Options{}},
		{"no To", "To: <sip:b@example.com>\n", "", "To: missing", Options{}},
		{"Call-ID with space", "Call-ID: x@y", "Call-ID: x @y", "Call-ID: holds white space", Options{}},
		{"no Call-ID", "Call-ID: x@y\n", "", "Call-ID: missing", Options{}},
		{"CSeq method", "CSeq: 1 INVITE", "CSeq: 1 BYE", "CSeq: method is not the request's", Options{}},
		{"CSeq method left to the application", "CSeq: 1 INVITE", "CSeq: 1 BYE", "", Options{AnyCSeqMethod: true}},
		{"bad CSeq", "CSeq: 1 INVITE", "CSeq: x INVITE", "CSeq", Options{}},
		{"bad Max-Forwards", "Max-Forwards: 70", "Max-Forwards: 7x", "Max-Forwards", Options{}},
	}
	for _, tc := range tests {
		raw := good
		if tc.from != "" {
			raw = strings.Replace(good, tc.from, tc.to, 1)
		}
		m := Msg{Opts: tc.opts}
		if err := m.Parse(crlf(raw)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err := m.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Check: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: Check = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestCheckManyDuplicates: with MaxHeaders raised, 257 Call-ID headers
// are still more than one.
func TestCheckManyDuplicates(t *testing.T) {
	raw := "INVITE sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:b@example.com>\nCSeq: 1 INVITE\n" +
		strings.Repeat("Call-ID: x@y\n", 257) + "\n"
	m := Msg{Opts: Options{MaxHeaders: 1000}}
	if err := m.Parse(crlf(raw)); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "Call-ID: more than one header") {
		t.Fatalf("Check = %v, want Call-ID: more than one header", err)
	}
}
