package engine

import (
	"testing"

	"github.com/kemisip/kemi/internal/websocket"
)

// TestHTTPBodyLength checks which request heads give a body length the
// HTTP reader can trust: a repeated, malformed or negative Content-Length
// and a Transfer-Encoding are refused, since the next request would start
// at a place the peer and kemi may see differently.
func TestHTTPBodyLength(t *testing.T) {
	tests := []struct {
		name string
		head string
		n    int
		ok   bool
	}{
		{"none", "", 0, true},
		{"one", "Content-Length: 12\r\n", 12, true},
		{"spaces", "Content-Length:  7 \r\n", 7, true},
		{"twice", "Content-Length: 5\r\nContent-Length: 5\r\n", 0, false},
		{"not a number", "Content-Length: 5x\r\n", 0, false},
		{"negative", "Content-Length: -1\r\n", 0, false},
		{"chunked", "Transfer-Encoding: chunked\r\n", 0, false},
		{"chunked and a length", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := websocket.ParseRequest([]byte("POST /x HTTP/1.1\r\nHost: a\r\n"+tc.head+"\r\n"), 8<<10)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := httpBodyLength(req.Header)
			if n != tc.n || ok != tc.ok {
				t.Errorf("%q: %d %v, want %d %v", tc.head, n, ok, tc.n, tc.ok)
			}
		})
	}
}
