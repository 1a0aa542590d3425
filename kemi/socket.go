package kemi

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ParseSocketAddr reads "[proto:]host[:port]" as Kamailio's
// parse_phostport: an IPv6 address goes in brackets; with one colon the
// part after it is a port if it is a number, else the part before it is a
// transport. A missing transport is "" and a missing port 0. The
// transport is returned in lower case.
func ParseSocketAddr(spec string) (proto, host string, port int, err error) {
	first, second, depth := -1, -1, 0
	for i := 0; i < len(spec); i++ {
		switch spec[i] {
		case '[':
			if depth++; depth > 1 {
				return "", "", 0, errors.New("too many brackets")
			}
		case ']':
			if depth--; depth < 0 {
				return "", "", 0, errors.New("unbalanced brackets")
			}
		case ':':
			if depth != 0 {
				continue
			}
			switch {
			case first < 0:
				first = i
			case second < 0:
				second = i
			default:
				return "", "", 0, errors.New("too many colons")
			}
		}
	}
	switch {
	case spec == "":
		return "", "", 0, errors.New("empty address")
	case depth != 0:
		return "", "", 0, errors.New("unbalanced brackets")
	case spec[len(spec)-1] == ':':
		return "", "", 0, errors.New("missing port")
	case first < 0:
		return "", spec, 0, nil
	case second >= 0:
		proto, host = strings.ToLower(spec[:first]), spec[first+1:second]
		if ProtoID(proto) == 0 {
			return "", "", 0, fmt.Errorf("bad protocol %q", spec[:first])
		}
		if port, err = ParsePort(spec[second+1:]); err != nil {
			return "", "", 0, err
		}
	default:
		if port, err = ParsePort(spec[first+1:]); err == nil {
			host = spec[:first]
			break
		}
		proto, host, port = strings.ToLower(spec[:first]), spec[first+1:], 0
		if ProtoID(proto) == 0 {
			return "", "", 0, fmt.Errorf("bad protocol %q", spec[:first])
		}
	}
	if host == "" {
		return "", "", 0, errors.New("empty host")
	}
	return proto, host, port, nil
}

// protoOrder is the order in which Kamailio's grep_sock_info tries its
// socket lists when no transport is given.
var protoOrder = []string{"udp", "tcp", "tls", "sctp"}

// SocketFor returns the socket Kamailio's grep_sock_info picks for host,
// port and proto among socks: proto "" matches any transport (tried in
// the order udp, tcp, tls, sctp, then the others), port 0 any port. The
// port may be the bound or the advertised one, and so may the host, which
// may be bracketed; IPv4-mapped addresses match their IPv4 address. Host
// names are compared as text, never resolved.
func SocketFor(socks []*Socket, proto, host string, port int) *Socket {
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	isIP := err == nil
	ip = ip.Unmap()
	match := func(s *Socket) bool {
		if port != 0 && port != int(s.Addr.Port()) && port != s.AdvPort {
			return false
		}
		return hostIs(host, ip, isIP, s.Addr.Addr().String()) ||
			s.AdvHost != "" && hostIs(host, ip, isIP, s.AdvHost)
	}
	if proto != "" {
		for _, s := range socks {
			if strings.EqualFold(s.Proto, proto) && match(s) {
				return s
			}
		}
		return nil
	}
	for _, p := range protoOrder {
		for _, s := range socks {
			if strings.EqualFold(s.Proto, p) && match(s) {
				return s
			}
		}
	}
	for _, s := range socks {
		if !inOrder(s.Proto) && match(s) {
			return s
		}
	}
	return nil
}

func inOrder(proto string) bool {
	for _, p := range protoOrder {
		if strings.EqualFold(p, proto) {
			return true
		}
	}
	return false
}

// hostIs reports whether host (its address ip when isIP) names the
// socket address or advertised host name, as Kamailio's si_hname_cmp: the
// same text in any case, or the same IP address.
func hostIs(host string, ip netip.Addr, isIP bool, name string) bool {
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if strings.EqualFold(host, name) {
		return true
	}
	if !isIP {
		return false
	}
	a, err := netip.ParseAddr(name)
	return err == nil && a.Unmap() == ip
}

// MatchSocket returns the socket that spec, "[proto:]host[:port]", names
// among socks, as Kamailio's set_send_socket and $fs find it (see
// ParseSocketAddr and SocketFor); nil when none does. The error is for a
// spec that does not parse.
func MatchSocket(socks []*Socket, spec string) (*Socket, error) {
	proto, host, port, err := ParseSocketAddr(spec)
	if err != nil {
		return nil, err
	}
	return SocketFor(socks, proto, host, port), nil
}

// SocketByName returns the socket called name among socks, or nil.
func SocketByName(socks []*Socket, name string) *Socket {
	if name == "" {
		return nil
	}
	for _, s := range socks {
		if s.Name == name {
			return s
		}
	}
	return nil
}
