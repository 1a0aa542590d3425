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
