package tm

import (
	"net/netip"
	"testing"

	"github.com/kemisip/kemi/kemi"
)

// TestForceProto checks t_relay_to_proto's transport and port: a next hop
// without a port goes to the forced transport's default port.
func TestForceProto(t *testing.T) {
	addr := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), p) }
	tests := []struct {
		name, proto, next string
		from              kemi.Dest
		want              kemi.Dest
	}{
		{"none", "", "sip:192.0.2.1", kemi.Dest{Proto: "udp", Addr: addr(5060)}, kemi.Dest{Proto: "udp", Addr: addr(5060)}},
		{"same", "udp", "sip:192.0.2.1", kemi.Dest{Proto: "udp", Addr: addr(5060)}, kemi.Dest{Proto: "udp", Addr: addr(5060)}},
		{"tcp keeps the port", "tcp", "sip:192.0.2.1", kemi.Dest{Proto: "udp", Addr: addr(5060)}, kemi.Dest{Proto: "tcp", Addr: addr(5060)}},
		{"tls, no port: 5061", "tls", "sip:192.0.2.1", kemi.Dest{Proto: "udp", Addr: addr(5060)}, kemi.Dest{Proto: "tls", Addr: addr(5061)}},
		{"tls, a port", "tls", "sip:192.0.2.1:5099", kemi.Dest{Proto: "udp", Addr: addr(5099)}, kemi.Dest{Proto: "tls", Addr: addr(5099)}},
		{"from tls, no port: 5060", "tcp", "sips:192.0.2.1", kemi.Dest{Proto: "tls", Addr: addr(5061)}, kemi.Dest{Proto: "tcp", Addr: addr(5060)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.from
			forceProto(&d, tc.proto, tc.next)
			if d.Proto != tc.want.Proto || d.Addr != tc.want.Addr {
				t.Errorf("%s %s from %s %v: got %s %v, want %s %v", tc.proto, tc.next, tc.from.Proto, tc.from.Addr, d.Proto, d.Addr, tc.want.Proto, tc.want.Addr)
			}
		})
	}
}
