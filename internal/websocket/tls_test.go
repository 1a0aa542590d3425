package websocket

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/testcert"
)

// WSS: the same handshake and frames over a *tls.Conn, which the caller
// owns; a refused message ends with 1009 through CloseLingering.
func TestWSS(t *testing.T) {
	tc := testcert.SelfSigned(t)
	cert, pool := tc.TLS, tc.Pool
	ln := tls.NewListener(listen(t), &tls.Config{Certificates: []tls.Certificate{cert}})
	serverEnd := make(chan error, 1)
	serve(t, ln, Config{MaxMessageSize: 4096}, func(c *Conn) {
		for {
			op, msg, err := c.ReadMessage(nil)
			if err != nil {
				serverEnd <- err
				_ = c.CloseLingering(2 * time.Second)
				return
			}
			if err := c.WriteMessage(op, msg); err != nil {
				serverEnd <- err
				return
			}
		}
	})
	nc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	proto, rest, err := ClientHandshake(nc, ClientOptions{Host: ln.Addr().String(), Protocols: []string{"sip"}})
	if err != nil || proto != "sip" {
		t.Fatalf("handshake over TLS: %q %v", proto, err)
	}
	c := NewClient(nc, rest, Config{})
	if err := c.WriteMessage(OpText, sipOptions); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(nil); err != nil || string(msg) != string(sipOptions) {
		t.Fatalf("echo over TLS: %q %v", msg, err)
	}
	if err := c.WriteMessage(OpBinary, make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage(nil)
	var ce *CloseError
	if !errors.As(err, &ce) || !ce.Remote || ce.Code != CloseMessageTooBig {
		t.Errorf("client after a too large message: %v", err)
	}
	if err := <-serverEnd; !errors.Is(err, ErrMessageTooBig) {
		t.Errorf("server ended with %v", err)
	}
}
