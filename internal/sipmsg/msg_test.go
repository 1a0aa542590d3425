package sipmsg

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// crlf turns the "\n" of a readable literal into CRLF line ends.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func readMsg(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/msgs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const basicReq = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1
v: SIP/2.0/TCP b.example.com:5070;branch=z9hG4bK2, SIP/2.0/UDP c.example.com;branch=z9hG4bK3
f: <sip:alice@example.com>;tag=1
t: sip:bob@example.com
i: abc@host
CSeq: 1 INVITE
Max-Forwards: 70
X-Folded: one,
 two
l: 4

body`

func TestParseRequest(t *testing.T) {
	var m Msg
	if err := m.Parse(crlf(basicReq)); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"method", string(m.Method()), "INVITE"},
		{"ruri", string(m.RURI()), "sip:bob@example.com"},
		{"version", string(m.Version()), "SIP/2.0"},
		{"via", string(m.Get(HdrVia)), "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"},
		{"from", string(m.Get(HdrFrom)), "<sip:alice@example.com>;tag=1"},
		{"call-id", string(m.CallID()), "abc@host"},
		{"by name", string(m.GetName([]byte("call-ID"))), "abc@host"},
		{"by compact name", string(m.GetName([]byte("I"))), "abc@host"},
		{"other", string(m.GetName([]byte("x-folded"))), "one,\r\n two"},
		{"unfold", string(Unfold(nil, m.GetName([]byte("x-folded")))), "one, two"},
		{"body", string(m.Body()), "body"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	var vias []string
	for v := range m.Values(HdrVia) {
		vias = append(vias, string(v))
	}
	if len(vias) != 3 || vias[2] != "SIP/2.0/UDP c.example.com;branch=z9hG4bK3" {
		t.Errorf("Via values = %q", vias)
	}
	if !m.IsRequest() || m.StatusCode() != 0 || m.ContentLength() != 4 {
		t.Errorf("IsRequest %v, StatusCode %d, ContentLength %d", m.IsRequest(), m.StatusCode(), m.ContentLength())
	}
	if err := m.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if m.Get(HdrContact) != nil || m.GetName([]byte("X-None")) != nil {
		t.Error("a missing header is found")
	}
}

func TestParseReply(t *testing.T) {
	var m Msg
	if err := m.Parse(crlf("SIP/2.0 180 Ringing Now\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\n\n")); err != nil {
		t.Fatal(err)
	}
	if m.IsRequest() || m.StatusCode() != 180 || string(m.Reason()) != "Ringing Now" || m.RURI() != nil || m.Method() != nil {
		t.Errorf("reply: code %d reason %q", m.StatusCode(), m.Reason())
	}
}

func TestParseRefusals(t *testing.T) {
	hdrs := "Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
	tests := []struct {
		name string
		raw  string
		opts Options
		want string // in the error text
		is   error
	}{
		{"empty", "", Options{}, "empty message", nil},
		{"no line end", "INVITE sip:a SIP/2.0", Options{}, "line without a line end", nil},
		{"bare LF", "INVITE sip:a SIP/2.0\r\nVia: x\n\r\n", Options{}, "line 2: LF without CR", nil},
		{"bare CR", "INVITE sip:a SIP/2.0\r\nVia: x\ry\r\n\r\n", Options{}, "line 2: CR without LF", nil},
		{"no empty line", "INVITE sip:a SIP/2.0\r\n" + hdrs, Options{}, "no empty line", nil},
		{"double space", "INVITE  sip:a SIP/2.0\r\n\r\n", Options{}, "no Request-URI", nil},
		{"bad version", "INVITE sip:a SIP/2\r\n\r\n", Options{}, "bad SIP version", nil},
		{"space in ruri", "INVITE sip:a b SIP/2.0\r\n\r\n", Options{}, "bad SIP version", nil},
		{"method not token", "IN<VITE sip:a SIP/2.0\r\n\r\n", Options{}, "method is not a token", nil},
		{"code 2 digits", "SIP/2.0 20 OK\r\n\r\n", Options{}, "not 3 digits", nil},
		{"code too big", "SIP/2.0 700 OK\r\n\r\n", Options{}, "outside 100-699", nil},
		{"no colon", "INVITE sip:a SIP/2.0\r\nVia\r\n\r\n", Options{}, "line 2: header line without a colon", nil},
		{"bad name", "INVITE sip:a SIP/2.0\r\nV ia: x\r\n\r\n", Options{}, `line 2 (V ia): header name is not a token`, nil},
		{"leading fold", "INVITE sip:a SIP/2.0\r\n Via: x\r\n\r\n", Options{}, "continues no header", nil},
		{"bad CL", "INVITE sip:a SIP/2.0\r\nl: 1x\r\n\r\n", Options{}, "line 2 (l): not a decimal number", nil},
		{"CL disagree", "INVITE sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", Options{}, "disagree", nil},
		{"CL too big", "INVITE sip:a SIP/2.0\r\nl: 10\r\n\r\nab", Options{}, "Content-Length: larger than the body", nil},
		{"too many headers", "INVITE sip:a SIP/2.0\r\n" + hdrs + hdrs + hdrs + "\r\n", Options{MaxHeaders: 2}, "more headers", ErrTooLarge},
		{"line too long", "INVITE sip:a SIP/2.0\r\n" + hdrs + "\r\n", Options{MaxLine: 20}, "longer than the maximum", ErrTooLarge},
		{"too large", "INVITE sip:a SIP/2.0\r\n" + hdrs + "\r\n", Options{MaxSize: 30}, "larger than the maximum", ErrTooLarge},
		{"stream header too large", "INVITE sip:a SIP/2.0\r\n" + hdrs + hdrs + hdrs, Options{Stream: true, MaxSize: 60}, "larger than the maximum", ErrTooLarge},
		{"stream partial head", "INVITE sip:a SIP/2.0\r\n" + hdrs, Options{Stream: true}, "not complete", ErrIncomplete},
		{"stream partial body", "INVITE sip:a SIP/2.0\r\nl: 5\r\n\r\nab", Options{Stream: true}, "body not complete", ErrIncomplete},
		{"stream nothing", "\r\n\r\n", Options{Stream: true}, "no message yet", ErrIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Msg{Opts: tc.opts}
			err := m.Parse([]byte(tc.raw))
			if err == nil {
				t.Fatalf("Parse accepted %q", tc.raw)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		opts     Options
		len      int
		body     string
		wantHdrs int
	}{
		{"datagram body is the rest", "OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nabc", Options{}, 36, "abc", 1},
		{"datagram cut at CL", "OPTIONS sip:a SIP/2.0\r\nl: 1\r\n\r\nabc", Options{}, 32, "a", 1},
		{"stream no CL is no body", "\r\n\r\nOPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nabc", Options{Stream: true}, 37, "", 1},
		{"stream CL", "OPTIONS sip:a SIP/2.0\r\nl: 2\r\n\r\nabcOPTIONS", Options{Stream: true}, 33, "ab", 1},
		{"bare LF allowed", "OPTIONS sip:a SIP/2.0\nVia: x\n y\nl: 1\n\nab", Options{AllowBareLF: true}, 39, "a", 2},
		{"no headers", "OPTIONS sip:a SIP/2.0\r\n\r\n", Options{}, 25, "", 0},
		{"reply empty reason", "SIP/2.0 100 \r\n\r\n", Options{}, 16, "", 0},
		{"leading zeros in CL", "OPTIONS sip:a SIP/2.0\r\nl: 0001\r\n\r\na", Options{}, 35, "a", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Msg{Opts: tc.opts}
			if err := m.Parse([]byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			n := 0
			for range m.Headers() {
				n++
			}
			if m.Len() != tc.len || string(m.Body()) != tc.body || n != tc.wantHdrs {
				t.Errorf("Len %d body %q headers %d, want %d %q %d", m.Len(), m.Body(), n, tc.len, tc.body, tc.wantHdrs)
			}
			if got := string(m.AppendTo(nil)); got != string(m.Bytes()) {
				t.Errorf("AppendTo = %q, want %q", got, m.Bytes())
			}
		})
	}
}

func TestTypeOf(t *testing.T) {
	tests := []struct {
		name string
		want HdrType
	}{
		{"Via", HdrVia}, {"v", HdrVia}, {"V", HdrVia}, {"VIA", HdrVia},
		{"f", HdrFrom}, {"t", HdrTo}, {"i", HdrCallID}, {"m", HdrContact},
		{"l", HdrContentLength}, {"c", HdrContentType}, {"k", HdrSupported},
		{"s", HdrSubject}, {"e", HdrContentEncoding}, {"o", HdrEvent},
		{"u", HdrAllowEvents}, {"r", HdrReferTo}, {"b", HdrReferredBy},
		{"x", HdrSessionExpires}, {"a", HdrAcceptContact}, {"j", HdrRejectContact},
		{"d", HdrRequestDisposition}, {"y", HdrIdentity}, {"n", HdrIdentityInfo},
		{"z", HdrOther}, {"g", HdrOther}, {"1", HdrOther},
		{"record-route", HdrRecordRoute}, {"MAX-FORWARDS", HdrMaxForwards},
		{"cseq", HdrCSeq}, {"X-Via", HdrOther}, {"", HdrOther},
		{"P-Asserted-Identity", HdrPAssertedIdentity},
		{strings.Repeat("x", 40), HdrOther},
	}
	for _, tc := range tests {
		if got := TypeOf([]byte(tc.name)); got != tc.want {
			t.Errorf("TypeOf(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	for ht := HdrType(1); ht < numHdrTypes; ht++ {
		if got := TypeOf([]byte(ht.String())); got != ht {
			t.Errorf("TypeOf(%q) = %v", ht.String(), got)
		}
	}
}

func TestParseReuse(t *testing.T) {
	var m Msg
	big := readMsg(t, "invite16.sip")
	if err := m.Parse(big); err != nil {
		t.Fatal(err)
	}
	m.InsertTop([]byte("X-A"), []byte("1"))
	if err := m.Parse(crlf("SIP/2.0 200 OK\nCSeq: 1 INVITE\n\n")); err != nil {
		t.Fatal(err)
	}
	if m.Changed() || m.Get(HdrVia) != nil || m.GetName([]byte("X-A")) != nil || string(m.Get(HdrCSeq)) != "1 INVITE" {
		t.Error("a reused Msg keeps something of the message before")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.Parse(big); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Parse of a reused Msg allocates %v times", allocs)
	}
}

func TestRefusedLeavesEmpty(t *testing.T) {
	var m Msg
	m.Opts.Stream = true
	if err := m.Parse([]byte("\r\n\r\nINVITE sip:a SIP/2.0\r\nVia: x")); err == nil {
		t.Fatal("accepted")
	}
	if out := m.AppendTo(nil); len(out) != 0 || m.Get(HdrVia) != nil || m.Len() != 0 {
		t.Errorf("after a refusal: AppendTo %q, Via %q, Len %d", out, m.Get(HdrVia), m.Len())
	}
	var zero Msg
	if out := zero.AppendTo(nil); len(out) != 0 || zero.Find(HdrVia) != NoHeader || zero.Body() != nil {
		t.Error("a zero Msg is not empty")
	}
}

func TestLookupsByName(t *testing.T) {
	var m Msg
	raw := "OPTIONS sip:a@b SIP/2.0\r\nX-A: 1\r\nx-a: 2, 3\r\nAllow: INVITE, \"x,y\" ,ACK\r\nRoute: <sip:a,b>, <sip:c>\r\n\r\n"
	if err := m.Parse([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	collect := func(seq func(func([]byte) bool)) (out []string) {
		for v := range seq {
			out = append(out, string(v))
		}
		return out
	}
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"X-A uncut", collect(m.ValuesName([]byte("x-A"))), "1|2, 3"},
		{"Allow cut outside quotes", collect(m.Values(HdrAllow)), `INVITE|"x,y"|ACK`},
		{"Route cut outside <>", collect(m.ValuesName([]byte("route"))), "<sip:a,b>|<sip:c>"},
		{"other type", collect(m.Values(HdrOther)), ""},
	}
	for _, tc := range tests {
		if got := strings.Join(tc.got, "|"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	id := m.FindName([]byte("X-A"))
	m.SetValue(id, []byte("one"))
	m.Remove(m.FindName([]byte("x-a")))
	if got := string(m.GetName([]byte("X-A"))); got != "2, 3" {
		t.Errorf("X-A after its first was removed: %q", got)
	}
	if got := string(m.Value(id)); got != "one" {
		t.Errorf("removed header's value %q", got)
	}
}

func TestUnfold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"},
		{"a,\r\n b", "a, b"},
		{"a \r\n\t b\r\n c", "a b c"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := string(Unfold(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("Unfold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckHeader(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"X-A", "b c", true},
		{"X A", "b", false},
		{"", "b", false},
		{"X-A", "b\r\nVia: x", false},
		{"X-A", "b\nc", false},
	}
	for _, tc := range tests {
		if err := CheckHeader([]byte(tc.name), []byte(tc.value)); (err == nil) != tc.ok {
			t.Errorf("CheckHeader(%q, %q) = %v", tc.name, tc.value, err)
		}
	}
}
