package sipmsg

import "testing"

func TestParseVia(t *testing.T) {
	tests := []struct {
		in                                   string
		transport, host, port, branch, recvd string
		rport                                string
		hasRport                             bool
		rest                                 string
		bad                                  bool
	}{
		{in: "SIP/2.0/UDP a.example.com;branch=z9hG4bK1", transport: "UDP", host: "a.example.com", branch: "z9hG4bK1"},
		{in: "SIP / 2.0 / TCP a.example.com : 5070 ; branch = z9hG4bK1 ; rport", transport: "TCP", host: "a.example.com", port: "5070", branch: "z9hG4bK1", hasRport: true},
		{in: "SIP/2.0/UDP [2001:db8::9]:5060;received=192.0.2.9;rport=5062;branch=z9hG4bKx, SIP/2.0/UDP b", transport: "UDP", host: "[2001:db8::9]", port: "5060", recvd: "192.0.2.9", rport: "5062", hasRport: true, branch: "z9hG4bKx", rest: " SIP/2.0/UDP b"},
		{in: "SIP/2.0/UDP\r\n a.example.com;branch=z9hG4bK1", transport: "UDP", host: "a.example.com", branch: "z9hG4bK1"},
		{in: "SIP/2.0/UDP a.example.com", transport: "UDP", host: "a.example.com"},
		{in: "SIP/2.0/UDPa.example.com", bad: true},
		{in: "SIP/2.0 a.example.com", bad: true},
		{in: "SIP/2.0/UDP a.example.com:99999", bad: true},
		{in: "SIP/2.0/UDP a.example.com:", bad: true},
		{in: "SIP/2.0/UDP a.example.com;rport=0", bad: true},
		{in: "SIP/2.0/UDP a.example.com;received=a.example.com", bad: true},
		{in: "SIP/2.0/UDP a.example.com;received=192.0.2.256", bad: true},
		{in: "SIP/2.0/UDP a.example.com;received=192.0.2", bad: true},
		{in: "SIP/2.0/UDP a.example.com;received=[2001:db8::1];branch=z9hG4bK1", transport: "UDP", host: "a.example.com", recvd: "[2001:db8::1]", branch: "z9hG4bK1"},
		// not a token, taken as Kamailio takes it: the branch is opaque
		{in: "SIP/2.0/UDP a.example.com;branch=z9hG4bK-a@b<1>", transport: "UDP", host: "a.example.com", branch: "z9hG4bK-a@b<1>"},
		{in: "SIP/2.0/UDP a.example.com;branch=", bad: true},
		{in: "SIP/2.0/UDP a.example.com;branch=z9hG4bK\\1", transport: "UDP", host: "a.example.com", branch: "z9hG4bK\\1"},
		{in: `SIP/2.0/UDP a.example.com;branch="z9hG4bK;1"`, transport: "UDP", host: "a.example.com", branch: `"z9hG4bK;1"`},
		// but not what ends or opens something else in Kamailio's
		// parse_via.c, which refuses these messages: '=', '"'
		{in: "SIP/2.0/UDP a.example.com;branch==z9hG4bK1", bad: true},
		{in: "SIP/2.0/UDP a.example.com;branch=z9hG4bK=1", bad: true},
		{in: `SIP/2.0/UDP a.example.com;branch=z9hG4bK"1"`, bad: true},
		{in: `SIP/2.0/UDP a.example.com;branch="z9hG4bK1`, bad: true},
		{in: "SIP/2.0/UDP a.example.com junk", bad: true},
		{in: "SIP/2.0/UDP ;branch=1", bad: true},
		{in: "", bad: true},
	}
	for _, tc := range tests {
		v, rest, err := ParseVia([]byte(tc.in))
		if tc.bad {
			if err == nil {
				t.Errorf("ParseVia(%q) accepted: %+v", tc.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVia(%q): %v", tc.in, err)
			continue
		}
		got := [...]string{string(v.Transport), string(v.Host), string(v.Port), string(v.Branch), string(v.Received), string(v.Rport), string(rest)}
		want := [...]string{tc.transport, tc.host, tc.port, tc.branch, tc.recvd, tc.rport, tc.rest}
		if got != want || v.HasRport != tc.hasRport || string(v.Protocol) != "SIP" || string(v.Version) != "2.0" {
			t.Errorf("ParseVia(%q) = %q rport %v, want %q %v", tc.in, got, v.HasRport, want, tc.hasRport)
		}
	}
}

func TestVias(t *testing.T) {
	var m Msg
	if err := m.Parse(crlf(basicReq)); err != nil {
		t.Fatal(err)
	}
	var branches []string
	for v, err := range m.Vias() {
		if err != nil {
			t.Fatal(err)
		}
		branches = append(branches, string(v.Branch))
	}
	if len(branches) != 3 || branches[0] != "z9hG4bK1" || branches[1] != "z9hG4bK2" || branches[2] != "z9hG4bK3" {
		t.Errorf("branches %q", branches)
	}
}
