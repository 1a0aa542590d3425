package ksr

import (
	"strconv"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// msgPVs are the pseudo-variables read from the message itself: Call-ID,
// CSeq, method, status, headers, body, buffer and credentials. All are
// read-only; use KSR.hdr to change headers.
func msgPVs() []kemi.PVClass {
	return []kemi.PVClass{
		ro("ci", headerPV("Call-ID")),
		ro("cs", func(m *kemi.Msg) kemi.Value {
			if n, ok := m.CSeqNum(); ok {
				return kemi.Str(strconv.FormatUint(uint64(n), 10))
			}
			return kemi.Null
		}),
		ro("rm", func(m *kemi.Msg) kemi.Value { return strOrNull(m.Method()) }),
		ro("rs", func(m *kemi.Msg) kemi.Value {
			if !m.IsReply() {
				return kemi.Null
			}
			return kemi.Int(m.StatusCode())
		}),
		ro("rr", func(m *kemi.Msg) kemi.Value {
			if !m.IsReply() {
				return kemi.Null
			}
			return kemi.Str(m.Reason())
		}),
		ro("ua", headerPV("User-Agent")),
		ro("ct", headerPV("Contact")),
		ro("cT", headerPV("Content-Type")),
		ro("cl", func(m *kemi.Msg) kemi.Value {
			v, ok := m.HeaderBody("Content-Length")
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
			b, ok := m.BodyText()
			if !ok {
				return kemi.Null
			}
			return kemi.Str(b)
		}),
		ro("mb", func(m *kemi.Msg) kemi.Value { return strOrNull(string(m.Wire())) }),
		ro("mbu", func(m *kemi.Msg) kemi.Value { return strOrNull(currentMessage(m)) }),
		ro("ml", func(m *kemi.Msg) kemi.Value { return kemi.Int(len(m.Wire())) }),
		withParam("hdr", getHdr),
		withParam("hdrc", func(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
			if name := p.Key(m); name != "*" {
				return kemi.Int(m.HeaderCount(name)), nil
			}
			return kemi.Int(len(m.AllHeaderBodies())), nil
		}),
		ro("au", credPV(func(d *kemi.Digest) string { return d.User })),     // user part, as KSR.kx.get_au
		ro("aU", credPV(func(d *kemi.Digest) string { return d.Username })), // the whole username
		ro("ad", credPV(func(d *kemi.Digest) string { return d.Domain })),
		ro("ar", credPV(func(d *kemi.Digest) string { return d.Realm })),
	}
}

// headerPV reads the body of the first header called name: on a message
// still lazy, as received (see kemi.Msg.HeaderBody).
func headerPV(name string) getter {
	return func(m *kemi.Msg) kemi.Value {
		if v, ok := m.HeaderBody(name); ok {
			return kemi.Str(v)
		}
		return kemi.Null
	}
}

// currentMessage is the message with every change applied so far.
func currentMessage(m *kemi.Msg) string { return m.Current() }

// headerBodies returns the bodies of the headers called name; "*" means
// every header.
func headerBodies(m *kemi.Msg, name string) []string {
	if name != "*" {
		return m.HeaderBodies(name)
	}
	return m.AllHeaderBodies()
}

// getHdr is $hdr(Name), $hdr(Name)[n] (negative n counts from the end) and
// $hdr(Name)[*] (every body joined with ","). On a message still lazy a
// body is a header line's value as received, as in Kamailio (see
// kemi.Msg.HeaderBody).
func getHdr(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	name := p.Key(m)
	if p.IndexAll || name == "*" {
		return pickBody(headerBodies(m, name), p), nil
	}
	if v, ok := m.HeaderBodyAt(name, p.Index); ok {
		return kemi.Str(v), nil
	}
	return kemi.Null, nil
}

// pickBody is the body of bodies that the index of p names (all joined
// with "," for [*]), Null when there is none.
func pickBody(bodies []string, p *kemi.PVName) kemi.Value {
	if len(bodies) == 0 {
		return kemi.Null
	}
	if p.IndexAll {
		return kemi.Str(strings.Join(bodies, ","))
	}
	i := p.Index
	if i < 0 {
		i += len(bodies)
	}
	if i < 0 || i >= len(bodies) {
		return kemi.Null
	}
	return kemi.Str(bodies[i])
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
