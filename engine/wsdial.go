package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/kemisip/kemi/internal/websocket"
	"github.com/kemisip/kemi/kemi"
)

// Outbound SIP over WebSocket (KSR.websocket.connect and send): kemi
// dials the peer, makes the opening handshake as a client, and from then
// on the connection is like an accepted one: its messages are routed
// with proto ws or wss, and sends to the peer's address go over it.

// wsDialTimeout bounds the name lookup, the TCP connect, the TLS
// handshake and the WebSocket handshake of one outbound connection, so
// that a worker never hangs on a silent peer.
const wsDialTimeout = 5 * time.Second

// WSConnect returns the id of a WebSocket connection to host:port and
// the address it goes to, reusing one open to that address, else
// dialling it; see kemi.WSDialer.
func (e *Engine) WSConnect(host string, port int, path, subproto string, secure bool) (uint64, netip.AddrPort, error) {
	if port <= 0 || port > 65535 {
		return 0, netip.AddrPort{}, fmt.Errorf("engine: websocket connect: bad port %d", port)
	}
	proto := "ws"
	if secure {
		proto = "wss"
	}
	ctx, cancel := context.WithTimeout(context.Background(), wsDialTimeout)
	defer cancel()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil || len(ips) == 0 {
			return 0, netip.AddrPort{}, fmt.Errorf("engine: websocket connect: resolve %q: %v", host, lerr)
		}
		ip = ips[0]
	}
	addr := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	if tc := e.tp.conn(0, addr); tc != nil && !tc.closed.Load() {
		if ws := tc.ws.Load(); ws != nil && ws.proto == proto {
			return tc.id, addr, nil
		}
	}
	tc, err := e.tp.dialWS(ctx, host, addr, path, subproto, secure)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("engine: websocket connect to %s: %w", addr, err)
	}
	return tc.id, addr, nil
}

// dialWS opens a WebSocket connection to addr (TLS when secure, with the
// client profile for addr and host) and adds it to the transport.
func (t *transport) dialWS(ctx context.Context, host string, addr netip.AddrPort, path, subproto string, secure bool) (*tcpConn, error) {
	if err := t.mayDial(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	c := raw
	var sess *tlsSession
	proto, sockProto := "ws", "tcp"
	if secure {
		proto, sockProto = "wss", "tls"
		var tconn *tls.Conn
		tconn, sess, err = t.dialTLS(raw, &kemi.Dest{Proto: "tls", Addr: addr, Host: host})
		if err == nil {
			err = t.handshake(tconn, sess, addr)
		}
		if err != nil {
			raw.Close()
			return nil, err
		}
		c = tconn
	}
	hostHeader := net.JoinHostPort(host, strconv.Itoa(int(addr.Port())))
	_, rest, err := websocket.ClientHandshake(c, websocket.ClientOptions{Host: hostHeader, Target: path, Protocols: []string{subproto}, MaxHeadSize: wsMaxHead})
	if err != nil {
		raw.Close()
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	sock := t.pickSocket(sockProto, addr.Addr(), nil)
	if sock == nil {
		sock = t.pickSocket(proto, addr.Addr(), nil)
	}
	return t.addStreamWith(c, sock, addr, false, sess, func(tc *tcpConn) {
		wc := websocket.NewClient(wsIO{t, tc}, rest, websocket.Config{MaxMessageSize: t.e.cfg.MaxMessageSize})
		tc.ws.Store(&wsSession{proto: proto, conn: wc})
	})
}

var _ kemi.WSDialer = (*Engine)(nil)
