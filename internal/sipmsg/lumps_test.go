package sipmsg

import (
	"strconv"
	"strings"
	"testing"
)

const lumpReq = `INVITE sip:bob@b.example SIP/2.0
Via: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP c.example;branch=z9hG4bK0
Max-Forwards: 70
From: <sip:a@a.example>;tag=1
To: <sip:bob@b.example>
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 2

hi`

func TestLumps(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name string
		edit func(m *Msg)
		want string // the expected message, "\n" for CRLF
	}{
		{"none", func(m *Msg) {}, lumpReq},
		{"proxy: Via, Max-Forwards, Record-Route", func(m *Msg) {
			m.InsertBefore(m.Find(HdrVia), b("Via"), b("SIP/2.0/UDP p.example;branch=z9hG4bKp"))
			m.SetValue(m.Find(HdrMaxForwards), b("69"))
			m.InsertTop(b("Record-Route"), b("<sip:p.example;lr>"))
		}, `INVITE sip:bob@b.example SIP/2.0
Record-Route: <sip:p.example;lr>
Via: SIP/2.0/UDP p.example;branch=z9hG4bKp
Via: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP c.example;branch=z9hG4bK0
Max-Forwards: 69
From: <sip:a@a.example>;tag=1
To: <sip:bob@b.example>
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 2

hi`},
		{"top twice, bottom twice", func(m *Msg) {
			m.InsertTop(b("X-T"), b("1"))
			m.InsertTop(b("X-T"), b("2"))
			m.Append(b("X-B"), b("1"))
			m.Append(b("X-B"), b("2"))
		}, strings.Replace(strings.Replace(lumpReq, "Content-Length: 2\n", "Content-Length: 2\nX-B: 1\nX-B: 2\n", 1),
			"SIP/2.0\n", "SIP/2.0\nX-T: 2\nX-T: 1\n", 1)},
		{"remove, replace, before and after a removed one", func(m *Msg) {
			id := m.Find(HdrCallID)
			m.Remove(id)
			m.InsertBefore(id, b("X-Before"), b("b"))
			m.InsertAfter(id, b("X-After"), b("a"))
			m.SetValue(m.Find(HdrTo), b("<sip:carol@c.example>"))
		}, strings.Replace(strings.Replace(lumpReq, "Call-ID: c1\n", "X-Before: b\nX-After: a\n", 1),
			"To: <sip:bob@b.example>", "To: <sip:carol@c.example>", 1)},
		{"after an added header, and change it", func(m *Msg) {
			a := m.InsertAfter(m.Find(HdrCSeq), b("X-A"), b("1"))
			m.InsertAfter(a, b("X-C"), b("3"))
			m.InsertBefore(a, b("X-Z"), b("0"))
			m.SetValue(a, b("2"))
		}, strings.Replace(lumpReq, "CSeq: 1 INVITE\n", "CSeq: 1 INVITE\nX-Z: 0\nX-A: 2\nX-C: 3\n", 1)},
		{"remove the first Via value", func(m *Msg) {
			m.RemoveValue(m.Find(HdrVia), 0)
		}, strings.Replace(lumpReq, "Via: SIP/2.0/UDP a.example;branch=z9hG4bK1, ", "Via: ", 1)},
		{"remove the last Via value", func(m *Msg) {
			m.RemoveValue(m.Find(HdrVia), 1)
		}, strings.Replace(lumpReq, ", SIP/2.0/UDP c.example;branch=z9hG4bK0", "", 1)},
		{"R-URI and body", func(m *Msg) {
			m.SetRURI(b("sip:carol@c.example"))
			m.SetBody(b("hello"))
		}, strings.Replace(strings.Replace(strings.Replace(lumpReq, "sip:bob@b.example SIP", "sip:carol@c.example SIP", 1),
			"Content-Length: 2", "Content-Length: 5", 1), "\nhi", "\nhello", 1)},
		{"first line wins over R-URI", func(m *Msg) {
			m.SetRURI(b("sip:carol@c.example"))
			m.SetFirstLine(b("SIP/2.0 200 OK"))
		}, strings.Replace(lumpReq, "INVITE sip:bob@b.example SIP/2.0", "SIP/2.0 200 OK", 1)},
		{"remove everything", func(m *Msg) {
			for id := range m.Headers() {
				m.Remove(id)
			}
		}, "INVITE sip:bob@b.example SIP/2.0\n\nhi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Msg
			in := crlf(lumpReq)
			if err := m.Parse(in); err != nil {
				t.Fatal(err)
			}
			tc.edit(&m)
			got := string(m.AppendTo(nil))
			if want := string(crlf(tc.want)); got != want {
				t.Errorf("AppendTo =\n%s\nwant\n%s", got, want)
			}
			if got2 := string(m.AppendTo(nil)); got2 != got {
				t.Error("a second AppendTo differs")
			}
			if string(in) != string(crlf(lumpReq)) {
				t.Error("the input buffer changed")
			}
			// what lookups see is what was written
			var w Msg
			if err := w.Parse([]byte(got)); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			var seen, written []string
			for id := range m.Headers() {
				seen = append(seen, string(m.Name(id))+": "+string(m.Value(id)))
			}
			for id := range w.Headers() {
				written = append(written, string(w.Name(id))+": "+string(w.Value(id)))
			}
			if strings.Join(seen, "|") != strings.Join(written, "|") {
				t.Errorf("lookups see\n%q\nwritten\n%q", seen, written)
			}
			if string(m.Body()) != string(w.Body()) {
				t.Errorf("Body %q, written %q", m.Body(), w.Body())
			}
		})
	}
}

func TestLumpsVisibleAtOnce(t *testing.T) {
	var m Msg
	if err := m.Parse(crlf(lumpReq)); err != nil {
		t.Fatal(err)
	}
	via, _ := m.TopVia()
	m.InsertBefore(m.Find(HdrVia), []byte("Via"), []byte("SIP/2.0/TCP p.example;branch=z9hG4bKnew"))
	via2, err := m.TopVia()
	if err != nil || string(via.Branch) != "z9hG4bK1" || string(via2.Branch) != "z9hG4bKnew" {
		t.Errorf("top Via branch before %q, after %q (%v)", via.Branch, via2.Branch, err)
	}
	if got := string(m.OrigGet(HdrVia)); !strings.HasPrefix(got, "SIP/2.0/UDP a.example") {
		t.Errorf("OrigGet(Via) = %q", got)
	}
	m.Remove(m.Find(HdrCallID))
	if m.CallID() != nil {
		t.Error("a removed Call-ID is found")
	}
	m.SetValue(m.Find(HdrCSeq), []byte("2 INVITE"))
	if cs, _ := m.CSeq(); cs.Num != 2 {
		t.Errorf("CSeq after SetValue: %d", cs.Num)
	}
	m.SetRURI([]byte("sip:x@y"))
	if u, _ := m.ParsedRURI(); string(u.Host) != "y" || string(m.OrigRURI()) != "sip:bob@b.example" {
		t.Errorf("R-URI host %q, original %q", u.Host, m.OrigRURI())
	}
	if m.Remove(NoHeader) || m.SetValue(99, nil) || m.InsertAfter(99, nil, nil) != NoHeader || m.RemoveValue(m.Find(HdrVia), 5) {
		t.Error("a change to a header that is not there succeeds")
	}
}

func TestAppendToAllocs(t *testing.T) {
	var m Msg
	in := readMsg(t, "invite16.sip")
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.Parse(in); err != nil {
			t.Fatal(err)
		}
		if err := m.Check(); err != nil {
			t.Fatal(err)
		}
		proxyEdit(&m)
		mk := m.Mark()
		m.SetRURI([]byte("sip:bob@192.0.2.9"))
		dst = m.AppendTo(dst[:0])
		m.Rollback(mk)
	})
	if allocs > 0 {
		t.Errorf("Parse, Check, lumps, Mark, AppendTo and Rollback allocate %v times", allocs)
	}
}

// proxyEdit is what a stateless proxy does to a request: its Via on
// top, Max-Forwards decremented, a Record-Route.
func proxyEdit(m *Msg) {
	m.InsertBefore(m.Find(HdrVia), viaName, proxyVia)
	if id := m.Find(HdrMaxForwards); id != NoHeader {
		n, _ := m.MaxForwards()
		var d [20]byte
		m.SetValue(id, strconv.AppendInt(d[:0], n-1, 10))
	}
	m.InsertTop(rrName, proxyRR)
}

var (
	viaName  = []byte("Via")
	rrName   = []byte("Record-Route")
	proxyVia = []byte("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKproxy1")
	proxyRR  = []byte("<sip:192.0.2.1;lr>")
)

func TestMarkRollback(t *testing.T) {
	var m Msg
	if err := m.Parse(crlf(lumpReq)); err != nil {
		t.Fatal(err)
	}
	b := func(s string) []byte { return []byte(s) }
	// the changes common to every branch
	m.SetValue(m.Find(HdrMaxForwards), b("69"))
	rr := m.InsertTop(b("Record-Route"), b("<sip:p.example;lr>"))
	common := string(m.AppendTo(nil))
	mk := m.Mark()
	for i, uri := range []string{"sip:bob@10.0.0.1", "sip:bob@10.0.0.2"} {
		m.SetRURI(b(uri))
		m.InsertBefore(m.Find(HdrVia), b("Via"), b("SIP/2.0/UDP p.example;branch=z9hG4bK"+uri[12:]))
		m.SetValue(rr, b("<sip:p2.example;lr>"))
		m.Remove(m.Find(HdrCallID))
		m.SetValue(m.Find(HdrMaxForwards), b("1"))
		out := string(m.AppendTo(nil))
		if !strings.Contains(out, "INVITE "+uri+" SIP/2.0") || !strings.Contains(out, "z9hG4bK"+uri[12:]) || strings.Contains(out, "Call-ID") {
			t.Errorf("branch %d:\n%s", i, out)
		}
		if v, _ := m.TopVia(); string(v.Branch) != "z9hG4bK"+uri[12:] {
			t.Errorf("branch %d: top Via branch %q", i, v.Branch)
		}
		m.Rollback(mk)
		if got := string(m.AppendTo(nil)); got != common {
			t.Errorf("after Rollback:\n%s\nwant\n%s", got, common)
		}
		if v, _ := m.TopVia(); string(v.Branch) != "z9hG4bK1" || string(m.RURI()) != "sip:bob@b.example" || string(m.CallID()) != "c1" {
			t.Errorf("after Rollback: top Via branch %q, R-URI %q, Call-ID %q", v.Branch, m.RURI(), m.CallID())
		}
	}
	m.Rollback(Mark{hdrs: 1000}) // not a Mark of this state: ignored
	if got := string(m.AppendTo(nil)); got != common {
		t.Error("a foreign Mark changed the message")
	}
}
