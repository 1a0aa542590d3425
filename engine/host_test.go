package engine_test

import (
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// firstLocalIPv4 returns a non-loopback IPv4 address of this host, if any.
func firstLocalIPv4() (netip.Addr, bool) {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

func TestIsMyselfWildcard(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:0.0.0.0:0"}
		c.Aliases = []string{"Proxy.Example.com:5070", "example.org"}
	}))
	port := int(s.Addr("udp").Port())
	cases := []struct {
		host  string
		port  int
		proto string
		want  bool
	}{
		{"127.0.0.1", port, "udp", true},
		{"127.0.0.1", 0, "", true},
		{"127.0.0.1", port, "tcp", false},
		{"127.0.0.1", port + 1, "udp", false},
		{"::1", port, "udp", false}, // the wildcard socket is IPv4 only
		{"[::1]", 0, "", false},
		{"192.0.2.99", port, "udp", false},
		{"proxy.example.com", 5070, "", true},
		{"proxy.example.com", 0, "", true},
		{"proxy.example.com", 5060, "", false},
		{"EXAMPLE.ORG", 5099, "tcp", true},
		{"example.net", 0, "", false},
	}
	if ip, ok := firstLocalIPv4(); ok {
		cases = append(cases, struct {
			host  string
			port  int
			proto string
			want  bool
		}{ip.String(), port, "udp", true})
	}
	for _, c := range cases {
		if got := s.IsMyself(c.host, c.port, c.proto); got != c.want {
			t.Errorf("IsMyself(%q, %d, %q) = %v, want %v", c.host, c.port, c.proto, got, c.want)
		}
	}
	// per message: no interface dump, no allocation
	ip := "127.0.0.1"
	if a, ok := firstLocalIPv4(); ok {
		ip = a.String()
	}
	if n := testing.AllocsPerRun(100, func() { s.IsMyself(ip, port, "udp") }); n != 0 {
		t.Errorf("IsMyself allocates %v times per call", n)
	}
}

func TestFindSocketTakesLiteralsOnly(t *testing.T) {
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0 name edge", "tcp:127.0.0.1:0"}
	}))
	udp, tcp := s.Addr("udp"), s.Addr("tcp")
	up, tp := strconv.Itoa(int(udp.Port())), strconv.Itoa(int(tcp.Port()))
	cases := map[string]string{
		"edge":                          "udp:" + udp.String(),
		"udp:127.0.0.1:" + up:           "udp:" + udp.String(),
		"UDP:127.0.0.1:" + up:           "udp:" + udp.String(),
		"127.0.0.1:" + up:               "udp:" + udp.String(),
		"tcp:[::ffff:127.0.0.1]:" + tp:  "tcp:" + tcp.String(),
		"tcp:127.0.0.1:" + up:           "",
		"udp:localhost:" + up:           "", // never resolved on a worker
		"udp:no-such-host.invalid:5060": "",
		"garbage":                       "",
	}
	for spec, want := range cases {
		got := s.FindSocket(spec)
		if got.String() != want {
			t.Errorf("FindSocket(%q) = %q, want %q", spec, got.String(), want)
		}
	}
}
