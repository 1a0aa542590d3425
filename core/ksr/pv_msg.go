package ksr

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// msgPVs are the pseudo-variables read from the message itself: Call-ID,
// CSeq, method, status, headers, body, buffer and credentials. All are
// read-only; use KSR.hdr to change headers.
func msgPVs() []kemi.PVClass {
	return []kemi.PVClass{
		ro("ci", headerPV("Call-ID")),
		ro("cs", func(m *kemi.Msg) kemi.Value {
			if cs := cseqOf(m); cs != nil {
				return kemi.Str(strconv.FormatUint(uint64(cs.SeqNo), 10))
			}
			return kemi.Null
		}),
		ro("rm", func(m *kemi.Msg) kemi.Value { return strOrNull(m.Method()) }),
		ro("rs", func(m *kemi.Msg) kemi.Value {
			if m.Res == nil {
				return kemi.Null
			}
			return kemi.Int(m.Res.StatusCode)
		}),
		ro("rr", func(m *kemi.Msg) kemi.Value {
			if m.Res == nil {
				return kemi.Null
			}
			return kemi.Str(m.Res.Reason)
		}),
		ro("ua", headerPV("User-Agent")),
		ro("ct", headerPV("Contact")),
		ro("cT", headerPV("Content-Type")),
		ro("cl", func(m *kemi.Msg) kemi.Value {
			v, ok := m.HeaderValue("Content-Length")
			if !ok {
				return kemi.Null
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return kemi.Null
			}
			return kemi.Int(n)
		}),
		ro("rb", func(m *kemi.Msg) kemi.Value {
			if m.SIP() == nil {
				return kemi.Null
			}
			return kemi.Str(string(m.Body()))
		}),
		ro("mb", func(m *kemi.Msg) kemi.Value { return strOrNull(string(m.Wire())) }),
		ro("mbu", func(m *kemi.Msg) kemi.Value { return strOrNull(currentMessage(m)) }),
		ro("ml", func(m *kemi.Msg) kemi.Value { return kemi.Int(len(m.Wire())) }),
		withParam("hdr", getHdr),
		withParam("hdrc", func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			return kemi.Int(len(headerBodies(m, p.Key(m)))), nil
		}),
		ro("au", credPV(func(c digestCreds) string { return c["username"] })),
		ro("aU", credPV(func(c digestCreds) string { u, _, _ := strings.Cut(c["username"], "@"); return u })),
		ro("ad", credPV(func(c digestCreds) string { _, d, _ := strings.Cut(c["username"], "@"); return d })),
		ro("ar", credPV(func(c digestCreds) string { return c["realm"] })),
	}
}

// headerPV reads the body of the first header called name.
func headerPV(name string) getter {
	return func(m *kemi.Msg) kemi.Value {
		if v, ok := m.HeaderValue(name); ok {
			return kemi.Str(v)
		}
		return kemi.Null
	}
}

// cseqOf returns the CSeq header, or nil.
func cseqOf(m *kemi.Msg) *sip.CSeqHeader {
	for _, h := range m.HeaderList() {
		if cs, ok := h.(*sip.CSeqHeader); ok {
			return cs
		}
	}
	return nil
}

// currentMessage is the message with every change applied so far.
func currentMessage(m *kemi.Msg) string {
	if s := m.SIP(); s != nil {
		return s.String()
	}
	return ""
}

// headerBodies returns the bodies of the headers called name; "*" means
// every header.
func headerBodies(m *kemi.Msg, name string) []string {
	if name != "*" {
		return m.HeaderValues(name)
	}
	var out []string
	for _, h := range m.HeaderList() {
		out = append(out, h.Value())
	}
	return out
}

// getHdr is $hdr(Name), $hdr(Name)[n] (negative n counts from the end) and
// $hdr(Name)[*] (every body joined with ",").
func getHdr(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	bodies := headerBodies(m, p.Key(m))
	if len(bodies) == 0 {
		return kemi.Null, nil
	}
	if p.IndexAll {
		return kemi.Str(strings.Join(bodies, ",")), nil
	}
	i := p.Index
	if i < 0 {
		i += len(bodies)
	}
	if i < 0 || i >= len(bodies) {
		return kemi.Null, nil
	}
	return kemi.Str(bodies[i]), nil
}

// digestCreds are the parameters of a Digest credentials header, by lower
// case name.
type digestCreds map[string]string

// credPV reads a part of the credentials of the request: of the
// Proxy-Authorization header, else of the Authorization header. Null when
// there are none, and for ACK and CANCEL as in Kamailio; "" when the part
// is missing.
func credPV(part func(c digestCreds) string) getter {
	return func(m *kemi.Msg) kemi.Value {
		c := credentials(m)
		if c == nil {
			return kemi.Null
		}
		return kemi.Str(part(c))
	}
}

// credentials parses the credentials of a request, or returns nil.
func credentials(m *kemi.Msg) digestCreds {
	if m.Req == nil || m.Req.Method == sip.ACK || m.Req.Method == sip.CANCEL {
		return nil
	}
	v, ok := m.HeaderValue("Proxy-Authorization")
	if !ok {
		if v, ok = m.HeaderValue("Authorization"); !ok {
			return nil
		}
	}
	return parseDigest(v)
}

// parseDigest parses `Digest username="a", realm="b", nc=00000001`: the
// scheme, then comma-separated name=value pairs, values optionally quoted.
func parseDigest(s string) digestCreds {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t"); i > 0 && !strings.Contains(s[:i], "=") {
		s = s[i+1:]
	}
	out := digestCreds{}
	for s != "" {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		val, s = digestValue(s)
		out[name] = val
	}
	return out
}

// digestValue reads one value (quoted with \-escapes, or a token up to the
// next comma) and returns it with the rest of the text.
func digestValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		end := strings.IndexByte(s, ',')
		if end < 0 {
			return strings.TrimSpace(s), ""
		}
		return strings.TrimSpace(s[:end]), s[end+1:]
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}
