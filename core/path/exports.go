package path

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Exports returns KSR.path: the twelve add_path functions of Kamailio's
// KEMI, all returning 1 on success and -1 on error.
func (mod *Module) Exports() []kemi.Export {
	none := []kemi.ParamKind(nil)
	x := func(name string, params []kemi.ParamKind, received bool, adv bool) kemi.Export {
		return kemi.Export{Module: "path", Name: name, Params: params, Return: kemi.ReturnInt,
			Func: func(m *kemi.Msg, a kemi.Args) kemi.Value {
				e := entry{received: received}
				i := 0
				if adv {
					e.adv = a.Str(i)
					i++
				}
				if len(params) > i {
					e.user = a.Str(i)
				}
				if len(params) > i+1 {
					e.params = a.Str(i + 1)
				}
				return mod.addPath(m, name, e, adv)
			}}
	}
	return []kemi.Export{
		x("add_path", none, false, false),
		x("add_path_user", kemi.S, false, false),
		x("add_path_user_params", kemi.SS, false, false),
		x("add_path_received", none, true, false),
		x("add_path_received_user", kemi.S, true, false),
		x("add_path_received_user_params", kemi.SS, true, false),
		x("add_path_advertised_address", kemi.S, false, true),
		x("add_path_advertised_address_user", kemi.SS, false, true),
		x("add_path_advertised_address_user_params", kemi.SSS, false, true),
		x("add_path_received_advertised_address", kemi.S, true, true),
		x("add_path_received_advertised_address_user", kemi.SS, true, true),
		x("add_path_received_advertised_address_user_params", kemi.SSS, true, true),
	}
}

// entry is one add_path call: a Path header to write when the request
// leaves, once the outgoing socket is known (Kamailio's lumps).
type entry struct {
	user     string
	params   string // URI parameters, without the leading ';'
	adv      string // advertised address "host[:port]" instead of the socket's
	received bool   // add the source address in the received parameter
}

// stateKey is the key of the path state stored on a message.
type stateKey struct{}

// state is what path remembers about one message.
type state struct {
	entries []entry
	// sent are the Path headers a stateless send put into the request
	// itself: the next send takes them out first.
	sent []sip.Header
}

func stateOf(m *kemi.Msg) *state {
	st, _ := m.Value(stateKey{}).(*state)
	return st
}

// addPath checks an add_path call (adv: an advertised_address variant)
// and keeps it for BeforeSend.
func (mod *Module) addPath(m *kemi.Msg, fn string, e entry, adv bool) kemi.Value {
	if !m.IsRequest() {
		mod.errors.Inc()
		m.Errorf(mod.log, "%s: not a request", fn)
		return kemi.Fail
	}
	if adv {
		if err := checkAdvertised(e.adv); err != nil {
			mod.errors.Inc()
			m.Errorf(mod.log, "%s: %v", fn, err)
			return kemi.Fail
		}
	}
	for _, s := range []string{e.user, e.params} {
		if strings.ContainsAny(s, "<>\"\r\n") {
			mod.errors.Inc()
			m.Errorf(mod.log, "%s: invalid argument %q", fn, s)
			return kemi.Fail
		}
	}
	st := stateOf(m)
	if st == nil {
		st = &state{}
		m.SetValue(stateKey{}, st)
	}
	st.entries = append(st.entries, e)
	return kemi.OK
}

// checkAdvertised accepts "host" or "host:port", as Kamailio's
// path_check_advertised_address: sip:<addr>;lr must parse with a host.
func checkAdvertised(addr string) error {
	if addr == "" {
		return fmt.Errorf("empty advertised address")
	}
	if strings.ContainsAny(addr, "<>\"; \t\r\n,@") {
		return fmt.Errorf("invalid advertised address %q", addr)
	}
	u, err := kemi.ParseURI("sip:" + addr + ";lr")
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid advertised address %q", addr)
	}
	return nil
}

// WantsSend reports whether add_path ran for origin: BeforeSend has
// nothing to do otherwise.
func (mod *Module) WantsSend(origin *kemi.Msg) bool {
	st := stateOf(origin)
	return st != nil && len(st.entries) > 0
}

// BeforeSend writes the Path headers of the add_path calls made for
// origin into req, now that it leaves over dst.Sock: above the first Path
// header, or after the last header when there is none, as Kamailio.
func (mod *Module) BeforeSend(origin *kemi.Msg, req *sip.Request, dst *kemi.Dest) {
	if origin == nil || req == nil || dst == nil {
		return
	}
	st := stateOf(origin)
	if st == nil || len(st.entries) == 0 {
		return
	}
	rm := kemi.RequestMsg(req)
	if req == origin.Request() {
		rm = origin
		for _, h := range st.sent {
			rm.RemoveHeaderValue(h)
		}
	} else {
		removeCopies(rm, st.sent)
	}
	var hs []sip.Header
	for _, e := range st.entries {
		hs = append(hs, sip.NewHeader("Path", mod.pathValue(origin, e, dst, true)))
		if mod.enableR2 {
			hs = append(hs, sip.NewHeader("Path", mod.pathValue(origin, e, dst, false)))
		}
	}
	// each call goes above the Path headers there before it
	for i := len(hs) - 1; i >= 0; i-- {
		if at := rm.IndexOfHeader("Path"); at >= 0 {
			rm.InsertHeadersAt(at, hs[i])
		} else {
			rm.AppendHeaders(hs[i])
		}
	}
	if req == origin.Request() {
		st.sent = hs
	}
	mod.added.Add(len(hs))
}

// removeCopies takes out of rm the copies of the Path headers a stateless
// send left in the request rm was cloned from.
func removeCopies(rm *kemi.Msg, sent []sip.Header) {
	for _, h := range sent {
		for _, x := range rm.HeaderList() {
			if kemi.HeaderNameIs(x.Name(), "Path") && x.Value() == h.Value() {
				rm.RemoveHeaderValue(x)
				break
			}
		}
	}
}

// pathValue builds our Path URI for one add_path call, for the outgoing
// socket (out) or, with enable_r2, the incoming one.
func (mod *Module) pathValue(origin *kemi.Msg, e entry, dst *kemi.Dest, out bool) string {
	var b strings.Builder
	b.WriteString("<sip:")
	if e.user != "" {
		b.WriteString(e.user)
		b.WriteByte('@')
	}
	sock := dst.Sock
	proto := dst.Proto
	if !out {
		sock, proto = origin.Rcv, origin.Proto
		if sock != nil {
			proto = sock.Proto
		}
	}
	if e.adv != "" {
		// the given address, always with the transport (Kamailio's
		// SUBST_SND_PROTO / SUBST_RCV_PROTO)
		b.WriteString(e.adv)
		b.WriteString(";transport=")
		b.WriteString(uriProto(proto))
	} else {
		host, port := mod.sockAddr(origin, sock, out)
		b.WriteString(strings.TrimSuffix(kemi.HostPort(host, port), ":0"))
		if p := uriProto(proto); p != "udp" {
			b.WriteString(";transport=")
			b.WriteString(p)
		}
	}
	if mod.socknameMode && sock != nil && sock.Name != "" {
		b.WriteString(";sn=")
		b.WriteString(sock.Name)
	}
	b.WriteString(";lr")
	if e.received {
		b.WriteString(";")
		b.WriteString(mod.receivedName)
		b.WriteString("=")
		b.WriteString(mod.receivedValue(origin))
	}
	if e.params != "" {
		b.WriteString(";")
		b.WriteString(strings.TrimPrefix(e.params, ";"))
	}
	if mod.enableR2 {
		b.WriteString(";r2=on")
	}
	b.WriteString(">")
	return b.String()
}

// sockAddr is the host and port of our URI for a socket: its advertised
// address, or the message's (set_advertised_address), or its own. The
// incoming side leaves out port 5060, as Kamailio's SUBST_RCV_ALL (0
// here: HostPort writes no port).
func (mod *Module) sockAddr(origin *kemi.Msg, s *kemi.Socket, out bool) (string, int) {
	if s == nil {
		return "", 0
	}
	host, port := s.AdvHost, s.AdvPort
	if host == "" {
		host = origin.AdvHost
	}
	if host == "" {
		host = s.Addr.Addr().Unmap().String()
	}
	if port == 0 && s.AdvHost == "" {
		port = origin.AdvPort
	}
	if port == 0 {
		port = int(s.Addr.Port())
	}
	if !out && port == 5060 {
		port = 0
	}
	return host, port
}

// receivedValue is the source of origin as the received parameter holds
// it: an escaped SIP URI (received_format 0), or ip~port~protoid (1).
func (mod *Module) receivedValue(origin *kemi.Msg) string {
	ip := origin.Src.Addr().Unmap()
	host := ip.String()
	if ip.Is6() {
		host = "[" + host + "]"
	}
	port := strconv.Itoa(int(origin.Src.Port()))
	proto := strings.ToLower(origin.Proto)
	if mod.receivedFormat == 1 {
		return host + "~" + port + "~" + strconv.Itoa(protoID(proto))
	}
	v := "sip:" + host + ":" + port
	if p := uriProto(proto); p != "udp" {
		v += "%3Btransport%3D" + p
	}
	return v
}

// uriProto is the transport parameter value of a transport: wss is "ws"
// in URIs, as in Kamailio.
func uriProto(proto string) string {
	switch p := strings.ToLower(proto); p {
	case "", "udp":
		return "udp"
	case "wss":
		return "ws"
	default:
		return p
	}
}

// Kamailio's protocol numbers, for received_format 1.
var protoIDs = map[string]int{"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}

func protoID(proto string) int {
	if id, ok := protoIDs[proto]; ok {
		return id
	}
	return 1
}

func protoName(id int) (string, bool) {
	for n, i := range protoIDs {
		if i == id {
			return n, true
		}
	}
	return "", false
}

// routed is the rr callback of use_received: when loose_route consumed a
// Route of ours with a received parameter, the request goes there ($du),
// and the R-URI counts as new again for serial forking.
func (mod *Module) routed(m *kemi.Msg, params sip.HeaderParams) {
	var val string
	for _, kv := range params {
		if strings.EqualFold(kv.K, mod.receivedName) {
			val = kv.V
			break
		}
	}
	if val == "" {
		return
	}
	du, err := mod.receivedURI(val)
	if err == nil {
		_, err = kemi.ParseURI(du)
	}
	if err != nil {
		mod.errors.Inc()
		m.Errorf(mod.log, "use_received: %v", err)
		return
	}
	m.DstURI = du
	m.MarkRURINew()
	mod.receivedDst.Inc()
}

// receivedURI turns a received parameter value back into a SIP URI.
func (mod *Module) receivedURI(v string) (string, error) {
	if mod.receivedFormat == 0 {
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", fmt.Errorf("invalid %s %q: %v", mod.receivedName, v, err)
		}
		return u, nil
	}
	parts := strings.Split(v, "~")
	if len(parts) != 3 {
		return "", fmt.Errorf("invalid %s %q: want ip~port~proto", mod.receivedName, v)
	}
	id, err := strconv.Atoi(parts[2])
	proto, ok := protoName(id)
	if err != nil || !ok {
		return "", fmt.Errorf("invalid %s %q: unknown protocol", mod.receivedName, v)
	}
	u := "sip:" + parts[0] + ":" + parts[1]
	if proto != "udp" {
		u += ";transport=" + proto
	}
	return u, nil
}

// validParamName reports whether s is a URI parameter name (RFC 3261
// paramchar, without escapes).
func validParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()[]/:&+$", c) >= 0:
		default:
			return false
		}
	}
	return true
}
