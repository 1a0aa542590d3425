package engine

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestLenientContactKeepsCommaLists: a Contact list still gives one typed
// header per value, and a Contact that does not parse is kept as a plain
// header instead of failing the message.
func TestLenientContactKeepsCommaLists(t *testing.T) {
	for _, c := range []struct {
		name, contact string
		typed         int
		plain         string
	}{
		{"list", "<sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.2>", 2, ""},
		{"compact list", "<sip:a@192.0.2.1>, <sip:b@192.0.2.2>, <sip:c@192.0.2.3>", 3, ""},
		{"no closing bracket", "<sip:a@192.0.2.1", 0, "<sip:a@192.0.2.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := "REGISTER sip:example.com SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n" +
				"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n" +
				"Call-ID: c1\r\nCSeq: 1 REGISTER\r\nContact: " + c.contact + "\r\nContent-Length: 0\r\n\r\n"
			if c.name == "compact list" {
				raw = strings.Replace(raw, "Contact:", "m:", 1)
			}
			msg, err := newParser(65535).ParseSIP([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			typed, plain := 0, ""
			for _, h := range msg.(*sip.Request).Headers() {
				switch h.(type) {
				case *sip.ContactHeader:
					typed++
				default:
					if strings.EqualFold(h.Name(), "Contact") {
						plain = h.Value()
					}
				}
			}
			if typed != c.typed || plain != c.plain {
				t.Errorf("%d typed Contact headers, plain %q; want %d, %q", typed, plain, c.typed, c.plain)
			}
		})
	}
}
