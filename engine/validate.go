package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// maxCSeq is the largest CSeq number (RFC 3261 §8.1.1.5: less than 2^31).
const maxCSeq = 1<<31 - 1

// checkWireValues refuses a parsed message holding a value out of range
// that the engine would turn into an address or a reply: a status code
// outside 100-699; a Via without a host, whose port is over 65535, whose rport is not 1-65535 or whose received is not an IP
// address; a port over 65535 in the Request-URI or in a Route,
// Record-Route or Contact URI; a CSeq number of 2^31 or more; Content-
// Length headers that disagree. The parser takes such values (a Via port
// is an int), and a conversion to uint16 further on would send to another
// port: 999999 is 16959.
func checkWireValues(msg sip.Message) error {
	switch m := msg.(type) {
	case *sip.Request:
		if err := checkURIPort("Request-URI", &m.Recipient); err != nil {
			return err
		}
	case *sip.Response:
		if m.StatusCode < 100 || m.StatusCode > 699 {
			return fmt.Errorf("status code %d outside 100-699", m.StatusCode)
		}
	}
	hs, ok := msg.(interface{ Headers() []sip.Header })
	if !ok {
		return nil
	}
	var cl *sip.ContentLengthHeader
	for _, h := range hs.Headers() {
		var err error
		switch h := h.(type) {
		case *sip.ViaHeader:
			err = checkVia(h)
		case *sip.ContactHeader:
			if !h.Address.Wildcard {
				err = checkURIPort("Contact", &h.Address)
			}
		case *sip.RouteHeader:
			err = checkURIPort("Route", &h.Address)
		case *sip.RecordRouteHeader:
			err = checkURIPort("Record-Route", &h.Address)
		case *sip.CSeqHeader:
			if h.SeqNo > maxCSeq {
				err = fmt.Errorf("CSeq number %d over 2^31-1", h.SeqNo)
			}
		case *sip.ContentLengthHeader:
			if cl != nil && *cl != *h {
				err = fmt.Errorf("Content-Length headers disagree: %d and %d", *cl, *h)
			}
			cl = h
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkVia checks the values of a Via that replies are sent to
// (RFC 3261 §18.2.2, RFC 3581).
func checkVia(v *sip.ViaHeader) error {
	// the parser leaves the host empty when the port is not a number; a
	// host is not checked further: the parser misreads the odd but valid
	// white space of RFC 4475's wsinv into it
	if v.Host == "" {
		return errors.New("Via sent-by: no host, or a port that is not a number")
	}
	if err := kemi.CheckPort(v.Port); err != nil {
		return fmt.Errorf("Via sent-by: %w", err)
	}
	if rport, ok := v.Params.Get("rport"); ok && rport != "" {
		if _, err := kemi.ParsePort(rport); err != nil {
			return fmt.Errorf("Via rport: %w", err)
		}
	}
	if received, ok := v.Params.Get("received"); ok && received != "" {
		if _, err := netip.ParseAddr(strings.Trim(received, "[]")); err != nil {
			return fmt.Errorf("Via received %q is not an IP address", received)
		}
	}
	return nil
}

// checkURIPort checks the port of a sip or sips URI; other schemes have
// none.
func checkURIPort(where string, u *sip.Uri) error {
	if !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips") {
		return nil
	}
	if err := kemi.CheckPort(u.Port); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// checkLineEnds refuses a header section holding a LF that does not end a
// CRLF. The parser keeps such a LF inside a header value, and the message
// would be forwarded with it; the next hop (Kamailio among others) reads
// a bare LF as a line end, so "X: a<LF>Content-Length: 900" would smuggle
// a header past kemi (over TCP, a Content-Length that takes the next
// message as this one's body). A message with only LF line ends does not
// parse anyway. It runs on every message, in one pass that ends at the
// empty line: the body may hold bare LFs.
func checkLineEnds(raw []byte) error {
	for i := 0; ; i++ {
		n := bytes.IndexByte(raw[i:], '\n')
		if n < 0 {
			return nil
		}
		i += n
		if i == 0 || raw[i-1] != '\r' {
			return fmt.Errorf("bare LF at byte %d of the header section", i)
		}
		// every LF before this one ended a CRLF, so "\n\r\n" here is the
		// end of the header section
		if i >= 3 && raw[i-2] == '\n' {
			return nil
		}
	}
}
