package enginetest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// DefaultSource is where a Message with no Source comes from.
const DefaultSource = "udp:192.0.2.10:5062"

// Header is one header line of a RequestSpec.
type Header struct {
	Name, Value string
}

// RequestSpec describes a request by what a test cares about; Text fills
// in the rest so that the request is valid: a Via of its source with a
// fresh branch, From (sip:alice@ the R-URI's host, with a tag), To (the
// R-URI; for a REGISTER the From URI), Call-ID, CSeq 1, Max-Forwards 70
// and, for INVITE, REGISTER and SUBSCRIBE, a Contact at the source. A
// header in Headers replaces the default of its name.
type RequestSpec struct {
	Method string
	// RURI is the Request-URI.
	RURI string
	// Headers are written in order, after the defaults they do not
	// replace.
	Headers []Header
	// Body is the body; Content-Type defaults to application/sdp when
	// there is one.
	Body string
	// Source is where it comes from (DefaultSource when "").
	Source string
}

// Message returns the request as a Message from its source.
func (r RequestSpec) Message() Message {
	return Message{Text: r.Text(), Source: r.source()}
}

func (r RequestSpec) source() string {
	if r.Source == "" {
		return DefaultSource
	}
	return r.Source
}

// Text writes the request.
func (r RequestSpec) Text() string {
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = "OPTIONS"
	}
	proto, addr, _ := strings.Cut(r.source(), ":")
	src, err := netip.ParseAddrPort(addr)
	if err != nil {
		src = netip.MustParseAddrPort("192.0.2.10:5062")
	}
	host := "example.com"
	var u sip.Uri
	if err := sip.ParseUri(r.RURI, &u); err == nil && u.Host != "" {
		host = u.Host
	}
	given := map[string]string{}
	for _, h := range r.Headers {
		if _, ok := given[strings.ToLower(h.Name)]; !ok {
			given[strings.ToLower(h.Name)] = h.Value
		}
	}
	from := "<sip:alice@" + host + ">;tag=" + token(8)
	if v, ok := given["from"]; ok {
		from = v
	}
	to := "<" + r.RURI + ">"
	if method == "REGISTER" {
		to = from
		if i := strings.Index(to, ";tag="); i >= 0 {
			to = to[:i]
		}
	}
	hostport := src.String()
	defaults := []Header{
		{"Via", "SIP/2.0/" + strings.ToUpper(proto) + " " + hostport + ";branch=z9hG4bK" + token(8) + ";rport"},
		{"Max-Forwards", "70"},
		{"From", from},
		{"To", to},
		{"Call-ID", token(12) + "@kemi.test"},
		{"CSeq", "1 " + method},
	}
	switch method {
	case "INVITE", "REGISTER", "SUBSCRIBE":
		user := "alice"
		var fu sip.Uri
		if v := strings.Trim(strings.SplitN(from, ";", 2)[0], "<> "); sip.ParseUri(v, &fu) == nil && fu.User != "" {
			user = fu.User
		}
		c := "<sip:" + user + "@" + hostport
		if proto != "udp" {
			c += ";transport=" + proto
		}
		defaults = append(defaults, Header{"Contact", c + ">"})
	}
	if r.Body != "" {
		defaults = append(defaults, Header{"Content-Type", "application/sdp"})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, r.RURI)
	for _, h := range defaults {
		if _, ok := given[strings.ToLower(h.Name)]; !ok {
			fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
		}
	}
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.Body), r.Body)
	return b.String()
}

// token returns n random bytes in hex.
func token(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Cancel returns the CANCEL of an INVITE (text, as Text writes it or as
// a test wrote it), as its sender would send it: same Request-URI, top
// Via, From, To, Call-ID and CSeq number.
func Cancel(invite string) (string, error) {
	return derived(invite, "CANCEL", "")
}

// Ack returns the ACK of an INVITE for a negative reply with To tag
// totag, as the transaction sends it (same branch).
func Ack(invite, totag string) (string, error) {
	return derived(invite, "ACK", totag)
}

func derived(invite, method, totag string) (string, error) {
	m, err := kemitest.Parse(invite)
	if err != nil {
		return "", fmt.Errorf("enginetest: %w", err)
	}
	if !m.IsRequest() || m.Request().Method != sip.INVITE {
		return "", fmt.Errorf("enginetest: %s of something that is no INVITE", method)
	}
	req := m.Request()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, req.Recipient.String())
	if v := req.Via(); v != nil {
		fmt.Fprintf(&b, "Via: %s\r\n", v.Value())
	}
	to := req.To().Value()
	if totag != "" {
		to += ";tag=" + totag
	}
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", req.From().Value(), to, req.CallID().Value(), req.CSeq().SeqNo, method)
	for _, h := range req.GetHeaders("Route") {
		fmt.Fprintf(&b, "Route: %s\r\n", h.Value())
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String(), nil
}

// Authorize answers a digest challenge: header names the challenge
// ("WWW-Authenticate" or "Proxy-Authenticate") and challenge is its
// value. It returns req (text) sent again as its sender would: with the
// Authorization (or Proxy-Authorization) header for user and password
// (MD5; qop=auth when the challenge offers it), a new Via branch and the
// next CSeq.
func Authorize(req, header, challenge, user, password string) (string, error) {
	ch, err := kemi.ParseDigest(challenge)
	if err != nil {
		return "", fmt.Errorf("enginetest: challenge: %w", err)
	}
	m, err := kemitest.Parse(req)
	if err != nil || !m.IsRequest() {
		return "", fmt.Errorf("enginetest: authorize: not a request: %v", err)
	}
	r := m.Request()
	nonce, _ := ch.Param("nonce")
	uri := r.Recipient.String()
	md := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := md(user + ":" + ch.Realm + ":" + password)
	ha2 := md(string(r.Method) + ":" + uri)
	cred := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5`, user, ch.Realm, nonce, uri)
	if qop, _ := ch.Param("qop"); strings.Contains(qop, "auth") {
		cnonce, nc := token(8), "00000001"
		cred += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s", response="%s"`, nc, cnonce, md(ha1+":"+nonce+":"+nc+":"+cnonce+":auth:"+ha2))
	} else {
		cred += fmt.Sprintf(`, response="%s"`, md(ha1+":"+nonce+":"+ha2))
	}
	if opaque, ok := ch.Param("opaque"); ok {
		cred += fmt.Sprintf(`, opaque="%s"`, opaque)
	}
	name := "Authorization"
	if strings.EqualFold(header, "Proxy-Authenticate") {
		name = "Proxy-Authorization"
	}
	r.RemoveHeader(name)
	r.AppendHeader(sip.NewHeader(name, cred))
	if v := r.Via(); v != nil {
		v.Params.Add("branch", "z9hG4bK"+token(8))
	}
	if cs := r.CSeq(); cs != nil {
		cs.SeqNo++
	}
	return r.String(), nil
}
