package kemi

import (
	"net/netip"
	"testing"
)

func TestHostPort(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"192.0.2.1", 5060, "192.0.2.1:5060"},
		{"2001:db8::1", 5061, "[2001:db8::1]:5061"},
		{"[2001:db8::1]", 5061, "[2001:db8::1]:5061"},
		{"::ffff:192.0.2.1", 5060, "192.0.2.1:5060"},
		{"fe80::1%eth0", 5060, "[fe80::1%eth0]:5060"},
		{"example.com", 5080, "example.com:5080"},
	}
	for _, tc := range tests {
		if got := HostPort(tc.host, tc.port); got != tc.want {
			t.Errorf("HostPort(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
		}
	}
}

func TestProtos(t *testing.T) {
	for proto, want := range map[string]int{"udp": 1, "TCP": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6, "": 0, "quic": 0} {
		if got := ProtoID(proto); got != want {
			t.Errorf("ProtoID(%q) = %d, want %d", proto, got, want)
		}
	}
	for proto, want := range map[string]string{"UDP": "udp", "tcp": "tcp", "tls": "tls", "sctp": "sctp", "ws": "ws", "WSS": "ws", "": "", "quic": ""} {
		if got, ok := URIProto(proto); got != want || ok != (want != "") {
			t.Errorf("URIProto(%q) = %q, %v; want %q", proto, got, ok, want)
		}
	}
}

func TestSourceURI(t *testing.T) {
	tests := []struct {
		src, proto string
		want       string // "" for none
	}{
		{"192.0.2.1:5062", "udp", "sip:192.0.2.1:5062"},
		{"192.0.2.1:5062", "", "sip:192.0.2.1:5062"},
		{"192.0.2.1:5062", "TCP", "sip:192.0.2.1:5062;transport=tcp"},
		{"[::ffff:192.0.2.1]:5062", "wss", "sip:192.0.2.1:5062;transport=ws"},
		{"[2001:db8::9]:5070", "tls", "sip:[2001:db8::9]:5070;transport=tls"},
		{"192.0.2.1:5062", "quic", ""},
		{"", "udp", ""},
	}
	for _, tc := range tests {
		m := &Msg{Proto: tc.proto}
		if tc.src != "" {
			m.Src = netip.MustParseAddrPort(tc.src)
		}
		got, ok := m.SourceURI()
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("SourceURI of %s over %q = %q, %v; want %q", tc.src, tc.proto, got, ok, tc.want)
		}
	}
}

func TestCheckPort(t *testing.T) {
	for _, p := range []int{0, 1, 5060, 65535} {
		if err := CheckPort(p); err != nil {
			t.Errorf("CheckPort(%d): %v", p, err)
		}
	}
	for _, p := range []int{-1, 65536, 999999, -65536} {
		if CheckPort(p) == nil {
			t.Errorf("CheckPort(%d) = nil, want an error", p)
		}
	}
}

func TestDefaultPort(t *testing.T) {
	for proto, want := range map[string]int{"udp": 5060, "tcp": 5060, "tls": 5061, "TLS": 5061, "ws": 5060, "wss": 5060, "sctp": 5060, "": 5060} {
		if got := DefaultPort(proto); got != want {
			t.Errorf("DefaultPort(%q) = %d, want %d", proto, got, want)
		}
	}
}
