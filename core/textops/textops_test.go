package textops_test

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/textops"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const sdp = "v=0\no=alice 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 4000 RTP/AVP 0\na=sendrecv\n"

const invite = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: "Alice" <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.10:5062>
Max-Forwards: 70
User-Agent: softphone 1.0
X-Info: data-1
X-Info: other
P-Asserted-Identity: <sip:alice@example.com>
P-Preferred-Identity: <sip:alice@example.com>
Content-Type: application/sdp

` + sdp

const bye = `BYE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-3
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: c1@192.0.2.10
CSeq: 2 BYE
Max-Forwards: 70

`

const reply = `SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE

`

func load(t *testing.T) *kemitest.Env {
	t.Helper()
	return kemitest.Load(t, nil, "core", "textops")
}

type call struct {
	fn   string
	args []any
	want int64
}

// check runs each call on a fresh message parsed from text.
func check(t *testing.T, env *kemitest.Env, text string, calls []call) {
	t.Helper()
	for _, c := range calls {
		m := kemitest.ParseMsg(t, text)
		v := env.Call(t, "KSR.textops."+c.fn, m, c.args...)
		if v.Kind != kemi.KindInt || v.Int != c.want {
			t.Errorf("%s%q = %v, want %d", c.fn, c.args, v, c.want)
		}
	}
}

// run calls fn on m and fails unless it returns want.
func run(t *testing.T, env *kemitest.Env, m *kemi.Msg, want int64, fn string, args ...any) {
	t.Helper()
	if v := env.Call(t, "KSR.textops."+fn, m, args...); v.Int != want {
		t.Fatalf("%s%q = %v, want %d", fn, args, v, want)
	}
}

func hdr(m *kemi.Msg, name string) []string { return m.HeaderValues(name) }

// contentLengthOK checks that Content-Length matches the body.
func contentLengthOK(t *testing.T, m *kemi.Msg) {
	t.Helper()
	cl := m.SIP().ContentLength()
	if cl == nil || int(*cl) != len(m.Body()) {
		t.Errorf("Content-Length %v, body %d bytes", cl, len(m.Body()))
	}
	if !strings.Contains(m.SIP().String(), "\r\nContent-Length: "+strconv.Itoa(len(m.Body()))+"\r\n") {
		t.Errorf("serialized Content-Length wrong:\n%s", m.SIP().String())
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	load(t).CheckExports(t, "textops")
}

func TestSearch(t *testing.T) {
	env := load(t)
	check(t, env, invite, []call{
		{"search", []any{"^INVITE sip:"}, 1},
		{"search", []any{"^invite"}, 1},
		{"search", []any{"^user-agent: softphone"}, 1},
		{"search", []any{"^BYE"}, -1},
		{"search", []any{""}, 1},
		{"search", []any{"a(b"}, -1},
		// REG_NEWLINE: a non-matching list does not cross a line break
		{"search", []any{"^CSeq:[^#]*Max-Forwards"}, -1},
		{"search", []any{"^CSeq:.*Max-Forwards"}, -1},
		{"search_body", []any{"^m=audio"}, 1},
		{"search_body", []any{"m=video"}, -1},
		{"search_body", []any{"[z-a]"}, -1},
		{"search_hf", []any{"X-Info", "^other", "a"}, 1},
		{"search_hf", []any{"X-Info", "^other", ""}, 1},
		{"search_hf", []any{"X-Info", "^other", "f"}, -1},
		{"search_hf", []any{"X-Info", "^other", "l"}, 1},
		{"search_hf", []any{"X-Info", "^data", "l"}, -1},
		{"search_hf", []any{"f", "ALICE", "a"}, 1},
		{"search_hf", []any{"X-None", ".", "a"}, -1},
		{"search_hf", []any{"", ".", "a"}, -1},
		{"search_hf", []any{"From", "(", "a"}, -1},
		{"search_str", []any{"abc", "B"}, 1},
		{"search_str", []any{"abc", "x"}, -1},
		{"search_str", []any{"", "a"}, -2},
		{"search_str", []any{"abc", ""}, 2},
		{"search_str", []any{"abc", "("}, -2},
	})
	check(t, env, bye, []call{{"search_body", []any{"."}, -1}})
}

func TestSearchAppend(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "search_append", "^User-Agent: softphone", " (kemi)")
	if got := hdr(m, "User-Agent"); len(got) != 1 || got[0] != "softphone (kemi) 1.0" {
		t.Errorf("User-Agent %q", got)
	}
	// the start line is not searched, as in Kamailio
	run(t, env, m, -1, "search_append", "^INVITE", "X")
	run(t, env, m, -1, "search_append", "(", "X")
	run(t, env, m, 1, "search_append_body", "^s=-", "kemi")
	if !strings.Contains(string(m.Body()), "\ns=-kemi\n") {
		t.Errorf("body %q", m.Body())
	}
	contentLengthOK(t, m)
	run(t, env, m, -1, "search_append_body", "^x=", "y")
	check(t, env, bye, []call{{"search_append_body", []any{".", "x"}, -1}})

	// POSIX leftmost-longest: the text goes after the longest match, not
	// after the first alternative that matches
	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "search_append", "soft|softphone", "!")
	if got := hdr(m, "User-Agent"); len(got) != 1 || got[0] != "softphone! 1.0" {
		t.Errorf("leftmost-longest: User-Agent %q", got)
	}
}

func TestReplace(t *testing.T) {
	env := load(t)

	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace", "softphone", "phone")
	if got := hdr(m, "User-Agent"); got[0] != "phone 1.0" {
		t.Errorf("replace: User-Agent %q", got)
	}
	run(t, env, m, -1, "replace", "nothing-like-this", "x")
	run(t, env, m, -1, "replace", "^INVITE", "BYE")
	run(t, env, m, -1, "replace", "[", "x")

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_all", `example\.com`, "example.org")
	if m.RURI() != "sip:bob@example.com" {
		t.Errorf("replace_all changed the start line: %s", m.RURI())
	}
	if h := m.Request().From().Address.Host; h != "example.org" {
		t.Errorf("From host %q", h)
	}
	if strings.Contains(m.Request().String()[len("INVITE sip:bob@example.com"):], "example.com") {
		t.Errorf("replace_all left an occurrence:\n%s", m.Request().String())
	}
	before := m.Request().String()
	run(t, env, m, -1, "replace_all", "x*", "y")
	if m.Request().String() != before {
		t.Error("replace_all with an empty match changed the message")
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_hdrs", `192\.0\.2\.10`, "203.0.113.1")
	if v := m.Request().Via(); v.Host != "203.0.113.1" {
		t.Errorf("replace_hdrs: Via host %q", v.Host)
	}
	if !strings.Contains(string(m.Body()), "IN IP4 192.0.2.10") {
		t.Error("replace_hdrs touched the body")
	}
	run(t, env, m, -1, "replace_hdrs", "^v=0", "x")

	for _, tc := range []struct {
		fn   string
		want int
	}{{"replace_body", 1}, {"replace_body_all", 2}, {"replace_body_atonce", 2}} {
		m = kemitest.ParseMsg(t, invite)
		run(t, env, m, 1, tc.fn, `IN IP4 192\.0\.2\.10`, "IN IP4 198.51.100.1")
		if n := strings.Count(string(m.Body()), "198.51.100.1"); n != tc.want {
			t.Errorf("%s replaced %d, want %d: %q", tc.fn, n, tc.want, m.Body())
		}
		contentLengthOK(t, m)
		run(t, env, m, -1, tc.fn, "m=video", "x")
		check(t, env, bye, []call{{tc.fn, []any{".", "x"}, -1}})
	}
	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_body_all", "^a=.*$", "a=inactive")
	if !strings.HasSuffix(string(m.Body()), "\na=inactive\n") {
		t.Errorf("replace_body_all per line: %q", m.Body())
	}
}

func TestReplaceStr(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_str", "alice", "carol", "a")
	if s := m.Request().String(); strings.Contains(s, "alice") {
		t.Errorf("replace_str a left alice:\n%s", s)
	}
	contentLengthOK(t, m)

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_str", "alice", "carol", "f")
	if m.Request().From().Address.User != "carol" || !strings.Contains(m.Request().String(), "<sip:alice@192.0.2.10:5062>") {
		t.Errorf("replace_str f:\n%s", m.Request().String())
	}
	run(t, env, m, 1, "replace_str", "not-there", "x", "a")
	run(t, env, m, 1, "replace_str", "", "x", "a")

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_hdrs_str", "alice", "carol", "a")
	if strings.Contains(m.Request().String()[:strings.Index(m.Request().String(), "\r\n\r\n")], "alice") || !strings.Contains(string(m.Body()), "o=alice") {
		t.Errorf("replace_hdrs_str:\n%s", m.Request().String())
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "replace_body_str", "alice", "carol", "f")
	if !strings.Contains(string(m.Body()), "o=carol") || m.Request().From().Address.User != "alice" {
		t.Errorf("replace_body_str:\n%s", m.Request().String())
	}
	contentLengthOK(t, m)
	check(t, env, bye, []call{{"replace_body_str", []any{"a", "b", "a"}, -1}})
}

func TestSubst(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst", `/^User-Agent: (.*)$/User-Agent: kemi \1/`)
	if got := hdr(m, "User-Agent"); got[0] != "kemi softphone 1.0" {
		t.Errorf("subst: User-Agent %q", got)
	}
	run(t, env, m, -1, "subst", `/^user-agent: kemi/x/`)
	run(t, env, m, 1, "subst", `/^user-agent: kemi/User-Agent: KEMI/i`)
	if got := hdr(m, "User-Agent"); got[0] != "KEMI softphone 1.0" {
		t.Errorf("subst i: User-Agent %q", got)
	}
	// other separator, pseudo-variables, \u and escapes
	run(t, env, m, 1, "subst", `|^X-Info: data-1|X-Info: \u $rm \$1\t.|`)
	if got := hdr(m, "X-Info"); got[0] != "sip:bob@example.com INVITE $1\t." {
		t.Errorf("subst with pv: %q", got)
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst", "/alice/carol/")
	if n := strings.Count(m.Request().String(), "carol"); n != 1 {
		t.Errorf("subst without g replaced %d", n)
	}
	run(t, env, m, 1, "subst", "/alice/carol/g")
	if strings.Contains(m.Request().String(), "alice") {
		t.Errorf("subst g left alice:\n%s", m.Request().String())
	}
	contentLengthOK(t, m)

	before := m.Request().String()
	for _, bad := range []string{
		"/a(/b/",                      // invalid regular expression
		"/a/",                         // too short
		"ab",                          // no separator
		"/a/b",                        // replacement not closed
		`\a\b\`,                       // '\' cannot be the separator
		"/a/b/x",                      // unknown flag
		"/x*/y/g",                     // empty match
		"/carol/$nosuchpv/",           // unknown pseudo-variable
		"",                            // empty
		"/zzz/y/",                     // no match
		"/^CSeq: 1 INVITE/CSeq: one/", // the result must still be a SIP message
	} {
		run(t, env, m, -1, "subst", bad)
		if m.Request().String() != before {
			t.Fatalf("failed subst %q changed the message", bad)
		}
	}
	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst_body", "/^o=alice/o=kemi/")
	if !strings.Contains(string(m.Body()), "\no=kemi 1 1") {
		t.Errorf("subst_body: %q", m.Body())
	}
	contentLengthOK(t, m)
	run(t, env, m, -1, "subst_body", "/^o=alice/o=kemi/")
	check(t, env, bye, []call{{"subst_body", []any{"/./x/"}, -1}})
}

func TestSubstURIAndUser(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst_uri", `/^sip:bob@(.*)$/sip:carol@\1;orig=bob/`)
	if m.RURI() != "sip:carol@example.com;orig=bob" {
		t.Errorf("subst_uri: %s", m.RURI())
	}
	if m.OrigURI != "sip:bob@example.com" {
		t.Errorf("$ou changed: %s", m.OrigURI)
	}
	run(t, env, m, -1, "subst_uri", "/^tel:/x/")
	run(t, env, m, -1, "subst_uri", "/^sip:/bad uri /")
	run(t, env, m, -1, "subst_uri", "/carol/x y/")            // a space in the user
	run(t, env, m, -1, "subst_uri", "/example.com/ex<ample/") // a bad host
	if m.RURI() != "sip:carol@example.com;orig=bob" {
		t.Errorf("failed subst_uri changed the R-URI: %s", m.RURI())
	}

	// both rewrite the R-URI: t_relay may make a branch of it again (in a
	// failure route), as Kamailio marks it
	for _, c := range []struct{ fn, exp, want string }{
		{"subst_uri", "/bob/bob/", "sip:bob@example.com"},
		{"subst_user", "/^bob$/+49301234/", "sip:+49301234@example.com"},
	} {
		m = kemitest.ParseMsg(t, invite)
		m.RURIUsed = true
		run(t, env, m, 1, c.fn, c.exp)
		if m.RURI() != c.want || m.RURIUsed {
			t.Errorf("%s: %s, R-URI still marked relayed: %v", c.fn, m.RURI(), m.RURIUsed)
		}
	}
	run(t, env, m, -1, "subst_user", "/^bob$/x/")
	run(t, env, m, 1, "subst_user", "/^.*$//")
	if m.RURI() != "sip:example.com" {
		t.Errorf("subst_user to empty: %s", m.RURI())
	}
	check(t, env, reply, []call{
		{"subst_uri", []any{"/./x/"}, -1},
		{"subst_user", []any{"/./x/"}, -1},
	})
	check(t, env, invite, []call{{"subst_user", []any{"/^bob$/a@b/"}, -1}})
}

func TestSubstHF(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst_hf", "X-Info", "/-1$/-2/", "a")
	if got := hdr(m, "X-Info"); got[0] != "data-2" || got[1] != "other" {
		t.Errorf("subst_hf a: %q", got)
	}
	run(t, env, m, -1, "subst_hf", "X-Info", "/^other/x/", "f")
	run(t, env, m, 1, "subst_hf", "X-Info", "/^other/last/", "l")
	if got := hdr(m, "X-Info"); got[1] != "last" {
		t.Errorf("subst_hf l: %q", got)
	}
	run(t, env, m, 1, "subst_hf", "f", "/Alice/Bob/", "")
	if dn := m.Request().From().DisplayName; dn != "Bob" {
		t.Errorf("subst_hf on compact From: display name %q", dn)
	}
	run(t, env, m, -1, "subst_hf", "X-None", "/./x/", "a")
	run(t, env, m, -1, "subst_hf", "From", "/(/x/", "a")
	run(t, env, m, -1, "subst_hf", "", "/a/b/", "a")
	// the changed header must still parse
	run(t, env, m, -1, "subst_hf", "CSeq", "/1/x/", "a")
	if cs := m.Request().CSeq(); cs.SeqNo != 1 {
		t.Errorf("CSeq changed: %v", cs)
	}
}

func TestSubstV(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "subst_v", "abc-abc", "/b/X/g", "$var(r)")
	if v, _ := env.PVs.Get(m, "$var(r)"); v.String() != "aXc-aXc" {
		t.Errorf("$var(r) = %q", v.String())
	}
	run(t, env, m, 1, "subst_v", "sip:bob@example.com", `/^sip:([^@]+)@.*$/\1/`, "$var(r)")
	if v, _ := env.PVs.Get(m, "$var(r)"); v.String() != "bob" {
		t.Errorf("$var(r) = %q", v.String())
	}
	run(t, env, m, -1, "subst_v", "abc", "/z/X/", "$var(r)")
	if v, _ := env.PVs.Get(m, "$var(r)"); v.String() != "bob" {
		t.Errorf("no match changed $var(r) to %q", v.String())
	}
	run(t, env, m, -1, "subst_v", "abc", "/b/X/", "$rm")
	run(t, env, m, -1, "subst_v", "abc", "/b/X/", "$nosuch")
	run(t, env, m, -1, "subst_v", "abc", "/b(/X/", "$var(r)")
}

func TestRegexSubstring(t *testing.T) {
	env := load(t)
	in := "___ abc123def ___ ghi456 ___"
	re := "([a-z]*)([0-9]+)([a-z]*)"
	m := kemitest.ParseMsg(t, invite)
	for _, tc := range []struct {
		idx, count int
		want       int64
		val        string
	}{
		{1, 3, 1, "abc"},
		{2, 3, 1, "123"},
		{0, 1, 1, "abc123def"},
		{3, 4, 1, "def"},
		{3, 3, -1, ""},
		{4, 5, -1, ""},
		{-1, 3, -1, ""},
	} {
		env.PVs.Set(m, "$var(asd)", kemi.Str(""))
		if v := env.Call(t, "KSR.textops.regex_substring", m, in, re, tc.idx, tc.count, "$var(asd)"); v.Int != tc.want {
			t.Errorf("regex_substring index %d count %d = %d, want %d", tc.idx, tc.count, v.Int, tc.want)
		}
		if got, _ := env.PVs.Get(m, "$var(asd)"); tc.want == 1 && got.String() != tc.val {
			t.Errorf("index %d: $var(asd) = %q, want %q", tc.idx, got.String(), tc.val)
		}
	}
	check(t, env, invite, []call{
		{"regex_substring", []any{in, "[0-9]{5}", 0, 1, "$var(x)"}, -2},
		{"regex_substring", []any{in, "([0-9]", 0, 1, "$var(x)"}, -1},
		{"regex_substring", []any{in, re, 0, 1, ""}, -1},
		{"regex_substring", []any{in, re, 0, 1, "$rm"}, -1},
		// REG_EXTENDED only: case-sensitive
		{"regex_substring", []any{"ABC", "abc", 0, 1, "$var(x)"}, -2},
	})
}

func TestHeaders(t *testing.T) {
	env := load(t)
	withK := strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards: 70\nk: 100rel\nPrivacy: id; header", 1)
	check(t, env, withK, []call{
		{"is_present_hf", []any{"From"}, 1},
		{"is_present_hf", []any{"f"}, 1},
		{"is_present_hf", []any{"supported"}, 1},
		{"is_present_hf", []any{"X-None"}, -1},
		{"is_present_hf", []any{"bad name"}, -1},
		{"is_present_hf_re", []any{"^P-"}, 1},
		{"is_present_hf_re", []any{"^Q-"}, -1},
		{"is_present_hf_re", []any{"(P"}, -1},
		{"is_privacy", []any{"id"}, 1},
		{"is_privacy", []any{"HEADER"}, 1},
		{"is_privacy", []any{"user"}, -1},
		{"is_privacy", []any{"bogus"}, -1},
		{"remove_hf", []any{""}, -1},
		{"remove_hf_re", []any{"(x"}, -1},
		{"remove_hf_exp", []any{"(x", "y"}, -1},
		{"remove_hf_exp", []any{"x", "(y"}, -1},
		{"remove_hf_idx", []any{"X-Info", 5}, 2},
		{"remove_hf_idx", []any{"X-Info", -5}, 2},
		{"remove_hf_idx", []any{"", 0}, -1},
		{"remove_hf_match", []any{"X-Info", "eq", "nothing"}, -2},
		{"remove_hf_match", []any{"X-Info", "like", "x"}, -1},
		{"remove_hf_match", []any{"X-Info", "re", "(x"}, -1},
	})
	check(t, env, invite, []call{{"is_privacy", []any{"id"}, -1}})

	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "remove_hf", "X-Info")
	if m.HasHeader("X-Info") {
		t.Error("remove_hf left X-Info")
	}
	run(t, env, m, 1, "remove_hf", "X-Info") // Kamailio's KEMI remove_hf returns 1 even when nothing is removed
	run(t, env, m, 1, "remove_hf", "m")
	if m.HasHeader("Contact") {
		t.Error("remove_hf(m) left Contact")
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "remove_hf_re", "^P-")
	if m.HasHeader("P-Asserted-Identity") || m.HasHeader("P-Preferred-Identity") {
		t.Error("remove_hf_re left P- headers")
	}
	run(t, env, m, -1, "remove_hf_re", "^P-")

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "remove_hf_exp", "^P-", "^P-Asserted")
	if !m.HasHeader("P-Asserted-Identity") || m.HasHeader("P-Preferred-Identity") {
		t.Error("remove_hf_exp removed the wrong headers")
	}
	run(t, env, m, -1, "remove_hf_exp", "^P-", "^P-Asserted")

	for _, tc := range []struct {
		idx  int
		left string
	}{{0, "other"}, {1, "data-1"}, {-1, "data-1"}, {-2, "other"}} {
		m = kemitest.ParseMsg(t, invite)
		run(t, env, m, 1, "remove_hf_idx", "X-Info", tc.idx)
		if got := hdr(m, "X-Info"); len(got) != 1 || got[0] != tc.left {
			t.Errorf("remove_hf_idx %d left %q", tc.idx, got)
		}
	}

	for _, tc := range []struct {
		op, expr string
		left     []string
	}{
		{"eq", "other", []string{"data-1"}},
		{"ne", "other", []string{"other"}},
		{"in", "ata", []string{"other"}},
		{"re", "^DATA", []string{"other"}},
		{"EQ", "data-1", []string{"other"}},
	} {
		m = kemitest.ParseMsg(t, invite)
		run(t, env, m, 1, "remove_hf_match", "X-Info", tc.op, tc.expr)
		if got := hdr(m, "X-Info"); strings.Join(got, ",") != strings.Join(tc.left, ",") {
			t.Errorf("remove_hf_match %s %s left %q", tc.op, tc.expr, got)
		}
	}
}

func TestBody(t *testing.T) {
	env := load(t)
	noCT := strings.Replace(invite, "Content-Type: application/sdp\n", "", 1)
	check(t, env, invite, []call{
		{"has_body", nil, 1},
		{"has_body_type", []any{"application/sdp"}, 1},
		{"has_body_type", []any{"Application/SDP"}, 1},
		{"has_body_type", []any{"text/plain"}, -1},
		{"has_body_type", []any{""}, 1},
		{"has_body_type", []any{"bogus"}, -1},
		{"set_body", []any{"", "text/plain"}, -1},
		{"set_body", []any{"x", ""}, -1},
		{"set_body_hex", []any{"6", "text/plain"}, -1},
		{"set_body_hex", []any{"zz", "text/plain"}, -1},
		{"set_body_hex", []any{"  ", "text/plain"}, -1},
	})
	check(t, env, noCT, []call{{"has_body_type", []any{"application/sdp"}, 1}})
	check(t, env, bye, []call{
		{"has_body", nil, -1},
		{"has_body_type", []any{"application/sdp"}, -1},
	})

	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_body", "hello", "text/plain")
	if string(m.Body()) != "hello" || strings.Join(hdr(m, "Content-Type"), ",") != "text/plain" {
		t.Errorf("set_body: %q %q", m.Body(), hdr(m, "Content-Type"))
	}
	contentLengthOK(t, m)
	run(t, env, m, 1, "set_body_hex", "68 65\t6c 6C 6f 21", "text/x")
	if string(m.Body()) != "hello!" || hdr(m, "Content-Type")[0] != "text/x" {
		t.Errorf("set_body_hex: %q", m.Body())
	}

	m = kemitest.ParseMsg(t, bye)
	run(t, env, m, 1, "set_body", "v=0\n", "application/sdp")
	contentLengthOK(t, m)
}

func TestSetReplyBody(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_reply_body", "sorry", "text/plain")
	if m.ReplyContentType != "text/plain" || string(m.ReplyBody) != "sorry" {
		t.Fatalf("stored reply body %q %q", m.ReplyContentType, m.ReplyBody)
	}
	// the next reply built for the request carries it
	res := m.NewReply(403, "Forbidden").String()
	if !strings.Contains(res, "Content-Type: text/plain") || !strings.HasSuffix(res, "\r\n\r\nsorry") {
		t.Errorf("reply without the body:\n%s", res)
	}
	if string(m.Body()) != sdp {
		t.Error("set_reply_body changed the request body")
	}
	run(t, env, m, -1, "set_reply_body", "again", "text/plain")

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_reply_body_hex", "6f 6b", "text/plain")
	if string(m.ReplyBody) != "ok" {
		t.Errorf("hex reply body %q", m.ReplyBody)
	}
	check(t, env, invite, []call{
		{"set_reply_body", []any{"", "text/plain"}, -1},
		{"set_reply_body", []any{"x", ""}, -1},
		{"set_reply_body_hex", []any{"xyz", "text/plain"}, -1},
	})
	check(t, env, reply, []call{{"set_reply_body", []any{"x", "text/plain"}, -1}})
}

func TestAudioOnHold(t *testing.T) {
	env := load(t)
	with := func(body string) string { return strings.Replace(invite, sdp, body, 1) }
	check(t, env, invite, []call{{"is_audio_on_hold", nil, -1}})
	check(t, env, bye, []call{{"is_audio_on_hold", nil, -1}})
	for _, tc := range []struct {
		name, body string
		want       int64
	}{
		{"sendonly", strings.Replace(sdp, "a=sendrecv", "a=sendonly", 1), 2},
		{"inactive", strings.Replace(sdp, "a=sendrecv", "a=inactive", 1), 2},
		{"session inactive", "v=0\no=a 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\na=inactive\nm=audio 4000 RTP/AVP 0\n", 2},
		{"session 0.0.0.0", strings.Replace(sdp, "c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0", 1), 1},
		{"stream 0.0.0.0", sdp + "c=IN IP4 0.0.0.0\n", 1},
		{"ice trickle", "v=0\no=a 1 1 IN IP4 192.0.2.10\ns=-\nt=0 0\nm=audio 9 UDP/TLS/RTP/SAVPF 0\nc=IN IP4 0.0.0.0\na=ice-options:trickle\n", -1},
		{"video only on hold", "v=0\no=a 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=video 5000 RTP/AVP 96\na=sendonly\nm=audio 4000 RTP/AVP 0\n", -1},
		{"second stream", sdp + "m=audio 4002 RTP/AVP 0\na=sendonly\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, env, with(tc.body), []call{{"is_audio_on_hold", nil, tc.want}})
		})
	}
	m := kemitest.ParseMsg(t, invite)
	held := strings.ReplaceAll(strings.Replace(sdp, "a=sendrecv", "a=sendonly", 1), "\n", "\r\n")
	m.SetBody([]byte("--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/sdp\r\n\r\n"+held+"\r\n--b1--\r\n"),
		`multipart/mixed; boundary="b1"`)
	run(t, env, m, 2, "is_audio_on_hold")
}

const mpSDP = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

const mpBody = "--b1\r\nContent-Type: application/sdp\r\n\r\n" + mpSDP + "\r\n" +
	"--b1\r\nContent-Type: application/isup\r\nContent-Disposition: signal;handling=optional\r\n\r\nISUPDATA\r\n" +
	"--b1--\r\n"

func multipartMsg(t *testing.T) *kemi.Msg {
	m := kemitest.ParseMsg(t, invite)
	m.SetBody([]byte(mpBody), `multipart/mixed;boundary="b1"`)
	return m
}

func TestMultipart(t *testing.T) {
	env := load(t)

	m := multipartMsg(t)
	run(t, env, m, 1, "filter_body", "application/sdp")
	if string(m.Body()) != mpSDP {
		t.Errorf("filter_body: %q", m.Body())
	}
	contentLengthOK(t, m)
	run(t, env, m, -1, "filter_body", "application/sdp") // not multipart any more
	run(t, env, multipartMsg(t), -1, "filter_body", "text/html")

	m = multipartMsg(t)
	run(t, env, m, 1, "get_body_part", "application/isup", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "ISUPDATA" {
		t.Errorf("get_body_part: %q", v.String())
	}
	run(t, env, m, 1, "get_body_part", "APPLICATION/SDP", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != mpSDP {
		t.Errorf("get_body_part sdp: %q", v.String())
	}
	run(t, env, m, 1, "get_body_part_raw", "application/isup", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "Content-Type: application/isup\r\nContent-Disposition: signal;handling=optional\r\n\r\nISUPDATA\r\n--b1--\r\n" {
		t.Errorf("get_body_part_raw: %q", v.String())
	}
	run(t, env, m, -1, "get_body_part", "text/plain", "$var(p)")
	run(t, env, m, -1, "get_body_part", "application/isup", "$rm")
	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "get_body_part", "application/sdp", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != sdp {
		t.Errorf("get_body_part of a plain body: %q", v.String())
	}
	check(t, env, bye, []call{{"get_body_part", []any{"application/sdp", "$var(p)"}, -1}})

	m = multipartMsg(t)
	run(t, env, m, 1, "remove_body_part", "application/isup")
	if want := "--b1\r\nContent-Type: application/sdp\r\n\r\n" + mpSDP + "\r\n--b1--\r\n"; string(m.Body()) != want {
		t.Errorf("remove_body_part: %q", m.Body())
	}
	contentLengthOK(t, m)
	run(t, env, m, -1, "remove_body_part", "application/isup")

	m = multipartMsg(t)
	run(t, env, m, 1, "append_body_part", "hello", "text/plain")
	run(t, env, m, 1, "append_body_part_cd", "bye", "text/plain", "render")
	run(t, env, m, 1, "append_body_part_hex", "6869", "text/x")
	run(t, env, m, 1, "append_body_part_hex_cd", "6f 6b", "text/y", "session")
	want := strings.TrimSuffix(mpBody, "--b1--\r\n") +
		"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: render\r\n\r\nbye\r\n" +
		"--b1\r\nContent-Type: text/x\r\n\r\nhi\r\n" +
		"--b1\r\nContent-Type: text/y\r\nContent-Disposition: session\r\n\r\nok\r\n" +
		"--b1--\r\n"
	if string(m.Body()) != want {
		t.Errorf("append_body_part*:\n%q\nwant\n%q", m.Body(), want)
	}
	contentLengthOK(t, m)
	run(t, env, m, 1, "get_body_part", "text/y", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "ok" {
		t.Errorf("appended part reads back as %q", v.String())
	}
	check(t, env, invite, []call{
		{"append_body_part", []any{"x", "text/plain"}, -1},
		{"remove_body_part", []any{"application/sdp"}, -1},
	})
	run(t, env, multipartMsg(t), -1, "append_body_part", "", "text/plain")
	run(t, env, multipartMsg(t), -1, "append_body_part", "x", "")
	run(t, env, multipartMsg(t), -1, "append_body_part_hex", "xx", "text/plain")
}

func TestSetBodyMultipart(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_body_multipart_mode")
	if ct := hdr(m, "Content-Type"); len(ct) != 1 || ct[0] != `multipart/mixed;boundary="unique-boundary-1"` {
		t.Errorf("Content-Type %q", ct)
	}
	if want := "--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + "\r\n--unique-boundary-1--\r\n"; string(m.Body()) != want {
		t.Errorf("body %q", m.Body())
	}
	if v := hdr(m, "Mime-Version"); len(v) != 1 || v[0] != "1.0" {
		t.Errorf("Mime-Version %q", v)
	}
	contentLengthOK(t, m)
	// already multipart: nothing to do
	run(t, env, m, 1, "set_body_multipart_mode")
	run(t, env, m, 1, "append_body_part", "hello", "text/plain")
	run(t, env, m, 1, "get_body_part", "application/sdp", "$var(s)")
	if v, _ := env.PVs.Get(m, "$var(s)"); v.String() != sdp {
		t.Errorf("sdp part %q", v.String())
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_body_multipart", "text", "text/plain", "delim")
	if string(m.Body()) != "--delim\r\nContent-Type: text/plain\r\n\r\ntext\r\n--delim--\r\n" || hdr(m, "Content-Type")[0] != `multipart/mixed;boundary="delim"` {
		t.Errorf("set_body_multipart: %q %q", m.Body(), hdr(m, "Content-Type"))
	}

	m = kemitest.ParseMsg(t, invite)
	run(t, env, m, 1, "set_body_multipart_boundary", "xyz")
	if hdr(m, "Content-Type")[0] != `multipart/mixed;boundary="xyz"` || !strings.HasPrefix(string(m.Body()), "--xyz\r\nContent-Type: application/sdp\r\n") {
		t.Errorf("set_body_multipart_boundary: %q", m.Body())
	}

	m = kemitest.ParseMsg(t, bye)
	run(t, env, m, 1, "set_body_multipart_content", "hi", "")
	if string(m.Body()) != "--unique-boundary-1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--unique-boundary-1--\r\n" {
		t.Errorf("set_body_multipart_content: %q", m.Body())
	}
	check(t, env, bye, []call{{"set_body_multipart_mode", nil, -1}})
	check(t, env, invite, []call{{"set_body_multipart_boundary", []any{"-bad"}, -1}})
}

func TestStrings(t *testing.T) {
	env := load(t)
	check(t, env, bye, []call{
		{"in_list", []any{"fi", "dk, fi ,no", ","}, 1},
		{"in_list", []any{"no", "dk,fi,no", ","}, 1},
		{"in_list", []any{"f", "dk,fi,no", ","}, -1},
		{"in_list", []any{"", "dk,fi", ","}, -1},
		{"in_list", []any{"fi", "", ","}, -1},
		{"in_list", []any{"fi", "dk,fi", ""}, -1},
		{"in_list", []any{"fi", "dk|fi", "|,"}, 1},
		{"in_list_prefix", []any{"final", "dk,fi,no", ","}, 1},
		{"in_list_prefix", []any{"dk", "dkk, x", ","}, -1},
		{"in_list_prefix", []any{"x", "a,,", ","}, -1},
		{"cmp_str", []any{"abc", "abc"}, 1},
		{"cmp_str", []any{"abd", "abc"}, -1},
		{"cmp_str", []any{"abc", "abd"}, -2},
		{"cmp_str", []any{"ab", "abc"}, -2},
		{"cmp_str", []any{"", ""}, 1},
		{"cmp_str", []any{"A", "a"}, -2},
		{"cmp_istr", []any{"Kamailio@YOU", "kamailio@you"}, 1},
		{"cmp_istr", []any{"b", "A"}, -1},
		{"starts_with", []any{"+358123", "+358"}, 1},
		{"starts_with", []any{"+35", "+358"}, -1},
		{"starts_with", []any{"abc", "abd"}, -2},
		{"starts_with", []any{"abd", "abc"}, -1},
		{"ends_with", []any{"12348800", "8800"}, 1},
		{"ends_with", []any{"1", "12"}, -1},
		{"ends_with", []any{"1234", "35"}, -2},
		{"str_find", []any{"abcabc", "ca"}, 3},
		{"str_find", []any{"abc", "x"}, -1},
		{"str_find", []any{"abc", "abcd"}, -1},
		{"str_find", []any{"abc", "B"}, -1},
		{"str_ifind", []any{"xABC", "bc"}, 3},
		{"str_ifind", []any{"abc", "x"}, -1},
		{"str_any_in", []any{"a;b", ";,"}, 1},
		{"str_any_in", []any{"ab", ";,"}, -1},
		{"str_any_in", []any{"", ";"}, -1},
		{"str_all_in", []any{"a.b-c", ".-"}, 1},
		{"str_all_in", []any{"a.b", ".-"}, -1},
		{"str_all_in", []any{"a.b", ""}, -1},
	})
}

// TestRebuildKeepsState checks that a text change leaves the rest of the
// message state alone.
func TestRebuildKeepsState(t *testing.T) {
	env := load(t)
	m := kemitest.ParseMsg(t, invite)
	req := m.Request()
	m.Request().SetTransport("UDP")
	m.Request().SetSource("192.0.2.10:5062")
	m.Flags, m.DstURI = 5, "sip:192.0.2.99"
	m.SetValue("other", 42)
	run(t, env, m, 1, "replace_all", "alice", "carol")
	if m.Request() != req || m.Request().Transport() != "UDP" || m.Request().Source() != "192.0.2.10:5062" {
		t.Error("request object or transport data replaced")
	}
	if m.Flags != 5 || m.DstURI != "sip:192.0.2.99" || m.Value("other") != 42 || m.Src != netip.MustParseAddrPort("192.0.2.10:5062") {
		t.Error("message state lost")
	}
	if m.Request().Via().Params.GetOr("branch", "") != "z9hG4bK-1" || m.Request().CallID().Value() != "c1@192.0.2.10" {
		t.Error("structured headers lost")
	}
	contentLengthOK(t, m)
}

// TestConcurrent runs the regular expression functions from many
// goroutines at once, on their own messages, as workers do.
func TestConcurrent(t *testing.T) {
	env := load(t)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				m := kemitest.ParseMsg(t, invite)
				pat := fmt.Sprintf("^X-Info: data-%d", i%5)
				want := int64(-1)
				if i%5 == 1 {
					want = 1
				}
				if v := env.Call(t, "KSR.textops.search", m, pat); v.Int != want {
					t.Errorf("worker %d: search(%q) = %d", w, pat, v.Int)
				}
				if v := env.Call(t, "KSR.textops.subst", m, "/alice/w"+strconv.Itoa(w)+"/g"); v.Int != 1 {
					t.Errorf("worker %d: subst = %d", w, v.Int)
				}
			}
		}(w)
	}
	wg.Wait()
}

func TestMultipartParsing(t *testing.T) {
	env := load(t)
	// a line that only starts with the delimiter is content; LF line ends
	// and a preamble are accepted
	body := "preamble\n--b1\nContent-Type: text/plain\n\nline one\n--b1x is not a delimiter\n--b1 \nContent-Type: application/sdp\n\nv=0\n--b1--\n"
	text := strings.Replace(bye, "Max-Forwards: 70\n", "Max-Forwards: 70\nContent-Type: multipart/mixed; boundary=b1\n", 1) + body
	m := kemitest.ParseMsg(t, text)
	run(t, env, m, 1, "get_body_part", "text/plain", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "line one\n--b1x is not a delimiter" {
		t.Errorf("text part %q", v.String())
	}
	run(t, env, m, 1, "get_body_part", "application/sdp", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "v=0" {
		t.Errorf("sdp part %q", v.String())
	}
	run(t, env, m, 1, "remove_body_part", "text/plain")
	if want := "preamble\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1--\n"; string(m.Body()) != want {
		t.Errorf("after remove_body_part %q, want %q", m.Body(), want)
	}
	run(t, env, m, 1, "get_body_part", "application/sdp", "$var(p)")
	if v, _ := env.PVs.Get(m, "$var(p)"); v.String() != "v=0" {
		t.Errorf("sdp part after removal %q", v.String())
	}
	// a content type without a delimiter in the body
	m = kemitest.ParseMsg(t, strings.Replace(text, body, "no parts here\n", 1))
	run(t, env, m, -1, "get_body_part", "text/plain", "$var(p)")
	run(t, env, m, -1, "filter_body", "text/plain")
}
