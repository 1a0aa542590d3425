package engine_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// coderWS is a SIP over WebSocket client made of github.com/coder/websocket
// and sipgo's parser: no code of kemi's on the client side.
type coderWS struct {
	t     *testing.T
	c     *websocket.Conn
	proto string // WS or WSS, for the Via
}

// peerContext bounds one test's exchanges with a peer to 5 s.
func peerContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dialCoder dials url ("ws://" or "wss://") offering protocols, trusting
// the CA in cfg for wss.
func dialCoder(ctx context.Context, url string, cfg *tls.Config, protocols ...string) (*websocket.Conn, *http.Response, error) {
	opts := &websocket.DialOptions{Subprotocols: protocols}
	if cfg != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	return websocket.Dial(ctx, url, opts)
}

// send writes msg as one text message.
func (w *coderWS) send(ctx context.Context, msg string) {
	w.t.Helper()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		w.t.Fatalf("websocket write: %v", err)
	}
}

// response reads messages until a response to method with a status code
// of at least min, parsed by sipgo.
func (w *coderWS) response(ctx context.Context, method sip.RequestMethod, min int) *sip.Response {
	w.t.Helper()
	for {
		typ, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for a %s response: %v", method, err)
		}
		if typ != websocket.MessageText {
			w.t.Errorf("kemi sent a SIP message as a %v frame", typ)
		}
		msg, err := sip.ParseMessage(b)
		if err != nil {
			w.t.Fatalf("sipgo cannot parse what kemi sent: %v\n%s", err, b)
		}
		if res, ok := msg.(*sip.Response); ok && res.CSeq().MethodName == method && res.StatusCode >= min {
			return res
		}
	}
}

// request finishes req as a WebSocket UA would and returns its text.
func (w *coderWS) request(req *sip.Request, branch string) string {
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: w.proto,
		Host: "df7jal23ls0d.invalid", Params: sip.NewParams()}
	via.Params.Add("branch", sip.RFC3261BranchMagicCookie+branch)
	req.PrependHeader(via)
	req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	return req.String()
}

// newDialogRequest is an out-of-dialog request from alice to ruri.
func newDialogRequest(method sip.RequestMethod, ruri sip.Uri, callID string) *sip.Request {
	req := sip.NewRequest(method, ruri)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "kemi.test"}, Params: sip.NewParams()}
	from.Params.Add("tag", callID)
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: ruri, Params: sip.NewParams()}
	if method == sip.REGISTER {
		to.Address = from.Address
	}
	req.AppendHeader(to)
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "df7jal23ls0d.invalid",
		UriParams: transportParam("ws")}})
	return req
}

// TestPeerCoderWebSocket: github.com/coder/websocket dials kemi's ws and
// wss listeners; REGISTER, OPTIONS and an INVITE relayed to a sipgo UAS
// over UDP, with ACK and BYE, all judged by sipgo's parser.
func TestPeerCoderWebSocket(t *testing.T) {
	ca, cert, key := serverPKI(t)
	uasConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uasAddr := uasConn.LocalAddr().(*net.UDPAddr)
	uas := newSipgoUAS(t, "uas", sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: uasAddr.Port})
	go func() { _ = uas.srv.ServeUDP(uasConn) }()

	script := fmt.Sprintf("TARGET = \"sip:%s\"\n", uasAddr) + peerScript
	s := enginetest.Start(t, script, enginetest.WithConfig(func(c *engine.Config) {
		c.Listen = []string{"udp:127.0.0.1:0", "ws:127.0.0.1:0", "wss:127.0.0.1:0"}
		c.TLS = &engine.TLSConfig{TLSProfile: engine.TLSProfile{Certificate: cert, PrivateKey: key}}
		c.MaxMessageSize = 4096
	}))

	for _, tc := range []struct {
		scheme string
		cfg    *tls.Config
	}{
		{"ws", nil},
		{"wss", &tls.Config{RootCAs: ca.pool(), ServerName: "sip.test"}},
	} {
		url := tc.scheme + "://" + s.Addr(tc.scheme).String() + "/"
		t.Run(tc.scheme, func(t *testing.T) {
			ctx := peerContext(t)
			c, resp, err := dialCoder(ctx, url, tc.cfg, "sip")
			if err != nil {
				t.Fatalf("dial %s: %v\n%s", url, err, s.Logs())
			}
			defer c.CloseNow()
			if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "sip" {
				t.Fatalf("handshake %d, subprotocol %q", resp.StatusCode, c.Subprotocol())
			}
			w := &coderWS{t: t, c: c, proto: strings.ToUpper(tc.scheme)}
			kemiURI := sip.Uri{Scheme: "sip", Host: "kemi.test"}

			// REGISTER: 200 with the contact saved
			w.send(ctx, w.request(newDialogRequest(sip.REGISTER, kemiURI, "reg-"+tc.scheme), "reg"+tc.scheme))
			res := w.response(ctx, sip.REGISTER, 200)
			if res.StatusCode != 200 {
				t.Fatalf("REGISTER answered\n%s", res)
			}
			contact := res.Contact()
			if contact == nil || contact.Address.Host != "df7jal23ls0d.invalid" || contact.Address.User != "alice" {
				t.Errorf("REGISTER's 200 has Contact %v, want alice's", contact)
			}

			// OPTIONS answered by kemi, over this transport
			w.send(ctx, w.request(newDialogRequest(sip.OPTIONS, kemiURI, "opt-"+tc.scheme), "opt"+tc.scheme))
			res = w.response(ctx, sip.OPTIONS, 200)
			if res.StatusCode != 200 || res.GetHeader("X-Proto") == nil || res.GetHeader("X-Proto").Value() != tc.scheme {
				t.Errorf("OPTIONS answered\n%s", res)
			}

			// INVITE to the UDP UAS, its 200 back over the WebSocket
			invite := newDialogRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "kemi.test"}, "inv-"+tc.scheme)
			w.send(ctx, w.request(invite, "inv"+tc.scheme))
			final := w.response(ctx, sip.INVITE, 200)
			if final.StatusCode != 200 || final.GetHeader("X-Peer") == nil {
				t.Fatalf("INVITE answered\n%s\n%s", final, s.Logs())
			}
			select {
			case relayed := <-uas.invites:
				if via := relayed.Via(); via.Transport != "UDP" {
					t.Errorf("kemi's Via at the UAS: %s", via.Value())
				}
			case <-ctx.Done():
				t.Fatal("the UAS recorded no INVITE")
			}
			uas.gotAck.Store(false)
			uas.gotBye.Store(false)
			w.send(ctx, w.request(inDialog(sip.ACK, final, final.CSeq().SeqNo), "ack"+tc.scheme))
			w.send(ctx, w.request(inDialog(sip.BYE, final, final.CSeq().SeqNo+1), "bye"+tc.scheme))
			if res := w.response(ctx, sip.BYE, 200); res.StatusCode != 200 || res.GetHeader("X-Peer") == nil {
				t.Errorf("BYE answered\n%s", res)
			}
			uas.waitAckBye(t)

			if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
				t.Errorf("closing handshake: %v", err)
			}
		})

		t.Run(tc.scheme+" without sip", func(t *testing.T) {
			ctx := peerContext(t)
			c, resp, err := dialCoder(ctx, url, tc.cfg)
			if err == nil {
				c.CloseNow()
				t.Fatal("the handshake without the sip subprotocol succeeded")
			}
			if resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("refused with %v (%v), want 400", resp, err)
			}
		})

		t.Run(tc.scheme+" over max_message_size", func(t *testing.T) {
			ctx := peerContext(t)
			c, _, err := dialCoder(ctx, url, tc.cfg, "sip")
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if err := c.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 5000))); err != nil {
				t.Fatal(err)
			}
			_, _, err = c.Read(ctx)
			if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
				t.Errorf("read after an oversized message: %v (status %d), want close 1009", err, got)
			}
		})
	}
	wantMetric(t, s, `kemi_websocket_closed_total{reason="message_too_big"}`, 2)
}

// TestPeerCoderWebSocketKamailioWay: the same library upgrades a tcp
// listener through ksr_xhttp_event and KSR.websocket.handle_handshake.
func TestPeerCoderWebSocketKamailioWay(t *testing.T) {
	s := enginetest.Start(t, xhttpScript, withListen("udp:127.0.0.1:0", "tcp:127.0.0.1:0"))
	ctx := peerContext(t)
	c, _, err := dialCoder(ctx, "ws://"+s.TCP()+"/ws", nil, "sip")
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, s.Logs())
	}
	defer c.CloseNow()
	w := &coderWS{t: t, c: c, proto: "WS"}
	w.send(ctx, w.request(newDialogRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "kemi.test"}, "xhttp-opt"), "xhttpopt"))
	if res := w.response(ctx, sip.OPTIONS, 200); res.StatusCode != 200 || res.GetHeader("X-Proto") == nil || res.GetHeader("X-Proto").Value() != "ws" {
		t.Errorf("OPTIONS over the upgraded connection answered\n%s", res)
	}
	// the script's KSR.websocket.close_reason, as the library reports it
	w.send(ctx, w.request(newDialogRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", Host: "kemi.test"}, "xhttp-msg"), "xhttpmsg"))
	if res := w.response(ctx, sip.MESSAGE, 200); res.Reason != "Closing" {
		t.Errorf("MESSAGE answered\n%s", res)
	}
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "asked to" {
		t.Errorf("got %v, want the script's close 4000 \"asked to\"", err)
	}

	// a path the script refuses: the library sees the script's 403
	if c, resp, err := dialCoder(ctx, "ws://"+s.TCP()+"/elsewhere", nil, "sip"); err == nil {
		c.CloseNow()
		t.Error("the script's refusal was not seen")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("refused with %v (%v), want 403", resp, err)
	}
}
