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
			if !m.IsReply() {
				return kemi.Null
			}
			return kemi.Int(m.Response().StatusCode)
		}),
		ro("rr", func(m *kemi.Msg) kemi.Value {
			if !m.IsReply() {
				return kemi.Null
			}
			return kemi.Str(m.Response().Reason)
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
		ro("au", credPV(func(d *kemi.Digest) string { return d.User })),     // user part, as KSR.kx.get_au
		ro("aU", credPV(func(d *kemi.Digest) string { return d.Username })), // the whole username
		ro("ad", credPV(func(d *kemi.Digest) string { return d.Domain })),
		ro("ar", credPV(func(d *kemi.Digest) string { return d.Realm })),
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

// credPV reads a part of the Digest credentials of the message (see
// kemi.Msg.Credentials): Null when there are none, and for ACK and CANCEL
// as in Kamailio; "" when the part is missing.
func credPV(part func(d *kemi.Digest) string) getter {
	return func(m *kemi.Msg) kemi.Value {
		d, ok := m.Credentials()
		if !ok {
			return kemi.Null
		}
		return kemi.Str(part(d))
	}
}
