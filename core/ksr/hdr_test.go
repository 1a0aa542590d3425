package ksr_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// sipHeader is a sipgo header.
type sipHeader = sip.Header

// inviteHeaders are the header names of invite, in order.
var inviteHeaders = []string{"Via", "Max-Forwards", "From", "To", "Call-ID", "CSeq", "Contact", "User-Agent", "Content-Type", "Content-Length"}

// withHeaders returns inviteHeaders changed by edit.
func withHeaders(edit func(h []string) []string) []string {
	return edit(slices.Clone(inviteHeaders))
}

// headersAre checks the header names and that the message still prints
// them.
func headersAre(want []string) func(t *testing.T, m *kemi.Msg) {
	return func(t *testing.T, m *kemi.Msg) {
		t.Helper()
		if got := headerNames(m); !slices.Equal(got, want) {
			t.Errorf("headers\n got %v\nwant %v", got, want)
		}
		text := m.Request().String()
		for _, n := range want {
			contains(t, "message", text, "\r\n"+n+": ")
		}
	}
}

func TestHdrChanges(t *testing.T) {
	env := load(t)
	insertAt := func(i int, names ...string) []string {
		return withHeaders(func(h []string) []string { return slices.Insert(h, i, names...) })
	}
	without := func(names ...string) []string {
		return withHeaders(func(h []string) []string {
			return slices.DeleteFunc(h, func(n string) bool { return slices.Contains(names, n) })
		})
	}
	twoUA := func(m *kemi.Msg) { m.AppendHeaders(mustHeaders("User-Agent: second\r\n")...) }
	runCases(t, env, []callCase{
		{name: "append", fn: "hdr.append", args: args("X-A: 1\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			headersAre(append(slices.Clone(inviteHeaders), "X-A"))(t, m)
			contains(t, "message", m.Request().String(), "X-A: 1\r\n")
		}},
		{name: "append two lines", fn: "hdr.append", args: args("X-A: 1\r\nX-B: 2\r\n"), want: kemi.OK,
			check: headersAre(append(slices.Clone(inviteHeaders), "X-A", "X-B"))},
		{name: "append no crlf", fn: "hdr.append", args: args("X-A: 1"), want: kemi.OK,
			check: headersAre(append(slices.Clone(inviteHeaders), "X-A"))},
		{name: "append invalid", fn: "hdr.append", args: args("garbage"), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "append empty", fn: "hdr.append", args: args(""), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "append structured", fn: "hdr.append", args: args("Route: <sip:10.0.0.1;lr>\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			if r := m.Request().Route(); r == nil || r.Address.Host != "10.0.0.1" {
				t.Errorf("Route not usable: %v", r)
			}
		}},
		{name: "append_after", fn: "hdr.append_after", args: args("X-A: 1\r\n", "from"), want: kemi.OK, check: headersAre(insertAt(3, "X-A"))},
		{name: "append_after compact name", fn: "hdr.append_after", args: args("X-A: 1\r\n", "i"), want: kemi.OK, check: headersAre(insertAt(5, "X-A"))},
		{name: "append_after absent goes last", fn: "hdr.append_after", args: args("X-A: 1\r\n", "X-None"), want: kemi.OK,
			check: headersAre(append(slices.Clone(inviteHeaders), "X-A"))},
		{name: "append_after bad name", fn: "hdr.append_after", args: args("X-A: 1\r\n", "Bad Name"), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "insert", fn: "hdr.insert", args: args("X-A: 1\r\n"), want: kemi.OK, check: headersAre(insertAt(0, "X-A"))},
		{name: "insert via keeps top via", fn: "hdr.insert", args: args("Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			if v := m.Request().Via(); v == nil || v.Host != "10.0.0.9" {
				t.Errorf("top Via = %v", v)
			}
		}},
		{name: "insert invalid", fn: "hdr.insert", args: args(": x"), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "insert_before", fn: "hdr.insert_before", args: args("X-A: 1\r\n", "Call-ID"), want: kemi.OK, check: headersAre(insertAt(4, "X-A"))},
		{name: "insert_before absent goes first", fn: "hdr.insert_before", args: args("X-A: 1\r\n", "X-None"), want: kemi.OK, check: headersAre(insertAt(0, "X-A"))},
		{name: "insert_before bad name", fn: "hdr.insert_before", args: args("X-A: 1\r\n", ""), want: kemi.Fail},
		{name: "remove", fn: "hdr.remove", args: args("Contact"), want: kemi.OK, check: headersAre(without("Contact"))},
		{name: "remove compact", fn: "hdr.remove", args: args("m"), want: kemi.OK, check: headersAre(without("Contact"))},
		{name: "remove all of a name", prep: twoUA, fn: "hdr.remove", args: args("user-agent"), want: kemi.OK, check: headersAre(without("User-Agent"))},
		{name: "remove absent is 1", fn: "hdr.remove", args: args("X-None"), want: kemi.OK, check: headersAre(inviteHeaders)},
		{name: "remove bad name", fn: "hdr.remove", args: args("a:b"), want: kemi.Fail},
		{name: "rmappend", prep: twoUA, fn: "hdr.rmappend", args: args("User-Agent", "User-Agent: new\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			headersAre(append(without("User-Agent"), "User-Agent"))(t, m)
			contains(t, "message", m.Request().String(), "User-Agent: new\r\n")
		}},
		{name: "rmappend bad text removes nothing", fn: "hdr.rmappend", args: args("User-Agent", "bad"), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "rminsert", fn: "hdr.rminsert", args: args("Contact", "Contact: <sip:new@10.0.0.1>\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			headersAre(append([]string{"Contact"}, without("Contact")...))(t, m)
			if c := m.Request().Contact(); c == nil || c.Address.User != "new" {
				t.Errorf("Contact = %v", c)
			}
		}},
		{name: "rminsert bad name", fn: "hdr.rminsert", args: args("", "X-A: 1\r\n"), want: kemi.Fail, check: headersAre(inviteHeaders)},
		{name: "append_to_reply", fn: "hdr.append_to_reply", args: args("X-R: 1\r\nX-S: 2\r\n"), want: kemi.OK, check: func(t *testing.T, m *kemi.Msg) {
			headersAre(inviteHeaders)(t, m)
			res := m.NewReply(404, "Not Found").String()
			contains(t, "reply", res, "X-R: 1\r\n")
			contains(t, "reply", res, "X-S: 2\r\n")
		}},
		{name: "append_to_reply invalid", fn: "hdr.append_to_reply", args: args("nothing"), want: kemi.Fail, check: func(t *testing.T, m *kemi.Msg) {
			if len(m.ReplyHeaders) != 0 {
				t.Errorf("reply headers %v", m.ReplyHeaders)
			}
		}},
	})
}

// mustHeaders parses header text or panics.
func mustHeaders(text string) []sipHeader {
	hs, err := kemi.ParseHeaders(text)
	if err != nil {
		panic(err)
	}
	return hs
}

func TestHdrRead(t *testing.T) {
	env := load(t)
	twoVia := strings.Replace(invite, "Max-Forwards: 70\n", "Via: SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2\nMax-Forwards: 70\n", 1)
	xt := strings.Replace(invite, "Content-Type", "X-T: abc\nX-T:  Def \nContent-Type", 1)
	runCases(t, env, []callCase{
		{name: "is_present", fn: "hdr.is_present", args: args("Call-ID"), want: kemi.OK},
		{name: "is_present compact", fn: "hdr.is_present", args: args("i"), want: kemi.OK},
		{name: "is_present case", fn: "hdr.is_present", args: args("user-agent"), want: kemi.OK},
		{name: "is_present absent", fn: "hdr.is_present", args: args("X-None"), want: kemi.Fail},
		{name: "is_present bad name", fn: "hdr.is_present", args: args("a b"), want: kemi.Fail},
		{name: "get", fn: "hdr.get", args: args("User-Agent"), want: kemi.Str("kemi-test/1.0")},
		{name: "get compact", fn: "hdr.get", args: args("f"), want: kemi.Str(`"Alice" <sip:alice@atlanta.example.com>;tag=1928301774`)},
		{name: "get absent", fn: "hdr.get", args: args("X-None"), want: kemi.Null},
		{name: "gete absent", fn: "hdr.gete", args: args("X-None"), want: kemi.Str("")},
		{name: "getw absent", fn: "hdr.getw", args: args("X-None"), want: kemi.Str("<null>")},
		{name: "gete present", fn: "hdr.gete", args: args("Call-ID"), want: kemi.Str("a84b4c76e66710@pc33.atlanta.example.com")},
		{name: "getw present", fn: "hdr.getw", args: args("CSeq"), want: kemi.Str("314159 INVITE")},
		{name: "get bad name", fn: "hdr.get", args: args(""), want: kemi.Null},
		{name: "get_idx 0", msg: twoVia, fn: "hdr.get_idx", args: args("Via", 0), want: kemi.Str("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport")},
		{name: "get_idx 1", msg: twoVia, fn: "hdr.get_idx", args: args("v", 1), want: kemi.Str("SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2")},
		{name: "get_idx -1", msg: twoVia, fn: "hdr.get_idx", args: args("Via", -1), want: kemi.Str("SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2")},
		{name: "get_idx -2", msg: twoVia, fn: "hdr.get_idx", args: args("Via", -2), want: kemi.Str("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport")},
		{name: "get_idx out of range", msg: twoVia, fn: "hdr.get_idx", args: args("Via", 2), want: kemi.Null},
		{name: "get_idx -3", msg: twoVia, fn: "hdr.get_idx", args: args("Via", -3), want: kemi.Null},
		{name: "gete_idx", msg: twoVia, fn: "hdr.gete_idx", args: args("Via", 5), want: kemi.Str("")},
		{name: "getw_idx", msg: twoVia, fn: "hdr.getw_idx", args: args("Via", 5), want: kemi.Str("<null>")},
		{name: "getw_idx present", msg: twoVia, fn: "hdr.getw_idx", args: args("Via", 1), want: kemi.Str("SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK2")},
		{name: "eq first", msg: xt, fn: "hdr.match_content", args: args("X-T", "eq", "ABC", "f"), want: tru},
		{name: "eq last", msg: xt, fn: "hdr.match_content", args: args("x-t", "EQ", "abc", "l"), want: fls},
		{name: "eq trims", msg: xt, fn: "hdr.match_content", args: args("X-T", "eq", "def", "last"), want: tru},
		{name: "ne", msg: xt, fn: "hdr.match_content", args: args("X-T", "ne", "xyz", "l"), want: tru},
		{name: "ne same length", msg: xt, fn: "hdr.match_content", args: args("X-T", "ne", "abd", "f"), want: tru},
		{name: "ne equal", msg: xt, fn: "hdr.match_content", args: args("X-T", "ne", "abc", "f"), want: fls},
		{name: "sw", msg: xt, fn: "hdr.match_content", args: args("X-T", "sw", "D", "l"), want: tru},
		{name: "sw longer", msg: xt, fn: "hdr.match_content", args: args("X-T", "sw", "abcd", "f"), want: fls},
		{name: "in one", msg: xt, fn: "hdr.match_content", args: args("X-T", "in", "E", "o"), want: tru},
		{name: "in all", msg: xt, fn: "hdr.match_content", args: args("X-T", "in", "E", "a"), want: fls},
		{name: "eq one", msg: xt, fn: "hdr.match_content", args: args("X-T", "eq", "def", "o"), want: tru},
		{name: "ne all", msg: xt, fn: "hdr.match_content", args: args("X-T", "ne", "xyz", "a"), want: tru},
		{name: "no header", fn: "hdr.match_content", args: args("X-T", "ne", "x", "o"), want: fls},
		{name: "re not supported", msg: xt, fn: "hdr.match_content", args: args("X-T", "re", "a.c", "f"), want: fls},
		{name: "bad operator", msg: xt, fn: "hdr.match_content", args: args("X-T", "xx", "abc", "f"), want: fls},
		{name: "bad which", msg: xt, fn: "hdr.match_content", args: args("X-T", "eq", "abc", "z"), want: fls},
		{name: "empty which", msg: xt, fn: "hdr.match_content", args: args("X-T", "eq", "abc", ""), want: fls},
		{name: "bad name", msg: xt, fn: "hdr.match_content", args: args("X T", "eq", "abc", "f"), want: fls},
	})
}

// TestHdrImmediate checks kemi's documented difference from Kamailio:
// header changes are visible at once.
func TestHdrImmediate(t *testing.T) {
	env := load(t)
	m := parse(t, env, invite)
	wantValue(t, "append", env.Call(t, "KSR.hdr.append", m, "X-Seen: yes\r\n"), kemi.OK)
	wantValue(t, "get after append", env.Call(t, "KSR.hdr.get", m, "X-Seen"), kemi.Str("yes"))
	wantValue(t, "$hdr after append", env.Call(t, "KSR.pv.get", m, "$hdr(X-Seen)"), kemi.Str("yes"))
	wantValue(t, "remove", env.Call(t, "KSR.hdr.remove", m, "User-Agent"), kemi.OK)
	wantValue(t, "get after remove", env.Call(t, "KSR.hdr.get", m, "User-Agent"), kemi.Null)
	wantValue(t, "$ua after remove", env.Call(t, "KSR.pv.get", m, "$ua"), kemi.Null)
}
