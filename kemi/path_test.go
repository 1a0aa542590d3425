package kemi_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// TestInsertPathRoutes checks where a Path set goes as Route headers: one
// Route per hop, first hop first, above the first Route, or right below
// the top Via when there is none; and the first hop a request without $du
// goes to.
func TestInsertPathRoutes(t *testing.T) {
	const head = "INVITE sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKours\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n" +
		"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
	cases := []struct {
		name, extra, path string
		want              []string // header names and Route values in order
		first             string
		wantErr           bool
	}{
		{name: "no route: below our Via", path: "<sip:e1;lr>, <sip:e2;lr;received=sip:1.2.3.4:5066>",
			want:  []string{"Via", "Route <sip:e1;lr>", "Route <sip:e2;lr;received=sip:1.2.3.4:5066>", "Via", "From", "To", "Call-ID", "CSeq", "Content-Length"},
			first: "sip:e1;lr"},
		{name: "above the first Route", extra: "Route: <sip:r1;lr>\r\n", path: "<sip:e1;lr>",
			want:  []string{"Via", "Via", "From", "To", "Call-ID", "CSeq", "Route <sip:e1;lr>", "Route <sip:r1;lr>", "Content-Length"},
			first: "sip:e1;lr"},
		{name: "empty set", path: "", want: []string{"Via", "Via", "From", "To", "Call-ID", "CSeq", "Content-Length"}},
		{name: "broken set", path: "<sip:e1;lr>, garbage", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := kemitest.ParseMsg(t, head+c.extra+"\r\n")
			_, err := m.InsertPathRoutes(c.path)
			first, ferr := kemi.PathFirstHop(c.path)
			if c.wantErr {
				if err == nil || ferr == nil {
					t.Fatalf("errors %v, %v; want both", err, ferr)
				}
				return
			}
			if err != nil || ferr != nil {
				t.Fatal(err, ferr)
			}
			var got []string
			for _, h := range m.HeaderList() {
				if h.Name() == "Route" {
					got = append(got, "Route "+h.Value())
				} else {
					got = append(got, h.Name())
				}
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("headers\n%q\nwant\n%q", got, c.want)
			}
			if first != c.first {
				t.Errorf("first hop %q, want %q", first, c.first)
			}
			if c.first != "" && m.Request().Route() == nil {
				t.Errorf("sipgo's Route shortcut is not set")
			}
		})
	}
}
