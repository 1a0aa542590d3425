package tm

import (
	"strings"
	"testing"
)

func TestBuildUACRequest(t *testing.T) {
	tests := []struct {
		name                  string
		method, ruri, headers string
		body                  string
		err                   string // part of the error, "" for none
	}{
		{"minimal", "OPTIONS", "sip:a@127.0.0.1", "From: <sip:k@x>\r\nTo: <sip:a@x>", "", ""},
		{"lower-case method, LF lines", "message", "sip:a@127.0.0.1", "From: <sip:k@x>\nTo: <sip:a@x>\nContent-Type: text/plain\n", "hi", ""},
		{"own Call-ID and CSeq", "INFO", "sip:a@127.0.0.1", "From: <sip:k@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: abc\r\nCSeq: 7 INFO", "", ""},
		{"Content-Length replaced", "OPTIONS", "sip:a@127.0.0.1", "From: <sip:k@x>\r\nTo: <sip:a@x>\r\nContent-Length: 99", "", ""},
		{"no To", "OPTIONS", "sip:a@127.0.0.1", "From: <sip:k@x>", "", "From and To"},
		{"body without type", "MESSAGE", "sip:a@127.0.0.1", "From: <sip:k@x>\r\nTo: <sip:a@x>", "hi", "Content-Type"},
		{"CSeq of another method", "INFO", "sip:a@127.0.0.1", "From: <sip:k@x>\r\nTo: <sip:a@x>\r\nCSeq: 1 BYE", "", "CSeq method"},
		{"bad method", "BAD METHOD", "sip:a@127.0.0.1", "From: <sip:k@x>\r\nTo: <sip:a@x>", "", "bad method"},
		{"bad R-URI", "OPTIONS", "not a uri", "From: <sip:k@x>\r\nTo: <sip:a@x>", "", "R-URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := buildUACRequest(tt.method, tt.ruri, tt.headers, tt.body)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one about %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !req.From().Params.Has("tag") || req.CallID() == nil || req.CSeq() == nil || req.MaxForwards() == nil {
				t.Errorf("missing From tag, Call-ID, CSeq or Max-Forwards:\n%s", req)
			}
			if string(req.CSeq().MethodName) != strings.ToUpper(tt.method) {
				t.Errorf("CSeq %s", req.CSeq())
			}
			if got := string(req.Body()); got != tt.body {
				t.Errorf("body %q", got)
			}
			if cl := req.ContentLength(); cl == nil || int(*cl) != len(tt.body) {
				t.Errorf("Content-Length %v for %d bytes", cl, len(tt.body))
			}
		})
	}
}
