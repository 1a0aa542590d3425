package sipmsg

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("write-seeds", false, "write testdata/fuzz/FuzzParse from the .sip corpus")

// FuzzParse checks that no input panics, that a refusal is a
// *ParseError, that AppendTo without changes gives the input back, that
// a message with changes still parses and shows what lookups showed, and
// that sipgo's parser agrees (differ).
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		var m Msg
		err := m.Parse(raw)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error %T %v is not a *ParseError", err, err)
			}
		} else {
			if out := m.AppendTo(nil); !bytes.Equal(out, raw[:m.Len()]) || !bytes.Equal(out, m.Bytes()) {
				t.Fatalf("AppendTo without changes:\n%q\nwant\n%q", out, raw[:m.Len()])
			}
			checkedTopVia(t, raw)
			exercise(&m)
			edit(t, &m)
		}
		// a stream parse never reads past buf, and never panics
		s := Msg{Opts: Options{Stream: true, AllowBareLF: true}}
		if s.Parse(raw) == nil && (s.Len() > len(raw) || !bytes.Equal(s.AppendTo(nil), s.Bytes())) {
			t.Fatalf("stream parse: Len %d of %d", s.Len(), len(raw))
		}
		if _, problem := differ(raw); problem != "" {
			if log := os.Getenv("SIPMSG_DIFF_LOG"); log != "" {
				// exploring: collect the differences instead of stopping
				if f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					fmt.Fprintf(f, "%s\t%q\n", strings.ReplaceAll(problem, "\n", " | "), raw)
					f.Close()
				}
				return
			}
			t.Fatal(problem)
		}
		if !bytes.Equal(in, raw) {
			t.Fatal("the input changed")
		}
	})
}

// checkedTopVia checks that the top Via Check keeps is the one TopVia
// parses without it.
func checkedTopVia(t *testing.T, raw []byte) {
	var plain, checked Msg
	if plain.Parse(raw) != nil || checked.Parse(raw) != nil || checked.Check() != nil {
		return
	}
	want, werr := plain.TopVia()
	got, gerr := checked.TopVia()
	if (werr != nil) != (gerr != nil) || !reflect.DeepEqual(got, want) {
		t.Fatalf("TopVia after Check %+v (%v), without %+v (%v)", got, gerr, want, werr)
	}
}

// exercise runs every on-demand parser: they may refuse, not panic.
func exercise(m *Msg) {
	_ = m.Check()
	_, _ = m.TopVia()
	for _, err := range m.Vias() {
		_ = err
	}
	for id := range m.Headers() {
		v := m.Value(id)
		switch m.Type(id) {
		case HdrContact, HdrRoute, HdrRecordRoute, HdrFrom, HdrTo:
			for item := range yieldAll(v) {
				_, _ = ParseNameAddr(item)
			}
		case HdrCSeq:
			_, _ = ParseCSeq(v)
		}
		_ = Unfold(nil, v)
		for rest := v; len(rest) > 0; {
			_, _, rest, _ = NextParam(rest)
		}
	}
	_, _ = m.ParsedRURI()
	_, _ = m.MaxForwards()
}

func yieldAll(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) { yieldItems(v, true, yield) }
}

// edit makes changes of every kind and checks the output parses into
// what the lookups showed, and that Rollback undoes them all.
func edit(t *testing.T, m *Msg) {
	if m.Opts.AllowBareLF {
		return
	}
	var ids []HeaderID
	for id := range m.Headers() {
		ids = append(ids, id)
	}
	mk := m.Mark()
	m.InsertTop([]byte("X-Top"), []byte("1"))
	m.Append([]byte("X-Bottom"), []byte("2"))
	if len(ids) > 0 {
		m.InsertBefore(ids[0], []byte("X-Before"), []byte("3"))
		m.InsertAfter(ids[len(ids)-1], []byte("X-After"), []byte("4"))
		m.SetValue(ids[len(ids)/2], []byte("new"))
		m.Remove(ids[len(ids)/3])
		m.RemoveValue(ids[0], 0)
		m.RemoveValue(ids[len(ids)-1], 1)
	}
	if m.IsRequest() {
		m.SetRURI([]byte("sip:x@example.com"))
	}
	m.SetBody([]byte("body"))
	out := m.AppendTo(nil)
	var w Msg
	if err := w.Parse(out); err != nil {
		t.Fatalf("edited message does not parse: %v\n%q", err, out)
	}
	var seen, written []string
	for id := range m.Headers() {
		seen = append(seen, string(bytes.ToLower(m.Name(id)))+": "+string(m.Value(id)))
	}
	for id := range w.Headers() {
		written = append(written, string(bytes.ToLower(w.Name(id)))+": "+string(w.Value(id)))
	}
	if strings.Join(seen, "\n") != strings.Join(written, "\n") || !bytes.Equal(w.Body(), m.Body()) {
		t.Fatalf("lookups saw\n%q\nthe output has\n%q", seen, written)
	}
	m.Rollback(mk)
	if out := m.AppendTo(nil); !bytes.Equal(out, m.Bytes()) {
		t.Fatalf("after Rollback:\n%q\nwant\n%q", out, m.Bytes())
	}
}

// TestWriteSeeds writes the fuzz seed corpus from the .sip corpus when
// asked (go test -run WriteSeeds -write-seeds ./internal/sipmsg/).
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("only with -write-seeds")
	}
	files, err := filepath.Glob("testdata/*/*.sip")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(file), ".sip")
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", raw)
		if err := os.WriteFile(filepath.Join("testdata/fuzz/FuzzParse", filepath.Base(filepath.Dir(file))+"-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
