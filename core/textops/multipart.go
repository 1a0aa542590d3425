package textops

import (
	"fmt"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// defaultBoundary is the boundary Kamailio uses for the bodies it makes
// multipart.
const defaultBoundary = "unique-boundary-1"

// mimePart is one part of a multipart body.
type mimePart struct {
	hdrs    string // header lines, each ending with CRLF
	content string
	raw     string // the part as received, from its first line through the next delimiter line
}

// contentType returns the value of the part's Content-Type header.
func (p mimePart) contentType() string {
	for _, l := range strings.Split(p.hdrs, "\n") {
		name, value, ok := strings.Cut(strings.TrimRight(l, "\r"), ":")
		if ok && kemi.CanonicalHeader(name) == "content-type" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// multipartBody is a parsed multipart body (RFC 2046 §5.1).
type multipartBody struct {
	boundary string
	preamble string // text before the first delimiter line, with the CRLF before it
	parts    []mimePart
	epilogue string // text after the close delimiter ("--b--")
}

// boundaryOf returns the boundary parameter of a Content-Type value.
func boundaryOf(ct string) string {
	_, params, _ := strings.Cut(ct, ";")
	for _, p := range strings.Split(params, ";") {
		name, value, ok := strings.Cut(p, "=")
		if ok && strings.EqualFold(strings.TrimSpace(name), "boundary") {
			return strings.Trim(strings.TrimSpace(value), `"`)
		}
	}
	return ""
}

// parseMultipart splits body at the delimiter lines "--boundary". A
// missing close delimiter is accepted (Kamailio writes bodies without it
// until the message is sent).
func parseMultipart(body, boundary string) (*multipartBody, error) {
	if boundary == "" {
		return nil, fmt.Errorf("no boundary")
	}
	delim := "--" + boundary
	type dline struct {
		start, next int // the delimiter line and the first byte after it
		close       bool
	}
	var lines []dline
	for pos := 0; pos < len(body); {
		i := strings.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		pos = i + len(delim)
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		d := dline{start: i, close: strings.HasPrefix(body[pos:], "--")}
		nl := strings.IndexByte(body[pos:], '\n')
		rest := body[pos:]
		if nl >= 0 {
			rest = body[pos : pos+nl]
			d.next = pos + nl + 1
		} else {
			d.next = len(body)
		}
		if d.close {
			rest = rest[2:]
		}
		if strings.Trim(rest, " \t\r") != "" {
			// "--boundary" must be followed by white space only
			continue
		}
		lines = append(lines, d)
		pos = d.next
		if d.close {
			break
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("no delimiter line %q in the body", delim)
	}
	mp := &multipartBody{boundary: boundary, preamble: body[:lines[0].start]}
	for k, d := range lines {
		if d.close {
			mp.epilogue = body[d.start+len(delim)+2:]
			break
		}
		end := len(body)
		rawEnd := len(body)
		if k+1 < len(lines) {
			end = lines[k+1].start
			rawEnd = lines[k+1].next
		} else if strings.TrimSpace(body[d.next:]) == "" {
			// a last delimiter without "--" and nothing after it closes
			// the body
			break
		}
		text := body[d.next:end]
		// the line break before a delimiter belongs to the delimiter
		if k+1 < len(lines) {
			text = strings.TrimSuffix(text, "\n")
			text = strings.TrimSuffix(text, "\r")
		}
		p := mimePart{raw: body[d.next:rawEnd]}
		switch {
		case strings.HasPrefix(text, "\r\n"):
			p.content = text[2:]
		case strings.HasPrefix(text, "\n"):
			p.content = text[1:]
		default:
			if i := strings.Index(text, "\r\n\r\n"); i >= 0 {
				p.hdrs, p.content = text[:i+2], text[i+4:]
			} else if i := strings.Index(text, "\n\n"); i >= 0 {
				p.hdrs, p.content = text[:i+1], text[i+2:]
			} else {
				p.hdrs = text
			}
		}
		// header lines are written back with CRLF line ends
		p.hdrs = strings.ReplaceAll(strings.ReplaceAll(p.hdrs, "\r\n", "\n"), "\n", "\r\n")
		mp.parts = append(mp.parts, p)
	}
	if mp.epilogue == "" && !lines[len(lines)-1].close {
		mp.epilogue = "\r\n"
	}
	return mp, nil
}

// String writes the body back with a close delimiter.
func (mp *multipartBody) String() string {
	var b strings.Builder
	b.WriteString(mp.preamble)
	for _, p := range mp.parts {
		b.WriteString("--" + mp.boundary + "\r\n")
		b.WriteString(p.hdrs)
		b.WriteString("\r\n")
		b.WriteString(p.content)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + mp.boundary + "--")
	b.WriteString(mp.epilogue)
	return b.String()
}

// find returns the index of the first part whose Content-Type is ctype
// (compared without regard to case), or -1.
func (mp *multipartBody) find(ctype string) int {
	for i, p := range mp.parts {
		if strings.EqualFold(p.contentType(), strings.TrimSpace(ctype)) {
			return i
		}
	}
	return -1
}

// newPart builds a part as Kamailio's generate_boundary: Content-Type
// (which may carry more header lines after "\r\n"), the optional
// Content-Disposition, then the text. A text ending with an empty line
// lends its last line break to the delimiter that follows.
func newPart(txt, ctype, cdisp string) mimePart {
	hdrs := "Content-Type: " + ctype + "\r\n"
	if cdisp != "" {
		hdrs += "Content-Disposition: " + cdisp + "\r\n"
	}
	if strings.HasSuffix(txt, "\r\n\r\n") {
		txt = txt[:len(txt)-2]
	}
	return mimePart{hdrs: hdrs, content: txt}
}

// messageMultipart parses the body of m as multipart/mixed.
func (mod *Module) messageMultipart(m *kemi.Msg, fn string) (*multipartBody, bool) {
	body := string(m.Body())
	if body == "" {
		return nil, false
	}
	full, media := contentType(m)
	if media != "multipart/mixed" {
		m.Errorf(mod.log, "%s: the body is not multipart/mixed", fn)
		return nil, false
	}
	mp, err := parseMultipart(body, boundaryOf(full))
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return nil, false
	}
	return mp, true
}

// filterBody keeps only the content of the first part of type ctype. The
// Content-Type header is left as it is, as in Kamailio.
func (mod *Module) filterBody(m *kemi.Msg, a kemi.Args) kemi.Value {
	mp, ok := mod.messageMultipart(m, "filter_body")
	if !ok {
		return kemi.Fail
	}
	i := mp.find(a.Str(0))
	if i < 0 {
		return kemi.Fail
	}
	m.SetBody([]byte(mp.parts[i].content), "")
	return kemi.OK
}

// getBodyPart stores in a pseudo-variable the content (raw: the whole
// part with its headers and the delimiter line after it) of the first part
// of type ctype. A body that is not multipart is stored whole.
func (mod *Module) getBodyPart(m *kemi.Msg, fn string, a kemi.Args, raw bool) kemi.Value {
	pv, err := mod.pvs.Parse(a.Str(1))
	if err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	if pv.Class.Set == nil {
		m.Errorf(mod.log, "%s: %s is read-only", fn, a.Str(1))
		return kemi.Fail
	}
	body := string(m.Body())
	if body == "" {
		return kemi.Fail
	}
	full, _ := contentType(m)
	var val string
	if b := boundaryOf(full); b == "" {
		val = body
	} else {
		mp, err := parseMultipart(body, b)
		if err != nil {
			m.Errorf(mod.log, "%s: %v", fn, err)
			return kemi.Fail
		}
		i := mp.find(a.Str(0))
		if i < 0 {
			return kemi.Fail
		}
		val = mp.parts[i].content
		if raw {
			val = mp.parts[i].raw
		}
	}
	if err := pv.Set(m, kemi.Str(val)); err != nil {
		m.Errorf(mod.log, "%s: %v", fn, err)
		return kemi.Fail
	}
	return kemi.OK
}

// removeBodyPart removes the first part of type ctype.
func (mod *Module) removeBodyPart(m *kemi.Msg, a kemi.Args) kemi.Value {
	mp, ok := mod.messageMultipart(m, "remove_body_part")
	if !ok {
		return kemi.Fail
	}
	i := mp.find(a.Str(0))
	if i < 0 {
		return kemi.Fail
	}
	mp.parts = append(mp.parts[:i], mp.parts[i+1:]...)
	m.SetBody([]byte(mp.String()), "")
	return kemi.OK
}

// appendBodyPart adds a part at the end of a multipart/mixed body.
func (mod *Module) appendBodyPart(m *kemi.Msg, fn, txt, ctype, cdisp string, hex bool) kemi.Value {
	body, ok := mod.bodyArg(m, fn, txt, hex)
	if !ok {
		return kemi.Fail
	}
	if ctype == "" {
		m.Errorf(mod.log, "%s: empty content type", fn)
		return kemi.Fail
	}
	mp, ok := mod.messageMultipart(m, fn)
	if !ok {
		return kemi.Fail
	}
	mp.parts = append(mp.parts, newPart(string(body), ctype, cdisp))
	m.SetBody([]byte(mp.String()), "")
	return kemi.OK
}

// setBodyMultipart makes the body multipart/mixed: with txt, a single part
// holding txt (of type ctype, text/plain by default); without, the
// current body becomes the single part. A body that already is
// multipart/mixed is left alone when txt is empty.
func (mod *Module) setBodyMultipart(m *kemi.Msg, txt, ctype, boundary string) kemi.Value {
	const fn = "set_body_multipart"
	if m.SIP() == nil {
		return kemi.Fail
	}
	if boundary == "" {
		boundary = defaultBoundary
	}
	if strings.HasPrefix(boundary, "-") || strings.ContainsAny(boundary, "\"\r\n") {
		m.Errorf(mod.log, "%s: invalid boundary %q", fn, boundary)
		return kemi.Fail
	}
	if ctype == "" {
		ctype = "text/plain"
	}
	full, media := contentType(m)
	isMultipart := media == "multipart/mixed"
	if isMultipart && txt == "" {
		return kemi.OK
	}
	var part mimePart
	switch {
	case txt != "":
		part = newPart(txt, ctype, "")
	case len(m.Body()) > 0:
		if full != "" {
			ctype = full
		}
		part = newPart(string(m.Body()), ctype, "")
	default:
		m.Errorf(mod.log, "%s: no body to be set in the message", fn)
		return kemi.Fail
	}
	mp := &multipartBody{boundary: boundary, parts: []mimePart{part}, epilogue: "\r\n"}
	m.SetBody([]byte(mp.String()), `multipart/mixed;boundary="`+boundary+`"`)
	if !isMultipart && !m.HasHeader("Mime-Version") {
		hs, err := kemi.ParseHeaders("Mime-Version: 1.0")
		if err == nil {
			m.AppendHeaders(hs...)
		}
	}
	return kemi.OK
}
