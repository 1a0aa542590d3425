package websocket

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// wsHost is a test host whose WebSocket connection 7 records its close.
type wsHost struct {
	*kemitest.Host
	code   int
	reason string
}

func (h *wsHost) WSClose(id uint64, code int, reason string) error {
	if id != 7 {
		return errors.New("no such connection")
	}
	h.code, h.reason = code, reason
	return nil
}

func call(mod *Module, name string, m *kemi.Msg, args ...string) kemi.Value {
	for _, x := range mod.Exports() {
		if x.Name == name {
			return x.Func(m, kemi.MakeArgs(args...))
		}
	}
	panic("no export " + name)
}

func TestClose(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name      string
		connID    uint64
		fn        string
		args      []string
		want      kemi.Value
		code      int
		reason    string
		plainHost bool
	}{
		{"close", 7, "close", nil, kemi.Int(1), 1000, "Normal closure", false},
		{"close_reason", 7, "close_reason", []string{"4001", "bye"}, kemi.Int(1), 4001, "bye", false},
		{"close_conid", 0, "close_conid", []string{"1001", "going", "7"}, kemi.Int(1), 1001, "going", false},
		{"other connection", 8, "close", nil, kemi.Int(-1), 0, "", false},
		{"no connection", 0, "close", nil, kemi.Int(-1), 0, "", false},
		{"host without websocket", 7, "close", nil, kemi.Int(-1), 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &wsHost{Host: kemitest.NewHost()}
			m := &kemi.Msg{Proto: "ws", ConnID: tc.connID, Host: h}
			if tc.plainHost {
				m.Host = kemitest.NewHost()
			}
			if got := call(mod, tc.fn, m, tc.args...); got != tc.want {
				t.Fatalf("%s = %v, want %v", tc.fn, got, tc.want)
			}
			if h.code != tc.code || h.reason != tc.reason {
				t.Errorf("closed with %d %q, want %d %q", h.code, h.reason, tc.code, tc.reason)
			}
		})
	}
}

func TestHandleHandshake(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	refused := errors.New("no sip")
	for _, tc := range []struct {
		name string
		err  error
		http bool
		want kemi.Value
	}{
		{"accepted", nil, true, kemi.Int(1)},
		{"refused", refused, true, kemi.Int(-1)},
		{"no http request", nil, false, kemi.Int(-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &kemi.Msg{Proto: "tcp", ConnID: 3, Host: kemitest.NewHost()}
			calls := 0
			if tc.http {
				kemi.SetHTTPRequest(m, &kemi.HTTPRequest{Method: "GET", URL: "/", Handshake: func() error { calls++; return tc.err }})
			}
			if got := mod.handleHandshake(m, kemi.Args{}); got != tc.want {
				t.Errorf("handle_handshake = %v, want %v", got, tc.want)
			}
			if tc.http && calls != 1 {
				t.Errorf("the engine's handshake ran %d times", calls)
			}
		})
	}
}

// dialHost is a test host that opens WebSocket connection 9 and records
// what it sends.
type dialHost struct {
	*kemitest.Host
	err    error
	secure bool
	sent   []kemi.Dest
}

func (h *dialHost) WSConnect(host string, port int, path, subproto string, secure bool) (uint64, error) {
	h.secure = secure
	return 9, h.err
}

func (h *dialHost) SendRaw(dst kemi.Dest, b []byte) error {
	h.sent = append(h.sent, dst)
	return nil
}

func TestConnectAndSend(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name     string
		fn       string
		args     []string
		err      error
		want     kemi.Value
		wantSent string // proto of the send, "" for none
	}{
		{"connect", "connect", []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, kemi.Int(1), ""},
		{"connect fails", "connect", []string{"127.0.0.1", "80", "/", "sip", "0"}, errors.New("refused"), kemi.Int(-1), ""},
		{"msrp", "connect", []string{"127.0.0.1", "80", "/", "msrp", "0"}, nil, kemi.Int(-1), ""},
		{"bad cmode", "connect", []string{"127.0.0.1", "80", "/", "sip", "2"}, nil, kemi.Int(-1), ""},
		{"send ws", "send", []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, kemi.Int(1), "ws"},
		{"send wss", "send", []string{"127.0.0.1", "443", "/", "sip", "1"}, nil, kemi.Int(1), "wss"},
		{"send fails to connect", "send", []string{"127.0.0.1", "80", "/", "sip", "0"}, errors.New("refused"), kemi.Int(-1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &dialHost{Host: kemitest.NewHost(), err: tc.err}
			m := &kemi.Msg{Proto: "udp", Raw: []byte("OPTIONS sip:a SIP/2.0\r\n\r\n"), Host: h}
			if got := call(mod, tc.fn, m, tc.args...); got != tc.want {
				t.Fatalf("%s = %v, want %v", tc.fn, got, tc.want)
			}
			switch {
			case tc.wantSent == "" && len(h.sent) != 0:
				t.Errorf("sent %v, want nothing", h.sent)
			case tc.wantSent != "" && (len(h.sent) != 1 || h.sent[0].Proto != tc.wantSent || h.sent[0].ConnID != 9):
				t.Errorf("sent %v, want one %s send on connection 9", h.sent, tc.wantSent)
			}
		})
	}
}
