package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// The engine is the kemi.Host of its modules.
var (
	_ kemi.Host        = (*Engine)(nil)
	_ kemi.RawSender   = (*Engine)(nil)
	_ kemi.WireReplier = (*Engine)(nil)
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// LogLevel returns the log level in force: Config.LogLevelVar's when
// set (cfg.set core debug changes it), else the configured one.
func (e *Engine) LogLevel() slog.Level {
	if lv := e.cfg.LogLevelVar; lv != nil {
		return lv.Level()
	}
	return e.cfg.LogLevel
}

// Resolve turns a SIP URI into a destination (RFC 3263, simplified: the
// transport parameter or UDP; an IP address as it is; a name with a port by
// A/AAAA; a name without a port by SRV, then A/AAAA).
func (e *Engine) Resolve(ctx context.Context, uri string) (kemi.Dest, error) {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return kemi.Dest{}, fmt.Errorf("invalid uri %q: %w", uri, err)
	}
	proto := "udp"
	tparam, hasT := u.UriParams.Get("transport")
	if hasT {
		proto = strings.ToLower(tparam)
	}
	if strings.EqualFold(u.Scheme, "sips") && proto != "wss" {
		proto = "tls"
	}
	switch proto {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return kemi.Dest{}, fmt.Errorf("transport %s is not supported (uri %s)", proto, uri)
	}
	host := strings.Trim(u.Host, "[]")
	if host == "" {
		return kemi.Dest{}, fmt.Errorf("uri %q has no host", uri)
	}
	port := u.Port
	if err := kemi.CheckPort(port); err != nil {
		return kemi.Dest{}, fmt.Errorf("uri %q: %w", uri, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if port == 0 {
			port = kemi.DefaultPort(proto)
		}
		return kemi.Dest{Proto: proto, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)), Host: host}, nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ap, err := e.dns.lookup(ctx, host, port, proto, !hasT && port == 0)
	if err != nil {
		return kemi.Dest{}, err
	}
	return kemi.Dest{Proto: proto, Addr: ap, Host: host}, nil
}

// dnsCache remembers resolved names for a short while, so that routes do
// not wait on DNS for every message.
type dnsCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]dnsEntry
}

type dnsEntry struct {
	ap  netip.AddrPort
	err error
	exp time.Time
}

func (c *dnsCache) lookup(ctx context.Context, host string, port int, proto string, srv bool) (netip.AddrPort, error) {
	key := proto + ":" + host + ":" + strconv.Itoa(port)
	now := time.Now()
	c.mu.Lock()
	if en, ok := c.m[key]; ok && now.Before(en.exp) {
		c.mu.Unlock()
		return en.ap, en.err
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ap, err := resolveHost(ctx, host, port, proto, srv)
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]dnsEntry{}
	}
	c.m[key] = dnsEntry{ap: ap, err: err, exp: now.Add(c.ttl)}
	c.mu.Unlock()
	return ap, err
}

func resolveHost(ctx context.Context, host string, port int, proto string, srv bool) (netip.AddrPort, error) {
	r := net.DefaultResolver
	if srv {
		// RFC 3263: _sips._tcp for TLS
		service, sproto := "sip", proto
		if proto == "tls" {
			service, sproto = "sips", "tcp"
		}
		if _, addrs, err := r.LookupSRV(ctx, service, sproto, host); err == nil && len(addrs) > 0 {
			host = strings.TrimSuffix(addrs[0].Target, ".")
			port = int(addrs[0].Port)
		}
	}
	if port == 0 {
		port = kemi.DefaultPort(proto)
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolve %s: no address", host)
	}
	best := ips[0]
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			best = ip
			break
		}
	}
	return netip.AddrPortFrom(best.Unmap(), uint16(port)), nil
}

// Forward sends m statelessly; see kemi.Host.
func (e *Engine) Forward(m *kemi.Msg, uri string) error {
	if m.IsReply() {
		return e.forwardReply(m)
	}
	if !m.IsRequest() {
		return errors.New("no message")
	}
	mf, setMF, exhausted := m.ProxyMaxForwards()
	if exhausted {
		return e.tooManyHops(m)
	}
	var err error
	if uri == "" {
		uri = m.NextHop()
		if m.DstURI == "" && m.PathVec != "" {
			// no $du: along the Path set (RFC 3327 §5), as tm does
			if uri, err = kemi.PathFirstHop(m.PathVec); err != nil {
				m.SetError(478, "Unresolvable destination")
				return err
			}
		}
	}
	dst, err := e.resolveHop(m, uri)
	if err != nil {
		m.SetError(478, "Unresolvable destination")
		return err
	}
	dst.NoConnect, dst.Close = m.ForwardNoConnect, m.ForwardClose
	dst.TLSServerID = kemi.TLSConnectServerID(m)
	if m.SendSock != nil && m.SendSock.Proto == dst.Proto {
		dst.Sock = m.SendSock
	}
	if e.canForwardLazy(m) {
		if err := e.forwardLazy(m, dst, mf, setMF); err != errNotLazy {
			return err
		}
	}
	// replies to a request that came over TCP find the connection by
	// received/rport; over UDP rport is honoured when asked for
	m.StampSenderTopVia()
	via := e.Via(m, &dst, statelessBranch(m.Request()))
	if via == nil {
		m.SetError(500, "No socket for "+dst.Proto)
		return fmt.Errorf("no %s socket to send from", dst.Proto)
	}
	// Kamailio writes its Via right above the first Via, whatever headers
	// (a Record-Route, a Max-Forwards written first) come before it
	m.InsertHeadersAt(m.IndexOfHeader("Via"), via)
	// the Path set lookup gave the request goes in as Route headers for
	// this send only, as Kamailio writes its path vector
	path, err := m.InsertPathRoutes(m.PathVec)
	if err != nil {
		m.RemoveHeaderValue(via)
		m.SetError(478, "Unresolvable destination")
		return err
	}
	restoreMF := func() {}
	if setMF {
		restoreMF = hopMaxForwards(m, mf)
	}
	err = e.SendRequest(m, m.Request(), dst)
	// the request is the script's again, as it was: it may be sent twice
	restoreMF()
	m.RemoveHeaderValue(via)
	for _, r := range path {
		m.RemoveHeaderValue(r)
	}
	if err != nil && !errors.Is(err, kemi.ErrDropped) {
		m.SetError(500, "Forwarding failed")
	}
	return err
}

// resolveHop is Resolve for the next hop of m, through the worker's
// memo of the last next hop that named an IP address (kemi.Proc.CacheDest).
func (e *Engine) resolveHop(m *kemi.Msg, uri string) (kemi.Dest, error) {
	if d, ok := m.Proc.CachedDest(uri); ok {
		return d, nil
	}
	d, err := e.Resolve(context.Background(), uri)
	if err == nil {
		if _, ipErr := netip.ParseAddr(d.Host); ipErr == nil {
			m.Proc.CacheDest(uri, d)
		}
	}
	return d, err
}

// hopMaxForwards gives the request in m the Max-Forwards v for one send
// (RFC 3261 §16.6 step 3) and returns what puts the original back.
func hopMaxForwards(m *kemi.Msg, v uint32) (restore func()) {
	old := m.Request().MaxForwards()
	kemi.SetMaxForwards(m.Request(), v)
	if old == nil {
		added := m.Request().MaxForwards()
		return func() { m.RemoveHeaderValue(added) }
	}
	return func() { m.Request().ReplaceHeader(old) }
}

// tooManyHops refuses to forward a request whose Max-Forwards is 0 (RFC
// 3261 §16.3 step 3): 483 to the sender, nothing for an ACK, which has no
// reply.
func (e *Engine) tooManyHops(m *kemi.Msg) error {
	m.SetError(483, "Too Many Hops")
	if m.Request().Method == sip.ACK {
		return kemi.ErrTooManyHops
	}
	if err := e.Reply(m, m.NewReply(483, "Too Many Hops")); err != nil {
		return fmt.Errorf("%w; the 483 was not sent: %v", kemi.ErrTooManyHops, err)
	}
	return kemi.ErrTooManyHops
}

// statelessBranch computes the branch of a statelessly forwarded request
// (RFC 3261 §16.11): the same for retransmissions, and for a CANCEL the
// same as for the INVITE it cancels. Headers the route removed are left
// out of the hash.
func statelessBranch(req *sip.Request) string {
	h := fnv64Offset
	v := req.Via()
	if b, ok := viaBranch(v); ok && strings.HasPrefix(b, "z9hG4bK") {
		h = fnv64(h, []byte(b))
		h = fnv64(h, []byte(v.Host))
		h = fnv64(h, []byte(strconv.Itoa(v.Port)))
	} else {
		if c := req.CallID(); c != nil {
			h = fnv64(h, []byte(c.Value()))
		}
		if f := req.From(); f != nil {
			if t, ok := f.Params.Get("tag"); ok {
				h = fnv64(h, []byte(t))
			}
		}
		if c := req.CSeq(); c != nil {
			h = fnv64(h, []byte(strconv.FormatUint(uint64(c.SeqNo), 10)))
		}
		if v != nil {
			h = fnv64(h, []byte(v.Value()))
		}
		if req.Method != sip.CANCEL && req.Method != sip.ACK {
			h = fnv64(h, []byte(req.Recipient.String()))
		}
	}
	return "z9hG4bKsl" + strconv.FormatUint(h, 36)
}

// viaBranch returns the branch parameter of v, if v is there (see
// kemi.ViaParam: the name is case-insensitive, as on the lazy form).
func viaBranch(v *sip.ViaHeader) (string, bool) {
	return kemi.ViaParam(v, "branch")
}

// forwardReply sends a reply on to the address in its second Via, after
// checking that the top Via is ours and removing it.
func (e *Engine) forwardReply(m *kemi.Msg) error {
	if lm := m.Lazy(); lm != nil {
		return e.forwardReplyLazy(m, lm)
	}
	res := m.Response()
	top := res.Via()
	if top == nil {
		e.met.dropped(dropMalformed).Inc()
		return errors.New("reply without Via")
	}
	if !e.IsMyself(top.Host, top.Port, strings.ToLower(top.Transport)) {
		e.met.dropped(dropNoRoute).Inc()
		return fmt.Errorf("top Via %s is not ours", top.SentBy())
	}
	m.RemoveHeaderValue(top)
	next := res.Via()
	if next == nil {
		e.met.dropped(dropNoRoute).Inc()
		return errors.New("reply has no Via left to route it on")
	}
	dst, err := e.viaDest(next)
	if err != nil {
		e.met.dropped(dropNoRoute).Inc()
		return err
	}
	if err := e.SendReply(res, dst); err != nil {
		return err
	}
	m.Handled = true
	return nil
}

// viaDest returns where a reply goes according to a Via (RFC 3261 §18.2.2,
// RFC 3581): received and rport first, then sent-by.
func (e *Engine) viaDest(v *sip.ViaHeader) (kemi.Dest, error) {
	host, port, proto := kemi.ViaTarget(v)
	return e.destFor(strings.Trim(host, "[]"), port, proto)
}

// destFor is where a reply to host:port over proto goes: the address,
// or the name resolved.
func (e *Engine) destFor(host string, port int, proto string) (kemi.Dest, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return kemi.Dest{Proto: proto, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)), Host: host}, nil
	}
	ap, err := e.dns.lookup(context.Background(), host, port, proto, false)
	if err != nil {
		return kemi.Dest{}, err
	}
	return kemi.Dest{Proto: proto, Addr: ap, Host: host}, nil
}

// ReplyDest returns where replies to the request in m go.
func (e *Engine) ReplyDest(m *kemi.Msg) (kemi.Dest, error) {
	if !m.IsRequest() {
		return kemi.Dest{}, errors.New("not a request")
	}
	if m.Proto != "udp" && m.ConnID != 0 {
		return kemi.Dest{Proto: m.Proto, Addr: m.Src, ConnID: m.ConnID, Sock: m.Rcv,
			NoConnect: m.ReplyNoConnect, Close: m.ReplyClose}, nil
	}
	if lm := m.Lazy(); lm != nil {
		v, err := lm.TopVia()
		if err != nil {
			return kemi.Dest{}, fmt.Errorf("request's top Via: %w", err)
		}
		if !m.Src.IsValid() {
			return e.viaDestLazy(v)
		}
		return e.udpReplyDest(m, v.PortNum, v.HasRport), nil
	}
	v := m.Request().Via()
	if v == nil {
		return kemi.Dest{}, errors.New("request without Via")
	}
	if !m.Src.IsValid() {
		d, err := e.viaDest(v)
		return d, err
	}
	_, rport := kemi.ViaParam(v, "rport")
	return e.udpReplyDest(m, v.Port, rport), nil
}

// udpReplyDest is where replies to m, received over UDP from m.Src, go:
// the source address, the port of its top Via (port) unless it asked for
// rport or rport is forced.
func (e *Engine) udpReplyDest(m *kemi.Msg, port int, rport bool) kemi.Dest {
	if rport || m.ForceRport {
		port = int(m.Src.Port())
	}
	if port == 0 {
		port = 5060
	}
	return kemi.Dest{Proto: "udp", Addr: netip.AddrPortFrom(m.Src.Addr(), uint16(port)), Sock: m.Rcv}
}

// Reply sends res, a reply to the request in m.
func (e *Engine) Reply(m *kemi.Msg, res *sip.Response) error {
	dst, err := e.ReplyDest(m)
	if err != nil {
		return err
	}
	if err := e.SendReply(res, dst); err != nil {
		return err
	}
	m.Handled = true
	return nil
}

// Via returns our Via for a request to dst and picks the socket.
func (e *Engine) Via(m *kemi.Msg, dst *kemi.Dest, branch string) *sip.ViaHeader {
	host, port, ok := e.viaSocket(m, dst)
	if !ok {
		return nil
	}
	via := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       strings.ToUpper(dst.Proto),
		Host:            host,
		Port:            port,
		Params:          sip.NewParams(),
	}
	via.Params.Add("branch", branch)
	if m != nil && m.LocalRport {
		via.Params.Add("rport", "")
	}
	return via
}

// viaSocket picks the socket a request to dst leaves from (see
// pickViaSocket) and returns the host and port our Via advertises; ok is
// false when there is no socket.
func (e *Engine) viaSocket(m *kemi.Msg, dst *kemi.Dest) (host string, port int, ok bool) {
	sock := e.pickViaSocket(m, dst)
	if sock == nil {
		return "", 0, false
	}
	host, port = sock.Host(), sock.Port()
	if m != nil {
		if m.AdvHost != "" {
			host = m.AdvHost
		}
		if m.AdvPort != 0 {
			port = m.AdvPort
		}
	}
	return host, port, true
}

// pickViaSocket sets dst.Sock to the socket a request to dst leaves
// from: dst.Sock, the message's send socket, or one for dst's protocol
// and address (the one m came in on when it fits). nil when there is
// none.
func (e *Engine) pickViaSocket(m *kemi.Msg, dst *kemi.Dest) *kemi.Socket {
	sock := dst.Sock
	var prefer *kemi.Socket
	if m != nil {
		if sock == nil && m.SendSock != nil && m.SendSock.Proto == dst.Proto {
			sock = m.SendSock
		}
		prefer = m.Rcv
	}
	if sock == nil {
		sock = e.tp.pickSocket(dst.Proto, dst.Addr.Addr(), prefer)
	}
	if sock == nil && (dst.Proto == "ws" || dst.Proto == "wss") {
		// a WebSocket connection upgraded on a tcp or tls listener
		// (Kamailio's way) is that listener's
		if tc := e.tp.conn(dst.ConnID, dst.Addr); tc != nil {
			sock = tc.sock
		}
	}
	if sock != nil {
		dst.Sock = sock
	}
	return sock
}

// PrepareRequest picks the socket, runs the modules' send hooks and the
// onsend route; see kemi.Host.
func (e *Engine) PrepareRequest(origin *kemi.Msg, req *sip.Request, dst *kemi.Dest) error {
	if dst.Sock == nil {
		var prefer *kemi.Socket
		if origin != nil {
			prefer = origin.Rcv
		}
		dst.Sock = e.tp.pickSocket(dst.Proto, dst.Addr.Addr(), prefer)
	}
	if origin == nil {
		return nil
	}
	if dst.TLSServerID == "" {
		dst.TLSServerID = kemi.TLSConnectServerID(origin)
	}
	for _, h := range e.sendHooks {
		h.BeforeSend(origin, req, dst)
	}
	if origin.Run != nil && e.cfg.OnsendRoute != "none" && origin.Run.Has(e.cfg.OnsendRoute) {
		om := origin.Copy()
		om.SetRequest(req)
		om.Drop = false
		om.Snd = dst
		// the Runner (the worker) counts the run and logs a Lua error
		_, _ = origin.Run.Call(e.cfg.OnsendRoute, kemi.RouteOnsend, om)
		if om.Drop {
			e.met.dropped(dropScriptDrop).Inc()
			origin.Handled = true
			return kemi.ErrDropped
		}
	}
	return nil
}

// SendRequest prepares (when origin is given) and sends req to dst.
func (e *Engine) SendRequest(origin *kemi.Msg, req *sip.Request, dst kemi.Dest) error {
	if err := e.PrepareRequest(origin, req, &dst); err != nil {
		return err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	req.StringWrite(buf)
	err := e.tp.send(&dst, buf.Bytes())
	bufPool.Put(buf)
	if err != nil {
		e.met.sendErrs.Inc()
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	e.met.sentReq.Inc()
	if origin != nil {
		origin.Handled = true
	}
	return nil
}

// SendRaw sends b to dst as it is; see kemi.RawSender.
func (e *Engine) SendRaw(dst kemi.Dest, b []byte) error {
	if dst.Sock == nil && dst.ConnID == 0 {
		dst.Sock = e.tp.pickSocket(dst.Proto, dst.Addr.Addr(), nil)
	}
	if err := e.tp.send(&dst, b); err != nil {
		e.met.sendErrs.Inc()
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	return nil
}

// SendRequestBytes sends b, a request written already, to dst and counts
// it; see kemi.LazyRequestSender.
func (e *Engine) SendRequestBytes(dst kemi.Dest, b []byte) error {
	if err := e.SendRaw(dst, b); err != nil {
		return err
	}
	e.met.sentReq.Inc()
	return nil
}

// AppendVia appends our Via value for a request to dst, from the socket
// it picks; see kemi.LazyRequestSender.
func (e *Engine) AppendVia(buf []byte, m *kemi.Msg, dst *kemi.Dest, branch string) ([]byte, bool) {
	var b [64]byte
	return e.viaLazy(buf, m, dst, append(b[:0], branch...))
}

// SendReplyBytes sends b, a reply written already, to dst; see
// kemi.WireReplier.
func (e *Engine) SendReplyBytes(dst kemi.Dest, b []byte) error {
	if dst.Sock == nil && dst.ConnID == 0 {
		dst.Sock = e.tp.pickSocket(dst.Proto, dst.Addr.Addr(), nil)
	}
	if err := e.tp.send(&dst, b); err != nil {
		e.met.sendErrs.Inc()
		return fmt.Errorf("send reply to %s: %w", dst, err)
	}
	e.met.sentRpl.Inc()
	return nil
}

// SendReply sends res to dst.
func (e *Engine) SendReply(res *sip.Response, dst kemi.Dest) error {
	if dst.Sock == nil && dst.ConnID == 0 {
		dst.Sock = e.tp.pickSocket(dst.Proto, dst.Addr.Addr(), nil)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	res.StringWrite(buf)
	err := e.tp.send(&dst, buf.Bytes())
	bufPool.Put(buf)
	if err != nil {
		e.met.sendErrs.Inc()
		return fmt.Errorf("send reply to %s: %w", dst, err)
	}
	e.met.sentRpl.Inc()
	return nil
}

// IsMyself reports whether host:port over proto is one of our addresses or
// aliases. Port 0 means any port and proto "" any protocol, as in
// Kamailio's check_self. It runs per message: nothing here resolves or
// asks the kernel (see localAddrs).
func (e *Engine) IsMyself(host string, port int, proto string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "" {
		return false
	}
	ip, ipErr := netip.ParseAddr(host)
	ip = ip.Unmap()
	for _, l := range e.tp.listeners {
		s := l.sock
		if proto != "" && !servesProto(s.Proto, proto) {
			continue
		}
		if port != 0 && port != s.Port() && port != int(s.Addr.Port()) {
			continue
		}
		if strings.EqualFold(host, s.AdvHost) {
			return true
		}
		if ipErr == nil {
			a := s.Addr.Addr()
			// a wildcard socket is bound for one family (udp4, udp6)
			if a == ip || a.IsUnspecified() && a.Is4() == ip.Is4() && e.isLocalIP(ip) {
				return true
			}
		}
	}
	for _, a := range e.aliases {
		if a.host == host && (a.port == 0 || port == 0 || a.port == port) {
			return true
		}
	}
	return false
}

// servesProto reports whether a socket of sockProto carries proto. As in
// Kamailio, SIP over WebSocket also runs on the tcp (ws) and tls (wss)
// listeners a connection was upgraded on, and a WS Via may name a WSS
// connection's socket: our Via on a request sent over a WebSocket
// connection names such a listener.
func servesProto(sockProto, proto string) bool {
	switch proto {
	case "ws":
		return sockProto == "ws" || sockProto == "tcp" || sockProto == "wss" || sockProto == "tls"
	case "wss":
		return sockProto == "wss" || sockProto == "tls"
	}
	return sockProto == proto
}

// alias is a parsed Config.Aliases entry; port 0 means any.
type alias struct {
	host string
	port int
}

func parseAliases(in []string) []alias {
	out := make([]alias, 0, len(in))
	for _, a := range in {
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			h, p = a, ""
		}
		al := alias{host: strings.ToLower(strings.Trim(h, "[]"))}
		if p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				n = -1 // matches only "any port"
			}
			al.port = n
		}
		out = append(out, al)
	}
	return out
}

// localAddrRefresh is how often the interface addresses are read again
// while a wildcard socket is bound: addresses come and go (DHCP, VPNs).
const localAddrRefresh = 30 * time.Second

// localAddrs reads the addresses of the host's interfaces.
func localAddrs() map[netip.Addr]bool {
	set := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return set
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			set[p.Addr().Unmap()] = true
		}
	}
	return set
}

// watchLocalAddrs keeps the interface addresses that a wildcard socket
// answers on up to date until the engine stops.
func (e *Engine) watchLocalAddrs() {
	set := localAddrs()
	e.local.Store(&set)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(localAddrRefresh)
		defer t.Stop()
		for {
			select {
			case <-e.quit:
				return
			case <-t.C:
				set := localAddrs()
				e.local.Store(&set)
			}
		}
	}()
}

func (e *Engine) isLocalIP(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	set := e.local.Load()
	return set != nil && (*set)[ip]
}

// FindSocket returns the socket named spec, or the one spec,
// "[proto:]host[:port]", names as Kamailio's set_send_socket does
// (kemi.MatchSocket). It runs on workers, so a host name is never
// resolved: it only matches a socket's advertised name.
func (e *Engine) FindSocket(spec string) *kemi.Socket {
	socks := e.Sockets()
	if s := kemi.SocketByName(socks, spec); s != nil {
		return s
	}
	s, _ := kemi.MatchSocket(socks, spec)
	return s
}

// maxTCPAliases bounds the addresses AddTCPAlias gives one connection
// besides its own: Kamailio keeps four ports a connection
// (TCP_CON_MAX_ALIASES), its own among them.
const maxTCPAliases = 3

// AddTCPAlias makes connection connID the one used for requests to addr.
// A connection takes maxTCPAliases addresses besides its own; past them
// it fails, as Kamailio does ("too many aliases"), so that a peer cannot
// grow the table with every request.
func (e *Engine) AddTCPAlias(connID uint64, addr netip.AddrPort) error {
	tp := e.tp
	tp.mu.Lock()
	defer tp.mu.Unlock()
	c := tp.byID[connID]
	if c == nil {
		return fmt.Errorf("no tcp connection %d", connID)
	}
	if tp.byAddr[addr] == c {
		return nil
	}
	if addr != c.remote && !slices.Contains(c.aliases, addr) {
		if len(c.aliases) >= maxTCPAliases {
			return fmt.Errorf("too many aliases (%d) for tcp connection %d from %s", len(c.aliases), connID, c.remote)
		}
		c.aliases = append(c.aliases, addr) // removed with c
	}
	tp.byAddr[addr] = c
	return nil
}

// Exec runs fn on a worker.
func (e *Engine) Exec(fn func(run kemi.Runner, proc *kemi.Proc)) {
	e.dispatch(job{fn: func(w *worker) { fn(w, w.proc) }})
}
