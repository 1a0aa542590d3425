package ksr

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// Address family numbers of $snd(af), as on Linux (AF_INET, AF_INET6).
const (
	afInet  = 2
	afInet6 = 10
)

// netPVs are the source, local socket, transport, send and forced-socket
// pseudo-variables.
func netPVs(mod *Module) []kemi.PVClass {
	return []kemi.PVClass{
		ro("si", func(m *kemi.Msg) kemi.Value {
			if !m.Src.IsValid() {
				return kemi.Null
			}
			return kemi.Str(m.Src.Addr().Unmap().String())
		}),
		ro("sp", func(m *kemi.Msg) kemi.Value {
			if !m.Src.IsValid() {
				return kemi.Null
			}
			return kemi.Int(int(m.Src.Port()))
		}),
		ro("su", func(m *kemi.Msg) kemi.Value {
			uri, ok := m.SourceURI()
			if !ok {
				return kemi.Null
			}
			return kemi.Str(uri)
		}),
		ro("Ri", func(m *kemi.Msg) kemi.Value {
			if m.Rcv == nil || !m.Rcv.Addr.IsValid() {
				return kemi.Null
			}
			return kemi.Str(m.Rcv.Addr.Addr().Unmap().String())
		}),
		ro("Rp", func(m *kemi.Msg) kemi.Value {
			if m.Rcv == nil || !m.Rcv.Addr.IsValid() {
				return kemi.Null
			}
			return kemi.Int(int(m.Rcv.Addr.Port()))
		}),
		ro("pr", protoPV),
		ro("proto", protoPV),
		withParam("snd", getSndTo),
		withParam("sndto", getSndTo),
		withParam("sndfrom", getSndFrom),
		rw("fs", func(m *kemi.Msg) kemi.Value {
			if m.SendSock == nil {
				return kemi.Null
			}
			return kemi.Str(m.SendSock.String())
		}, mod.setForcedSocket),
	}
}

// protoPV is $pr / $proto: the transport the message arrived on, in lower
// case ("none" when unknown, as Kamailio).
func protoPV(m *kemi.Msg) kemi.Value {
	if m.Proto == "" {
		return kemi.Str("none")
	}
	return kemi.Str(strings.ToLower(m.Proto))
}

// getSndTo is $snd(name) / $sndto(name): where the message is being sent,
// while the onsend route runs (Null elsewhere). Names: ip, port, af
// (number), proto (number), sproto, buf, len.
func getSndTo(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	if m.Snd == nil {
		return sndCommon(m, p, "")
	}
	switch p.Key(m) {
	case "ip":
		return kemi.Str(m.Snd.Addr.Addr().Unmap().String()), nil
	case "port":
		return kemi.Int(int(m.Snd.Addr.Port())), nil
	case "af":
		return kemi.Int(afNumber(m.Snd.Addr.Addr())), nil
	}
	return sndCommon(m, p, m.Snd.Proto)
}

// getSndFrom is $sndfrom(name): the local socket the message is being
// sent from, while the onsend route runs.
func getSndFrom(m *kemi.Msg, p *kemi.PVName) (kemi.Value, error) {
	if m.Snd == nil || m.Snd.Sock == nil {
		return sndCommon(m, p, "")
	}
	s := m.Snd.Sock
	switch p.Key(m) {
	case "ip":
		return kemi.Str(s.Addr.Addr().Unmap().String()), nil
	case "port":
		return kemi.Int(int(s.Addr.Port())), nil
	case "af":
		return kemi.Int(afNumber(s.Addr.Addr())), nil
	}
	return sndCommon(m, p, s.Proto)
}

// sndCommon serves the $snd names that do not depend on the address. With
// proto "" (not in the onsend route) every known name is Null.
func sndCommon(m *kemi.Msg, p *kemi.PVName, proto string) (kemi.Value, error) {
	key := p.Key(m)
	switch key {
	case "ip", "port", "af", "proto", "sproto", "buf", "len":
	default:
		return kemi.Null, badParam(p)
	}
	if proto == "" {
		return kemi.Null, nil
	}
	proto = strings.ToLower(proto)
	switch key {
	case "proto":
		return kemi.Int(kemi.ProtoID(proto)), nil
	case "sproto":
		return kemi.Str(proto), nil
	case "buf":
		return kemi.Str(currentMessage(m)), nil
	}
	return kemi.Int(len(currentMessage(m))), nil
}

// afNumber returns the address family number of an address.
func afNumber(a netip.Addr) int {
	if addrFamily(a) == 4 {
		return afInet
	}
	return afInet6
}

// setForcedSocket assigns $fs, the socket to send from: "proto:host:port"
// (port optional) or a socket name. Unset goes back to automatic choice.
func (mod *Module) setForcedSocket(m *kemi.Msg, v kemi.Value) error {
	if v.IsNull() {
		m.SendSock = nil
		return nil
	}
	h := mod.hostOf(m)
	if h == nil {
		return fmt.Errorf("no engine")
	}
	// a socket name too, which Kamailio's $fs does not take
	s, _ := kemi.MatchSocket(h.Sockets(), v.String())
	if s == nil {
		s = kemi.SocketByName(h.Sockets(), v.String())
	}
	if s == nil {
		return fmt.Errorf("no listening socket matches %q", v.String())
	}
	m.SendSock = s
	return nil
}
