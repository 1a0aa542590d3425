package sipmsg

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// The benchmarks use the 16-header INVITE of testdata/msgs/invite16.sip,
// the message of issue 9's figures.

func BenchmarkParse(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	var m Msg
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRoute is what routing and transaction matching read.
func BenchmarkParseRoute(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	var m Msg
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
		via, err := m.TopVia()
		from, err2 := m.From()
		cs, err3 := m.CSeq()
		if err != nil || err2 != nil || err3 != nil || len(via.Branch) == 0 || len(m.CallID()) == 0 || cs.Num != 1 || len(from.Tag) == 0 {
			b.Fatal("bad message")
		}
	}
}

func BenchmarkParseCheck(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	var m Msg
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
		if err := m.Check(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxy is a stateless proxy's work on the message: parse, its
// Via on top, Max-Forwards decremented, a Record-Route, write.
func BenchmarkProxy(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	var m Msg
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(raw); err != nil {
			b.Fatal(err)
		}
		proxyEdit(&m)
		dst = m.AppendTo(dst[:0])
	}
}

// BenchmarkWrite is AppendTo alone, the changes recorded.
func BenchmarkWrite(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	var m Msg
	if err := m.Parse(raw); err != nil {
		b.Fatal(err)
	}
	proxyEdit(&m)
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		dst = m.AppendTo(dst[:0])
	}
}

func BenchmarkSipgoParse(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	p := sip.NewParser()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseSIP(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSipgoProxy is sipgo's way of the same proxy work: parse,
// change the headers, write with String().
func BenchmarkSipgoProxy(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	p := sip.NewParser()
	b.ReportAllocs()
	for b.Loop() {
		msg, err := p.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := msg.(*sip.Request)
		params := sip.NewParams()
		params.Add("branch", "z9hG4bKproxy1")
		req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060, Params: params})
		if mf := req.MaxForwards(); mf != nil {
			mf.Dec()
		}
		req.PrependHeader(sip.NewHeader("Record-Route", "<sip:192.0.2.1;lr>"))
		_ = req.String()
	}
}

// BenchmarkSipgoParseString is issue 9's sipgo figure: ParseSIP and
// String(), no change.
func BenchmarkSipgoParseString(b *testing.B) {
	raw := readMsg(b, "invite16.sip")
	p := sip.NewParser()
	b.ReportAllocs()
	for b.Loop() {
		msg, err := p.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		_ = msg.String()
	}
}
