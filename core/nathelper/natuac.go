package nathelper

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// The nat_uac_test bits, as Kamailio 5.6 numbers them.
const (
	testContact1918 = 0x01  // Contact host is a private address
	testViaReceived = 0x02  // top Via host is not the source IP
	testVia1918     = 0x04  // top Via host is a private address
	testSDP1918     = 0x08  // an SDP media address is private
	testViaPort     = 0x10  // top Via port (5060 when none) is not the source port
	testSource1918  = 0x20  // the source IP is private
	testWebSocket   = 0x40  // the message came over WebSocket
	testContactPort = 0x80  // Contact port (5060 when none) is not the source port
	testSDPConn     = 0x100 // a session c= address is not the source IP
	testDest        = 0x200 // $du goes elsewhere than the R-URI (requests), or over ws
)

// privateNets are Kamailio's RFC 1918, RFC 6598 and RFC 7335 networks;
// extraNets are checked too with nat_addr_mode 1.
var (
	privateNets = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("192.0.0.0/29"),
	}
	extraNets = []netip.Prefix{netip.MustParsePrefix("192.0.0.0/24")}
)

// isPrivate reports whether s is an IPv4 address in a private network.
// IPv6 addresses and names are never private, as in Kamailio.
func (mod *Module) isPrivate(s string) bool {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !ip.Is4() {
		return false
	}
	return mod.isPrivateIP(ip)
}

func (mod *Module) isPrivateIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.Is4() {
		return false
	}
	for _, n := range privateNets {
		if n.Contains(ip) {
			return true
		}
	}
	if mod.extraPrivate {
		for _, n := range extraNets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// isRFC1918 is KSR.nathelper.is_rfc1918: 1 for a private address, -1
// otherwise, -2 for an empty argument.
func (mod *Module) isRFC1918(m *kemi.Msg, a kemi.Args) kemi.Value {
	s := a.Str(0)
	if s == "" {
		mod.errors.Inc()
		m.Errorf(mod.log, "is_rfc1918: invalid address parameter")
		return kemi.Int(-2)
	}
	return kemi.IntBool(mod.isPrivate(s))
}

// natUACTest is KSR.nathelper.nat_uac_test: 1 when any test of the flags
// finds a NAT, -1 otherwise. The tests run in Kamailio's order.
func (mod *Module) natUACTest(m *kemi.Msg, a kemi.Args) kemi.Value {
	tests := a.Int(0)
	if mod.natFound(m, tests) {
		mod.natDetected.Inc()
		return kemi.OK
	}
	return kemi.Fail
}

func (mod *Module) natFound(m *kemi.Msg, tests int) bool {
	src := m.Src.Addr().Unmap()
	srcPort := int(m.Src.Port())
	via := topVia(m)
	if tests&testViaPort != 0 && via != nil && srcPort != portOr5060(via.Port) {
		return true
	}
	if tests&testViaReceived != 0 && via != nil && !sameIP(via.Host, src) {
		return true
	}
	if tests&testContact1918 != 0 {
		if c := firstContact(m); c != nil && mod.isPrivate(c.Address.Host) {
			return true
		}
	}
	if tests&testSDP1918 != 0 && mod.sdpPrivate(m) {
		return true
	}
	if tests&testVia1918 != 0 && via != nil && mod.isPrivate(via.Host) {
		return true
	}
	if tests&testSource1918 != 0 && mod.isPrivateIP(src) {
		return true
	}
	if tests&testWebSocket != 0 && isWS(m.Proto) {
		return true
	}
	if tests&testContactPort != 0 {
		if c := firstContact(m); c != nil && srcPort != portOr5060(c.Address.Port) {
			return true
		}
	}
	if tests&testSDPConn != 0 && sdpConnDiffers(m, src) {
		return true
	}
	if tests&testDest != 0 && destDiffers(m) {
		return true
	}
	return false
}

func isWS(proto string) bool {
	p := strings.ToLower(proto)
	return p == "ws" || p == "wss"
}

func portOr5060(p int) int {
	if p == 0 {
		return 5060
	}
	return p
}

// sameIP reports whether host (an address, IPv6 maybe in brackets) is ip.
// A name never is: Kamailio's received test does no DNS by default.
func sameIP(host string, ip netip.Addr) bool {
	h, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && h.Unmap() == ip.Unmap()
}

// topVia returns the first Via of the message.
func topVia(m *kemi.Msg) *sip.ViaHeader {
	for _, h := range m.HeaderList() {
		if v, ok := h.(*sip.ViaHeader); ok {
			return v
		}
	}
	return nil
}

// firstContact returns the first Contact of the message when it holds a
// URI with a host (Kamailio's get_contact_uri), or nil.
func firstContact(m *kemi.Msg) *sip.ContactHeader {
	for _, h := range m.HeaderList() {
		if c, ok := h.(*sip.ContactHeader); ok {
			if c.Address.Wildcard || c.Address.Host == "" {
				return nil
			}
			return c
		}
		if kemi.HeaderNameIs(h.Name(), "Contact") {
			return nil // kept unparsed: it does not parse
		}
	}
	return nil
}

// destDiffers is test 512: for a request, whether $du names another host
// or port than the R-URI or goes over WebSocket (or, without $du, the
// R-URI does); for a reply, whether the second Via asks for another port
// (rport) or host (received) or is a WebSocket one.
func destDiffers(m *kemi.Msg) bool {
	if m.IsReply() {
		return replyDestDiffers(m)
	}
	ruri, err := kemi.ParseURI(m.RURI())
	if err != nil {
		return false
	}
	if m.DstURI == "" {
		return isWS(ruri.UriParams.GetOr("transport", ""))
	}
	du, err := kemi.ParseURI(m.DstURI)
	if err != nil {
		return false
	}
	if isWS(du.UriParams.GetOr("transport", "")) {
		return true
	}
	if sipPort(du) != sipPort(ruri) {
		return true
	}
	return hostsDiffer(du.Host, ruri.Host)
}

func replyDestDiffers(m *kemi.Msg) bool {
	var vias []*sip.ViaHeader
	for _, h := range m.HeaderList() {
		if v, ok := h.(*sip.ViaHeader); ok {
			vias = append(vias, v)
		}
	}
	if len(vias) < 2 {
		return false
	}
	v := vias[1]
	if isWS(v.Transport) {
		return true
	}
	if rp, ok := v.Params.Get("rport"); ok && rp != "" {
		if n, err := kemi.ParsePort(rp); err == nil && n != 0 && n != viaPort(v) {
			return true
		}
	}
	rcv, ok := v.Params.Get("received")
	if !ok || rcv == "" {
		return false
	}
	return hostsDiffer(rcv, v.Host)
}

// hostsDiffer compares two hosts as addresses when both are, else as text.
func hostsDiffer(a, b string) bool {
	ia, errA := netip.ParseAddr(strings.Trim(a, "[]"))
	ib, errB := netip.ParseAddr(strings.Trim(b, "[]"))
	switch {
	case errA != nil && errB != nil:
		return a != b
	case errA != nil || errB != nil:
		return true
	}
	return ia.Unmap() != ib.Unmap()
}

// sipPort is the port of u, or the default of its transport.
func sipPort(u sip.Uri) int {
	if u.Port != 0 {
		return u.Port
	}
	if t := strings.ToLower(u.UriParams.GetOr("transport", "")); t == "tls" || t == "wss" || strings.EqualFold(u.Scheme, "sips") {
		return 5061
	}
	return 5060
}

func viaPort(v *sip.ViaHeader) int {
	if v.Port != 0 {
		return v.Port
	}
	if t := strings.ToLower(v.Transport); t == "tls" || t == "wss" {
		return 5061
	}
	return 5060
}
