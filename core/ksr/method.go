package ksr

import (
	"net/netip"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// methodLetters are the letters of is_method_in (there is none for INFO).
var methodLetters = map[byte]string{
	'I': "INVITE", 'A': "ACK", 'B': "BYE", 'C': "CANCEL", 'M': "MESSAGE", 'R': "REGISTER",
	'E': "PRACK", 'P': "PUBLISH", 'S': "SUBSCRIBE", 'N': "NOTIFY", 'O': "OPTIONS", 'F': "REFER",
	'G': "GET", 'U': "UPDATE", 'K': "KDMQ", 'D': "DELETE", 'T': "POST", 'V': "PUT",
}

// methodExports are the method tests: is_INVITE ..., is_method and
// is_method_in. For replies the method is the CSeq method.
func (mod *Module) methodExports() []kemi.Export {
	x := []kemi.Export{
		fn("is_method", kemi.S, kemi.ReturnBool, mod.isMethod),
		fn("is_method_in", kemi.S, kemi.ReturnBool, mod.isMethodIn),
	}
	for _, method := range kemi.StandardMethods {
		x = append(x, fn("is_"+method, nil, kemi.ReturnBool, isMethodFunc(method)))
	}
	return x
}

// isMethodFunc returns the is_<METHOD> test for one standard method.
func isMethodFunc(method string) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		return kemi.Bool(strings.EqualFold(m.Method(), method))
	}
}

// isMethod is KSR.is_method(name): a case-insensitive comparison with the
// method. When the message has a standard method, name may be a
// "|"-separated list of standard methods ("INVITE|BYE"); a list naming an
// unknown method is an error. A non-standard method is compared with the
// whole text.
func (mod *Module) isMethod(m *kemi.Msg, a kemi.Args) kemi.Value {
	want := a.Str(0)
	if want == "" {
		m.Errorf(mod.log, "KSR.is_method: empty method")
		return kemi.False
	}
	method := m.Method()
	if !kemi.IsStandardMethod(method) || !strings.Contains(want, "|") {
		return kemi.Bool(strings.EqualFold(method, want))
	}
	list := strings.Split(want, "|")
	for _, w := range list {
		if !kemi.IsStandardMethod(strings.TrimSpace(w)) {
			m.Errorf(mod.log, "KSR.is_method: unknown method %q in list %q: use only standard SIP methods", w, want)
			return kemi.False
		}
	}
	for _, w := range list {
		if strings.EqualFold(strings.TrimSpace(w), method) {
			return kemi.True
		}
	}
	return kemi.False
}

// isMethodIn is KSR.is_method_in(letters): one letter per method, in any
// case (see methodLetters). Non-standard methods never match.
func (mod *Module) isMethodIn(m *kemi.Msg, a kemi.Args) kemi.Value {
	letters := a.Str(0)
	if letters == "" {
		m.Errorf(mod.log, "KSR.is_method_in: empty method letters")
		return kemi.False
	}
	method := m.Method()
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		name, ok := methodLetters[c]
		if !ok {
			mod.log.Warn("KSR.is_method_in: unsupported method letter", "letter", string(letters[i]), "at", m.Where())
			continue
		}
		if strings.EqualFold(name, method) {
			return kemi.True
		}
	}
	return kemi.False
}

// protoExports are the transport and address-family tests of the incoming
// message (is_UDP ...) and of its next hop (to_UDP ...), and the port tests.
func (mod *Module) protoExports() []kemi.Export {
	return []kemi.Export{
		fn("is_UDP", nil, kemi.ReturnBool, isProto("udp")),
		fn("is_TCP", nil, kemi.ReturnBool, isProto("tcp")),
		fn("is_TLS", nil, kemi.ReturnBool, isProto("tls")),
		fn("is_SCTP", nil, kemi.ReturnBool, isProto("sctp")),
		fn("is_WS", nil, kemi.ReturnBool, isProto("ws")),
		fn("is_WSS", nil, kemi.ReturnBool, isProto("wss")),
		fn("is_WSX", nil, kemi.ReturnBool, isProto("ws", "wss")),
		fn("is_TCPX", nil, kemi.ReturnBool, isProto("tcp", "tls", "ws", "wss")),
		fn("is_proto", kemi.S, kemi.ReturnBool, isProtoLetters),
		fn("is_IPv4", nil, kemi.ReturnBool, isRcvFamily(4)),
		fn("is_IPv6", nil, kemi.ReturnBool, isRcvFamily(6)),
		fn("to_UDP", nil, kemi.ReturnBool, mod.toProto("udp")),
		fn("to_TCP", nil, kemi.ReturnBool, mod.toProto("tcp")),
		fn("to_TLS", nil, kemi.ReturnBool, mod.toProto("tls")),
		fn("to_SCTP", nil, kemi.ReturnBool, mod.toProto("sctp")),
		fn("to_WS", nil, kemi.ReturnBool, mod.toProto("ws")),
		fn("to_WSS", nil, kemi.ReturnBool, mod.toProto("wss")),
		fn("to_WSX", nil, kemi.ReturnBool, mod.toProto("ws", "wss")),
		fn("to_IPv4", nil, kemi.ReturnBool, mod.toFamily(4)),
		fn("to_IPv6", nil, kemi.ReturnBool, mod.toFamily(6)),
		fn("is_src_port", kemi.I, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Bool(m.Src.IsValid() && int(m.Src.Port()) == a.Int(0))
		}),
		fn("is_dst_port", kemi.I, kemi.ReturnBool, func(m *kemi.Msg, a kemi.Args) kemi.Value {
			return kemi.Bool(m.Rcv != nil && int(m.Rcv.Addr.Port()) == a.Int(0))
		}),
	}
}

// isProto returns a test of the transport the message arrived on.
func isProto(protos ...string) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		p := strings.ToLower(m.Proto)
		for _, want := range protos {
			if p == want {
				return kemi.True
			}
		}
		return kemi.False
	}
}

// protoLetters are the letters of is_proto.
var protoLetters = map[byte]string{'e': "tls", 's': "sctp", 't': "tcp", 'u': "udp", 'v': "ws", 'w': "wss"}

// isProtoLetters is KSR.is_proto(letters): e=TLS, s=SCTP, t=TCP, u=UDP,
// v=WS, w=WSS, in any case.
func isProtoLetters(m *kemi.Msg, a kemi.Args) kemi.Value {
	p := strings.ToLower(m.Proto)
	for _, c := range []byte(strings.ToLower(a.Str(0))) {
		if protoLetters[c] == p && p != "" {
			return kemi.True
		}
	}
	return kemi.False
}

// isRcvFamily returns a test of the address family (4 or 6) of the socket
// the message arrived on.
func isRcvFamily(family int) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		if m.Rcv == nil || !m.Rcv.Addr.IsValid() {
			return kemi.False
		}
		return kemi.Bool(addrFamily(m.Rcv.Addr.Addr()) == family)
	}
}

// addrFamily returns 4 or 6 for an IP address (IPv4-mapped IPv6 counts as
// 4), 0 for an invalid one.
func addrFamily(a netip.Addr) int {
	switch {
	case !a.IsValid():
		return 0
	case a.Unmap().Is4():
		return 4
	}
	return 6
}

// hostFamily returns 4 or 6 when host is an IP literal ("[...]" allowed),
// else 0. There is no DNS lookup.
func hostFamily(host string) int {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return 0
	}
	if ip.Is4() {
		return 4
	}
	return 6
}

// toProto returns a test of the transport of the next hop.
func (mod *Module) toProto(protos ...string) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		p, ok := mod.nextHopProto(m)
		if !ok {
			return kemi.False
		}
		for _, want := range protos {
			if p == want {
				return kemi.True
			}
		}
		return kemi.False
	}
}

// toFamily returns a test of the address family of the next hop's host.
func (mod *Module) toFamily(family int) kemi.Func {
	return func(m *kemi.Msg, _ kemi.Args) kemi.Value {
		h, ok := mod.nextHopHost(m)
		return kemi.Bool(ok && hostFamily(h) == family)
	}
}

// nextHopProto returns the transport of the next hop in lower case: the
// transport parameter of $du, else of the R-URI ("" when there is none, as
// Kamailio does not assume UDP there); for a reply, the transport of the
// second Via.
func (mod *Module) nextHopProto(m *kemi.Msg) (string, bool) {
	if m.IsReply() {
		_, _, proto, ok := m.ViaTargetAt(1)
		return proto, ok
	}
	u, err := kemi.ParseURI(m.NextHop())
	if err != nil {
		m.Errorf(mod.log, "cannot parse next hop uri: %v", err)
		return "", false
	}
	return uriTransport(&u), true
}

// nextHopHost returns the host of the next hop: of $du, else of the R-URI;
// for a reply, the received parameter or else the host of the second Via.
func (mod *Module) nextHopHost(m *kemi.Msg) (string, bool) {
	if m.IsReply() {
		host, _, _, ok := m.ViaTargetAt(1)
		return host, ok
	}
	u, err := kemi.ParseURI(m.NextHop())
	if err != nil {
		m.Errorf(mod.log, "cannot parse next hop uri: %v", err)
		return "", false
	}
	return u.Host, true
}
