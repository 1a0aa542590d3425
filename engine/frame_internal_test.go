package engine

import (
	"bytes"
	"strings"
	"testing"
)

// sipHead is a request's start line and headers up to the Content-Length
// line, which each case writes.
const sipHead = "OPTIONS sip:kemi@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKframe\r\n" +
	"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\n" +
	"Call-ID: frame-1\r\nCSeq: 1 OPTIONS\r\n"

// frameSIP cuts one message off the front of a stream buffer (RFC 3261
// §18.3: Content-Length delimits the body; a missing one counts as 0):
// the whole-buffer reference the tests hold streamFramer to. It returns a
// nil msg when more bytes are needed. Leading CRs and LFs are returned as
// a keep-alive "message" of their own. msg is a copy; rest is what
// follows it in buf.
func frameSIP(buf []byte, max int) (msg, rest []byte, err *frameError) {
	n, ferr := messageLength(buf, max)
	if ferr != nil {
		return nil, nil, ferr
	}
	if n == 0 || len(buf) < n {
		return nil, buf, nil
	}
	msg = make([]byte, n)
	copy(msg, buf[:n])
	return msg, buf[n:], nil
}

// frameCase is one stream buffer and what frameSIP makes of it.
type frameCase struct {
	name string
	in   string
	max  int
	msg  string     // the message cut off; "" when none
	rest string     // what is left when no error
	err  dropReason // the reason of the expected error
	fail bool       // a frameError is expected
}

func frameCases() []frameCase {
	const max = 65535
	big := strings.Repeat("x", 300)
	return []frameCase{
		{name: "empty", in: "", max: max},
		{name: "complete without body", in: sipHead + "Content-Length: 0\r\n\r\n", max: max, msg: sipHead + "Content-Length: 0\r\n\r\n"},
		{name: "complete with body", in: sipHead + "Content-Length: 5\r\n\r\nhello", max: max, msg: sipHead + "Content-Length: 5\r\n\r\nhello"},
		{name: "next message left", in: sipHead + "Content-Length: 2\r\n\r\nhiOPTIONS", max: max, msg: sipHead + "Content-Length: 2\r\n\r\nhi", rest: "OPTIONS"},
		{name: "body not all in", in: sipHead + "Content-Length: 5\r\n\r\nhel", max: max, rest: sipHead + "Content-Length: 5\r\n\r\nhel"},
		{name: "header section not all in", in: sipHead + "Content-Len", max: max, rest: sipHead + "Content-Len"},
		{name: "no Content-Length means no body", in: sipHead + "\r\nnext", max: max, msg: sipHead + "\r\n", rest: "next"},
		{name: "compact l", in: sipHead + "l: 3\r\n\r\nabcd", max: max, msg: sipHead + "l: 3\r\n\r\nabc", rest: "d"},
		{name: "name with white space", in: sipHead + "Content-Length  :\t3 \r\n\r\nabc", max: max, msg: sipHead + "Content-Length  :\t3 \r\n\r\nabc"},
		{name: "name in any case", in: sipHead + "CONTENT-length: 3\r\n\r\nabc", max: max, msg: sipHead + "CONTENT-length: 3\r\n\r\nabc"},
		{name: "folded value", in: sipHead + "Content-Length:\r\n 3\r\n\r\nabc", max: max, msg: sipHead + "Content-Length:\r\n 3\r\n\r\nabc"},
		{name: "leading zeros", in: sipHead + "Content-Length: 0003\r\n\r\nabc", max: max, msg: sipHead + "Content-Length: 0003\r\n\r\nabc"},
		{name: "same value twice", in: sipHead + "Content-Length: 3\r\nl: 3\r\n\r\nabc", max: max, msg: sipHead + "Content-Length: 3\r\nl: 3\r\n\r\nabc"},
		{name: "other header ending in Content-Length", in: sipHead + "X-Content-Length: 99\r\nContent-Length: 1\r\n\r\nab", max: max, msg: sipHead + "X-Content-Length: 99\r\nContent-Length: 1\r\n\r\na", rest: "b"},
		{name: "overflow of end + 4 + cl", in: sipHead + "Content-Length: 9223372036854775807\r\n\r\nx", max: max, fail: true, err: dropMalformed},
		{name: "beyond 64 bits", in: sipHead + "Content-Length: 18446744073709551616\r\n\r\n", max: max, fail: true, err: dropMalformed},
		{name: "many digits", in: sipHead + "Content-Length: " + strings.Repeat("9", 400) + "\r\n\r\n", max: max, fail: true, err: dropMalformed},
		{name: "2^32", in: sipHead + "Content-Length: 4294967296\r\n\r\n", max: max, fail: true, err: dropMalformed},
		{name: "2^32-1 over the maximum", in: sipHead + "Content-Length: 4294967295\r\n\r\n", max: max, fail: true, err: dropOversized},
		{name: "body over the maximum", in: sipHead + "Content-Length: 70000\r\n\r\n", max: max, fail: true, err: dropOversized},
		{name: "negative", in: sipHead + "Content-Length: -5\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "plus sign", in: sipHead + "Content-Length: +5\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "hexadecimal", in: sipHead + "Content-Length: 0x5\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "two numbers", in: sipHead + "Content-Length: 5 5\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "empty value", in: sipHead + "Content-Length:\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "values disagree", in: sipHead + "Content-Length: 5\r\nContent-Length: 0\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "compact disagrees", in: sipHead + "l: 0\r\nContent-Length: 5\r\n\r\nhello", max: max, fail: true, err: dropMalformed},
		{name: "header section over the maximum, no end", in: sipHead + "X: " + big, max: 200, fail: true, err: dropOversized},
		{name: "header section over the maximum", in: sipHead + "X: " + big + "\r\n\r\n", max: 200, fail: true, err: dropOversized},
		{name: "message one byte over the maximum", in: "A\r\nl: 3\r\n\r\nabc", max: 13, fail: true, err: dropOversized},
		{name: "message at the maximum", in: "A\r\nl: 3\r\n\r\nabc", max: 14, msg: "A\r\nl: 3\r\n\r\nabc"},
		{name: "double CRLF ping", in: "\r\n\r\n", max: max, msg: "\r\n\r\n"},
		{name: "lone CRLF waits", in: "\r\n", max: max, rest: "\r\n"},
		{name: "CRLF before a message", in: "\r\nOPTIONS", max: max, msg: "\r\n", rest: "OPTIONS"},
	}
}

// TestFrameSIP cuts stream buffers: good framings, and every bad
// Content-Length refused with its reason (the overflow case panicked in
// make before the fix and killed the worker process).
func TestFrameSIP(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			msg, rest, err := frameSIP([]byte(tc.in), tc.max)
			if tc.fail {
				if err == nil {
					t.Fatalf("frameSIP = %q, %q, nil; want a %s error", msg, rest, dropReasonNames[tc.err])
				}
				if err.reason != tc.err {
					t.Fatalf("error %q counted as %s, want %s", err, dropReasonNames[err.reason], dropReasonNames[tc.err])
				}
				return
			}
			if err != nil {
				t.Fatalf("frameSIP error %q", err)
			}
			if string(msg) != tc.msg || string(rest) != tc.rest {
				t.Fatalf("frameSIP = %q, %q; want %q, %q", msg, rest, tc.msg, tc.rest)
			}
		})
	}
}

// TestStreamFramerSplits feeds every case one byte at a time: the framer
// gives the messages frameSIP cuts from the whole buffer.
func TestStreamFramerSplits(t *testing.T) {
	for _, tc := range frameCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkSplit(t, []byte(tc.in), tc.max, 1)
		})
	}
}

// frameAll cuts every message out of buf with frameSIP, up to an error.
func frameAll(buf []byte, max int) (msgs [][]byte, rest []byte, err *frameError) {
	for {
		msg, r, ferr := frameSIP(buf, max)
		if ferr != nil {
			return msgs, nil, ferr
		}
		if msg == nil {
			return msgs, r, nil
		}
		msgs = append(msgs, msg)
		buf = r
	}
}

// checkSplit feeds data to a streamFramer step bytes at a time and
// compares with frameAll: the same messages, keep-alives aside, and the
// same error or the same bytes left.
func checkSplit(t *testing.T, data []byte, max, step int) {
	t.Helper()
	want, wantRest, wantErr := frameAll(data, max)
	f := streamFramer{max: max}
	var got [][]byte
	var gotErr *frameError
feed:
	for i := 0; i < len(data); i += step {
		f.push(data[i:min(i+step, len(data))])
		for {
			msg, err := f.next()
			if err != nil {
				gotErr = err
				break feed
			}
			if msg == nil {
				break
			}
			got = append(got, msg)
		}
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.reason != wantErr.reason {
		t.Fatalf("streamFramer error %v, frameSIP error %v", gotErr, wantErr)
	}
	// runs of CR and LF are keep-alives however they are cut
	got, want = withoutKeepalives(got), withoutKeepalives(want)
	if len(got) != len(want) {
		t.Fatalf("streamFramer cut %d messages, frameSIP %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d: streamFramer %q, frameSIP %q", i, got[i], want[i])
		}
	}
	if wantErr == nil && !bytes.Equal(bytes.TrimLeft(f.buf, "\r\n"), bytes.TrimLeft(wantRest, "\r\n")) {
		t.Fatalf("streamFramer left %q, frameSIP %q", f.buf, wantRest)
	}
	if wantErr == nil && f.partial() != (len(wantRest) > 0 && wantRest[0] != '\r' && wantRest[0] != '\n') {
		t.Fatalf("partial() = %v with %q left", f.partial(), f.buf)
	}
}

func withoutKeepalives(msgs [][]byte) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if len(bytes.Trim(m, "\r\n")) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// FuzzFrameSIP frames untrusted bytes: no panic, a message is a prefix of
// the buffer no longer than the maximum, and feeding the bytes in pieces
// (of a size the fuzzer picks) gives what framing them whole gives.
func FuzzFrameSIP(f *testing.F) {
	for _, tc := range frameCases() {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		const max = 1024
		msg, rest, err := frameSIP(data, max)
		if err == nil && msg != nil {
			if len(msg) > max || !bytes.Equal(msg, data[:len(msg)]) || !bytes.Equal(rest, data[len(msg):]) {
				t.Fatalf("frameSIP(%q) = %q, %q", data, msg, rest)
			}
		}
		step := int(cut)%(len(data)+1) + 1
		checkSplit(t, data, max, step)
	})
}
