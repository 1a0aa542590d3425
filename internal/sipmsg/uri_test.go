package sipmsg

import "testing"

func TestParseURI(t *testing.T) {
	tests := []struct {
		in                                              string
		scheme, user, pass, host, port, params, headers string
		portNum                                         int
		opaque                                          string
		bad                                             bool
	}{
		{in: "sip:bob@example.com", scheme: "sip", user: "bob", host: "example.com"},
		{in: "SIPS:bob:secret@example.com:5061;transport=tls;lr?Subject=x", scheme: "SIPS", user: "bob", pass: "secret", host: "example.com", port: "5061", portNum: 5061, params: "transport=tls;lr", headers: "Subject=x"},
		{in: "sip:[2001:db8::1]:5060", scheme: "sip", host: "[2001:db8::1]", port: "5060", portNum: 5060},
		{in: "sip:192.0.2.1;maddr=x", scheme: "sip", host: "192.0.2.1", params: "maddr=x"},
		{in: "sip:user;par=u%40example.net@example.com", scheme: "sip", user: "user;par=u%40example.net", host: "example.com"},
		{in: "sip:%00null@example.com", scheme: "sip", user: "%00null", host: "example.com"},
		{in: "tel:+1-201-555-0123", scheme: "tel", opaque: "+1-201-555-0123"},
		{in: "nobodyknowsthisscheme:totallyopaque", scheme: "nobodyknowsthisscheme", opaque: "totallyopaque"},
		{in: "sip:example.com:0", bad: true},
		{in: "sip:example.com:65536", bad: true},
		{in: "sip:example.com:x", bad: true},
		{in: "sip:@example.com", bad: true},
		{in: "sip:a@b@example.com", bad: true},
		{in: "sip:[@example.com", bad: true},
		{in: "sip:a:b<c@example.com", bad: true},
		{in: "sip:bob@", bad: true},
		{in: "sip:", bad: true},
		{in: "bob@example.com", bad: true},
		{in: "sip:bob@exa mple.com", bad: true},
		{in: "<sip:bob@example.com>", bad: true},
		{in: "sip:bob@[2001:db8::1", bad: true},
		{in: "sip:b%4@example.com", bad: true},
		{in: "sip:bob@exa$mple.com", bad: true},
		{in: "tel:", bad: true},
	}
	for _, tc := range tests {
		u, err := ParseURI([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("ParseURI(%q) accepted: %+v", tc.in, u)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURI(%q): %v", tc.in, err)
			continue
		}
		got := [...]string{string(u.Scheme), string(u.User), string(u.Password), string(u.Host), string(u.Port), string(u.Params), string(u.Headers), string(u.Opaque)}
		want := [...]string{tc.scheme, tc.user, tc.pass, tc.host, tc.port, tc.params, tc.headers, tc.opaque}
		if got != want || u.PortNum != tc.portNum {
			t.Errorf("ParseURI(%q) = %q port %d, want %q port %d", tc.in, got, u.PortNum, want, tc.portNum)
		}
	}
}

func TestParam(t *testing.T) {
	params := []byte(` transport = tcp ; lr;ttl=5 ; x="a;b" ;maddr`)
	tests := []struct {
		name, value string
		ok, noValue bool
	}{
		{"transport", "tcp", true, false},
		{"LR", "", true, true},
		{"ttl", "5", true, false},
		{"x", `"a;b"`, true, false},
		{"maddr", "", true, true},
		{"branch", "", false, true},
	}
	for _, tc := range tests {
		v, ok := Param(params, tc.name)
		if ok != tc.ok || string(v) != tc.value || (v == nil) != tc.noValue {
			t.Errorf("Param(%q) = %q, %v (nil %v)", tc.name, v, ok, v == nil)
		}
	}
}
