package sanity_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	_ "github.com/kemisip/kemi/core/ksr"
	_ "github.com/kemisip/kemi/core/sanity"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

const invite = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\n" +
	"Max-Forwards: 70\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n" +
	"Contact: <sip:alice@192.0.2.10:5062>\n" +
	"Content-Type: application/sdp\n" +
	"\n" +
	"v=0\r\n"

const register = "REGISTER sip:example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-r1\n" +
	"From: <sip:alice@example.com>;tag=r1\n" +
	"To: <sip:alice@example.com>\n" +
	"Call-ID: reg-1@192.0.2.10\n" +
	"CSeq: 7 REGISTER\n" +
	"Contact: <sip:alice@192.0.2.10:5062>;expires=3600\n" +
	"Expires: 3600\n" +
	"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n1\", uri=\"sip:example.com\", response=\"0123456789abcdef\", algorithm=MD5\n" +
	"\n"

const ack = "ACK sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>;tag=b1\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 1 ACK\n" +
	"\n"

const reply = "SIP/2.0 200 OK\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-out\n" +
	"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\n" +
	"Record-Route: <sip:127.0.0.1;lr>\n" +
	"From: <sip:alice@example.com>;tag=a1\n" +
	"To: <sip:bob@example.com>;tag=b1\n" +
	"Call-ID: call-1@192.0.2.10\n" +
	"CSeq: 1 INVITE\n" +
	"Contact: <sip:bob@192.0.2.20>\n" +
	"\n"

// edit returns text with old replaced by new; old must be there.
func edit(t *testing.T, text, old, new string) string {
	t.Helper()
	if !strings.Contains(text, old) {
		t.Fatalf("test message lacks %q", old)
	}
	return strings.Replace(text, old, new, 1)
}

type msgFn func(t *testing.T) *kemi.Msg

// parse returns a message from text.
func parse(text string) msgFn {
	return func(t *testing.T) *kemi.Msg { return kemitest.ParseMsg(t, text) }
}

// with returns text with old replaced by new, parsed.
func with(text, old, new string) msgFn {
	return func(t *testing.T) *kemi.Msg { return kemitest.ParseMsg(t, edit(t, text, old, new)) }
}

// changed parses text and then changes the message.
func changed(text string, change func(t *testing.T, m *kemi.Msg)) msgFn {
	return func(t *testing.T) *kemi.Msg {
		m := kemitest.ParseMsg(t, text)
		change(t, m)
		return m
	}
}

// setRaw replaces the headers called name by a header holding text as it
// is (sipgo would refuse to parse some of these values).
func setRaw(name, text string) func(t *testing.T, m *kemi.Msg) {
	return func(t *testing.T, m *kemi.Msg) {
		if m.RemoveHeaders(name) == 0 {
			t.Fatalf("no %s header to replace", name)
		}
		m.AppendHeaders(sip.NewHeader(name, text))
	}
}

type checkCase struct {
	name   string
	msg    msgFn
	checks int
	uris   int
	params map[string]any
	want   int64
	// status is the first line of the reply sent, "" for none
	status string
	// has are texts the reply must contain
	has []string
}

func runCheck(t *testing.T, c checkCase) {
	t.Helper()
	var params map[string]map[string]any
	if c.params != nil {
		params = map[string]map[string]any{"sanity": c.params}
	}
	env := kemitest.Load(t, params, "core", "sanity")
	m := env.Prepare(c.msg(t))
	v := env.Call(t, "KSR.sanity.sanity_check", m, c.checks, c.uris)
	if v.Kind != kemi.KindInt || v.Int != c.want {
		t.Fatalf("sanity_check(%d, %d) = %+v, want %d", c.checks, c.uris, v, c.want)
	}
	sent := env.Host.Sent()
	if c.status == "" {
		if len(sent) != 0 {
			t.Fatalf("sent a reply:\n%s", sent[0].Msg)
		}
		return
	}
	if len(sent) != 1 || sent[0].Kind != "reply" || !strings.HasPrefix(sent[0].Msg, c.status+"\r\n") {
		t.Fatalf("sent %+v, want a reply %q", sent, c.status)
	}
	for _, want := range append([]string{"\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=", "\r\nCall-ID: ", "\r\nTo: "}, c.has...) {
		if !strings.Contains(sent[0].Msg, want) {
			t.Errorf("reply lacks %q:\n%s", want, sent[0].Msg)
		}
	}
	if !m.Handled {
		t.Error("message not marked handled after the reply")
	}
}

const (
	bitRURIVersion = 1
	bitRURIScheme  = 2
	bitRequired    = 4
	bitViaVersion  = 8
	bitViaProtocol = 16
	bitCSeqMethod  = 32
	bitCSeqValue   = 64
	bitCL          = 128
	bitExpires     = 256
	bitProxyReq    = 512
	bitParseURIs   = 1024
	bitDigest      = 2048
	bitDupTags     = 4096
	bitAuth        = 8192
	bitVia1        = 16384
	bitRFC3261     = 32768
	bitSizes       = 65536
)

const (
	digestOK   = `Digest username="alice", realm="example.com", nonce="n1", uri="sip:bob@example.com", response="abc"`
	authHeader = "Authorization: "
)

// withHeader adds a header line before Content-Type.
func withHeader(text, line string) msgFn {
	return func(t *testing.T) *kemi.Msg {
		return kemitest.ParseMsg(t, edit(t, text, "Content-Type:", line+"\nContent-Type:"))
	}
}

func TestEachCheck(t *testing.T) {
	cases := []checkCase{
		// 1: SIP version of the request line
		{"version 2.0", parse(invite), bitRURIVersion, 0, nil, 1, "", nil},
		{"version 3.0", with(invite, "SIP/2.0\nVia", "SIP/3.0\nVia"), bitRURIVersion, 0, nil, -1, "SIP/2.0 505 Version Not Supported (R-URI)", nil},
		{"version without slash", with(invite, "SIP/2.0\nVia", "SIP2\nVia"), bitRURIVersion, 0, nil, -1, "", nil},

		// 2: R-URI scheme
		{"scheme sip", parse(invite), bitRURIScheme, 0, nil, 1, "", nil},
		{"scheme tel", with(invite, "INVITE sip:bob@example.com", "INVITE tel:+15551234567"), bitRURIScheme, 0, nil, 1, "", nil},
		{"scheme sips upper case", with(invite, "INVITE sip:bob@example.com", "INVITE SIPS:bob@example.com"), bitRURIScheme, 0, nil, 1, "", nil},
		{"scheme http", with(invite, "INVITE sip:bob@example.com", "INVITE http://example.com/bob"), bitRURIScheme, 0, nil, -1, "SIP/2.0 416 Unsupported URI Scheme in Request URI", nil},
		{"sip R-URI with a negative port", with(invite, "INVITE sip:bob@example.com", "INVITE sip:bob@example.com:-5"), bitRURIScheme, 0, nil, -1, "SIP/2.0 400 Bad Request URI", nil},
		{"sip R-URI without host", with(invite, "INVITE sip:bob@example.com", "INVITE sip:bob@"), bitRURIScheme, 0, nil, -1, "SIP/2.0 400 Bad Request URI", nil},

		// 4: required headers
		{"required headers", parse(invite), bitRequired, 0, nil, 1, "", nil},
		{"no Call-ID", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("Call-ID") }), bitRequired, 0, nil, -1, "", nil},
		{"no From", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("From") }), bitRequired, 0, nil, -1, "", nil},
		{"no Via", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("Via") }), bitRequired, 0, nil, -1, "", nil},
		{"two To headers", withHeader(invite, "t: <sip:carol@example.com>"), bitRequired, 0, nil, -1, "", nil},
		{"two CSeq headers", withHeader(invite, "CSeq: 2 INVITE"), bitRequired, 0, nil, -1, "", nil},

		// 8 and 16 are disabled in Kamailio: they always pass
		{"via version and protocol", with(invite, "SIP/2.0/UDP", "SIP/2.0/FOO"), bitViaVersion | bitViaProtocol, 0, nil, 1, "", nil},

		// 32: CSeq method
		{"CSeq method", parse(invite), bitCSeqMethod, 0, nil, 1, "", nil},
		{"CSeq method BYE", with(invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), bitCSeqMethod, 0, nil, -1, "SIP/2.0 400 CSeq method does not match request method", nil},
		{"CSeq method case differs", with(invite, "CSeq: 1 INVITE", "CSeq: 1 invite"), bitCSeqMethod, 0, nil, -1, "SIP/2.0 400 CSeq method does not match request method", nil},
		{"method as received", with(with2(invite, "INVITE sip:", "invite sip:"), "CSeq: 1 INVITE", "CSeq: 1 invite"), bitCSeqMethod, 0, nil, 1, "", nil},
		{"CSeq without method", changed(invite, setRaw("CSeq", "1")), bitCSeqMethod, 0, nil, -1, "", nil},

		// 64: CSeq value
		{"CSeq value", parse(invite), bitCSeqValue, 0, nil, 1, "", nil},
		{"CSeq value max", with(invite, "CSeq: 1 INVITE", "CSeq: 2147483647 INVITE"), bitCSeqValue, 0, nil, 1, "", nil},
		{"CSeq value not a number", changed(invite, setRaw("CSeq", "abc INVITE")), bitCSeqValue, 0, nil, -1, "SIP/2.0 400 CSeq number is illegal", nil},
		{"CSeq value too big", changed(invite, setRaw("CSeq", "2147483648 INVITE")), bitCSeqValue, 0, nil, -1, "SIP/2.0 400 CSeq number is illegal", nil},
		{"CSeq value negative", changed(invite, setRaw("CSeq", "-1 INVITE")), bitCSeqValue, 0, nil, -1, "SIP/2.0 400 CSeq number is illegal", nil},
		// sipgo takes "INVITE extra" as the method; Kamailio's parser refuses it
		{"CSeq value unparsable", with(invite, "CSeq: 1 INVITE", "CSeq: 1 INVITE extra"), bitCSeqValue, 0, nil, -1, "", nil},

		// 128: Content-Length
		{"Content-Length", parse(invite), bitCL, 0, nil, 1, "", nil},
		{"no Content-Length", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("Content-Length") }), bitCL, 0, nil, 1, "", nil},
		{"bytes after the body as received", changed(invite, func(t *testing.T, m *kemi.Msg) { m.Raw = append(m.Raw, "junk"...) }),
			bitCL, 0, nil, -1, "SIP/2.0 400 Content-Length mis-match", nil},
		{"Content-Length too big", changed(invite, func(t *testing.T, m *kemi.Msg) {
			m.RemoveHeaders("Content-Length")
			cl := sip.ContentLengthHeader(99)
			m.AppendHeaders(&cl)
		}), bitCL, 0, nil, -1, "SIP/2.0 400 Content-Length mis-match", nil},
		{"Content-Length not a number", changed(invite, setRaw("Content-Length", "five")), bitCL, 0, nil, -1, "SIP/2.0 400 Content-Length Failure", nil},

		// 256: Expires
		{"no Expires", parse(invite), bitExpires, 0, nil, 1, "", nil},
		{"Expires", parse(register), bitExpires, 0, nil, 1, "", nil},
		{"Expires 0", with(register, "Expires: 3600", "Expires: 0"), bitExpires, 0, nil, 1, "", nil},
		{"Expires max", with(register, "Expires: 3600", "Expires: 4294967295"), bitExpires, 0, nil, 1, "", nil},
		{"Expires with trailing text", with(register, "Expires: 3600", "Expires: 3600 (one hour)"), bitExpires, 0, nil, 1, "", nil},
		{"Expires not a number", with(register, "Expires: 3600", "Expires: soon"), bitExpires, 0, nil, -1, "SIP/2.0 400 Expires value is illegal", nil},
		{"Expires a date", with(register, "Expires: 3600", "Expires: Thu, 01 Dec 2094 16:00:00 GMT"), bitExpires, 0, nil, -1, "SIP/2.0 400 Expires value is illegal", nil},
		{"Expires too big", with(register, "Expires: 3600", "Expires: 4294967296"), bitExpires, 0, nil, -1, "SIP/2.0 400 Expires value is illegal", nil},
		{"Expires negative", with(register, "Expires: 3600", "Expires: -1"), bitExpires, 0, nil, -1, "SIP/2.0 400 Expires value is illegal", nil},
		{"Expires empty", with(register, "Expires: 3600", "Expires:"), bitExpires, 0, nil, -1, "SIP/2.0 400 Bad Expires Header", nil},

		// 512: Proxy-Require
		{"no Proxy-Require", parse(invite), bitProxyReq, 0, nil, 1, "", nil},
		{"supported extension", withHeader(invite, "Proxy-Require: bar"), bitProxyReq, 0, map[string]any{"proxy_require": "foo, bar"}, 1, "", nil},
		{"supported extensions, any case", withHeader(invite, "Proxy-Require: FOO, bar"), bitProxyReq, 0, map[string]any{"proxy_require": []any{"foo", "bar"}}, 1, "", nil},
		{"unsupported extension", withHeader(invite, "Proxy-Require: sec-agree"), bitProxyReq, 0, nil, -1,
			"SIP/2.0 420 Bad Proxy Require Extension", []string{"\r\nUnsupported: sec-agree\r\n"}},
		{"unsupported extension in a second header", withHeader(invite, "Proxy-Require: foo\nProxy-Require: foo, precondition"), bitProxyReq, 0,
			map[string]any{"proxy_require": "foo"}, -1, "SIP/2.0 420 Bad Proxy Require Extension", []string{"\r\nUnsupported: precondition\r\n"}},
		{"empty option tag", withHeader(invite, "Proxy-Require: foo,,bar"), bitProxyReq, 0, map[string]any{"proxy_require": "foo,bar"}, -1,
			"SIP/2.0 400 Bad Proxy Require Header", nil},
		{"empty Proxy-Require", withHeader(invite, "Proxy-Require:"), bitProxyReq, 0, nil, -1, "SIP/2.0 400 Bad Proxy Require Header", nil},

		// 1024: parse URIs
		{"URIs", parse(invite), bitParseURIs, 15, nil, 1, "", nil},
		{"tel From", with(invite, "<sip:alice@example.com>", "<tel:+15551234567>"), bitParseURIs, 15, nil, 1, "", nil},
		{"IPv6 Contact", with(invite, "<sip:alice@192.0.2.10:5062>", "<sip:alice@[2001:db8::1]:5062>"), bitParseURIs, 15, nil, 1, "", nil},
		{"Contact star", with(register, "<sip:alice@192.0.2.10:5062>;expires=3600", "*"), bitParseURIs, 15, nil, 1, "", nil},
		{"bad R-URI", with(invite, "INVITE sip:bob@example.com", "INVITE http://example.com/bob"), bitParseURIs, 1, nil, -1, "SIP/2.0 400 Bad Request URI", nil},
		{"bad R-URI not checked", with(invite, "INVITE sip:bob@example.com", "INVITE http://example.com/bob"), bitParseURIs, 6, nil, 1, "", nil},
		{"bad From URI", with(invite, "<sip:alice@example.com>", "<http://example.com/alice>"), bitParseURIs, 2, nil, -1, "SIP/2.0 400 Invalid From Header", nil},
		{"From host missing", with(invite, "<sip:alice@example.com>", "<sip:alice@>"), bitParseURIs, 2, nil, -1, "SIP/2.0 400 Invalid From Header", nil},
		{"From port too big", with(invite, "<sip:alice@example.com>", "<sip:alice@example.com:70000>"), bitParseURIs, 2, nil, -1, "SIP/2.0 400 Invalid From Header", nil},
		{"To user with a space", with(invite, "<sip:bob@example.com>", "<sip:bo b@example.com>"), bitParseURIs, 4, nil, -1, "SIP/2.0 400 Invalid To Header", nil},
		{"From unparsable", changed(invite, setRaw("From", "<sip:alice@example.com;tag=a1")), bitParseURIs, 2, nil, -1, "SIP/2.0 400 Invalid From Header", nil},
		{"no From", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("From") }), bitParseURIs, 2, nil, -1, "", nil},
		{"bad To URI", with(invite, "To: <sip:bob@example.com>", "To: <mailto:bob@example.com>"), bitParseURIs, 4, nil, -1, "SIP/2.0 400 Invalid To Header", nil},
		{"bad Contact URI", with(invite, "<sip:alice@192.0.2.10:5062>", "<mailto:alice@example.com>"), bitParseURIs, 8, nil, -1, "SIP/2.0 400 Bad Contact URI", nil},
		{"bad second Contact URI", withHeader(invite, "Contact: <sip:alice@192.0.2.10>, <sip:alice@bad host>"), bitParseURIs, 8, nil, -1, "SIP/2.0 400 Bad Contact URI", nil},
		{"unparsable Contact", changed(invite, setRaw("Contact", "<sip:alice@192.0.2.10")), bitParseURIs, 8, nil, -1, "SIP/2.0 400 Bad Contact Header", nil},
		{"bad Contact not checked", with(invite, "<sip:alice@192.0.2.10:5062>", "<mailto:alice@example.com>"), bitParseURIs, 7, nil, 1, "", nil},

		// 2048: digest credentials
		{"no credentials", parse(invite), bitDigest, 0, nil, 1, "", nil},
		{"digest credentials", parse(register), bitDigest, 0, nil, 1, "", nil},
		{"digest with qop", withHeader(invite, authHeader+digestOK+", qop=auth, cnonce=\"c1\", nc=00000001"), bitDigest, 0, nil, 1, "", nil},
		{"basic credentials", withHeader(invite, "Authorization: Basic YWxpY2U6c2VjcmV0"), bitDigest, 0, nil, -1, "", nil},
		{"no nonce", withHeader(invite, `Authorization: Digest username="alice", realm="example.com", uri="sip:bob@example.com", response="abc"`), bitDigest, 0, nil, -1,
			"SIP/2.0 400 Bad Auth Credentials", nil},
		{"qop without cnonce", withHeader(invite, authHeader+digestOK+", qop=auth, nc=00000001"), bitDigest, 0, nil, -1, "SIP/2.0 400 Bad Auth Credentials", nil},
		{"empty username", withHeader(invite, `Authorization: Digest username="", realm="example.com", nonce="n1", uri="sip:bob@example.com", response="abc"`),
			bitDigest, 0, nil, -1, "SIP/2.0 400 Auth Empty User", nil},
		{"empty nonce", withHeader(invite, `Authorization: Digest username="alice", realm="example.com", nonce="", uri="sip:bob@example.com", response="abc"`),
			bitDigest, 0, nil, -1, "SIP/2.0 400 Auth Empty Nonce", nil},
		{"empty response in Proxy-Authorization", withHeader(invite, authHeader+digestOK+"\n"+
			`Proxy-Authorization: Digest username="alice", realm="example.com", nonce="n1", uri="sip:bob@example.com", response=""`),
			bitDigest, 0, nil, -1, "SIP/2.0 400 Auth Empty Response", nil},
		{"unterminated quote", withHeader(invite, `Authorization: Digest username="alice, realm=x`), bitDigest, 0, nil, -1, "SIP/2.0 400 Bad Auth Header", nil},
		{"digest without parameters", withHeader(invite, "Authorization: Digest foo"), bitDigest, 0, nil, -1, "SIP/2.0 400 Bad Auth Header", nil},

		// 4096: duplicate tags
		{"one tag each", parse(reply), bitDupTags, 0, nil, 1, "", nil},
		{"tag inside a quoted name", with(invite, `"Alice"`, `"Alice;tag=x"`), bitDupTags, 0, nil, 1, "", nil},
		{"two To tags", with(invite, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=b1;tag=b2"), bitDupTags, 0, nil, -1,
			"SIP/2.0 400 Many To Tag Params", nil},
		{"two From tags", with(invite, ";tag=a1", ";tag=a1;TAG=a2"), bitDupTags, 0, nil, -1, "SIP/2.0 400 Many From Tag Params", nil},
		{"two From tags without brackets", with(invite, `"Alice" <sip:alice@example.com>;tag=a1`, "sip:alice@example.com;tag=a1;tag=a2"), bitDupTags, 0, nil, -1,
			"SIP/2.0 400 Many From Tag Params", nil},
		{"two To tags in a built message", changed(invite, func(t *testing.T, m *kemi.Msg) {
			setRaw("To", "<sip:bob@example.com>;tag=1;tag=2")(t, m)
			m.Raw = nil
		}), bitDupTags, 0, nil, -1, "SIP/2.0 400 Many To Tag Params", nil},
		{"no To", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("To") }), bitDupTags, 0, nil, -1, "", nil},

		// 8192: Authorization header
		{"basic credentials pass", withHeader(invite, "Authorization: Basic YWxpY2U6c2VjcmV0"), bitAuth, 0, nil, 1, "", nil},
		{"digest credentials pass", parse(register), bitAuth, 0, nil, 1, "", nil},
		{"incomplete digest credentials", withHeader(invite, `Authorization: Digest username="alice", realm="example.com", nonce="n1"`), bitAuth, 0, nil, -1,
			"SIP/2.0 400 Bad Auth Credentials", nil},

		// 16384: first Via
		{"first Via", parse(invite), bitVia1, 0, nil, 1, "", nil},
		{"first Via without branch", with(invite, ";branch=z9hG4bK-1;rport", ";rport"), bitVia1, 0, nil, -1, "", nil},
		{"first Via without host", with(invite, "UDP 192.0.2.10:5062;", "UDP ;"), bitVia1, 0, nil, -1, "", nil},
		{"no Via", changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("Via") }), bitVia1, 0, nil, -1, "", nil},

		// 32768: RFC 3261 branch cookie and lr
		{"RFC 3261", withHeader(invite, "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr=on>\nRecord-Route: <sip:192.0.2.1;lr>"), bitRFC3261, 0, nil, 1, "", nil},
		{"RFC 2543 branch", with(invite, "branch=z9hG4bK-1", "branch=1"), bitRFC3261, 0, nil, -1, "", nil},
		{"Record-Route without lr", withHeader(invite, "Record-Route: <sip:192.0.2.1>"), bitRFC3261, 0, nil, -1, "", nil},
		{"second Route without lr", withHeader(invite, "Route: <sip:p1.example.com;lr>, <sip:p2.example.com>"), bitRFC3261, 0, nil, -1, "", nil},

		// 65536: sizes
		{"sizes", parse(invite), bitSizes, 0, nil, 1, "", nil},
		{"R-URI too long", parse(invite), bitSizes, 0, map[string]any{"size_ruri": 10}, -1, "", nil},
		{"body too big", parse(invite), bitSizes, 0, map[string]any{"size_body": 4}, -1, "", nil},
		{"header too big", parse(invite), bitSizes, 0, map[string]any{"size_header": 40}, -1, "", nil},
		{"message too big", parse(invite), bitSizes, 0, map[string]any{"size_message": 100}, -1, "", nil},
		{"method too long", parse(invite), bitSizes, 0, map[string]any{"size_method": 5}, -1, "", nil},
		{"From URI too long", parse(invite), bitSizes, 0, map[string]any{"size_from_uri": 10}, -1, "", nil},
		{"Path URI too long", withHeaderAt(register, "Path: <sip:edge-proxy-number-one.example.com;lr>"), bitSizes, 0, map[string]any{"size_path_uri": 20}, -1, "", nil},
		{"P-Asserted-Identity URI too long", withHeader(invite, "P-Asserted-Identity: sip:alice@example.com, tel:+15551234567"), bitSizes, 0,
			map[string]any{"size_pai_uri": 20}, -1, "", nil},
		{"built message too big", changed(invite, func(t *testing.T, m *kemi.Msg) { m.Raw = nil }), bitSizes, 0, map[string]any{"size_message": 100}, -1, "", nil},
		{"built message headers too big", changed(invite, func(t *testing.T, m *kemi.Msg) { m.Raw = nil }), bitSizes, 0, map[string]any{"size_headers": 100}, -1, "", nil},
		{"Record-Route URI too long", withHeader(invite, "Record-Route: <sip:edge-proxy-number-one.example.com;lr>"), bitSizes, 0, map[string]any{"size_route_uri": 20}, -1, "", nil},
		{"size limit 0 is off", parse(invite), bitSizes, 0, map[string]any{"size_ruri": 0, "size_body": 0}, 1, "", nil},
		{"size_checks on every call", parse(invite), bitRURIVersion, 0, map[string]any{"size_checks": 1, "size_ruri": 10}, -1, "", nil},
		{"no checks", parse(invite), 0, 0, nil, 1, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCheck(t, c) })
	}
}

// with2 is edit without a testing.T, for building constants.
func with2(text, old, new string) string { return strings.Replace(text, old, new, 1) }

func TestExampleMasks(t *testing.T) {
	cases := []checkCase{
		{"INVITE (17895, 7)", parse(invite), 17895, 7, nil, 1, "", nil},
		{"REGISTER (17895, 7)", parse(register), 17895, 7, nil, 1, "", nil},
		{"ACK (17895, 7)", parse(ack), 17895, 7, nil, 1, "", nil},
		{"reply (17604, 6)", parse(reply), 17604, 6, nil, 1, "", nil},
		// R-URI and CSeq method checks do not apply to replies
		{"reply (17895, 7)", parse(reply), 17895, 7, nil, 1, "", nil},
		{"INVITE with two failures: first one answered", with(with2(invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), "SIP/2.0\nVia", "SIP/3.0\nVia"),
			17895, 7, nil, -1, "SIP/2.0 505 Version Not Supported (R-URI)", nil},
		{"INVITE unsupported Proxy-Require", withHeader(invite, "Proxy-Require: 100rel"), 17895 | bitProxyReq, 7, nil, -1,
			"SIP/2.0 420 Bad Proxy Require Extension", []string{"Unsupported: 100rel"}},
		{"reply with two To tags", with(reply, ";tag=b1", ";tag=b1;tag=b2"), 17604 | bitDupTags, 6, nil, -1, "", nil},
		{"reply with a bad Content-Length", changed(reply, func(t *testing.T, m *kemi.Msg) { m.Raw = append(m.Raw, "x"...) }), 17604, 6, nil, -1, "", nil},
		{"reply with a bad To URI", with(reply, "To: <sip:bob@example.com>", "To: <im:bob@example.com>"), 17604, 6, nil, -1, "", nil},
		{"reply without a branch", with(reply, "127.0.0.1:5060;branch=z9hG4bK-out", "127.0.0.1:5060"), 17604, 6, nil, -1, "", nil},
		// checks do not reply to an ACK
		{"ACK with CSeq mismatch", with(ack, "CSeq: 1 ACK", "CSeq: 1 INVITE"), 17895, 7, nil, -1, "", nil},
		{"ACK with a bad Expires", withHeaderAt(ack, "Expires: soon"), 17895, 7, nil, -1, "", nil},
		{"ACK with a bad Proxy-Require", withHeaderAt(ack, "Proxy-Require: foo"), 17895 | bitProxyReq, 7, nil, -1, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runCheck(t, c) })
	}
}

// withHeaderAt adds a header line after the CSeq line of text.
func withHeaderAt(text, line string) msgFn {
	return func(t *testing.T) *kemi.Msg {
		i := strings.Index(text, "CSeq:")
		j := strings.IndexByte(text[i:], '\n') + i + 1
		return kemitest.ParseMsg(t, text[:j]+line+"\n"+text[j:])
	}
}

func TestDefaults(t *testing.T) {
	basic := withHeader(invite, "Authorization: Basic YWxpY2U6c2VjcmV0")
	cases := []struct {
		name   string
		params map[string]any
		msg    msgFn
		want   int64
		status string
	}{
		{"defaults pass", nil, parse(invite), 1, ""},
		{"defaults pass a REGISTER", nil, parse(register), 1, ""},
		// digest credentials (2048) are among the defaults: Basic fails
		{"defaults refuse Basic credentials", nil, basic, -1, ""},
		{"default_checks without digest", map[string]any{"default_checks": 1}, basic, 1, ""},
		{"default_checks with URIs", map[string]any{"default_checks": 1024},
			with(invite, "<sip:alice@192.0.2.10:5062>", "<mailto:alice@example.com>"), 1, ""},
		{"uri_checks with Contact", map[string]any{"default_checks": 1024, "uri_checks": 8},
			with(invite, "<sip:alice@192.0.2.10:5062>", "<mailto:alice@example.com>"), -1, "SIP/2.0 400 Bad Contact URI"},
		{"defaults check CSeq", nil, with(invite, "CSeq: 1 INVITE", "CSeq: 1 CANCEL"), -1, "SIP/2.0 400 CSeq method does not match request method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var params map[string]map[string]any
			if c.params != nil {
				params = map[string]map[string]any{"sanity": c.params}
			}
			env := kemitest.Load(t, params, "core", "sanity")
			m := env.Prepare(c.msg(t))
			if v := env.Call(t, "KSR.sanity.sanity_check_defaults", m); v.Int != c.want {
				t.Fatalf("sanity_check_defaults = %d, want %d", v.Int, c.want)
			}
			sent := env.Host.Sent()
			switch {
			case c.status == "" && len(sent) != 0:
				t.Fatalf("sent %q", sent[0].Msg)
			case c.status != "" && (len(sent) != 1 || !strings.HasPrefix(sent[0].Msg, c.status+"\r\n")):
				t.Fatalf("sent %+v, want %q", sent, c.status)
			}
		})
	}
}

func TestNoReply(t *testing.T) {
	noreply := map[string]map[string]any{"sanity": {"noreply": 1}}
	cases := []struct {
		name   string
		params map[string]map[string]any
		msg    msgFn
		checks int
		// status is the reply sanity_reply sends, "" for none
		status string
		has    []string
	}{
		{"CSeq mismatch", noreply, with(invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), 17895, "SIP/2.0 400 CSeq method does not match request method", nil},
		{"unsupported extension", noreply, withHeader(invite, "Proxy-Require: foo"), 17895 | bitProxyReq, "SIP/2.0 420 Bad Proxy Require Extension",
			[]string{"\r\nUnsupported: foo\r\n"}},
		// a failure Kamailio does not answer leaves no reply: 500
		{"failure without a reply", noreply, with(invite, "branch=z9hG4bK-1", "branch=1"), bitRFC3261, "SIP/2.0 500 Server Sanity Failure", nil},
		// a message marked as not to be answered is not
		{"missing Call-ID", noreply, changed(invite, func(t *testing.T, m *kemi.Msg) { m.RemoveHeaders("Call-ID") }), 17895, "", nil},
		{"no first Via branch", noreply, with(invite, ";branch=z9hG4bK-1;rport", ";rport"), 17895, "", nil},
		// ACKs are never answered
		{"ACK", noreply, with(ack, "CSeq: 1 ACK", "CSeq: 1 INVITE"), 17895, "", nil},
		// without noreply, sanity_reply does nothing (the check replied)
		{"without noreply", nil, with(invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), 17895, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := kemitest.Load(t, c.params, "core", "sanity")
			m := env.Prepare(c.msg(t))
			if v := env.Call(t, "KSR.sanity.sanity_check", m, c.checks, 7); v.Int != -1 {
				t.Fatalf("sanity_check = %d, want -1", v.Int)
			}
			before := len(env.Host.Sent())
			if c.params != nil && before != 0 {
				t.Fatalf("sanity_check replied with noreply set: %q", env.Host.Sent()[0].Msg)
			}
			if v := env.Call(t, "KSR.sanity.sanity_reply", m); v.Int != 1 {
				t.Fatalf("sanity_reply = %d, want 1", v.Int)
			}
			sent := env.Host.Sent()[before:]
			if c.status == "" {
				if len(sent) != 0 {
					t.Fatalf("sanity_reply sent %q", sent[0].Msg)
				}
				return
			}
			if len(sent) != 1 || !strings.HasPrefix(sent[0].Msg, c.status+"\r\n") {
				t.Fatalf("sanity_reply sent %+v, want %q", sent, c.status)
			}
			for _, want := range c.has {
				if !strings.Contains(sent[0].Msg, want) {
					t.Errorf("reply lacks %q:\n%s", want, sent[0].Msg)
				}
			}
		})
	}
}

func TestSanityReplyState(t *testing.T) {
	env := kemitest.Load(t, map[string]map[string]any{"sanity": {"noreply": true}}, "core", "sanity")

	// the reply info belongs to the last sanity_check call
	m := env.Prepare(kemitest.ParseMsg(t, edit(t, invite, "CSeq: 1 INVITE", "CSeq: 1 BYE")))
	env.Call(t, "KSR.sanity.sanity_check", m, bitCSeqMethod, 0)
	if v := env.Call(t, "KSR.sanity.sanity_check", m, bitRURIVersion, 0); v.Int != 1 {
		t.Fatalf("second sanity_check = %d", v.Int)
	}
	env.Call(t, "KSR.sanity.sanity_reply", m)
	if got := env.Host.Last().Msg; !strings.HasPrefix(got, "SIP/2.0 500 Server Sanity Failure\r\n") {
		t.Fatalf("sanity_reply after a passed check sent %q", got)
	}

	// the info of one message does not answer another
	env.Host.Reset()
	bad := env.Prepare(kemitest.ParseMsg(t, edit(t, invite, "CSeq: 1 INVITE", "CSeq: 1 BYE")))
	env.Call(t, "KSR.sanity.sanity_check", bad, bitCSeqMethod, 0)
	other := env.Prepare(kemitest.ParseMsg(t, invite))
	env.Call(t, "KSR.sanity.sanity_reply", other)
	if got := env.Host.Last().Msg; !strings.HasPrefix(got, "SIP/2.0 500 Server Sanity Failure\r\n") {
		t.Fatalf("sanity_reply on another message sent %q", got)
	}

	// replies are never answered
	env.Host.Reset()
	r := env.Prepare(kemitest.ParseMsg(t, reply))
	if v := env.Call(t, "KSR.sanity.sanity_reply", r); v.Int != 1 || len(env.Host.Sent()) != 0 {
		t.Fatalf("sanity_reply on a reply = %d, sent %d", v.Int, len(env.Host.Sent()))
	}

	// a failed send is reported
	env.Host.FailSend = true
	if v := env.Call(t, "KSR.sanity.sanity_reply", bad); v.Int != -1 {
		t.Fatalf("sanity_reply with a failing send = %d, want -1", v.Int)
	}
}

func TestVersionReplyIsSIP20(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sanity")
	m := env.Prepare(kemitest.ParseMsg(t, edit(t, invite, "SIP/2.0\nVia", "SIP/7.1\nVia")))
	env.Call(t, "KSR.sanity.sanity_check", m, bitRURIVersion, 0)
	if got := env.Host.Last().Msg; !strings.HasPrefix(got, "SIP/2.0 505 ") {
		t.Fatalf("reply %q", got)
	}
}

func TestParams(t *testing.T) {
	for _, bad := range []map[string]any{
		{"default_checks": 131072},
		{"default_checks": -1},
		{"uri_checks": 16},
		{"size_body": -1},
		{"noreply": "maybe"},
		{"bogus": 1},
	} {
		if _, err := kemitest.LoadErr(map[string]map[string]any{"sanity": bad}, "core", "sanity"); err == nil {
			t.Errorf("params %v accepted", bad)
		}
	}
	good := map[string]any{
		"default_checks": 131071, "uri_checks": 15, "proxy_require": "foo, bar", "autodrop": 0, "noreply": 0,
		"size_checks": 0, "size_message": 1, "size_method": 1, "size_ruri": 1, "size_from_uri": 1, "size_to_uri": 1,
		"size_contact_uri": 1, "size_route_uri": 1, "size_path_uri": 1, "size_pai_uri": 1, "size_header": 1,
		"size_headers": 1, "size_body": 1,
	}
	if _, err := kemitest.LoadErr(map[string]map[string]any{"sanity": good}, "core", "sanity"); err != nil {
		t.Errorf("every parameter: %v", err)
	}
}

func TestAutodropHasNoEffect(t *testing.T) {
	for _, autodrop := range []int{0, 1} {
		env := kemitest.Load(t, map[string]map[string]any{"sanity": {"autodrop": autodrop}}, "core", "sanity")
		m := env.Prepare(kemitest.ParseMsg(t, edit(t, invite, "CSeq: 1 INVITE", "CSeq: 1 BYE")))
		if v := env.Call(t, "KSR.sanity.sanity_check", m, bitCSeqMethod, 0); v.Int != -1 {
			t.Errorf("autodrop=%d: sanity_check = %d, want -1", autodrop, v.Int)
		}
	}
}

func TestMetrics(t *testing.T) {
	env := kemitest.Load(t, nil, "core", "sanity")
	call := func(text string, checks int) {
		env.Call(t, "KSR.sanity.sanity_check", env.Prepare(kemitest.ParseMsg(t, text)), checks, 7)
	}
	call(invite, 17895)
	call(edit(t, invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), 17895)
	call(edit(t, invite, "CSeq: 1 INVITE", "CSeq: 1 BYE"), 17895)
	call(edit(t, invite, "branch=z9hG4bK-1", "branch=1"), bitRFC3261)
	env.Call(t, "KSR.sanity.sanity_check_defaults", env.Prepare(kemitest.ParseMsg(t, invite)))
	var buf bytes.Buffer
	env.Metrics.WritePrometheus(&buf)
	for _, want := range []string{
		"kemi_sanity_checks_total 5\n",
		`kemi_sanity_failures_total{check="cseq_method"} 2` + "\n",
		`kemi_sanity_failures_total{check="rfc3261"} 1` + "\n",
		`kemi_sanity_failures_total{check="proxy_require"} 0` + "\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

// TestExportsMatchKamailio checks the exports against Kamailio's catalogue.
func TestExportsMatchKamailio(t *testing.T) {
	kemitest.Load(t, nil, "core", "sanity").CheckExports(t, "sanity")
}
