package ksr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// ruriPVs are $ru $rU $rd $rp $rz $ou, $du $dd $dp $dP and $nh(...).
func ruriPVs() []kemi.PVClass {
	return []kemi.PVClass{
		rw("ru", ruriGet(kemi.PartURI, kemi.Str), noUnset("ru", (*kemi.Msg).SetRURI)),
		rw("rU", ruriGet(kemi.PartUser, strOrNull), unsetEmpty(setRURIUser)),
		rw("rd", ruriGet(kemi.PartHost, strOrNull), noUnset("rd", setRURIHost)),
		rw("rp", ruriPort, unsetEmpty(setRURIPort)),
		ro("rz", ruriGet(kemi.PartScheme, kemi.Str)),
		ro("ou", func(m *kemi.Msg) kemi.Value {
			if !m.IsRequest() {
				return kemi.Null
			}
			return strOrNull(m.OrigURI)
		}),
		rw("du", func(m *kemi.Msg) kemi.Value { return strOrNull(m.DstURI) }, setDuPV),
		ro("dd", duGet(func(u *sip.Uri) kemi.Value { return strOrNull(u.Host) })),
		ro("dp", duGet(func(u *sip.Uri) kemi.Value { return kemi.Int(uriPort(u)) })),
		ro("dP", duGet(func(u *sip.Uri) kemi.Value { return kemi.Str(protoOrUDP(u)) })),
		withParam("nh", getNextHop),
	}
}

// ruriGet reads a part of the Request-URI, made a value by val; Null for
// a reply. It works on the lazy message (kemi.Msg.RURIPart), where $ru
// is the text as received, as in Kamailio.
func ruriGet(part kemi.MsgPart, val func(string) kemi.Value) getter {
	return func(m *kemi.Msg) kemi.Value {
		s, ok := m.RURIPart(part)
		if !ok {
			return kemi.Null
		}
		return val(s)
	}
}

// ruriPort is $rp: the port of the Request-URI, or its default (see
// defaultPort); Null for a reply.
func ruriPort(m *kemi.Msg) kemi.Value {
	port, ok := m.RURIPart(kemi.PartPort)
	if !ok {
		return kemi.Null
	}
	transport, _ := m.RURIPart(kemi.PartTransport)
	n, _ := strconv.Atoi(port) // "" (no port) gives 0
	return kemi.Int(defaultPort(n, transport))
}

// defaultPort returns port when the URI has one (not 0), else the default
// one for its transport parameter: 5061 for tls, else 5060 (as Kamailio's
// $rp and $dp).
func defaultPort(port int, transport string) int {
	if port > 0 {
		return port
	}
	return kemi.DefaultPort(transport)
}

// duGet reads a part of the parsed $du; Null when $du is unset or does not
// parse. As in Kamailio, $dd, $dp and $dP never look at the R-URI (use
// $nh for "$du else R-URI").
func duGet(part func(u *sip.Uri) kemi.Value) getter {
	return func(m *kemi.Msg) kemi.Value {
		if m.DstURI == "" {
			return kemi.Null
		}
		u, err := kemi.ParseURI(m.DstURI)
		if err != nil {
			return kemi.Null
		}
		return part(&u)
	}
}

// setDuPV assigns $du; unset clears it.
func setDuPV(m *kemi.Msg, v kemi.Value) error {
	if v.IsNull() {
		m.DstURI = ""
		return nil
	}
	if err := setDstURI(m, v.String()); err != nil {
		return err
	}
	// as Kamailio's pv module (not KSR.setdsturi): the R-URI may be relayed
	// again, to the new $du, in a failure route
	m.MarkRURINew()
	return nil
}

// protoOrUDP returns the transport parameter, "udp" when there is none.
func protoOrUDP(u *sip.Uri) string {
	if t := uriTransport(u); t != "" {
		return t
	}
	return "udp"
}

// getNextHop is $nh(u|U|d|p|P|i): URI, user, host, port, transport and IP
// family of the next hop ($du, else the R-URI). For a reply the next hop is
// taken from the second Via (received and rport honoured).
func getNextHop(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	key := p.Key(m)
	if !strings.Contains("uUdpPi", key) || len(key) != 1 {
		return kemi.Null, badParam(p)
	}
	if m.IsReply() {
		return replyNextHop(m, key[0]), nil
	}
	if !m.IsRequest() {
		return kemi.Null, nil
	}
	s := m.NextHop()
	if key == "u" {
		return kemi.Str(s), nil
	}
	u, err := kemi.ParseURI(s)
	if err != nil {
		return kemi.Null, fmt.Errorf("$nh: %w", err)
	}
	switch key {
	case "U":
		return strOrNull(u.User), nil
	case "d":
		return strOrNull(u.Host), nil
	case "p":
		// 5060 when the URI has no port, whatever the transport, as in
		// Kamailio's $nh(p)
		port := u.Port
		if port == 0 {
			port = 5060
		}
		return kemi.Int(port), nil
	case "P":
		return kemi.Str(protoOrUDP(&u)), nil
	}
	return kemi.Int(hostFamily(u.Host)), nil
}

// replyNextHop is $nh(...) for a reply: where it goes, from the second
// Via.
func replyNextHop(m *kemi.Msg, key byte) kemi.Value {
	host, port, proto, ok := m.ViaTargetAt(1)
	if !ok {
		return kemi.Null
	}
	switch key {
	case 'u':
		tp, ok := kemi.URIProto(proto)
		if !ok {
			tp = "udp" // as Kamailio
		}
		return kemi.Str("sip:" + kemi.HostPort(host, port) + ";transport=" + tp)
	case 'd':
		return kemi.Str(host)
	case 'p':
		return kemi.Int(port)
	case 'P':
		return kemi.Str(proto)
	case 'i':
		return kemi.Int(hostFamily(host))
	}
	return kemi.Null
}

// addrHdr gives access to the parts of a From or To header.
type addrHdr struct {
	uri     *sip.Uri
	display *string
	params  sip.HeaderParams
}

// fromTo returns the first From (to false) or To (to true) header of the
// message, or nil.
func fromTo(m *kemi.Msg, to bool) *addrHdr {
	for _, h := range m.HeaderList() {
		switch x := h.(type) {
		case *sip.FromHeader:
			if !to {
				return &addrHdr{&x.Address, &x.DisplayName, x.Params}
			}
		case *sip.ToHeader:
			if to {
				return &addrHdr{&x.Address, &x.DisplayName, x.Params}
			}
		}
	}
	return nil
}

// fromToPVs are $fu $fU $fd $fn $ft and $tu $tU $td $tn $tt. Writes change
// the header at once.
func fromToPVs() []kemi.PVClass {
	var out []kemi.PVClass
	for _, side := range []struct {
		p  string
		to bool
	}{{"f", false}, {"t", true}} {
		to, p := side.to, side.p
		out = append(out,
			rw(p+"u", addrGet(to, kemi.PartURI, kemi.Str), noUnset(p+"u", addrSet(to, setAddrURI))),
			rw(p+"U", addrGet(to, kemi.PartUser, strOrNull), unsetEmpty(addrSet(to, setAddrUser))),
			rw(p+"d", addrGet(to, kemi.PartHost, strOrNull), noUnset(p+"d", addrSet(to, setAddrHost))),
			rw(p+"n", addrGet(to, kemi.PartDisplay, strOrNull), unsetEmpty(addrSet(to, setAddrDisplay))),
			ro(p+"t", addrGet(to, kemi.PartTag, strOrNull)),
		)
	}
	return out
}

// addrGet reads a part of the From or To header, made a value by val;
// Null without the header. It works on the lazy message
// (kemi.Msg.FromPart), where $fu and $tu are the URI as received.
func addrGet(to bool, part kemi.MsgPart, val func(string) kemi.Value) getter {
	return func(m *kemi.Msg) kemi.Value {
		var (
			s  string
			ok bool
		)
		if to {
			s, ok = m.ToPart(part)
		} else {
			s, ok = m.FromPart(part)
		}
		if !ok {
			return kemi.Null
		}
		return val(s)
	}
}

// addrSet changes a part of the From or To header.
func addrSet(to bool, set func(a *addrHdr, s string) error) func(m *kemi.Msg, s string) error {
	return func(m *kemi.Msg, s string) error {
		a := fromTo(m, to)
		if a == nil {
			if to {
				return fmt.Errorf("no To header")
			}
			return fmt.Errorf("no From header")
		}
		return set(a, s)
	}
}

// setAddrURI replaces the URI of a From/To header.
func setAddrURI(a *addrHdr, s string) error {
	u, err := kemi.ParseURI(s)
	if err != nil {
		return err
	}
	*a.uri = u
	return nil
}

// setAddrUser replaces the user of a From/To URI ("" removes it).
func setAddrUser(a *addrHdr, s string) error {
	if err := kemi.CheckUser(s); err != nil {
		return err
	}
	a.uri.User = s
	return nil
}

// setAddrHost replaces the host of a From/To URI.
func setAddrHost(a *addrHdr, s string) error {
	if err := kemi.CheckHost(s); err != nil {
		return err
	}
	a.uri.Host = s
	return nil
}

// setAddrDisplay replaces the display name ("" removes it). Surrounding
// quotes are dropped: kemi always writes the name quoted.
func setAddrDisplay(a *addrHdr, s string) error {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if strings.ContainsAny(s, "\"\r\n") {
		return fmt.Errorf("invalid display name %q", s)
	}
	*a.display = s
	return nil
}
