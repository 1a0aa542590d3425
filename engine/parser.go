package engine

import (
	"maps"

	"github.com/emiago/sipgo/sip"
)

// newParser returns the SIP parser of a worker: sipgo's, except that a
// Contact header whose value does not parse is kept as a plain header
// instead of failing the whole message. Kamailio parses Contact only
// when a function needs it, so a REGISTER with a broken Contact reaches
// the script and registrar's save answers 400 "Contact parse error";
// sipgo would drop it as malformed before any route ran.
func newParser(maxSize int) *sip.Parser {
	parsers := maps.Clone(sip.DefaultHeadersParser())
	for _, name := range []string{"contact", "m"} {
		if strict := parsers[name]; strict != nil {
			parsers[name] = lenientHeader(strict)
		}
	}
	p := sip.NewParser(sip.WithHeadersParsers(parsers))
	p.MaxMessageLength = maxSize
	return p
}

// lenientHeader wraps a header parser: a value it refuses becomes a
// generic Contact header with the same text. sipgo's "comma detected"
// error is not a refusal: it returns the first of several values, and
// the parser goes on with the next; it passes through as it is.
func lenientHeader(strict sip.HeaderParser) sip.HeaderParser {
	return func(name []byte, value string) (sip.Header, error) {
		h, err := strict(name, value)
		if err != nil && err.Error() != commaDetected {
			return sip.NewHeader("Contact", value), nil
		}
		return h, err
	}
}

// commaDetected is the text of sipgo's unexported error for a header
// line with several values (TestLenientContactKeepsCommaLists keeps it
// honest).
const commaDetected = "comma detected"
