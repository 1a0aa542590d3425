package kemi

import (
	"strings"
	"testing"
)

// names lists the XAVPs of l as name=value, newest first.
func names(l XAVPs) string {
	var parts []string
	for _, x := range l.list {
		parts = append(parts, x.Name()+"="+x.Value().String())
	}
	return strings.Join(parts, " ")
}

func TestXAVPsEdits(t *testing.T) {
	var l XAVPs
	l.Add(NewXAVP("a", Int(1)))
	l.Add(NewXAVP("b", Str("x")))
	l.AddFirst(NewXAVP("a", Int(2)), NewXAVP("a", Int(3)))
	saved := l.Clone()
	for _, tc := range []struct {
		name string
		edit func(l *XAVPs) int
		n    int
		want string
	}{
		{"remove second a", func(l *XAVPs) int { return l.Remove("a", 1) }, 1, "a=2 b=x a=1"},
		{"remove all a", func(l *XAVPs) int { return l.Remove("a", -1) }, 3, "b=x"},
		{"remove missing", func(l *XAVPs) int { return l.Remove("a", 7) }, 0, "a=2 a=3 b=x a=1"},
		{"replace last a", func(l *XAVPs) int {
			if l.Replace("a", 2, NewXAVP("a", Int(9))) {
				return 1
			}
			return 0
		}, 1, "a=2 a=3 b=x a=9"},
		{"remove item", func(l *XAVPs) int {
			if l.RemoveItem(l.Get("b", 0)) {
				return 1
			}
			return 0
		}, 1, "a=2 a=3 a=1"},
	} {
		c := saved.Clone()
		if n := tc.edit(&c); n != tc.n || names(c) != tc.want {
			t.Errorf("%s: %d, %q; want %d, %q", tc.name, n, names(c), tc.n, tc.want)
		}
		if names(saved) != "a=2 a=3 b=x a=1" {
			t.Fatalf("%s changed the original: %q", tc.name, names(saved))
		}
	}
}

func TestXAVPFields(t *testing.T) {
	var l XAVPs
	l.Add(NewXAVPList("d", NewXAVP("grp", Int(1)), NewXAVP("uri", Str("sip:a"))))
	orig := l.Clone()
	if !l.AddField("d", 0, NewXAVP("uri", Str("sip:b"))) {
		t.Fatal("AddField failed")
	}
	if !l.ReplaceField("d", 0, 1, NewXAVP("uri", Str("sip:c"))) {
		t.Fatal("ReplaceField failed")
	}
	d := l.Get("d", 0)
	if got := d.FieldValues("uri"); len(got) != 2 || got[0].Str != "sip:b" || got[1].Str != "sip:c" {
		t.Errorf("uri fields %v", got)
	}
	if n := l.RemoveField("d", 0, "uri", -1); n != 2 || l.Get("d", 0).FieldCount("uri") != 0 {
		t.Errorf("RemoveField removed %d", n)
	}
	if f := orig.Get("d", 0).Field("uri", 0); f == nil || f.Value().Str != "sip:a" || orig.Get("d", 0).FieldCount("uri") != 1 {
		t.Error("editing fields changed the clone")
	}
	if l.AddField("nope", 0, NewXAVP("f", Int(1))) || l.ReplaceField("d", 0, 5, NewXAVP("grp", Int(2))) {
		t.Error("edit of a missing XAVP or field reported success")
	}
}
