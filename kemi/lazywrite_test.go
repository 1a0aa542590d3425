package kemi

import (
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// writeMsg is the message of the change tests: a Via and a Route comma
// list (sipgo splits them into one header per value).
const writeMsg = "INVITE sip:bob@example.com SIP/2.0\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK2\n" +
	"Route: <sip:192.0.2.5;lr>, <sip:192.0.2.6;lr>\n" +
	"Max-Forwards: 70\n" +
	"From: <sip:alice@example.com>;tag=a\nTo: <sip:bob@example.com>\n" +
	"Call-ID: write-1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"

// bothForms returns text as a lazy message and as sipgo's.
func bothForms(t *testing.T, text string) (lazy, eager *Msg) {
	t.Helper()
	msg, err := sip.ParseMessage([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return lazyMsg(t, text), RequestMsg(msg.(*sip.Request))
}

// headerLinesOf returns the headers of m as "Name: value", one per value
// of the lists sipgo splits: what sipgo's form of m holds.
func headerLinesOf(m *Msg) []string {
	if m.Lazy() != nil {
		c := &Msg{}
		c.SetLazy(m.Lazy(), nil)
		m = c // a copy to materialize: m stays lazy
	}
	var out []string
	for _, h := range m.HeaderList() {
		out = append(out, h.Name()+": "+h.Value())
	}
	return out
}

// TestAddHeadersPlaces adds headers at every place, in turn, on both
// forms: the same headers in the same order.
func TestAddHeadersPlaces(t *testing.T) {
	type add struct {
		place  HeaderPlace
		anchor string
		text   string
	}
	tests := []struct {
		name string
		adds []add
	}{
		{"last", []add{{PlaceLast, "", "X-A: 1"}, {PlaceLast, "", "X-A: 2\r\nX-B: 3"}}},
		{"first", []add{{PlaceFirst, "", "X-A: 1"}, {PlaceFirst, "", "X-A: 2\r\nX-B: 3"}, {PlaceFirst, "", "Record-Route: <sip:10.0.0.1;lr>"}}},
		{"after", []add{{PlaceAfter, "Max-Forwards", "X-A: 1"}, {PlaceAfter, "max-forwards", "X-A: 2"}, {PlaceAfter, "X-None", "X-A: 3"}}},
		{"before", []add{{PlaceBefore, "From", "X-A: 1"}, {PlaceBefore, "From", "X-A: 2"}, {PlaceBefore, "X-None", "X-A: 3"}}},
		{"after an added one", []add{{PlaceFirst, "", "X-A: 1"}, {PlaceAfter, "X-A", "X-B: 2"}, {PlaceAfter, "X-A", "X-B: 3"}, {PlaceFirst, "", "X-C: 4"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lazy, eager := bothForms(t, writeMsg)
			for _, a := range tc.adds {
				for _, m := range []*Msg{lazy, eager} {
					if err := m.AddHeaderText(a.text, a.place, a.anchor); err != nil {
						t.Fatal(err)
					}
				}
			}
			if lazy.Lazy() == nil {
				t.Fatal("the message got its sipgo form")
			}
			if got, want := headerLinesOf(lazy), headerLinesOf(eager); !slices.Equal(got, want) {
				t.Errorf("lazy form:\n\t%s\nsipgo's form:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
			if got, want := lazy.AddedAt(), eager.AddedAt(); !slices.Equal(got, want) {
				t.Errorf("AddedAt: lazy %v, sipgo %v", got, want)
			}
			lazy.Request()
			if got, want := lazy.AddedAt(), eager.AddedAt(); !slices.Equal(got, want) {
				t.Errorf("AddedAt once materialized: %v, sipgo %v", got, want)
			}
		})
	}
}

// TestAddAfterList: the lazy form adds after the header line, a comma
// list whole, as Kamailio does; sipgo's form, which split the list, after
// its first value.
func TestAddAfterList(t *testing.T) {
	m := lazyMsg(t, writeMsg)
	m.AddHeaderText("X-A: 1", PlaceAfter, "Route")
	m.AddHeaderText("X-A: 2", PlaceAfter, "v")
	got := headerLinesOf(m)
	want := []string{
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK2", "X-A: 2",
		"Route: <sip:192.0.2.5;lr>", "Route: <sip:192.0.2.6;lr>", "X-A: 1",
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if at := m.AddedAt(); !slices.Equal(at, []int{2, 5}) {
		t.Errorf("AddedAt %v, want [2 5]", at)
	}
}

// TestAddedHeaderKeepsIdentity: a header added to the lazy form is, once
// the message has sipgo's form, the very header that was added, so that
// the module keeping it (rr) can change or remove it.
func TestAddedHeaderKeepsIdentity(t *testing.T) {
	m := lazyMsg(t, writeMsg)
	rr := &sip.RecordRouteHeader{Address: sip.Uri{Host: "10.0.0.1", UriParams: sip.HeaderParams{{K: "lr"}}}}
	m.AddHeaders(PlaceFirst, "", rr)
	if !m.Holds(rr) {
		t.Fatal("Holds: the added header is not found")
	}
	rr.Address.UriParams = append(rr.Address.UriParams, sip.HeaderKV{K: "nat", V: "yes"})
	if !m.HeaderChanged(rr) {
		t.Fatal("HeaderChanged: the added header is not found")
	}
	if v, _ := m.HeaderBody("Record-Route"); v != "<sip:10.0.0.1;lr;nat=yes>" {
		t.Errorf("the lazy form reads %q", v)
	}
	req := m.Request()
	if m.Lazy() != nil || !m.Holds(rr) || req.RecordRoute() != rr {
		t.Fatalf("sipgo's form does not hold the added header: %v", req.RecordRoute())
	}
	if !m.RemoveAddedHeader(rr) || m.Holds(rr) || req.RecordRoute() != nil {
		t.Error("RemoveAddedHeader on sipgo's form")
	}
	// on the lazy form too
	m = lazyMsg(t, writeMsg)
	m.AddHeaders(PlaceLast, "", rr)
	if !m.RemoveAddedHeader(rr) || m.Holds(rr) || m.HeaderPresent("Record-Route") {
		t.Error("RemoveAddedHeader on the lazy form")
	}
}

// TestRemoveAndSet runs the other changes on both forms.
func TestRemoveAndSet(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, m *Msg)
	}{
		{"remove a list's first value", func(t *testing.T, m *Msg) {
			if !m.RemoveFirstValue("Route") || !m.RemoveFirstValue("v") {
				t.Error("RemoveFirstValue found nothing")
			}
		}},
		{"remove its only value", func(t *testing.T, m *Msg) {
			m.RemoveFirstValue("Route")
			m.RemoveFirstValue("Route")
			if m.RemoveFirstValue("Route") {
				t.Error("RemoveFirstValue removed a third Route")
			}
		}},
		{"remove by name", func(t *testing.T, m *Msg) {
			m.RemoveHeaderNamed("max-forwards")
			m.RemoveHeaderNamed("X-None")
		}},
		{"remove where", func(t *testing.T, m *Msg) {
			m.RemoveHeadersWhere(func(name, _ string) bool { return !strings.HasPrefix(name, "C") })
		}},
		{"remove at", func(t *testing.T, m *Msg) {
			m.AddHeaderText("X-A: 1\r\nX-A: 2\r\nX-A: 3", PlaceLast, "")
			if !m.RemoveHeaderAt("X-A", -1) || !m.RemoveHeaderAt("X-A", 0) || m.RemoveHeaderAt("X-A", 1) {
				t.Error("RemoveHeaderAt")
			}
		}},
		{"set a value", func(t *testing.T, m *Msg) {
			if err := m.SetHeaderValue("Max-Forwards", "10"); err != nil {
				t.Error(err)
			}
			if err := m.SetHeaderValue("X-New", "1"); err != nil {
				t.Error(err)
			}
			if err := m.SetHeaderValue("cseq", "2  INVITE"); err != nil {
				t.Error(err)
			}
			if m.SetHeaderValue("X-Bad", "1\r\nX-Injected: 1") == nil || m.SetHeaderValue("X Bad", "1") == nil ||
				m.SetHeaderValue("CSeq", "x INVITE") == nil {
				t.Error("SetHeaderValue took a CRLF, a name with a space or a CSeq sipgo refuses")
			}
		}},
		{"R-URI", func(t *testing.T, m *Msg) {
			if err := m.SetRURI("sip:carol@example.net:5070;transport=tcp"); err != nil {
				t.Error(err)
			}
			if m.SetRURI("sip:a b@example.com") == nil || m.SetRURI("sip:x@[::1") == nil {
				t.Error("SetRURI took an invalid URI")
			}
		}},
		{"body", func(t *testing.T, m *Msg) {
			m.SetBody([]byte("hello\r\n"), "text/plain")
			if string(m.Body()) != "hello\r\n" {
				t.Errorf("Body() = %q", m.Body())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lazy, eager := bothForms(t, writeMsg)
			tc.change(t, lazy)
			tc.change(t, eager)
			if lazy.Lazy() == nil {
				t.Fatal("the message got its sipgo form")
			}
			if got, want := headerLinesOf(lazy), headerLinesOf(eager); !slices.Equal(got, want) {
				t.Errorf("lazy form:\n\t%s\nsipgo's form:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
			if got, want := lazy.RURI(), eager.RURI(); got != want {
				t.Errorf("R-URI: lazy %q, sipgo %q", got, want)
			}
			if got, want := string(lazy.Body()), string(eager.Body()); got != want {
				t.Errorf("body: lazy %q, sipgo %q", got, want)
			}
		})
	}
}

// TestNoViaLeft: a lazy message whose every Via the route removed takes
// sipgo's form, whose forward puts our Via on top of a message without
// one (the lazy forward anchors ours on the first Via).
func TestNoViaLeft(t *testing.T) {
	for _, remove := range []func(m *Msg){
		func(m *Msg) { m.RemoveHeaderNamed("Via") },
		func(m *Msg) { m.RemoveFirstValue("Via"); m.RemoveFirstValue("Via") },
		func(m *Msg) { m.RemoveHeaderAt("v", 0) },
		func(m *Msg) { m.RemoveHeadersWhere(func(name, _ string) bool { return name != "Via" }) },
	} {
		m := lazyMsg(t, writeMsg)
		remove(m)
		if m.Lazy() != nil || m.HeaderPresent("Via") {
			t.Errorf("Via left %v, lazy %v", m.HeaderPresent("Via"), m.Lazy() != nil)
		}
	}
	m := lazyMsg(t, writeMsg)
	m.RemoveFirstValue("Via")
	if m.Lazy() == nil {
		t.Error("a Via left, and the message got its sipgo form")
	}
}

// TestMarkAddedAtLazy: the positions AddedAt gives of a lazy message,
// marked on a lazy copy of it (tm's failure route), keep it lazy, and
// the headers added to the copy at the top go below them, as on sipgo's
// form.
func TestMarkAddedAtLazy(t *testing.T) {
	lazy, eager := bothForms(t, writeMsg)
	for _, m := range []*Msg{lazy, eager} {
		m.AddHeaderText("X-A: 1\r\nRecord-Route: <sip:10.0.0.1;lr>", PlaceFirst, "")
		m.AddHeaderText("X-B: 2", PlaceAfter, "Max-Forwards")
	}
	at := lazy.AddedAt()
	if want := eager.AddedAt(); !slices.Equal(at, want) {
		t.Fatalf("AddedAt: lazy %v, sipgo %v", at, want)
	}
	text := strings.ReplaceAll(string(lazy.Lazy().AppendTo(nil)), "\r\n", "\n")
	copyLazy, copyEager := bothForms(t, text)
	for _, m := range []*Msg{copyLazy, copyEager} {
		m.MarkAddedAt(at)
		m.AddHeaderText("X-C: 3", PlaceFirst, "")
	}
	if copyLazy.Lazy() == nil {
		t.Fatal("MarkAddedAt gave the message its sipgo form")
	}
	if got, want := headerLinesOf(copyLazy), headerLinesOf(copyEager); !slices.Equal(got, want) {
		t.Errorf("lazy form:\n\t%s\nsipgo's form:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if got, want := copyLazy.AddedAt(), copyEager.AddedAt(); !slices.Equal(got, want) || len(got) != 4 {
		t.Errorf("AddedAt: lazy %v, sipgo %v", got, want)
	}
	copyLazy.Request()
	if got, want := copyLazy.AddedAt(), copyEager.AddedAt(); !slices.Equal(got, want) {
		t.Errorf("AddedAt once materialized: %v, sipgo %v", got, want)
	}
}
