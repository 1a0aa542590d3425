package engine

import "testing"

// TestListenSpecRoundTrip checks that spec() writes what ParseListen reads
// back the same: the supervisor passes sockets to the worker process so.
func TestListenSpecRoundTrip(t *testing.T) {
	for _, in := range []string{
		"udp:127.0.0.1:5060",
		"tcp:[::1]:5070/203.0.113.7:5080",
		"udp:10.0.0.1:5060 advertise example.com",
		"udp:127.0.0.1:5060 name main",
		"tcp:[::1]:0 advertise [2001:db8::1]:5061 name edge",
	} {
		specs, err := ParseListen(in)
		if err != nil {
			t.Fatalf("ParseListen(%q): %v", in, err)
		}
		out := specs[0].spec()
		again, err := ParseListen(out)
		if err != nil {
			t.Fatalf("ParseListen(%q) of spec() of %q: %v", out, in, err)
		}
		if len(again) != 1 || again[0] != specs[0] {
			t.Errorf("%q -> %q -> %+v, want %+v", in, out, again, specs[0])
		}
	}
}
