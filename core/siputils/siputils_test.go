package siputils_test

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/siputils"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = `INVITE sip:bob@example.com;transport=udp;lr SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:alice:pw@192.0.2.10:5062;transport=udp;ob>;expires=60
Max-Forwards: 70

`

const reply = `SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-2
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1
Record-Route: <sip:127.0.0.1;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: c1@192.0.2.10
CSeq: 1 INVITE
Contact: <sip:bob@192.0.2.20>

`

func load(t *testing.T, params map[string]any) *kemitest.Env {
	t.Helper()
	return kemitest.Load(t, map[string]map[string]any{"siputils": params}, "core", "siputils")
}

// withRURI returns the INVITE above with another Request-URI.
func withRURI(ruri string) string {
	return strings.Replace(invite, "sip:bob@example.com;transport=udp;lr", ruri, 1)
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	load(t, nil).CheckExports(t, "siputils")
}

type call struct {
	fn   string
	args []any
	want int64
}

func runCalls(t *testing.T, env *kemitest.Env, text string, calls []call) {
	t.Helper()
	for _, c := range calls {
		m := kemitest.ParseMsg(t, text)
		if v := env.Call(t, "KSR.siputils."+c.fn, m, c.args...); v.Int != c.want || v.Kind != kemi.KindInt {
			t.Errorf("%s%v = %v, want %d", c.fn, c.args, v, c.want)
		}
	}
}

func TestMessageTests(t *testing.T) {
	env := load(t, nil)
	withTag := strings.Replace(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=x9", 1)
	twoVias := strings.Replace(invite, "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-9\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1", 1)
	commaVias := strings.Replace(invite, "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1",
		"Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-9, SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1", 1)
	noTo := strings.Replace(invite, "To: <sip:bob@example.com>\n", "", 1)
	tests := []struct {
		name string
		text string
		c    call
	}{
		{"no to-tag", invite, call{"has_totag", nil, -1}},
		{"to-tag", withTag, call{"has_totag", nil, 1}},
		{"no To", noTo, call{"has_totag", nil, -1}},
		{"request is request", invite, call{"is_request", nil, 1}},
		{"request is not reply", invite, call{"is_reply", nil, -1}},
		{"reply is reply", reply, call{"is_reply", nil, 1}},
		{"reply is not request", reply, call{"is_request", nil, -1}},
		{"sip", invite, call{"is_sip", nil, 1}},
		{"not http", invite, call{"is_http", nil, -1}},
		{"parse headers", invite, call{"sip_parse_headers", nil, 1}},
		{"one via", invite, call{"is_first_hop", nil, 1}},
		{"two vias", twoVias, call{"is_first_hop", nil, -1}},
		{"two vias in one header", commaVias, call{"is_first_hop", nil, -1}},
		{"two vias mode 1", twoVias, call{"is_first_hop_mode", []any{1}, -1}},
		{"reply with our record-route", reply, call{"is_first_hop", nil, 1}},
		{"reply without record-route", strings.Replace(reply, "Record-Route: <sip:127.0.0.1;lr>\n", "", 1), call{"is_first_hop", nil, 1}},
		{"reply with foreign record-route", strings.Replace(reply, "sip:127.0.0.1;lr", "sip:198.51.100.7;lr", 1), call{"is_first_hop", nil, -1}},
		{"reply with domain record-route mode 0", strings.Replace(reply, "sip:127.0.0.1;lr", "sip:proxy.example.net;lr", 1), call{"is_first_hop_mode", []any{0}, -1}},
		{"gruu temp", withRURI("sip:bob@example.com;gr"), call{"is_gruu", nil, 2}},
		{"gruu pub", withRURI("sip:bob@example.com;gr=urn:uuid:1"), call{"is_gruu", nil, 1}},
		{"no gruu", invite, call{"is_gruu", nil, -1}},
		{"gruu on reply", reply, call{"is_gruu", nil, -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runCalls(t, env, tc.text, []call{tc.c})
		})
	}
}

func TestFirstHopReplyLoopAndAlias(t *testing.T) {
	env := load(t, nil)
	m := kemitest.ParseMsg(t, reply)
	m.Src = netip.MustParseAddrPort("127.0.0.1:5060")
	if v := env.Call(t, "KSR.siputils.is_first_hop", m); v.Int != -1 {
		t.Errorf("reply from our own address: is_first_hop = %d, want -1", v.Int)
	}
	if v := env.Call(t, "KSR.siputils.is_first_hop_mode", m, 1); v.Int != 1 {
		t.Errorf("mode 1 skips the loop check: got %d, want 1", v.Int)
	}
	env.Host.Aliases = []string{"proxy.example.net"}
	m = kemitest.ParseMsg(t, strings.Replace(reply, "sip:127.0.0.1;lr", "sip:proxy.example.net;lr", 1))
	if v := env.Call(t, "KSR.siputils.is_first_hop_mode", m, 1); v.Int != 1 {
		t.Errorf("alias record-route, mode 1: got %d, want 1", v.Int)
	}
	if v := env.Call(t, "KSR.siputils.is_first_hop_mode", m, 0); v.Int != -1 {
		t.Errorf("alias record-route, mode 0: got %d, want -1", v.Int)
	}
}

func TestValueChecks(t *testing.T) {
	env := load(t, nil)
	runCalls(t, env, invite, []call{
		{"is_uri", []any{"sip:alice@example.com"}, 1},
		{"is_uri", []any{"sips:alice@[2001:db8::1]:5061;transport=tls"}, 1},
		{"is_uri", []any{"tel:+4930123"}, 1},
		{"is_uri", []any{"sip:example.com;lr?Subject=x"}, 1},
		{"is_uri", []any{"alice@example.com"}, -1},
		{"is_uri", []any{"sip:@example.com"}, -1},
		{"is_uri", []any{"sip:alice@example.com:99999"}, -1},
		{"is_uri", []any{"sip:alice@exa mple.com"}, -1},
		{"is_uri", []any{"http://example.com/"}, -1},
		{"is_uri", []any{""}, -1},
		{"is_tel_number", []any{"+24242424"}, 1},
		{"is_tel_number", []any{"0123"}, 1},
		{"is_tel_number", []any{"+0123"}, -2},
		{"is_tel_number", []any{"+"}, -2},
		{"is_tel_number", []any{"12a"}, -2},
		{"is_tel_number", []any{""}, -2},
		{"is_numeric", []any{"0123"}, 1},
		{"is_numeric", []any{"+1"}, -2},
		{"is_numeric", []any{""}, -2},
		{"is_alphanum", []any{"abcXYZ019"}, 1},
		{"is_alphanum", []any{"a-b"}, -3},
		{"is_alphanum", []any{""}, -2},
		{"is_alphanumex", []any{"a-b.c_1", "-._"}, 1},
		{"is_alphanumex", []any{"a b", "-"}, -3},
		{"is_alphanumex", []any{"", "-"}, -2},
	})
}

func TestCompare(t *testing.T) {
	env := load(t, nil)
	runCalls(t, env, invite, []call{
		{"cmp_uri", []any{"sip:bob@example.com", "sip:bob@EXAMPLE.com"}, 1},
		{"cmp_uri", []any{"sip:bob@example.com", "sip:Bob@example.com"}, -1},
		{"cmp_uri", []any{"sip:bob@example.com", "sip:bob@example.com:5060"}, -1},
		{"cmp_uri", []any{"sip:bob@example.com:5060", "sip:bob@example.com:5060"}, 1},
		{"cmp_uri", []any{"sip:bob@example.com;transport=tcp", "sip:bob@example.com;transport=TCP"}, 1},
		{"cmp_uri", []any{"sip:bob@example.com;transport=tcp", "sip:bob@example.com"}, 1},
		{"cmp_uri", []any{"sip:bob@example.com;transport=tcp", "sip:bob@example.com;transport=udp"}, -1},
		{"cmp_uri", []any{"sip:bob@example.com;user=phone", "sip:bob@example.com"}, -1},
		{"cmp_uri", []any{"sip:bob@example.com;maddr=192.0.2.1;x=1", "sip:bob@example.com;x=1"}, -1},
		{"cmp_uri", []any{"sip:%61lice@example.com", "sip:alice@example.com"}, 1},
		{"cmp_uri", []any{"sip:bob@example.com?Subject=x", "sip:bob@example.com"}, -1},
		{"cmp_uri", []any{"sips:bob@example.com", "sip:bob@example.com"}, -1},
		{"cmp_uri", []any{"bob", "sip:bob@example.com"}, -2},
		{"cmp_aor", []any{"sip:bob@example.com;transport=tcp", "sip:bob@EXAMPLE.COM:5060"}, 1},
		{"cmp_aor", []any{"sip:bob@example.com:5070", "sip:bob@example.com"}, -1},
		{"cmp_aor", []any{"sip:bob@example.com:5070", "sip:bob@example.com:5080"}, -1},
		{"cmp_aor", []any{"sip:bob@example.com", "sip:alice@example.com"}, -1},
		{"cmp_aor", []any{"sip:bob@example.com", "nonsense"}, -2},
		{"cmp_hdr_name", []any{"f", "From"}, 1},
		{"cmp_hdr_name", []any{"v ", "VIA"}, 1},
		{"cmp_hdr_name", []any{"X-Info", "x-info"}, 1},
		{"cmp_hdr_name", []any{"From", "To"}, -1},
		{"cmp_hdr_name", []any{"X-A", "X-B"}, -1},
		{"cmp_hdr_name", []any{"", "To"}, -2},
		{"cmp_hdr_name", []any{"Bad Name", "To"}, -2},
	})
}

func TestURIParams(t *testing.T) {
	env := load(t, nil)
	text := withRURI("sip:bob@example.com;transport=udp;lr;gr=x")
	runCalls(t, env, text, []call{
		{"uri_param", []any{"lr"}, 1},
		{"uri_param", []any{"LR"}, -1},
		{"uri_param", []any{"transport"}, -1},
		{"uri_param", []any{"nope"}, -1},
		{"uri_param_value", []any{"transport", "udp"}, 1},
		{"uri_param_value", []any{"transport", "tcp"}, -1},
		{"uri_param_value", []any{"lr", "x"}, -1},
		{"uri_param_any", []any{"Transport"}, 1},
		{"uri_param_any", []any{"lr"}, 1},
		{"uri_param_any", []any{"nope"}, -1},
	})
	runCalls(t, env, reply, []call{
		{"uri_param", []any{"lr"}, -1},
		{"add_uri_param", []any{"nat=yes"}, -1},
	})

	edits := []struct {
		fn      string
		arg     string
		want    int64
		wantURI string
	}{
		{"uri_param_rm", "transport", 1, "sip:bob@example.com;lr;gr=x"},
		{"uri_param_rm", "GR", 1, "sip:bob@example.com;transport=udp;lr"},
		{"uri_param_rm", "nope", 1, "sip:bob@example.com;transport=udp;lr;gr=x"},
		{"add_uri_param", "nat=yes", 1, "sip:bob@example.com;transport=udp;lr;gr=x;nat=yes"},
		{"add_uri_param", "", 1, "sip:bob@example.com;transport=udp;lr;gr=x"},
		{"add_uri_param", "bad param", -1, "sip:bob@example.com;transport=udp;lr;gr=x"},
	}
	for _, e := range edits {
		m := kemitest.ParseMsg(t, text)
		if v := env.Call(t, "KSR.siputils."+e.fn, m, e.arg); v.Int != e.want {
			t.Errorf("%s(%q) = %d, want %d", e.fn, e.arg, v.Int, e.want)
		}
		if got := m.RURI(); got != e.wantURI {
			t.Errorf("%s(%q): R-URI %q, want %q", e.fn, e.arg, got, e.wantURI)
		}
	}
	m := kemitest.ParseMsg(t, withRURI("sip:bob@example.com?Subject=hi"))
	if v := env.Call(t, "KSR.siputils.add_uri_param", m, "x=1"); v.Int != 1 || m.RURI() != "sip:bob@example.com;x=1?Subject=hi" {
		t.Errorf("add_uri_param before headers: %d %q", v.Int, m.RURI())
	}
}

func TestHdrDateCheck(t *testing.T) {
	env := load(t, nil)
	now := time.Now().UTC()
	date := func(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05 GMT") }
	add := func(v string) string {
		return strings.Replace(invite, "Max-Forwards: 70", "Max-Forwards: 70\nDate: "+v, 1)
	}
	runCalls(t, env, add(date(now)), []call{{"hdr_date_check", []any{10}, 1}})
	runCalls(t, env, add(date(now.Add(-time.Minute))), []call{
		{"hdr_date_check", []any{10}, -4},
		{"hdr_date_check", []any{120}, 1},
	})
	runCalls(t, env, add("yesterday"), []call{{"hdr_date_check", []any{10}, -1}})
	runCalls(t, env, invite, []call{{"hdr_date_check", []any{10}, -1}})
}

type fakeAuth struct{ user string }

func (f fakeAuth) AuthorizedUser(m *kemi.Msg) (string, bool) { return f.user, f.user != "" }

func TestIsUser(t *testing.T) {
	env := load(t, nil)
	// no authentication module: no authorized credentials, as Kamailio
	// when www_authorize was not called
	runCalls(t, env, invite, []call{{"is_user", []any{"alice"}, -1}})
	if err := env.Services.Provide(kemi.ServiceAuth, fakeAuth{user: "alice"}); err != nil {
		t.Fatal(err)
	}
	runCalls(t, env, invite, []call{
		{"is_user", []any{"alice"}, 1},
		{"is_user", []any{"Alice"}, -1},
		{"is_user", []any{""}, -1},
	})
}

const options = `OPTIONS sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-o1
From: <sip:mon@example.com>;tag=o1
To: <sip:127.0.0.1>
Call-ID: o1@192.0.2.10
CSeq: 7 OPTIONS
Max-Forwards: 70

`

func TestOptionsReply(t *testing.T) {
	env := load(t, map[string]any{"options_accept": "application/sdp", "options_support": "100rel, path", "options_allow": "INVITE, ACK, OPTIONS"})
	m := kemitest.ParseMsg(t, options)
	if v := env.Call(t, "KSR.siputils.options_reply", m); v.Int != 1 {
		t.Fatalf("options_reply = %d, want 1", v.Int)
	}
	sent := env.Host.Sent()
	if len(sent) != 1 || sent[0].Kind != "reply" {
		t.Fatalf("sent %+v, want one reply", sent)
	}
	for _, want := range []string{"SIP/2.0 200 OK\r\n", "\r\nAllow: INVITE, ACK, OPTIONS\r\n", "\r\nAccept: application/sdp\r\n",
		"\r\nAccept-Encoding: \r\n", "\r\nAccept-Language: en\r\n", "\r\nSupported: 100rel, path\r\n", "\r\nCSeq: 7 OPTIONS\r\n"} {
		if !strings.Contains(sent[0].Msg, want) {
			t.Errorf("reply lacks %q:\n%s", want, sent[0].Msg)
		}
	}
	if len(m.ReplyHeaders) != 0 {
		t.Errorf("options headers leaked into later replies: %v", m.ReplyHeaders)
	}
	if !m.Handled {
		t.Error("message not marked handled")
	}

	env.Host.Reset()
	for _, tc := range []struct{ name, text string }{
		{"not OPTIONS", invite},
		{"user in R-URI", strings.Replace(options, "OPTIONS sip:127.0.0.1:5060", "OPTIONS sip:mon@127.0.0.1:5060", 1)},
		{"not myself", strings.Replace(options, "OPTIONS sip:127.0.0.1:5060", "OPTIONS sip:198.51.100.9", 1)},
		{"reply", reply},
	} {
		m := kemitest.ParseMsg(t, tc.text)
		if v := env.Call(t, "KSR.siputils.options_reply", m); v.Int != -1 {
			t.Errorf("%s: options_reply = %d, want -1", tc.name, v.Int)
		}
	}
	if n := len(env.Host.Sent()); n != 0 {
		t.Errorf("%d messages sent for refused OPTIONS", n)
	}

	env.Host.FailSend = true
	if v := env.Call(t, "KSR.siputils.options_reply", kemitest.ParseMsg(t, options)); v.Int != -1 {
		t.Errorf("send failure: options_reply = %d, want -1", v.Int)
	}
}

type fakeTM struct {
	code    int
	headers []string
}

func (f *fakeTM) StatefulReply(m *kemi.Msg, code int, reason string) (bool, error) {
	f.code = code
	for _, h := range m.ReplyHeaders {
		f.headers = append(f.headers, h.Name()+": "+h.Value())
	}
	return true, nil
}

func TestOptionsReplyStateful(t *testing.T) {
	env := load(t, nil)
	tm := &fakeTM{}
	if err := env.Services.Provide(kemi.ServiceTM, tm); err != nil {
		t.Fatal(err)
	}
	m := kemitest.ParseMsg(t, options)
	m.ReplyHeaders = []sip.Header{sip.NewHeader("X-Keep", "1")}
	if v := env.Call(t, "KSR.siputils.options_reply", m); v.Int != 1 {
		t.Fatalf("options_reply = %d", v.Int)
	}
	if tm.code != 200 || strings.Join(tm.headers, "|") != "X-Keep: 1|Accept: */*|Accept-Encoding: |Accept-Language: en|Supported: " {
		t.Errorf("tm got %d %q", tm.code, tm.headers)
	}
	if len(env.Host.Sent()) != 0 {
		t.Error("stateless reply sent although tm replied")
	}
	if len(m.ReplyHeaders) != 1 {
		t.Errorf("reply headers not restored: %v", m.ReplyHeaders)
	}
}

func contactURI(t *testing.T, m *kemi.Msg) string {
	t.Helper()
	for _, h := range m.HeaderList() {
		if c, ok := h.(*sip.ContactHeader); ok {
			return c.Address.String()
		}
	}
	t.Fatal("no contact")
	return ""
}

func TestEncodeDecodeContact(t *testing.T) {
	env := load(t, nil)
	m := kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.encode_contact", m, "pfx", "203.0.113.5"); v.Int != 1 {
		t.Fatalf("encode_contact = %d", v.Int)
	}
	if got := contactURI(t, m); got != "sip:pfx*alice*pw*192.0.2.10*5062*udp@203.0.113.5" {
		t.Errorf("encoded contact %q", got)
	}
	if !strings.Contains(m.Request().String(), ">;expires=60\r\n") {
		t.Errorf("contact header parameters lost:\n%s", m.Request().String())
	}
	if v := env.Call(t, "KSR.siputils.decode_contact_header", m); v.Int != 1 {
		t.Fatalf("decode_contact_header = %d", v.Int)
	}
	if got := contactURI(t, m); got != "sip:alice:pw@192.0.2.10:5062;transport=udp" {
		t.Errorf("decoded contact %q", got)
	}
	// not encoded
	if v := env.Call(t, "KSR.siputils.decode_contact_header", m); v.Int >= 0 {
		t.Errorf("decoding a plain contact = %d, want < 0", v.Int)
	}

	m = kemitest.ParseMsg(t, withRURI("sip:pfx*bob**10.0.0.1*5070*tcp@203.0.113.5;lr"))
	if v := env.Call(t, "KSR.siputils.decode_contact", m); v.Int != 1 {
		t.Fatalf("decode_contact = %d", v.Int)
	}
	if got := m.RURI(); got != "sip:bob@10.0.0.1:5070;transport=tcp;lr" {
		t.Errorf("decoded R-URI %q", got)
	}
	m = kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.decode_contact", m); v.Int >= 0 {
		t.Errorf("decode_contact on a plain R-URI = %d, want < 0", v.Int)
	}
	if m.RURI() != "sip:bob@example.com;transport=udp;lr" {
		t.Errorf("R-URI changed on failure: %q", m.RURI())
	}
	noContact := strings.Replace(invite, "Contact: <sip:alice:pw@192.0.2.10:5062;transport=udp;ob>;expires=60\n", "", 1)
	runCalls(t, env, noContact, []call{
		{"encode_contact", []any{"pfx", "203.0.113.5"}, -1},
		{"decode_contact_header", nil, -1},
		{"contact_param_check", []any{"ksu"}, 1},
		{"contact_param_encode", []any{"ksu", "sip:203.0.113.5"}, 1},
	})
	runCalls(t, env, invite, []call{{"encode_contact", []any{"pfx", ""}, -1}})
	v6 := strings.Replace(invite, "<sip:alice:pw@192.0.2.10:5062;transport=udp;ob>", "<sip:alice@[2001:db8::1]:5062>", 1)
	runCalls(t, env, v6, []call{{"encode_contact", []any{"pfx", "203.0.113.5"}, -2}})
	star := strings.Replace(invite, "<sip:alice:pw@192.0.2.10:5062;transport=udp;ob>;expires=60", "*", 1)
	runCalls(t, env, star, []call{{"encode_contact", []any{"pfx", "203.0.113.5"}, 1}})

	sepEnv := load(t, map[string]any{"contact_flds_separator": "-"})
	m = kemitest.ParseMsg(t, invite)
	if v := sepEnv.Call(t, "KSR.siputils.encode_contact", m, "nat", "203.0.113.5"); v.Int != 1 ||
		contactURI(t, m) != "sip:nat-alice-pw-192.0.2.10-5062-udp@203.0.113.5" {
		t.Errorf("encode with separator '-': %d %q", v.Int, contactURI(t, m))
	}
}

func TestContactParams(t *testing.T) {
	env := load(t, nil)
	orig := "sip:alice:pw@192.0.2.10:5062;transport=udp;ob"
	m := kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.contact_param_encode", m, "ksu", "sip:203.0.113.5:5060;transport=tcp"); v.Int != 1 {
		t.Fatalf("contact_param_encode = %d", v.Int)
	}
	want := "sip:203.0.113.5:5060;transport=tcp;ksu=" + base64.RawURLEncoding.EncodeToString([]byte(orig))
	if got := contactURI(t, m); got != want {
		t.Errorf("encoded %q, want %q", got, want)
	}
	if v := env.Call(t, "KSR.siputils.contact_param_check", m, "KSU"); v.Int != 1 {
		t.Errorf("contact_param_check(KSU) = %d", v.Int)
	}
	if v := env.Call(t, "KSR.siputils.contact_param_check", m, "other"); v.Int != -1 {
		t.Errorf("contact_param_check(other) = %d", v.Int)
	}
	if v := env.Call(t, "KSR.siputils.contact_param_decode", m, "ksu"); v.Int != 1 {
		t.Fatalf("contact_param_decode = %d", v.Int)
	}
	if got := contactURI(t, m); got != orig {
		t.Errorf("decoded %q, want %q", got, orig)
	}
	// nothing to decode: unchanged, success
	if v := env.Call(t, "KSR.siputils.contact_param_decode", m, "ksu"); v.Int != 1 || contactURI(t, m) != orig {
		t.Errorf("second decode: %d %q", v.Int, contactURI(t, m))
	}

	m = kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.contact_param_encode_alias", m, "ksu", "sip:203.0.113.5"); v.Int != 1 {
		t.Fatalf("contact_param_encode_alias = %d", v.Int)
	}
	env.Call(t, "KSR.siputils.contact_param_decode", m, "ksu")
	if got := contactURI(t, m); got != orig+";alias=192.0.2.10~5062~1" {
		t.Errorf("alias-encoded contact decodes to %q", got)
	}

	m = kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.contact_param_rm", m, "OB"); v.Int != 1 || contactURI(t, m) != "sip:alice:pw@192.0.2.10:5062;transport=udp" {
		t.Errorf("contact_param_rm: %d %q", v.Int, contactURI(t, m))
	}
	if v := env.Call(t, "KSR.siputils.contact_param_rm", m, "nope"); v.Int != 1 {
		t.Errorf("contact_param_rm of a missing param = %d", v.Int)
	}
	runCalls(t, env, invite, []call{
		{"contact_param_encode", []any{"", "sip:203.0.113.5"}, -1},
		{"contact_param_encode", []any{"ksu", "not a uri"}, -1},
	})

	enc := base64.RawURLEncoding.EncodeToString([]byte("sip:carol@192.0.2.30:5080;transport=tcp"))
	m = kemitest.ParseMsg(t, withRURI("sip:203.0.113.5;ksu="+enc))
	if v := env.Call(t, "KSR.siputils.contact_param_decode_ruri", m, "ksu"); v.Int != 1 || m.RURI() != "sip:carol@192.0.2.30:5080;transport=tcp" {
		t.Errorf("contact_param_decode_ruri: %d %q", v.Int, m.RURI())
	}
	m = kemitest.ParseMsg(t, invite)
	if v := env.Call(t, "KSR.siputils.contact_param_decode_ruri", m, "ksu"); v.Int != 1 || m.RURI() != "sip:bob@example.com;transport=udp;lr" {
		t.Errorf("contact_param_decode_ruri without param: %d %q", v.Int, m.RURI())
	}
	m = kemitest.ParseMsg(t, withRURI("sip:203.0.113.5;ksu=***"))
	if v := env.Call(t, "KSR.siputils.contact_param_decode_ruri", m, "ksu"); v.Int != -1 {
		t.Errorf("contact_param_decode_ruri with bad base64 = %d, want -1", v.Int)
	}
	m = kemitest.ParseMsg(t, strings.Replace(invite, "<sip:alice:pw@192.0.2.10:5062;transport=udp;ob>", "<sip:203.0.113.5;ksu=%%%>", 1))
	if v := env.Call(t, "KSR.siputils.contact_param_decode", m, "ksu"); v.Int != -1 {
		t.Errorf("contact_param_decode with bad base64 = %d, want -1", v.Int)
	}
}

func TestBadParameter(t *testing.T) {
	_, err := kemitest.LoadErr(map[string]map[string]any{"siputils": {"contact_flds_separator": ""}}, "core", "siputils")
	if err == nil {
		t.Error("empty contact_flds_separator accepted")
	}
	_, err = kemitest.LoadErr(map[string]map[string]any{"siputils": {"no_such": 1}}, "core", "siputils")
	if err == nil {
		t.Error("unknown parameter accepted")
	}
}
