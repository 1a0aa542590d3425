package textops

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// msgText is a message as text, the way it would be sent now: the start
// line, the header block (every header line with its CRLF) and the body.
// Between the header block and the body is the empty line.
type msgText struct {
	start string
	hdrs  string
	body  string
}

// region selects the part of the message text a function works on.
type region uint8

const (
	// regionAll is the headers, the empty line and the body: everything
	// after the start line, as Kamailio's functions that skip the first
	// line to leave the R-URI alone.
	regionAll region = iota
	// regionHeaders is the header block.
	regionHeaders
	// regionBody is the body.
	regionBody
)

// textOf returns the message as text.
func textOf(m *kemi.Msg) (msgText, bool) {
	var t msgText
	switch {
	case m.IsRequest():
		t.start = m.Request().StartLine()
	case m.IsReply():
		t.start = m.Response().StartLine()
	default:
		return t, false
	}
	var b strings.Builder
	for _, h := range m.HeaderList() {
		b.WriteString(h.Name())
		b.WriteString(": ")
		b.WriteString(h.Value())
		b.WriteString("\r\n")
	}
	t.hdrs = b.String()
	t.body = string(m.Body())
	return t, true
}

// full returns the whole message.
func (t msgText) full() string { return t.start + "\r\n" + t.hdrs + "\r\n" + t.body }

// get returns the text of region r.
func (t msgText) get(r region) string {
	switch r {
	case regionHeaders:
		return t.hdrs
	case regionBody:
		return t.body
	}
	return t.hdrs + "\r\n" + t.body
}

// with returns t with region r replaced by s. For regionAll the header
// block ends at the first empty line of s.
func (t msgText) with(r region, s string) (msgText, error) {
	switch r {
	case regionHeaders:
		t.hdrs = s
	case regionBody:
		t.body = s
	default:
		if strings.HasPrefix(s, "\r\n") && t.hdrs == "" {
			t.body = s[2:]
			break
		}
		i := strings.Index(s, "\r\n\r\n")
		if i < 0 {
			return t, fmt.Errorf("the change removed the empty line after the headers")
		}
		t.hdrs, t.body = s[:i+2], s[i+4:]
	}
	return t, nil
}

// apply parses the changed text and puts the result into m: headers and
// body are replaced, the start line and everything else m holds (source,
// flags, destination, ...) are kept. Content-Length is set to the new body
// length. On error m is unchanged.
func (mod *Module) apply(m *kemi.Msg, t msgText) error {
	hdrs := t.hdrs
	if hdrs != "" && !strings.HasSuffix(hdrs, "\r\n") {
		hdrs += "\r\n"
	}
	if strings.HasPrefix(hdrs, "\r\n") || strings.Contains(hdrs, "\r\n\r\n") {
		mod.rebuildErrors.Inc()
		return fmt.Errorf("the change puts an empty line inside the headers")
	}
	hdrs = fixContentLength(hdrs, len(t.body))
	parsed, err := sip.ParseMessage([]byte(t.start + "\r\n" + hdrs + "\r\n" + t.body))
	if err != nil {
		mod.rebuildErrors.Inc()
		return fmt.Errorf("the changed message does not parse: %w", err)
	}
	switch x := parsed.(type) {
	case *sip.Request:
		if !m.IsRequest() {
			return fmt.Errorf("the changed message is not a reply any more")
		}
		swapData(m.Request(), &m.Request().MessageData, x.MessageData)
	case *sip.Response:
		if !m.IsReply() {
			return fmt.Errorf("the changed message is not a request any more")
		}
		swapData(m.Response(), &m.Response().MessageData, x.MessageData)
	}
	return nil
}

// swapData replaces md, the parsed data of msg, by data. What sipgo knows
// of msg beside its text (transport, source and destination) is kept:
// the text cannot give it.
func swapData(msg sip.Message, md *sip.MessageData, data sip.MessageData) {
	tp, src, dst := msg.Transport(), msg.Source(), msg.Destination()
	*md = data
	msg.SetTransport(tp)
	msg.SetSource(src)
	msg.SetDestination(dst)
}

// fixContentLength sets the value of the Content-Length header lines of a
// header block to n.
func fixContentLength(hdrs string, n int) string {
	lines := strings.SplitAfter(hdrs, "\r\n")
	for i, l := range lines {
		name, _, ok := strings.Cut(l, ":")
		if !ok || kemi.CanonicalHeader(name) != "content-length" {
			continue
		}
		lines[i] = strings.TrimSpace(name) + ": " + strconv.Itoa(n) + "\r\n"
	}
	return strings.Join(lines, "")
}

// setRegion replaces region r of m with s.
func (mod *Module) setRegion(m *kemi.Msg, t msgText, r region, s string) error {
	if r == regionBody {
		m.SetBody([]byte(s), "")
		return nil
	}
	nt, err := t.with(r, s)
	if err != nil {
		mod.rebuildErrors.Inc()
		return err
	}
	return mod.apply(m, nt)
}
