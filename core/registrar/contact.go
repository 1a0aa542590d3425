package registrar

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// receivedMaxSize is Kamailio's RECEIVED_MAX_SIZE.
const receivedMaxSize = 255

// regContact is one Contact of a REGISTER, checked.
type regContact struct {
	uri      string
	expires  int // -1: no expires parameter
	q        int // -1: no q parameter
	received string
	instance string // without the quotes
	regID    int
	methods  int // -1: no methods parameter
}

// contacts reads and checks the Contact headers of a REGISTER as
// Kamailio's check_contacts and pack_ci do. star is set for "Contact: *",
// which is only valid alone and with Expires: 0 (hdrExpires).
func (mod *Module) contacts(m *kemi.Msg, hdrExpires int) (cs []regContact, star bool, err error) {
	var all []*sip.ContactHeader
	for _, h := range m.HeaderList() {
		switch c := h.(type) {
		case *sip.ContactHeader:
			all = append(all, c)
		default:
			// the engine keeps a Contact that does not parse as a plain
			// header, for this answer (Kamailio parses it only here)
			if strings.EqualFold(h.Name(), "Contact") {
				return nil, false, refuse(rParseCont, fmt.Sprintf("bad contact %q", h.Value()))
			}
		}
	}
	for i, c := range all {
		if c.Address.Wildcard {
			if i > 0 {
				return nil, false, refuse(rStarCont, "star contact cannot be mixed with other contacts")
			}
			if hdrExpires != 0 {
				return nil, false, refuse(rStarExp, "expires must be 0 for star contact")
			}
			if len(all) > 1 {
				return nil, false, refuse(rStarCont, "star contact cannot be mixed with other contacts")
			}
			return nil, true, nil
		}
		rc, err := mod.contact(c)
		if err != nil {
			return nil, false, err
		}
		cs = append(cs, rc)
	}
	return cs, false, nil
}

// contact checks one Contact.
func (mod *Module) contact(c *sip.ContactHeader) (regContact, error) {
	rc := regContact{expires: -1, q: -1, methods: -1}
	if err := kemi.CheckURI(&c.Address); err != nil {
		return rc, refuse(rParseCont, fmt.Sprintf("contact %q: %v", c.Address.String(), err))
	}
	rc.uri = c.Address.String()
	if len(rc.uri) > mod.cfg.contactMaxSize {
		return rc, refuse(rContactLen, fmt.Sprintf("contact uri is too long: %d bytes", len(rc.uri)))
	}
	get := func(name string) (string, bool) {
		for _, k := range c.Params.Keys() {
			if strings.EqualFold(k, name) {
				v, _ := c.Params.Get(k)
				return v, true
			}
		}
		return "", false
	}
	if v, ok := get("expires"); ok {
		n, ok := parseDelta(v)
		if !ok {
			return rc, refuse(rInvExp, fmt.Sprintf("contact %s: invalid expires %q", rc.uri, v))
		}
		rc.expires = n
	}
	if v, ok := get("q"); ok {
		q, ok := parseQ(v)
		if !ok {
			return rc, refuse(rInvQ, fmt.Sprintf("contact %s: invalid q %q", rc.uri, v))
		}
		rc.q = q
	}
	if v, ok := get("received"); ok {
		rc.received = strings.Trim(v, `"`)
		if len(rc.received) > receivedMaxSize {
			return rc, refuse(rContactLen, "received attribute of contact is too long")
		}
	}
	if v, ok := get("+sip.instance"); ok {
		rc.instance = strings.Trim(v, `"`)
	}
	if v, ok := get("reg-id"); ok && rc.instance != "" && v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil || n == 0 {
			return rc, refuse(rInvRegID, fmt.Sprintf("contact %s: invalid reg-id %q", rc.uri, v))
		}
		rc.regID = int(n)
	}
	if v, ok := get("methods"); ok {
		bits, err := parseMethods(v)
		if err != nil {
			return rc, refuse(rParse, fmt.Sprintf("contact %s: methods: %v", rc.uri, err))
		}
		rc.methods = bits
	}
	return rc, nil
}

// parseDelta parses delta-seconds (RFC 3261 §25.1: digits only); values
// beyond 2^32-1 are refused, as Kamailio's parser does.
func parseDelta(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

// parseQ parses a q-value (RFC 3261 §20.10: 0 to 1 with up to three
// decimals) into thousandths.
func parseQ(s string) (int, bool) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole != "0" && whole != "1" || len(frac) > 3 {
		return 0, false
	}
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
	}
	f := (frac + "000")[:3]
	n, _ := strconv.Atoi(f)
	q := n
	if whole == "1" {
		if n != 0 {
			return 0, false
		}
		q = 1000
	}
	return q, true
}

// expiresHeader returns the Expires header of m: -1 when absent, ok false
// when it is not delta-seconds.
func expiresHeader(m *kemi.Msg) (int, bool) {
	v, present := m.HeaderValue("Expires")
	if !present {
		return -1, true
	}
	return parseDelta(v)
}

// expires is Kamailio's calc_contact_expires without the random ranges:
// the Contact's expires parameter, else the Expires header, else
// default_expires; raised to min_expires (or refused with 423 when
// min_expires_mode is 1) and lowered to max_expires. 0 means "remove".
func (mod *Module) expires(rc regContact, hdr int) (int, error) {
	e := rc.expires
	if e < 0 {
		e = hdr
	}
	if e < 0 {
		e = int(mod.cfg.defaultExpires.Load())
	}
	if e == 0 {
		return 0, nil
	}
	minExp, maxExp := int(mod.cfg.minExpires.Load()), int(mod.cfg.maxExpires.Load())
	if e < minExp {
		if mod.cfg.minExpiresMode != 0 {
			return 0, refuse(rLowExp, fmt.Sprintf("contact %s: expires %d lower than min_expires %d", rc.uri, e, minExp))
		}
		e = minExp
	}
	if maxExp > 0 && e > maxExp {
		e = maxExp
	}
	return e, nil
}

// sameInstance compares +sip.instance values with or without the angle
// brackets, as usrloc does.
func sameInstance(a, b string) bool {
	return strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">") == strings.TrimSuffix(strings.TrimPrefix(b, "<"), ">")
}
