package kemi

import "testing"

func TestParseURI(t *testing.T) {
	good := []string{
		"sip:bob@example.com", "sips:[2001:db8::1]:5061;transport=tls", "sip:10.0.0.1:5060",
		"sip:alice:secret@example.com", "sip:my_host.example.com", "tel:+15551234567", "urn:service:sos",
		"SIP:bob@example.com",
	}
	bad := []string{
		"sip:a b@example.com", "sip:bob@exa<mple.com", "foo:bar", "sip:bob@example.com:99999",
		"sip:", "sip:*", "*", "tel:", "bob@example.com", "", "sip:bob@[::1", "sip:bob@[10.0.0.1]", "sip:b\"ob@example.com",
	}
	for _, s := range good {
		if _, err := ParseURI(s); err != nil {
			t.Errorf("ParseURI(%q): %v", s, err)
		}
	}
	for _, s := range bad {
		if u, err := ParseURI(s); err == nil {
			t.Errorf("ParseURI(%q) = %s, want an error", s, u.String())
		}
	}
}

func TestCheckHost(t *testing.T) {
	for _, h := range []string{"example.com", "10.0.0.1", "2001:db8::1", "[2001:db8::1]", "a_b-c.d"} {
		if err := CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q): %v", h, err)
		}
	}
	for _, h := range []string{"", "x y", "[10.0.0.1]", "[::1", "a/b", "exa<mple"} {
		if CheckHost(h) == nil {
			t.Errorf("CheckHost(%q) = nil, want an error", h)
		}
	}
}

func TestParsePort(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "5060": 5060, "65535": 65535, "05060": 5060} {
		if got, err := ParsePort(s); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "65536", "-1", "+5060", " 5060", "50x", "port"} {
		if got, err := ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q) = %d, want an error", s, got)
		}
	}
}
