package engine

import (
	"errors"
	"fmt"

	"github.com/kemisip/kemi/internal/sipmsg"
)

// parseWire parses and checks a received message (one datagram, or one
// message framed from a stream) for routing. sipmsg's Parse and Check
// refuse what cannot be routed safely: a bare LF or CR in the header
// section (a header smuggled past kemi to a next hop that reads it as a
// line end), missing or repeated mandatory headers, Content-Length
// values that disagree or overrun a datagram, a status code outside
// 100-699, a CSeq number of 2^31 or more (not a CSeq method that is not
// the request's: Kamailio's sanity module answers that), and any value
// the engine would turn into an address: a Via sent-by, rport or
// received, a Request-URI, Route or Record-Route URI with a port outside
// 1-65535 (converted to uint16, 99999 would send to port 34463). Contact is left to what reads
// it, as in Kamailio (registrar answers a broken one with 400), except
// a port out of range, for the same reason.
func parseWire(raw []byte, stream bool, maxSize int) (*sipmsg.Msg, error) {
	lm := new(sipmsg.Msg)
	if err := parseWireInto(lm, raw, stream, maxSize); err != nil {
		return nil, err
	}
	return lm, nil
}

// parseWireInto is parseWire into a Msg being reused.
func parseWireInto(lm *sipmsg.Msg, raw []byte, stream bool, maxSize int) error {
	// a CSeq method that is not the request's is routed, as Kamailio
	// routes it: the script's sanity_check answers 400
	lm.Opts = sipmsg.Options{MaxSize: maxSize, Stream: stream, AnyCSeqMethod: true}
	if err := lm.Parse(raw); err != nil {
		return err
	}
	if err := lm.Check(); err != nil {
		return err
	}
	for v := range lm.Values(sipmsg.HdrContact) {
		if len(v) == 1 && v[0] == '*' {
			continue
		}
		if _, err := sipmsg.ParseNameAddr(v); errors.Is(err, sipmsg.ErrPort) {
			return fmt.Errorf("Contact: %w", err)
		}
	}
	return nil
}
