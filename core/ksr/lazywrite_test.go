package ksr_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// call is one KSR call of a test and what it must return.
type call struct {
	fn   string
	args []any
	want any // a kemi.Value, nil when any answer is right
}

// writeCases are sequences of KSR calls that change the message. Each
// runs on both forms of a message: the lazy one must stay lazy, answer
// the same reads and write the same headers as sipgo's form.
var writeCases = []struct {
	name  string
	calls []call
}{
	{"append", []call{
		{"KSR.hdr.append", []any{"X-A: 1\r\n"}, kemi.OK},
		{"KSR.hdr.append", []any{"X-B: 2\r\nX-A: 3\r\n"}, kemi.OK},
	}},
	{"insert keeps the order", []call{
		{"KSR.hdr.insert", []any{"X-I: 1\r\n"}, kemi.OK},
		{"KSR.hdr.insert", []any{"X-I: 2\r\n"}, kemi.OK},
		{"KSR.hdr.insert", []any{"Record-Route: <sip:10.0.0.1;lr>\r\n"}, kemi.OK},
	}},
	{"append_after", []call{
		{"KSR.hdr.append_after", []any{"X-After: 1\r\n", "Call-ID"}, kemi.OK},
		{"KSR.hdr.append_after", []any{"X-After: 2\r\n", "call-id"}, kemi.OK},
		{"KSR.hdr.append_after", []any{"X-After: 3\r\n", "m"}, kemi.OK},
		{"KSR.hdr.append_after", []any{"X-After: 4\r\n", "X-None"}, kemi.OK},
	}},
	{"insert_before", []call{
		{"KSR.hdr.insert_before", []any{"X-Before: 1\r\n", "CSeq"}, kemi.OK},
		{"KSR.hdr.insert_before", []any{"X-Before: 2\r\n", "CSeq"}, kemi.OK},
		{"KSR.hdr.insert_before", []any{"X-Before: 3\r\n", "X-None"}, kemi.OK},
		{"KSR.hdr.insert", []any{"X-I: 1\r\n"}, kemi.OK},
	}},
	{"added then anchored on", []call{
		{"KSR.hdr.insert", []any{"X-I: 1\r\n"}, kemi.OK},
		{"KSR.hdr.append_after", []any{"X-After: 1\r\n", "X-I"}, kemi.OK},
		{"KSR.hdr.insert_before", []any{"X-Before: 1\r\n", "X-I"}, kemi.OK},
		{"KSR.hdr.remove", []any{"X-I"}, kemi.OK},
		{"KSR.hdr.insert", []any{"X-I: 2\r\n"}, kemi.OK},
	}},
	{"remove", []call{
		{"KSR.hdr.remove", []any{"User-Agent"}, kemi.OK},
		{"KSR.hdr.remove", []any{"m"}, kemi.OK},
		{"KSR.hdr.remove", []any{"X-None"}, kemi.OK},
		{"KSR.hdr.is_present", []any{"Contact"}, kemi.Fail},
	}},
	{"rmappend rminsert", []call{
		{"KSR.hdr.rmappend", []any{"User-Agent", "User-Agent: new/2\r\n"}, kemi.OK},
		{"KSR.hdr.rminsert", []any{"Max-Forwards", "Max-Forwards: 10\r\n"}, kemi.OK},
		{"KSR.hdr.get", []any{"Max-Forwards"}, kemi.Str("10")},
	}},
	{"seturi", []call{
		{"KSR.seturi", []any{"sip:carol@example.net:5070;transport=tcp"}, kemi.True},
		{"KSR.pv.get", []any{"$rp"}, kemi.Int(5070)},
	}},
	{"other URIs", []call{
		{"KSR.seturi", []any{"tel:+15551234567"}, kemi.True},
		{"KSR.pv.get", []any{"$rz"}, kemi.Str("tel")},
		{"KSR.seturi", []any{"sips:carol@[2001:db8::1]:5061;transport=tls;lr"}, kemi.True},
		{"KSR.pv.get", []any{"$rd"}, kemi.Str("[2001:db8::1]")},
		{"KSR.seturi", []any{"SIP:Carol%20C@Example.COM;user=phone"}, kemi.True},
		{"KSR.setuser", []any{"+1555"}, kemi.True},
		{"KSR.pv.sets", []any{"$rp", "5062"}, nil},
	}},
	{"setuser sethost", []call{
		{"KSR.setuser", []any{"dave"}, kemi.True},
		{"KSR.sethost", []any{"example.org"}, kemi.True},
		{"KSR.pv.get", []any{"$ru"}, kemi.Str("sip:dave@example.org")},
		{"KSR.setuser", []any{""}, kemi.True},
		{"KSR.pv.get", []any{"$rU"}, kemi.Null},
	}},
	{"R-URI pseudo-variables", []call{
		{"KSR.pv.sets", []any{"$ru", "sip:eve@192.0.2.99"}, nil},
		{"KSR.pv.sets", []any{"$rU", "frank"}, nil},
		{"KSR.pv.sets", []any{"$rd", "example.com"}, nil},
		{"KSR.pv.sets", []any{"$rp", "5080"}, nil},
		{"KSR.pv.get", []any{"$ru"}, kemi.Str("sip:frank@example.com:5080")},
		{"KSR.pv.unset", []any{"$rp"}, nil},
		{"KSR.pv.get", []any{"$ou"}, kemi.Str("sip:bob@example.com")},
	}},
	{"a route", []call{
		{"KSR.hdr.remove", []any{"User-Agent"}, kemi.OK},
		{"KSR.hdr.insert", []any{"Record-Route: <sip:127.0.0.1;lr>\r\n"}, kemi.OK},
		{"KSR.pv.sets", []any{"$ru", "sip:bob@192.0.2.20:5070"}, nil},
		{"KSR.hdr.append", []any{"X-Routed: yes\r\n"}, kemi.OK},
		{"KSR.hdr.get", []any{"Record-Route"}, kemi.Str("<sip:127.0.0.1;lr>")},
	}},
	// bad input is refused on both forms alike (same return, same log)
	{"bad input", []call{
		{"KSR.hdr.append", []any{"X-A: a\rb\r\n"}, kemi.Fail},
		{"KSR.hdr.append", []any{"X A: 1\r\n"}, kemi.Fail},
		{"KSR.hdr.append", []any{"X@A: 1\r\n"}, kemi.Fail},
		{"KSR.hdr.append", []any{"X-A: 1\r\nno colon\r\n"}, kemi.Fail},
		{"KSR.hdr.insert", []any{""}, kemi.Fail},
		{"KSR.hdr.append_after", []any{"X-A: 1\r\n", "Bad Name"}, kemi.Fail},
		{"KSR.hdr.insert_before", []any{"X-A: 1\r\n", "Call-ID\r\nX: y"}, kemi.Fail},
		{"KSR.hdr.remove", []any{"Bad Name"}, kemi.Fail},
		{"KSR.hdr.rmappend", []any{"Bad Name", "X-A: 1\r\n"}, kemi.Fail},
		{"KSR.hdr.rminsert", []any{"User-Agent", "X-A: 1\r\n\r\nX-B: 2\n\rb"}, kemi.Fail},
		{"KSR.seturi", []any{"sip:a b@example.com"}, kemi.False},
		{"KSR.seturi", []any{"foo"}, kemi.False},
		{"KSR.seturi", []any{"sip:bob@example.com:99999"}, kemi.False},
		{"KSR.setuser", []any{"a@b"}, kemi.False},
		{"KSR.sethost", []any{"bad host"}, kemi.False},
		{"KSR.sethost", []any{"evil.com\r\nX: y"}, kemi.False},
		{"KSR.pv.sets", []any{"$rp", "99999"}, nil},
		{"KSR.pv.sets", []any{"$ru", "sip:x@[::1"}, nil},
	}},
}

// readsAfterWrites are what the tests compare on both forms after the
// calls.
var readsAfterWrites = []string{
	"$ru", "$rU", "$rd", "$rp", "$rz", "$ou",
	"$hdr(X-A)", "$hdr(X-B)", "$hdrc(X-A)", "$hdr(X-I)", "$hdrc(X-I)",
	"$hdr(X-After)", "$hdrc(X-After)", "$hdr(X-Before)", "$hdrc(X-Before)",
	"$hdr(User-Agent)", "$hdr(Max-Forwards)", "$hdr(Contact)", "$hdrc(Contact)",
	"$hdr(Record-Route)", "$hdr(X-Routed)", "$ml",
}

// writeInvite is invite with its headers as sipgo writes them (a quoted
// display name), so that both forms write the headers they do not change
// the same.
var writeInvite = strings.Replace(invite, "To: Bob <", `To: "Bob" <`, 1)

// TestWritesStayLazy runs each of writeCases on both forms.
func TestWritesStayLazy(t *testing.T) {
	env := load(t)
	for _, tc := range writeCases {
		t.Run(tc.name, func(t *testing.T) {
			lazy, eager := env.BothForms(t, writeInvite)
			for _, c := range tc.calls {
				if got := env.CallBoth(t, c.fn, lazy, eager, c.args...); c.want != nil && got != c.want {
					t.Errorf("%s%q: %s, want %v", c.fn, c.args, show(got), c.want)
				}
			}
			for _, pv := range readsAfterWrites {
				if got, want := env.Call(t, "KSR.pv.get", lazy, pv), env.Call(t, "KSR.pv.get", eager, pv); got != want {
					t.Errorf("%s: lazy %s, sipgo %s", pv, show(got), show(want))
				}
			}
			if got, want := lazy.AddedAt(), eager.AddedAt(); !slices.Equal(got, want) {
				t.Errorf("AddedAt: lazy %v, sipgo %v", got, want)
			}
			kemitest.SameWire(t, lazy, eager, true)
			// sipgo's form of the lazy message is sipgo's form of the
			// same changes, the added headers marked as such
			lazy.Request()
			if got, want := lazy.AddedAt(), eager.AddedAt(); !slices.Equal(got, want) {
				t.Errorf("AddedAt once materialized: %v, sipgo %v", got, want)
			}
			if got, want := lazy.Request().String(), eager.Request().String(); got != want {
				t.Errorf("materialized:\n%s\nsipgo:\n%s", got, want)
			}
		})
	}
}
