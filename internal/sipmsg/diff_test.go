package sipmsg

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
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

// sipgoParser is sipgo's parser as kemi's engine sets it up
// (engine/parser.go): a Contact that does not parse is kept as a plain
// header, since Kamailio too parses Contact only when a function needs it.
var sipgoParser = func() *sip.Parser {
	parsers := maps.Clone(sip.DefaultHeadersParser())
	for _, name := range []string{"contact", "m"} {
		strict := parsers[name]
		parsers[name] = func(name []byte, value string) (sip.Header, error) {
			h, err := strict(name, value)
			if err != nil && err.Error() != "comma detected" {
				return sip.NewHeader("Contact", value), nil
			}
			return h, err
		}
	}
	return sip.NewParser(sip.WithHeadersParsers(parsers))
}()

// sipgoFields parses raw with sipgo's parser as a datagram.
func sipgoFields(raw []byte) (f fields, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sipgo panicked: %v", r)
		}
	}()
	msg, err := sipgoParser.ParseSIP(raw)
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

func sipgoSays(s string) func(c *diffCase) bool {
	return func(c *diffCase) bool { return c.oerr == nil && c.serr != nil && strings.Contains(c.serr.Error(), s) }
}

// stricter are the refusals of this package where sipgo's parser takes
// the input: our error text, and why we refuse. Most are RFC 3261
// grammar that sipgo does not check (it cuts values at separators and
// keeps the rest); some are refusals kemi made after sipgo anyway
// (engine/validate.go, engine/frame.go).
var stricter = []struct{ says, why string }{
	{": missing", "sipgo's parser requires no header; kemi refused such requests later; RFC 3261 §8.1.1 (RFC 4475 insuf)"},
	{"Via: empty header or value", "an empty Via, or a Via list ending with a comma; sipgo skips an empty Via header (RFC 3261 §20.42 needs a via-parm)"},
	{"method is not the request's", "sipgo does not compare the CSeq method with the request's (RFC 4475 mismatch01/02)"},
	{"more than one header", "sipgo keeps several From, To, Call-ID, CSeq (RFC 4475 multi01)"},
	{"Content-Length headers disagree", "sipgo takes the last; kemi's framer and validate.go refuse it (request smuggling; RFC 4475 mcl01)"},
	{"Request-URI: holds headers", "RFC 3261 §19.1.1: no headers in a Request-URI (RFC 4475 escruri)"},
	{"unquoted display name is not tokens", "RFC 3261 §25.1: an unquoted display name is tokens (RFC 4475 baddn)"},
	{"bad SIP version", "RFC 3261 §25.1: SIP-Version is SIP/1*DIGIT.1*DIGIT; sipgo takes any word starting with SIP"},
	{"method is not a token", "RFC 3261 §25.1: the method is a token; sipgo takes any text, even none"},
	{"LF without CR", "sipgo keeps a bare LF inside a line; kemi refused it before parsing (engine checkLineEnds: header smuggling)"},
	{"header name is not a token", "RFC 3261 §25.1: a header name is a token; sipgo takes any text before ':'"},
	{"continues no header", "a folded line right after the start line; sipgo reads it as a header"},
	{"character not allowed in a URI", "RFC 3261 §25.1: no white space, controls, '<', '>', '\"' in a URI; sipgo takes them"},
	{"character not allowed in a host", "RFC 3261 §25.1 hostname characters; sipgo takes any"},
	{"IPv6 reference", "a bracketed IPv6 reference with other characters or no ']'; sipgo takes it"},
	{": no scheme", "RFC 3986: a URI starts with a scheme; sipgo takes an empty one"},
	{"header line without a colon", "RFC 3261 §7.3.1: the colon follows the name on the header's first line; sipgo joins the folded lines first and finds one in them"},
	{"no host", "RFC 3261 §25.1: hostport needs a host; sipgo takes an empty one"},
	{"empty user before '@'", "RFC 3261 §25.1: userinfo has a user; sipgo takes an empty one"},
	{"character not allowed in the user part", "RFC 3261 §25.1: a user part is unreserved and user-unreserved characters, the rest escaped; sipgo takes any"},
	{"'@' in the user part", "RFC 3261 §25.1: a user part holds no '@' (it is escaped as %40); sipgo cuts at the first one"},
	{"bad escape", "RFC 3261 §25.1: '%' starts %HH in a user part; sipgo does not check"},
	{"empty after the scheme", "a URI of another scheme with nothing after ':'"},
	{"port is not 1-65535", "a port sipgo takes (any int, or none after ':'); kemi's validate.go refused it (a uint16 conversion would send elsewhere)"},
	{"status code is not 3 digits", "RFC 3261 §25.1: Status-Code is 3DIGIT; sipgo takes any number below 65536"},
	{"status code outside 100-699", "sipgo takes any number below 65536; kemi's validate.go refused it"},
	{"Via: junk after sent-by", "RFC 3261 §25.1 via-parm; sipgo's Via parser skips what it does not understand"},
	{"Via: no '/' after", "RFC 3261 §25.1 sent-protocol; sipgo cuts at '/' wherever it is"},
	{"Via: no protocol", "RFC 3261 §25.1 sent-protocol has a name and a version; sipgo takes empty ones"},
	{"Via: no transport", "RFC 3261 §25.1 sent-protocol has a transport; sipgo takes an empty one"},
	{"no white space before sent-by", "RFC 3261 §25.1: LWS between sent-protocol and sent-by; sipgo cuts at '/' and space"},
	{"parameter name is not a token", "RFC 3261 §25.1 generic-param: name is a token; sipgo takes any"},
	{"junk after a parameter value", "RFC 3261 §25.1 generic-param: a value is a token, host or quoted string; sipgo takes anything up to ';'"},
	{"received is not an IP address", "RFC 3261 §18.2.1: received is an address; sipgo takes any text, kemi's validate.go refused it"},
	{"empty branch", "RFC 3261 §25.1: branch is a token, not empty; sipgo takes an empty one"},
	{"branch holds", "a branch is opaque, but Kamailio's parse_via.c refuses '=' or '\"' in it; sipgo takes them"},
	{"tag holds", "a tag is opaque, but Kamailio's parse_addr_spec.c refuses '=', '\"' or '\\' outside quotes in it; sipgo takes them"},
	{"without '<>'", "RFC 3261 §20: a URI holding '?' or ',' is enclosed in <> (RFC 4475 regbadct)"},
	{"junk after '>'", "RFC 3261 §25.1 name-addr: only parameters after '>'; sipgo ignores the rest"},
	{"no closing quote", "RFC 3261 §25.1 quoted-string; sipgo takes an unbalanced quote (RFC 4475 quotbal)"},
	{"no '<' after the display name", "RFC 3261 §25.1: a quoted display name is followed by <URI>"},
	{"no '>'", "RFC 3261 §25.1 name-addr: '<' needs '>'"},
	{"Call-ID: holds white space", "RFC 3261 §25.1: callid is word[@word], no white space; sipgo takes any text"},
	{"Call-ID: character not allowed", "RFC 3261 §25.1: a Call-ID is word characters; sipgo takes any"},
	{"Call-ID: missing or empty", "sipgo takes an empty Call-ID when the header is absent"},
	{"CSeq: no white space after", "RFC 3261 §25.1: CSeq is number LWS method"},
	{"CSeq: method is not a token", "RFC 3261 §25.1: the CSeq method is a token; sipgo takes any text"},
}

// laxer are the inputs this package takes and sipgo refuses: sipgo's
// error text, and why we take them.
var laxer = []struct{ says, why string }{
	{"uri scheme", "RFC 3986: a scheme may hold digits, '+', '-', '.' (RFC 4475 novelsc); sipgo takes letters only"},
	{"IPV6 no closing bracket", "RFC 3261 §25.1 param-unreserved: '[' and ']' may be in URI parameters; sipgo reads any '[' as an IPv6 reference"},
	{"empty Content-Type body", "Content-Type is read by what reads the body, not by the parser"},
}

// exceptions lists every known case of one parser accepting what the
// other refuses, each with its reason (normalizers are the known
// differences in what both accept). An input that differs in another way
// fails the test.
var exceptions = func() []exception {
	var e []exception
	for _, s := range stricter {
		e = append(e, exception{s.says, s.why, oursSays(s.says)})
	}
	for _, s := range laxer {
		e = append(e, exception{s.says, s.why, sipgoSays(s.says)})
	}
	e = append(e, exception{"Unicode white space", "sipgo trims any Unicode white space around a value (\\v, \\f, NEL, NBSP); RFC 3261 LWS is SP and HTAB only",
		func(c *diffCase) bool {
			head, _, _ := bytes.Cut(c.raw, []byte("\r\n\r\n"))
			return c.oerr != nil && c.serr == nil && (bytes.ContainsAny(head, "\v\f") || bytes.Contains(head, []byte("\u0085")) || bytes.Contains(head, []byte("\u00a0")))
		}})
	e = append(e, exception{"SIP version case", "RFC 3261 §7.1: the SIP-Version is case-insensitive; sipgo wants SIP in capitals",
		func(c *diffCase) bool {
			var m Msg
			return sipgoSays("is not a SIP message")(c) && m.Parse(c.raw) == nil && !bytes.HasPrefix(m.Version(), []byte("SIP/"))
		}})
	return e
}()

// normalizer is a difference in the fields of an input both parsers
// accept: apply makes ours or sipgo's value the other's when the
// difference is this one, and reports whether it did. Several can apply
// to one input; they are applied in turn.
type normalizer struct {
	name   string
	reason string
	apply  func(c *diffCase, o, s *fields) bool
}

var normalizers = []normalizer{
	{"parameter lost by sipgo", "RFC 3261 allows white space around ';' and '=' of parameters and ':' of a sent-by (SEMI, EQUAL, COLON; RFC 4475 wsinv) and any case in parameter names; sipgo then loses parameters (branch, tag) or keeps the white space in their values",
		func(c *diffCase, o, s *fields) bool {
			raw := string(c.raw)
			lws := paramLWS.MatchString(raw) || sentByLWS(c.raw)
			mixed := func(name string) bool { return strings.Count(strings.ToLower(raw), name) > strings.Count(raw, name) }
			// sipgo loses the parameter, or keeps the white space after '='
			lost := func(ours, theirs string) bool {
				return ours != theirs && (theirs == "" || strings.TrimSpace(theirs) == ours)
			}
			done := false
			for _, p := range []struct {
				o, s *string
				name string
			}{{&o.branch, &s.branch, "branch"}, {&o.fromTag, &s.fromTag, "tag"}, {&o.toTag, &s.toTag, "tag"}} {
				if lost(*p.o, *p.s) && (lws || mixed(p.name)) {
					*p.o, done = *p.s, true
				}
			}
			return done
		}},
	{"CSeq white space", "RFC 3261 §25.1: LWS between the CSeq number and method may be several spaces or a folded line; sipgo keeps all but the first in the method",
		func(c *diffCase, o, s *fields) bool {
			m := strings.TrimLeft(s.cseqMethod, " \t\r\n")
			if m == s.cseqMethod || m != o.cseqMethod {
				return false
			}
			s.cseqMethod = m
			return true
		}},
	{"Via list", "in a Via holding several values sipgo may give the first the parameters of a later one (its sent-by does not stop at ','); the top Via's branch is the first value's",
		func(c *diffCase, o, s *fields) bool {
			if o.branch == s.branch {
				return false
			}
			var m Msg
			if m.Parse(c.raw) != nil {
				return false
			}
			n := 0
			for via, err := range m.Vias() {
				if n++; n > 1 && err == nil && string(via.Branch) == s.branch {
					o.branch = s.branch
					return true
				}
			}
			return false
		}},
}

// paramLWS finds white space before or after a ';' or '='.
var paramLWS = regexp.MustCompile(`[ \t\r\n][;=]|[;=][ \t\r\n]`)

// sentByLWS reports white space inside the sent-by of the top Via
// ("host : port", RFC 3261 COLON), where sipgo loses the parameters.
func sentByLWS(raw []byte) bool {
	var m Msg
	if m.Parse(raw) != nil {
		return false
	}
	v := m.Get(HdrVia)
	via, err := m.TopVia()
	if err != nil || via.Params == nil {
		return false
	}
	// Host and Params are sub-slices of v, whose capacity ends with it
	host, params := len(v)-cap(via.Host), len(v)-cap(via.Params)
	return host >= 0 && host < params && params <= len(v) && bytes.ContainsAny(v[host:params], " \t\r\n")
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
	if c.oerr == nil && c.serr == nil {
		o, s := c.ours, c.theirs
		var names []string
		for _, n := range normalizers {
			if n.apply(&c, &o, &s) {
				names = append(names, n.name)
			}
		}
		if o == s {
			return strings.Join(names, "+"), ""
		}
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
		"torture/baddn.sip":      "unquoted display name is not tokens",
		"torture/escruri.sip":    "Request-URI: holds headers",
		"torture/insuf.sip":      ": missing",
		"torture/mcl01.sip":      "Content-Length headers disagree",
		"torture/mismatch01.sip": "method is not the request's",
		"torture/mismatch02.sip": "method is not the request's",
		"torture/multi01.sip":    "more than one header",
		"torture/novelsc.sip":    "uri scheme",
		"torture/wsinv.sip":      "parameter lost by sipgo",
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
