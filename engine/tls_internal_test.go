package engine

import (
	"crypto/tls"
	"net/netip"
	"testing"
)

func TestTLSVersions(t *testing.T) {
	cases := []struct {
		method   string
		min, max uint16
		ok       bool
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, true},
		{"TLSv1.2+", tls.VersionTLS12, tls.VersionTLS13, true},
		{"tlsv1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLSv1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"TLSv1", 0, 0, false},
		{"TLSv1.1+", 0, 0, false},
		{"SSLv23", 0, 0, false},
	}
	for _, c := range cases {
		lo, hi, err := tlsVersions(c.method)
		if (err == nil) != c.ok || lo != c.min || hi != c.max {
			t.Errorf("tlsVersions(%q) = %x, %x, %v", c.method, lo, hi, err)
		}
	}
}

// TestTLSProfilePick: the order in which a profile is chosen: server_id,
// address and name, any and name, address without a name, default.
func TestTLSProfilePick(t *testing.T) {
	cfg := &TLSConfig{
		TLSProfile: TLSProfile{ServerName: "default.example"},
		Client: map[string]TLSProfile{
			"10.0.0.1:5061":   {},
			"a":               {Domain: "10.0.0.1:5061", ServerName: "a.example"},
			"wild":            {Domain: "any", ServerName: "example.net", ServerNameMode: 1},
			"subs":            {Domain: "any", ServerName: "example.org", ServerNameMode: 2},
			"carrier":         {Domain: "10.0.0.9:5061", ServerID: "carrier"},
			"[2001:db8::1]:5": {},
		},
	}
	st, err := loadTLS(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort
	cases := []struct {
		id, sni string
		addr    netip.AddrPort
		want    string
	}{
		{"carrier", "a.example", ap("10.0.0.1:5061"), "client:carrier"},
		{"", "a.example", ap("10.0.0.1:5061"), "client:a"},
		{"", "A.EXAMPLE", ap("10.0.0.1:5061"), "client:a"},
		{"", "b.example", ap("10.0.0.1:5061"), "client:10.0.0.1:5061"},
		{"", "example.net", ap("10.0.0.2:5061"), "client:wild"},
		{"", "sip.example.net", ap("10.0.0.2:5061"), "client:wild"},
		{"", "example.org", ap("10.0.0.2:5061"), "client:default"},
		{"", "sip.example.org", ap("10.0.0.2:5061"), "client:subs"},
		{"", "x.test", ap("[2001:db8::1]:5"), "client:[2001:db8::1]:5"},
		{"nope", "x.test", ap("10.0.0.3:5061"), "client:default"},
	}
	for _, c := range cases {
		if got := st.clientProfile(c.id, c.addr, c.sni).name; got != c.want {
			t.Errorf("clientProfile(%q, %s, %q) = %s, want %s", c.id, c.addr, c.sni, got, c.want)
		}
	}
	if def := st.clients[len(st.clients)-1]; def.sni != "default.example" || !def.verify {
		t.Errorf("default client: server_name %q verify %v, want the [tls] server_name and verification", def.sni, def.verify)
	}
	if def := st.servers[len(st.servers)-1]; def.verify || def.require {
		t.Errorf("default server verifies (%v) or requires (%v) client certificates", def.verify, def.require)
	}
}

func TestTLSDuplicateProfiles(t *testing.T) {
	_, err := loadTLS(&TLSConfig{Client: map[string]TLSProfile{
		"x": {Domain: "any", ServerName: "a.example"},
		"y": {Domain: "any", ServerName: "A.example"},
	}}, false)
	if err == nil {
		t.Error("two profiles for the same domain and name were accepted")
	}
}
