package sanity

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// The checks below follow Kamailio's sanity module: what each verifies,
// the reply it asks for (code 0: none) and whether it marks the message as
// not to be answered at all.

func fail(check string, code int, reason, why string) *failure {
	return &failure{check: check, code: code, reason: reason, why: why}
}

// silent is a failure Kamailio does not answer.
func silent(check, why string) *failure {
	return &failure{check: check, why: why}
}

// unanswerable is a failure after which the message is not answered at
// all, not even by sanity_reply (Kamailio's FL_MSG_NOREPLY).
func unanswerable(check, why string) *failure {
	return &failure{check: check, why: why, noReply: true}
}

// checkRURIVersionFn (1): the version of the request line must be x/2.0.
// Replies have no request line: the check does not apply to them.
func checkRURIVersionFn(m *kemi.Msg, _ int) *failure {
	const name = "ruri_sip_version"
	if !m.IsRequest() || m.Request().SipVersion == "" {
		return nil
	}
	_, version, ok := strings.Cut(m.Request().SipVersion, "/")
	if !ok {
		return silent(name, "no / in the request line version "+m.Request().SipVersion)
	}
	if version != "2.0" {
		return fail(name, 505, "Version Not Supported (R-URI)", "request line version "+m.Request().SipVersion)
	}
	return nil
}

// checkRURISchemeFn (2): the R-URI must be sip, sips, tel, tels or urn, and
// parse. Requests only.
func checkRURISchemeFn(m *kemi.Msg, _ int) *failure {
	const name = "ruri_scheme"
	if !m.IsRequest() {
		return nil
	}
	u := &m.Request().Recipient
	if !supportedScheme(u.Scheme) {
		return fail(name, 416, "Unsupported URI Scheme in Request URI", "R-URI scheme "+u.Scheme)
	}
	if err := kemi.CheckURI(u); err != nil {
		return fail(name, 400, "Bad Request URI", "R-URI: "+err.Error())
	}
	return nil
}

// checkRequiredHeaders (4): From, To, Call-ID, CSeq and Via must be there,
// and From, To, Call-ID and CSeq only once.
func checkRequiredHeaders(m *kemi.Msg, _ int) *failure {
	const name = "required_headers"
	count := map[string]int{}
	for _, h := range m.HeaderList() {
		count[kemi.CanonicalHeader(h.Name())]++
	}
	for _, h := range []string{"from", "to", "call-id", "cseq"} {
		if count[h] == 0 {
			return unanswerable(name, "no "+h+" header")
		}
	}
	if count["via"] == 0 {
		return unanswerable(name, "no via header")
	}
	for _, h := range []string{"from", "to", "call-id", "cseq"} {
		if count[h] > 1 {
			return silent(name, "duplicate "+h+" header")
		}
	}
	return nil
}

// firstVia returns the first Via value, parsed.
func firstVia(m *kemi.Msg) (*sip.ViaHeader, string) {
	h := firstNamed(m, "via")
	if h == nil {
		return nil, "no Via header"
	}
	hs, err := structured(h, "Via")
	if err != nil {
		return nil, "Via does not parse: " + err.Error()
	}
	v, ok := hs[0].(*sip.ViaHeader)
	if !ok {
		return nil, "Via does not parse"
	}
	return v, ""
}

// checkVia1Header (16384): the first Via parses and has a host and a
// branch. A failure is not answered.
func checkVia1Header(m *kemi.Msg, _ int) *failure {
	const name = "via1_header"
	v, why := firstVia(m)
	if v == nil {
		return unanswerable(name, why)
	}
	if strings.TrimSpace(v.Host) == "" {
		return unanswerable(name, "no host in the first Via")
	}
	if b, _ := v.Params.Get("branch"); b == "" {
		return unanswerable(name, "no branch in the first Via")
	}
	return nil
}

// checkRFC3261Compliance (32768): the branch of the first Via starts with
// the magic cookie, and every Record-Route and Route URI has lr.
func checkRFC3261Compliance(m *kemi.Msg, _ int) *failure {
	const name = "rfc3261"
	v, why := firstVia(m)
	if v == nil {
		return unanswerable(name, why)
	}
	if b, _ := v.Params.Get("branch"); !strings.HasPrefix(b, "z9hG4bK") {
		return silent(name, "first Via branch "+strconv.Quote(b)+" lacks the magic cookie")
	}
	for _, hn := range []string{"Record-Route", "Route"} {
		for _, h := range m.Headers(hn) {
			uris, err := addressURIs(h, hn)
			if err != nil {
				return silent(name, hn+" does not parse: "+err.Error())
			}
			for _, u := range uris {
				if err := kemi.CheckURI(u); err != nil {
					return silent(name, hn+" URI: "+err.Error())
				}
				if !u.UriParams.Has("lr") {
					return silent(name, "no lr in "+hn+" URI "+u.String())
				}
			}
		}
	}
	return nil
}

// checkCSeqMethodFn (32): the CSeq method is the request method, exactly.
// Requests only.
func checkCSeqMethodFn(m *kemi.Msg, _ int) *failure {
	const name = "cseq_method"
	if !m.IsRequest() {
		return nil
	}
	h := firstNamed(m, "cseq")
	if h == nil {
		return silent(name, "no CSeq header")
	}
	_, method, ok := cseqParts(h.Value())
	if !ok {
		return unanswerable(name, "CSeq does not parse: "+h.Value())
	}
	if method != requestMethod(m) {
		return fail(name, 400, "CSeq method does not match request method", "CSeq method "+method)
	}
	return nil
}

// checkCSeqValueFn (64): the CSeq number is below 2^31.
func checkCSeqValueFn(m *kemi.Msg, _ int) *failure {
	const name = "cseq_value"
	h := firstNamed(m, "cseq")
	if h == nil {
		return unanswerable(name, "no CSeq header")
	}
	num, _, ok := cseqParts(h.Value())
	if !ok {
		return unanswerable(name, "CSeq does not parse: "+h.Value())
	}
	if !validUint(num, 1<<31-1) {
		return fail(name, 400, "CSeq number is illegal", "CSeq number "+num)
	}
	return nil
}

// checkContentLength (128): the Content-Length value is the size of the
// body, in the message as received (as Kamailio) and in the message as it
// is now. No Content-Length passes.
func checkContentLength(m *kemi.Msg, _ int) *failure {
	const name = "content_length"
	check := func(cl string, body int, where string) *failure {
		n, err := strconv.ParseUint(strings.TrimSpace(cl), 10, 32)
		if err != nil {
			return fail(name, 400, "Content-Length Failure", "invalid Content-Length "+strconv.Quote(cl)+where)
		}
		if int(n) != body {
			return fail(name, 400, "Content-Length mis-match",
				"Content-Length "+strconv.FormatUint(n, 10)+", body "+strconv.Itoa(body)+where)
		}
		return nil
	}
	if m.Raw != nil {
		w := splitWire(m.Raw)
		if cl, ok := w.first("content-length"); ok {
			if f := check(cl, w.body, " (as received)"); f != nil {
				return f
			}
		}
	}
	if h := firstNamed(m, "content-length"); h != nil {
		return check(h.Value(), len(m.Body()), "")
	}
	return nil
}

// checkExpiresValue (256): the first Expires value is a 32-bit unsigned
// number (anything after white space following the digits is ignored).
func checkExpiresValue(m *kemi.Msg, _ int) *failure {
	const name = "expires_value"
	h := firstNamed(m, "expires")
	if h == nil {
		return nil
	}
	text := strings.TrimSpace(h.Value())
	if text == "" {
		return fail(name, 400, "Bad Expires Header", "empty Expires")
	}
	if i := strings.IndexAny(text, " \t\r\n"); i > 0 && validUint(text[:i], 1<<32-1) {
		text = text[:i]
	}
	if !validUint(text, 1<<32-1) {
		return fail(name, 400, "Expires value is illegal", "Expires "+strconv.Quote(text))
	}
	return nil
}

// checkProxyRequire (512): every option tag of every Proxy-Require header
// is one of the proxy_require parameter. The first unsupported one is
// named in an Unsupported header of the 420 reply.
func (mod *Module) checkProxyRequire(m *kemi.Msg, _ int) *failure {
	const name = "proxy_require"
	for _, h := range m.Headers("proxy-require") {
		v := strings.TrimSpace(h.Value())
		if v == "" {
			return fail(name, 400, "Bad Proxy Require Header", "empty Proxy-Require")
		}
		for _, tok := range strings.Split(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				return fail(name, 400, "Bad Proxy Require Header", "empty option tag in Proxy-Require "+strconv.Quote(v))
			}
			if !mod.supported(tok) {
				if m.IsRequest() {
					m.ReplyHeaders = append(m.ReplyHeaders, sip.NewHeader("Unsupported", tok))
				}
				return fail(name, 420, "Bad Proxy Require Extension", "unsupported extension "+tok)
			}
		}
	}
	return nil
}

// supported reports whether tok is in proxy_require (option tags are
// tokens: compared case-insensitively).
func (mod *Module) supported(tok string) bool {
	for _, s := range mod.proxyRequire {
		if strings.EqualFold(s, tok) {
			return true
		}
	}
	return false
}

// checkParseURIsFn (1024): the URIs selected by uriChecks are there and
// parse: the R-URI (requests only), the From and To URIs, every Contact
// URI.
func checkParseURIsFn(m *kemi.Msg, uriChecks int) *failure {
	const name = "parse_uris"
	if uriChecks&uriRURI != 0 && m.IsRequest() {
		if err := kemi.CheckURI(&m.Request().Recipient); err != nil {
			return fail(name, 400, "Bad Request URI", "R-URI: "+err.Error())
		}
	}
	for _, x := range []struct {
		bit    int
		header string
	}{{uriFrom, "From"}, {uriTo, "To"}} {
		if uriChecks&x.bit == 0 {
			continue
		}
		h := firstNamed(m, x.header)
		if h == nil || strings.TrimSpace(h.Value()) == "" {
			return unanswerable(name, "no "+x.header+" header")
		}
		uris, err := addressURIs(h, x.header)
		if err == nil && len(uris) == 1 {
			err = kemi.CheckURI(uris[0])
		} else if err == nil {
			err = errNotOne
		}
		if err != nil {
			return fail(name, 400, "Invalid "+x.header+" Header", x.header+": "+err.Error())
		}
	}
	if uriChecks&uriContact != 0 {
		for _, h := range m.Headers("contact") {
			uris, err := addressURIs(h, "Contact")
			if err != nil {
				return fail(name, 400, "Bad Contact Header", "Contact: "+err.Error())
			}
			for _, u := range uris {
				if u.Wildcard {
					continue // Contact: *
				}
				if err := kemi.CheckURI(u); err != nil {
					return fail(name, 400, "Bad Contact URI", "Contact: "+err.Error())
				}
			}
		}
	}
	return nil
}

const errNotOne = sanityError("not exactly one address")

// checkCredentials (2048 and 8192): every Authorization, then every
// Proxy-Authorization header holds complete digest credentials with a
// username, a nonce and a response. Credentials of another scheme end the
// check: a failure without a reply for the digest check (2048), a pass
// for the Authorization check (8192).
func checkCredentials(m *kemi.Msg, name string, digestOnly bool) *failure {
	hs := append(m.Headers("authorization"), m.Headers("proxy-authorization")...)
	for _, h := range hs {
		d, err := kemi.ParseDigest(h.Value())
		switch {
		case errors.Is(err, kemi.ErrNotDigest) && digestOnly:
			return silent(name, "not digest credentials: "+h.Name())
		case errors.Is(err, kemi.ErrNotDigest):
			return nil
		case err != nil:
			return fail(name, 400, "Bad Auth Header", h.Name()+": "+err.Error())
		case !completeDigest(d):
			return fail(name, 400, "Bad Auth Credentials", h.Name()+": incomplete digest credentials")
		case d.Username == "":
			return fail(name, 400, "Auth Empty User", h.Name()+": empty username")
		}
		if nonce, _ := d.Param("nonce"); nonce == "" {
			return fail(name, 400, "Auth Empty Nonce", h.Name()+": empty nonce")
		}
		if resp, _ := d.Param("response"); resp == "" {
			return fail(name, 400, "Auth Empty Response", h.Name()+": empty response")
		}
	}
	return nil
}

// checkDuplicateTags (4096): From and To have at most one tag parameter.
// sipgo keeps one of them only, so the headers are also looked at as
// received.
func checkDuplicateTags(m *kemi.Msg, _ int) *failure {
	const name = "duplicate_tags"
	var w *wireMsg
	if m.Raw != nil {
		x := splitWire(m.Raw)
		w = &x
	}
	for _, hn := range []string{"From", "To"} {
		h := firstNamed(m, hn)
		if h == nil {
			return unanswerable(name, "no "+hn+" header")
		}
		if _, err := addressURIs(h, hn); err != nil {
			return unanswerable(name, hn+" does not parse: "+err.Error())
		}
		n := countTags(h.Value())
		if w != nil {
			if raw, ok := w.first(hn); ok {
				n = max(n, countTags(raw))
			}
		}
		if n > 1 {
			return fail(name, 400, "Many "+hn+" Tag Params", strconv.Itoa(n)+" tags in "+hn)
		}
	}
	return nil
}

// checkSizes (65536, or every call with size_checks): the message and its
// parts are within the size_* limits. A failure is not answered.
func (mod *Module) checkSizes(m *kemi.Msg) *failure {
	const name = "sizes"
	lim := mod.size
	w := splitWire(m.Wire())
	over := func(what string, size, limit int) *failure {
		if limit > 0 && size > limit {
			return silent(name, what+" size "+strconv.Itoa(size)+" above "+strconv.Itoa(limit))
		}
		return nil
	}
	if f := over("message", w.total, lim.message); f != nil {
		return f
	}
	if m.IsRequest() {
		if f := over("R-URI", len(m.RURI()), lim.ruri); f != nil {
			return f
		}
		if f := over("method", len(requestMethod(m)), lim.method); f != nil {
			return f
		}
	} else if h := firstNamed(m, "cseq"); h != nil {
		_, method, _ := cseqParts(h.Value())
		if f := over("method", len(method), lim.method); f != nil {
			return f
		}
	}
	if lim.header > 0 {
		for _, fl := range w.fields {
			if f := over("header "+fl.name, fl.size, lim.header); f != nil {
				return f
			}
		}
	}
	for _, x := range []struct {
		header string
		limit  int
	}{{"From", lim.fromURI}, {"To", lim.toURI}} {
		if x.limit == 0 {
			continue
		}
		h := firstNamed(m, x.header)
		if h == nil {
			return silent(name, "no "+x.header+" header")
		}
		uris, err := addressURIs(h, x.header)
		if err != nil || len(uris) == 0 {
			return silent(name, x.header+" does not parse")
		}
		if f := over(x.header+" URI", len(uris[0].String()), x.limit); f != nil {
			return f
		}
	}
	if f := over("body", w.body, lim.body); f != nil {
		return f
	}
	if f := over("headers", w.headers, lim.headers); f != nil {
		return f
	}
	lists := []struct {
		header string
		limit  int
	}{{"Contact", lim.contactURI}, {"Route", lim.routeURI}, {"Record-Route", lim.routeURI}}
	for _, x := range lists {
		if x.limit == 0 {
			continue
		}
		for _, h := range m.Headers(x.header) {
			uris, err := addressURIs(h, x.header)
			if err != nil {
				return silent(name, x.header+" does not parse")
			}
			for _, u := range uris {
				if f := over(x.header+" URI", len(u.String()), x.limit); f != nil {
					return f
				}
			}
		}
	}
	for _, x := range []struct {
		header string
		limit  int
	}{{"Path", lim.pathURI}, {"P-Asserted-Identity", lim.paiURI}} {
		if x.limit == 0 {
			continue
		}
		for _, h := range m.Headers(x.header) {
			uris, err := nameAddrURIs(h.Value())
			if err != nil {
				return silent(name, x.header+" does not parse")
			}
			for _, u := range uris {
				if f := over(x.header+" URI", len(u.String()), x.limit); f != nil {
					return f
				}
			}
		}
	}
	return nil
}
