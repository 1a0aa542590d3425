package kemitest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kemisip/kemi/internal/sipmsg"
	"github.com/kemisip/kemi/kemi"
)

// BothForms parses text into a message in its lazy form and one in
// sipgo's form, both served by e's host: a test runs the same calls on
// both and compares them (SameWire).
func (e *Env) BothForms(t testing.TB, text string) (lazy, eager *kemi.Msg) {
	t.Helper()
	return e.Prepare(ParseLazyMsg(t, text)), e.Prepare(ParseMsg(t, text))
}

// CallBoth makes the call name(args) on both forms of a message (see
// BothForms) and fails t when they answer or log differently. It returns
// the lazy form's answer.
func (e *Env) CallBoth(t testing.TB, name string, lazy, eager *kemi.Msg, args ...any) kemi.Value {
	t.Helper()
	e.ResetLogs()
	got := e.Call(t, name, lazy, args...)
	lazyLog := logTime.ReplaceAllString(e.Logs(), "")
	e.ResetLogs()
	want := e.Call(t, name, eager, args...)
	eagerLog := logTime.ReplaceAllString(e.Logs(), "")
	if got != want {
		t.Errorf("%s%q: lazy form %v, sipgo's %v", name, args, got, want)
	}
	if lazyLog != eagerLog {
		t.Errorf("%s%q logs\n%s on the lazy form,\n%s on sipgo's", name, args, lazyLog, eagerLog)
	}
	return got
}

// logTime is the time stamp of a log line.
var logTime = regexp.MustCompile(`time=\S+ `)

// Written returns the message m would write now: the lazy form with its
// changes applied, or sipgo's rendering.
func Written(m *kemi.Msg) []byte {
	if lm := m.Lazy(); lm != nil {
		return lm.AppendTo(nil)
	}
	if s := m.SIP(); s != nil {
		return []byte(s.String())
	}
	return nil
}

// WireLines parses what m would write (Written) with sipmsg and returns
// its start line and its headers, one "name: value" per value: the name
// in full and in lower case, a comma list (Via, Contact, Route,
// Record-Route) cut into its values, as sipgo's form holds them. The
// body follows the last line. Two forms of one message that put the same
// headers on the wire give the same lines.
func WireLines(t testing.TB, m *kemi.Msg) []string {
	t.Helper()
	var lm sipmsg.Msg
	if err := lm.Parse(Written(m)); err != nil {
		t.Fatalf("kemitest: the written message does not parse: %v\n%s", err, Written(m))
	}
	var out []string
	if lm.IsRequest() {
		out = append(out, string(lm.Method())+" "+string(lm.RURI()))
	} else {
		out = append(out, strconv.Itoa(lm.StatusCode())+" "+string(lm.Reason()))
	}
	for id := range lm.Headers() {
		name := kemi.CanonicalHeader(string(lm.Name(id)))
		v := string(sipmsg.Unfold(nil, lm.Value(id)))
		switch lm.Type(id) {
		case sipmsg.HdrVia, sipmsg.HdrContact, sipmsg.HdrRoute, sipmsg.HdrRecordRoute:
			for _, item := range splitList(v) {
				out = append(out, name+": "+item)
			}
		default:
			out = append(out, name+": "+strings.TrimSpace(v))
		}
	}
	return append(out, "body: "+string(lm.Body()))
}

// splitList cuts a header value at the commas outside quotes and angle
// brackets.
func splitList(v string) []string {
	var out []string
	quoted, angle, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			angle = true
		case c == '>' && !quoted:
			angle = false
		case c == ',' && !quoted && !angle:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

// SameWire fails t when the two forms of a message would not write the
// same start line, headers (in order) and body (see WireLines), and when
// lazy is no longer lazy though stayLazy says it must be.
func SameWire(t testing.TB, lazy, eager *kemi.Msg, stayLazy bool) {
	t.Helper()
	if stayLazy && lazy.Lazy() == nil {
		t.Error("the message got its sipgo form")
	}
	got, want := WireLines(t, lazy), WireLines(t, eager)
	if !slices.Equal(got, want) {
		t.Errorf("the lazy form writes\n\t%s\nsipgo's form\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
