package sipmsg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// fields are what the differential test compares: what routing and
// transaction matching read from every message.
type fields struct {
	method, ruriScheme, ruriUser, ruriHost, ruriOpaque string
	ruriPort                                           int
	branch, callID, cseqMethod, fromTag, toTag         string
	cseq                                               uint32
	code                                               int
}

// ourFields parses raw with this package: Parse, then Check; nil error
// means accepted.
func ourFields(raw []byte) (fields, error) {
	var m Msg
	if err := m.Parse(raw); err != nil {
		return fields{}, err
	}
	if err := m.Check(); err != nil {
		return fields{}, err
	}
	var f fields
	if m.IsRequest() {
		f.method = strings.ToUpper(string(m.Method()))
		u, _ := m.ParsedRURI()
		f.ruriScheme = strings.ToLower(string(u.Scheme))
		f.ruriUser, f.ruriHost, f.ruriOpaque, f.ruriPort = string(u.User), string(u.Host), string(u.Opaque), u.PortNum
	}
	f.code = m.StatusCode()
	via, _ := m.TopVia()
	from, _ := m.From()
	to, _ := m.To()
	cs, _ := m.CSeq()
	f.branch, f.callID, f.fromTag, f.toTag = string(via.Branch), string(m.CallID()), string(from.Tag), string(to.Tag)
	f.cseq, f.cseqMethod = cs.Num, strings.ToUpper(string(cs.Method))
	return f, nil
}

// sipgoFields parses raw with sipgo's parser as a datagram.
func sipgoFields(raw []byte) (f fields, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sipgo panicked: %v", r)
		}
	}()
	msg, err := sip.NewParser().ParseSIP(raw)
	if err != nil {
		return f, err
	}
	var hdrs interface {
		Via() *sip.ViaHeader
		CallID() *sip.CallIDHeader
		CSeq() *sip.CSeqHeader
		From() *sip.FromHeader
		To() *sip.ToHeader
	}
	switch m := msg.(type) {
	case *sip.Request:
		f.method = strings.ToUpper(string(m.Method))
		u := m.Recipient
		f.ruriScheme = strings.ToLower(u.Scheme)
		if f.ruriScheme == "sip" || f.ruriScheme == "sips" {
			f.ruriUser, f.ruriHost, f.ruriPort = u.User, u.Host, u.Port
		} else {
			f.ruriOpaque = u.Raw()
		}
		hdrs = m
	case *sip.Response:
		f.code = m.StatusCode
		hdrs = m
	}
	if v := hdrs.Via(); v != nil {
		f.branch, _ = v.Params.Get("branch")
	}
	if c := hdrs.CallID(); c != nil {
		f.callID = string(*c)
	}
	if c := hdrs.CSeq(); c != nil {
		f.cseq, f.cseqMethod = c.SeqNo, strings.ToUpper(string(c.MethodName))
	}
	if h := hdrs.From(); h != nil {
		f.fromTag, _ = h.Params.Get("tag")
	}
	if h := hdrs.To(); h != nil {
		f.toTag, _ = h.Params.Get("tag")
	}
	return f, nil
}

// diffCase is one input seen by both parsers.
type diffCase struct {
	raw          []byte
	ours, theirs fields
	oerr, serr   error
}

// exception is a difference between this package and sipgo that is
// meant: which inputs it covers and why.
type exception struct {
	name    string
	reason  string
	applies func(c *diffCase) bool
}

func oursSays(s string) func(c *diffCase) bool {
	return func(c *diffCase) bool { return c.oerr != nil && c.serr == nil && strings.Contains(c.oerr.Error(), s) }
}

// exceptions lists every known difference, each with its reason. An
// input that differs and matches none fails the test.
var exceptions = []exception{
	{"missing header", "sipgo's parser requires no header; kemi refused such requests later, sipmsg's Check does (RFC 3261 §8.1.1)",
		oursSays(": missing")},
	{"CSeq method", "sipgo does not compare the CSeq method with the request's; RFC 4475 mismatch01/02 say refuse",
		oursSays("method is not the request's")},
	{"repeated header", "sipgo keeps several From, To, Call-ID, CSeq; RFC 4475 multi01 says refuse",
		oursSays("more than one header")},
	{"Content-Length disagree", "sipgo takes the last; kemi's framer and validate.go refuse it (request smuggling)",
		oursSays("Content-Length headers disagree")},
	{"R-URI headers", "RFC 3261 §19.1.1 allows no headers in a Request-URI (RFC 4475 escruri); sipgo takes them",
		oursSays("Request-URI: holds headers")},
	{"display name", "RFC 3261 §25.1: an unquoted display name is tokens (RFC 4475 baddn); sipgo takes anything before '<'",
		oursSays("unquoted display name is not tokens")},
	{"URI scheme", "RFC 3986 schemes may hold '+', '-', '.' (RFC 4475 novelsc); sipgo refuses them",
		func(c *diffCase) bool {
			return c.oerr == nil && c.serr != nil && strings.Contains(c.serr.Error(), "uri scheme") &&
				bytes.ContainsAny([]byte(c.ours.ruriScheme), "+-.")
		}},
	{"tag with white space", "RFC 3261 allows white space around '=' of a parameter (RFC 4475 wsinv); sipgo then loses the tag",
		func(c *diffCase) bool {
			if c.oerr != nil || c.serr != nil {
				return false
			}
			o, s := c.ours, c.theirs
			o.fromTag, o.toTag, s.fromTag, s.toTag = "", "", "", ""
			return o == s && ((c.ours.fromTag != c.theirs.fromTag && c.theirs.fromTag == "") || (c.ours.toTag != c.theirs.toTag && c.theirs.toTag == ""))
		}},
}

// differ compares both parsers on raw: "" when they agree (or differ in
// a listed way, then the exception's name), otherwise what differs.
func differ(raw []byte) (exc string, problem string) {
	c := diffCase{raw: raw}
	c.ours, c.oerr = ourFields(raw)
	c.theirs, c.serr = sipgoFields(raw)
	switch {
	case c.oerr != nil && c.serr != nil:
		return "", ""
	case c.oerr == nil && c.serr == nil && c.ours == c.theirs:
		return "", ""
	}
	for _, e := range exceptions {
		if e.applies(&c) {
			return e.name, ""
		}
	}
	if c.oerr != nil || c.serr != nil {
		return "", fmt.Sprintf("accepted by one parser only: sipmsg: %v; sipgo: %v", c.oerr, c.serr)
	}
	return "", fmt.Sprintf("fields differ:\nsipmsg %+v\nsipgo  %+v", c.ours, c.theirs)
}

// TestDifferential runs both parsers over the corpus: each input must be
// refused by both, or accepted by both with the same fields, or differ
// in a way the exceptions list. The expected exceptions are listed too,
// so that a fixed difference is noticed.
func TestDifferential(t *testing.T) {
	want := map[string]string{
		"torture/baddn.sip":      "display name",
		"torture/escruri.sip":    "R-URI headers",
		"torture/insuf.sip":      "missing header",
		"torture/mcl01.sip":      "Content-Length disagree",
		"torture/mismatch01.sip": "CSeq method",
		"torture/mismatch02.sip": "CSeq method",
		"torture/multi01.sip":    "repeated header",
		"torture/novelsc.sip":    "URI scheme",
		"torture/wsinv.sip":      "tag with white space",
	}
	files, err := filepath.Glob("testdata/*/*.sip")
	if err != nil || len(files) < 50 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.ToSlash(file), "testdata/")
		exc, problem := differ(raw)
		if problem != "" {
			t.Errorf("%s: %s", name, problem)
		}
		if exc != want[name] {
			t.Errorf("%s: exception %q, want %q", name, exc, want[name])
		}
	}
}
