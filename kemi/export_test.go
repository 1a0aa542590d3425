package kemi

import "testing"

// ParseIntLenient converts as Lua's tonumber does for an int parameter.
func TestParseIntLenient(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"404", 404}, {" 5 ", 5}, {"-3", -3}, {"010", 10}, {"0x10", 16}, {"-0x10", -16},
		{"1.9", 1}, {"-1.9", -1}, {"1e3", 1000}, {"", 0}, {"abc", 0}, {"1_000", 0},
		{"0b11", 0}, {"inf", 0}, {"nan", 0}, {"0x", 0}, {"0x1p4", 0},
	}
	for _, tt := range tests {
		if got := ParseIntLenient(tt.in); got != tt.want {
			t.Errorf("ParseIntLenient(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// A copy's AVPs are its own: the onsend route runs on a copy.
func TestCopyKeepsAVPsApart(t *testing.T) {
	m := &Msg{}
	m.AVPs.Add("a", Int(1))
	m.AVPs.Add("b", Int(2))
	m.AVPs.Add("c", Int(3))
	c := m.Copy()
	c.AVPs.Del("a")
	c.AVPs.Set("b", Int(20))
	c.AVPs.Add("d", Int(4))
	for name, want := range map[string]int64{"a": 1, "b": 2, "c": 3} {
		if v, ok := m.AVPs.Get(name, 0); !ok || v.Int != want {
			t.Errorf("original %s = %+v, want %d", name, v, want)
		}
	}
	if m.AVPs.Len() != 3 {
		t.Errorf("original has %d AVPs, want 3", m.AVPs.Len())
	}
}
