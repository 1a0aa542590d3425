package kemi

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HostPort joins a host and a port as Kamailio writes them in URIs and
// socket addresses: an IPv6 address goes in brackets, and an IPv4-mapped
// IPv6 address is written as the IPv4 address.
func HostPort(host string, port int) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		host = ip.String()
		if ip.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // not an address, but a port would be ambiguous
	}
	return host + ":" + strconv.Itoa(port)
}

// DefaultPort is the port of a SIP address that names none, by its
// transport: 5061 for TLS, 5060 for the others (RFC 3261 §19.1.2, and
// Kamailio's proto_default_port, which gives WS and WSS 5060 too).
func DefaultPort(proto string) int {
	if strings.EqualFold(proto, "tls") {
		return 5061
	}
	return 5060
}

// CheckPort refuses a port number read from a URI or a Via that is not
// 0 (none given) to 65535: stored in a uint16 it would name another port
// (999999 becomes 16959).
func CheckPort(port int) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("invalid port %d", port)
	}
	return nil
}

// protoIDs are Kamailio's transport numbers (PROTO_UDP and the others).
var protoIDs = map[string]int{"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}

// ProtoID returns Kamailio's number of a transport, as $snd(proto) and
// KSR.kx.get_protoid give it: 1 for udp up to 6 for wss, 0 for none or an
// unknown one. Case does not matter.
func ProtoID(proto string) int {
	return protoIDs[strings.ToLower(proto)]
}

// URIProto returns a transport as Kamailio writes it in a SIP URI or a
// socket address: in lower case, with wss written ws. ok is false for no
// transport and for an unknown one.
func URIProto(proto string) (p string, ok bool) {
	p = strings.ToLower(proto)
	switch p {
	case "udp", "tcp", "tls", "sctp", "ws":
		return p, true
	case "wss":
		return "ws", true
	}
	return "", false
}

// SourceURI returns the address the message came from as a SIP URI, as
// Kamailio's $su: "sip:ip:port", with a transport parameter unless the
// transport is UDP or not set. ok is false when the message has no source
// or came over a transport Kamailio does not know.
func (m *Msg) SourceURI() (uri string, ok bool) {
	if !m.Src.IsValid() {
		return "", false
	}
	uri = "sip:" + HostPort(m.Src.Addr().String(), int(m.Src.Port()))
	if p := strings.ToLower(m.Proto); p == "" || p == "udp" {
		return uri, true
	}
	tp, ok := URIProto(m.Proto)
	if !ok {
		return "", false
	}
	return uri + ";transport=" + tp, true
}
