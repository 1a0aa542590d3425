package tm

import (
	"strings"
	"testing"
)

// TestInsertByQ checks the order t_load_contacts builds, as Kamailio's:
// ascending q, an unset q (-1) lowest, a destination without Path after
// those of equal q, one with a Path before them.
func TestInsertByQ(t *testing.T) {
	type c struct {
		uri  string
		q    int
		path string
	}
	cases := []struct {
		name string
		in   []c
		want string // ascending, as built
	}{
		{"by q", []c{{"a", 500, ""}, {"b", 1000, ""}, {"c", -1, ""}}, "c,a,b"},
		{"equal q: in order", []c{{"a", 500, ""}, {"b", 500, ""}, {"c", 500, ""}}, "a,b,c"},
		{"equal q: a Path goes first", []c{{"a", 500, ""}, {"b", 500, "<sip:e;lr>"}, {"c", 500, ""}}, "b,a,c"},
		{"registrar's R-URI with Path", []c{{"c1", 500, "<sip:e;lr>"}, {"c2", 1000, "<sip:e;lr>"}, {"c3", 500, ""}}, "c1,c3,c2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var all []qTarget
			for _, x := range tc.in {
				all = insertByQ(all, qTarget{q: x.q, t: target{uri: x.uri, path: x.path}})
			}
			var got []string
			for _, x := range all {
				got = append(got, x.t.uri)
			}
			if g := strings.Join(got, ","); g != tc.want {
				t.Errorf("order %s, want %s", g, tc.want)
			}
		})
	}
}
