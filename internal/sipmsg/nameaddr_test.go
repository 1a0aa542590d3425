package sipmsg

import "testing"

func TestParseNameAddr(t *testing.T) {
	tests := []struct {
		in                        string
		display, uri, params, tag string
		star, bad                 bool
	}{
		{in: `"Alice \"A\"" <sip:alice@example.com>;tag=1a`, display: `"Alice \"A\""`, uri: "sip:alice@example.com", params: "tag=1a", tag: "1a"},
		{in: `Bob  Smith <sip:bob@example.com;transport=tcp> ; tag = x ; foo`, display: "Bob  Smith", uri: "sip:bob@example.com;transport=tcp", params: " tag = x ; foo", tag: "x"},
		{in: `<sip:c@example.com>`, uri: "sip:c@example.com"},
		{in: `sip:d@example.com;tag=9`, uri: "sip:d@example.com", params: "tag=9", tag: "9"},
		{in: `  sip:e@example.com  `, uri: "sip:e@example.com"},
		{in: `"" <tel:+123>`, display: `""`, uri: "tel:+123"},
		{in: `*`, uri: "*", star: true},
		{in: `"unclosed <sip:a@b>`, bad: true},
		{in: `"x" sip:a@b`, bad: true},
		{in: `Bad"Name <sip:a@b>`, bad: true},
		{in: `<sip:a@b`, bad: true},
		{in: `<sip:a@b> junk`, bad: true},
		// not a token, taken as Kamailio takes it: the tag is opaque
		{in: `<sip:a@b>;tag=a@b<x>`, uri: "sip:a@b", params: "tag=a@b<x>", tag: "a@b<x>"},
		{in: `<sip:a@b>;tag=a,b`, uri: "sip:a@b", params: "tag=a,b", tag: "a,b"},
		{in: `<sip:a@b>;tag="a b"`, uri: "sip:a@b", params: `tag="a b"`, tag: `"a b"`},
		// but not what Kamailio's parse_addr_spec.c refuses in a
		// parameter value: '=', '"' and '\' outside quotes
		{in: `<sip:a@b>;tag==0`, bad: true},
		{in: `<sip:a@b>;tag=a=b`, bad: true},
		{in: `<sip:a@b>;tag=a"b"`, bad: true},
		{in: `<sip:a@b>;tag=a\b`, bad: true},
		{in: `<a@b>`, bad: true},
		{in: ``, bad: true},
	}
	for _, tc := range tests {
		na, err := ParseNameAddr([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("ParseNameAddr(%q) accepted: %+v", tc.in, na)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNameAddr(%q): %v", tc.in, err)
			continue
		}
		got := [...]string{string(na.Display), string(na.URI), string(na.Params), string(na.Tag)}
		want := [...]string{tc.display, tc.uri, tc.params, tc.tag}
		if got != want || na.Star != tc.star {
			t.Errorf("ParseNameAddr(%q) = %q star %v, want %q", tc.in, got, na.Star, want)
		}
	}
}
