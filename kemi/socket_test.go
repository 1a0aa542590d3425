package kemi

import (
	"net/netip"
	"testing"
)

func TestMatchSocket(t *testing.T) {
	var (
		tcp    = &Socket{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
		udp    = &Socket{Proto: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:5060")}
		pub    = &Socket{Proto: "udp", Addr: netip.MustParseAddrPort("10.0.0.1:5080"), AdvHost: "sip.example.com", AdvPort: 5090, Name: "pub"}
		v6     = &Socket{Proto: "tls", Addr: netip.MustParseAddrPort("[2001:db8::1]:5061"), AdvHost: "[2001:db8::99]"}
		mapped = &Socket{Proto: "udp", Addr: netip.MustParseAddrPort("[::ffff:192.0.2.7]:5060")}
		ws     = &Socket{Proto: "ws", Addr: netip.MustParseAddrPort("192.0.2.8:80")}
		socks  = []*Socket{tcp, udp, pub, v6, mapped, ws}
	)
	tests := []struct {
		spec string
		want *Socket
	}{
		{"127.0.0.1", udp}, // udp is tried first, as Kamailio
		{"127.0.0.1:5060", udp},
		{"tcp:127.0.0.1", tcp},
		{"TCP:127.0.0.1:5060", tcp},
		{"udp:127.0.0.1:5070", nil},
		{"10.0.0.1:5090", pub},        // advertised port
		{"SIP.example.com", pub},      // advertised name
		{"sip.example.com:5080", pub}, // advertised name, bound port
		{"[2001:DB8::1]", v6},
		{"tls:[2001:db8::99]:5061", v6}, // advertised IPv6 address
		{"192.0.2.7", mapped},
		{"[::ffff:192.0.2.7]:5060", mapped},
		{"192.0.2.8", ws}, // transports Kamailio does not try first come last
		{"ws:192.0.2.8:80", ws},
		{"tcp:192.0.2.8", nil},
		{"localhost", nil}, // no DNS
		{"pub", nil},       // a name is not an address
	}
	for _, tc := range tests {
		got, err := MatchSocket(socks, tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("MatchSocket(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
	for _, spec := range []string{"", "bogus:127.0.0.1:5060", "udp:127.0.0.1:port", "udp:127.0.0.1:70000", "udp:127.0.0.1:0",
		"udp:127.0.0.1:5060:1", "udp:127.0.0.1:", "udp:[::1", "udp::5060", "2001:db8::1", "[[::1]]"} {
		if s, err := MatchSocket(socks, spec); err == nil {
			t.Errorf("MatchSocket(%q) = %v, want an error", spec, s)
		}
	}
	if s := SocketByName(socks, "pub"); s != pub {
		t.Errorf("SocketByName(pub) = %v", s)
	}
	if s := SocketByName(socks, ""); s != nil {
		t.Errorf("SocketByName(\"\") = %v", s)
	}
}

func TestParseSocketAddr(t *testing.T) {
	tests := []struct {
		spec, proto, host string
		port              int
	}{
		{"udp:10.0.0.1:5060", "udp", "10.0.0.1", 5060},
		{"TLS:example.com", "tls", "example.com", 0},
		{"example.com:5061", "", "example.com", 5061},
		{"[2001:db8::1]:5060", "", "[2001:db8::1]", 5060},
		{"wss:[2001:db8::1]", "wss", "[2001:db8::1]", 0},
		{"10.0.0.1", "", "10.0.0.1", 0},
	}
	for _, tc := range tests {
		proto, host, port, err := ParseSocketAddr(tc.spec)
		if err != nil || proto != tc.proto || host != tc.host || port != tc.port {
			t.Errorf("ParseSocketAddr(%q) = %q %q %d %v; want %q %q %d", tc.spec, proto, host, port, err, tc.proto, tc.host, tc.port)
		}
	}
}
