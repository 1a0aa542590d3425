package sipmsg

import (
	"os"
	"testing"
)

// outcome is what Parse and Check make of a message.
type outcome int

const (
	valid     outcome = iota // Parse and Check accept it
	badParse                 // Parse refuses it
	badCheck                 // Parse indexes it, Check refuses it
	tolerated                // the RFC has a later layer refuse it (or answer it specially); the parser accepts it
)

// tortureTests are the messages of RFC 4475 (written for this package
// from the RFC's descriptions, in testdata/torture/<name>.sip), each with
// what the RFC wants and what it tests.
var tortureTests = []struct {
	name string
	want outcome
	what string
}{
	// 3.1.1: valid messages
	{"wsinv", valid, "odd white space, folding, case and compact forms everywhere"},
	{"intmeth", valid, "every token character in the method, odd characters in URIs, quoted controls"},
	{"esc01", valid, "% escapes in URIs and parameters"},
	{"escnull", valid, "escaped NUL (%00) in URIs"},
	{"esc02", valid, "a '%' that is not an escape: method, header name, display name"},
	{"lwsdisp", valid, "no white space between a display name and '<'"},
	{"longreq", valid, "long values, long names, seven Via headers"},
	{"dblreq", valid, "a datagram with a second request after the Content-Length"},
	{"semiuri", valid, "';' in the user part of a URI, a folded Accept"},
	{"transports", valid, "Via with known and unknown transports"},
	{"mpart01", valid, "multipart body with binary parts"},
	{"unreason", valid, "UTF-8 reason phrase"},
	{"noreason", valid, "empty reason phrase"},
	// 3.1.2: invalid messages
	{"badinv01", badCheck, "empty parameters and values in Via (;;,;,,)"},
	{"clerr", badParse, "Content-Length larger than the datagram"},
	{"scalar02", badParse, "negative Content-Length"},
	{"scalarlg", badCheck, "CSeq number over 2^31 (and huge Max-Forwards, Expires)"},
	{"quotbal", badCheck, "unterminated quoted display name in To"},
	{"ltgtruri", badCheck, "Request-URI in <>"},
	{"lwsruri", badParse, "white space inside the Request-URI"},
	{"lwsstart", badParse, "two spaces between the parts of the request line"},
	{"trws", badParse, "spaces after the SIP version of the request line"},
	{"escruri", badCheck, "headers (?Route=...) in the Request-URI"},
	{"baddate", tolerated, "a Date with a time zone that is not GMT: Date is not parsed"},
	{"regbadct", tolerated, "Contact addr-spec with '?' outside <>: Check does not parse Contact, ParseNameAddr refuses it (below)"},
	{"badaspec", badCheck, "spaces inside the <> of To"},
	{"baddn", badCheck, "unquoted display name with a comma"},
	{"badvers", tolerated, "SIP/7.0: parsed, Version says it (a proxy answers 505)"},
	{"mismatch01", badCheck, "CSeq method is not the request's"},
	{"mismatch02", badCheck, "unknown method, CSeq method of another"},
	{"bigcode", badParse, "status code 4294967301"},
	// 3.2: transaction layer
	{"badbranch", tolerated, "branch is the bare magic cookie: valid syntax, the transaction layer decides"},
	// 3.3: application layer
	{"insuf", badCheck, "no Call-ID, From, To, Max-Forwards"},
	{"unkscm", valid, "Request-URI of an unknown scheme (the proxy answers 416)"},
	{"novelsc", valid, "Request-URI of a scheme with a '.'"},
	{"unksm2", valid, "unknown schemes in To, From and Contact"},
	{"bext01", valid, "Require and Proxy-Require of unknown extensions"},
	{"invut", valid, "unknown Content-Type"},
	{"regaut01", valid, "Authorization of an unknown scheme"},
	{"multi01", badCheck, "two Call-ID, CSeq, From and To headers"},
	{"mcl01", badParse, "two Content-Length values that disagree"},
	{"bcast", valid, "reply with a broadcast address in a Via"},
	{"zeromf", valid, "Max-Forwards 0 (the proxy answers 483)"},
	{"cparam01", valid, "Contact addr-spec with a header parameter"},
	{"cparam02", valid, "Contact name-addr with a URI parameter"},
	{"regescrt", valid, "Contact with an escaped Route header inside <>"},
	{"sdp01", valid, "Accept of an unknown type"},
	// 3.4: backward compatibility
	{"inv2543", valid, "RFC 2543 request: no branch, no tags, no Max-Forwards"},
}

func TestTorture(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range tortureTests {
		seen[tc.name+".sip"] = true
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/torture/" + tc.name + ".sip")
			if err != nil {
				t.Fatal(err)
			}
			var m Msg
			perr := m.Parse(raw)
			var cerr error
			if perr == nil {
				cerr = m.Check()
			}
			got := valid
			switch {
			case perr != nil:
				got = badParse
			case cerr != nil:
				got = badCheck
			}
			want := tc.want
			if want == tolerated {
				want = valid
			}
			if got != want {
				t.Errorf("%s (%s): Parse %v, Check %v", tc.name, tc.what, perr, cerr)
			}
			if perr == nil && string(m.AppendTo(nil)) != string(m.Bytes()) {
				t.Error("AppendTo without changes is not the input")
			}
		})
	}
	entries, err := os.ReadDir("testdata/torture")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !seen[e.Name()] {
			t.Errorf("testdata/torture/%s is in no test", e.Name())
		}
	}
}

// TestTortureDetails checks what the torture messages are about beyond
// accept or refuse.
func TestTortureDetails(t *testing.T) {
	parse := func(name string) *Msg {
		t.Helper()
		raw, err := os.ReadFile("testdata/torture/" + name + ".sip")
		if err != nil {
			t.Fatal(err)
		}
		m := new(Msg)
		if err := m.Parse(raw); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := parse("wsinv")
	to, _ := m.To()
	from, _ := m.From()
	cs, _ := m.CSeq()
	mf, _ := m.MaxForwards()
	var branches []string
	for v, err := range m.Vias() {
		if err != nil {
			t.Fatal(err)
		}
		branches = append(branches, string(v.Branch))
	}
	if string(to.Tag) != "1918181833n" || string(from.Tag) != "98asjd8" || cs.Num != 9 || string(cs.Method) != "INVITE" || mf != 68 ||
		len(branches) != 3 || branches[2] != "z9hG4bK30239" {
		t.Errorf("wsinv: To tag %q, From tag %q, CSeq %d %q, Max-Forwards %d, branches %q", to.Tag, from.Tag, cs.Num, cs.Method, mf, branches)
	}
	if got := string(m.Get(HdrSubject)); got != "" || m.Get(HdrSubject) == nil {
		t.Errorf("wsinv: empty Subject = %q", got)
	}
	m = parse("dblreq")
	if string(m.Method()) != "REGISTER" || len(m.Body()) != 0 || m.Len() >= len(m.buf) {
		t.Errorf("dblreq: %s, body %q, Len %d of %d", m.Method(), m.Body(), m.Len(), len(m.buf))
	}
	m = parse("esc02")
	n := 0
	for range m.Values(HdrContact) {
		n++
	}
	if n != 2 || m.GetName([]byte("C%6Fntact")) == nil {
		t.Errorf("esc02: %d Contact values, want 2 (C%%6Fntact is another header)", n)
	}
	m = parse("regbadct")
	if _, err := ParseNameAddr(m.Get(HdrContact)); err == nil {
		t.Error("regbadct: Contact accepted")
	}
	m = parse("badvers")
	if string(m.Version()) != "SIP/7.0" {
		t.Errorf("badvers: version %q", m.Version())
	}
	m = parse("longreq")
	n = 0
	for range m.Values(HdrVia) {
		n++
	}
	if n != 8 {
		t.Errorf("longreq: %d Via values, want 8", n)
	}
}
