package websocket

import (
	"errors"
	"log/slog"
	"net/netip"
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

// dialHost is a test host that opens WebSocket connection 9 to host, an
// address or a name of dialNames; its kemitest.Host records what send
// forwards.
type dialHost struct {
	*kemitest.Host
	err    error
	secure bool
}

// dialNames are the names dialHost resolves, each to the address its
// connection goes to: the first of several, as the engine picks it.
var dialNames = map[string]netip.Addr{"multi.test": netip.MustParseAddr("::1")}

func (h *dialHost) WSConnect(host string, port int, path, subproto string, secure bool) (uint64, netip.AddrPort, error) {
	h.secure = secure
	if h.err != nil {
		return 0, netip.AddrPort{}, h.err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if ip = dialNames[host]; !ip.IsValid() {
			return 0, netip.AddrPort{}, err
		}
	}
	return 9, netip.AddrPortFrom(ip, uint16(port)), nil
}

func TestConnectAndSend(t *testing.T) {
	mod := &Module{log: slog.New(slog.DiscardHandler)}
	const options = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-1\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	const reply = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-1\r\n" +
		"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct {
		name    string
		fn      string
		msg     string
		args    []string
		err     error
		failFwd bool
		want    kemi.Value
		wantURI string // the URI send forwards to, "" for none
	}{
		{"connect", "connect", options, []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, false, kemi.Int(1), ""},
		{"connect fails", "connect", options, []string{"127.0.0.1", "80", "/", "sip", "0"}, errors.New("refused"), false, kemi.Int(-1), ""},
		{"msrp", "connect", options, []string{"127.0.0.1", "80", "/", "msrp", "0"}, nil, false, kemi.Int(-1), ""},
		{"bad cmode", "connect", options, []string{"127.0.0.1", "80", "/", "sip", "2"}, nil, false, kemi.Int(-1), ""},
		{"send ws", "send", options, []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, false, kemi.Int(1), "sip:127.0.0.1:80;transport=ws"},
		{"send wss", "send", options, []string{"127.0.0.1", "443", "/", "sip", "1"}, nil, false, kemi.Int(1), "sip:127.0.0.1:443;transport=wss"},
		{"send ipv6", "send", options, []string{"::1", "8080", "/", "sip", "0"}, nil, false, kemi.Int(1), "sip:[::1]:8080;transport=ws"},
		// a name goes to the address its connection uses, not resolved again
		{"send to a name", "send", options, []string{"multi.test", "8080", "/", "sip", "0"}, nil, false, kemi.Int(1), "sip:[::1]:8080;transport=ws"},
		{"send fails to connect", "send", options, []string{"127.0.0.1", "80", "/", "sip", "0"}, errors.New("refused"), false, kemi.Int(-1), ""},
		{"send fails", "send", options, []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, true, kemi.Int(-1), ""},
		{"send a reply", "send", reply, []string{"127.0.0.1", "80", "/", "sip", "0"}, nil, false, kemi.Int(-1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &dialHost{Host: kemitest.NewHost(), err: tc.err}
			h.FailSend = tc.failFwd
			m := kemitest.ParseMsg(t, tc.msg)
			m.Host = h
			if got := call(mod, tc.fn, m, tc.args...); got != tc.want {
				t.Fatalf("%s = %v, want %v", tc.fn, got, tc.want)
			}
			sent := h.Sent()
			switch {
			case tc.wantURI == "" && len(sent) != 0:
				t.Errorf("sent %v, want nothing", sent)
			case tc.wantURI != "" && (len(sent) != 1 || sent[0].Kind != "forward" || sent[0].URI != tc.wantURI):
				t.Errorf("sent %+v, want one forward to %s", sent, tc.wantURI)
			}
		})
	}
}
