package engine

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// captureWrites is a UDP socket whose writes are kept, not sent.
type captureWrites struct {
	udpSocket
	mu  sync.Mutex
	out [][]byte
	to  []netip.AddrPort
}

func (d *captureWrites) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	d.mu.Lock()
	d.out = append(d.out, append([]byte(nil), b...))
	d.to = append(d.to, to)
	d.mu.Unlock()
	return len(b), nil
}

// addrs returns where the writes since the last take went.
func (d *captureWrites) addrs() []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]netip.AddrPort(nil), d.to...)
}

// take returns the writes so far and forgets them.
func (d *captureWrites) take() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.out
	d.out, d.to = nil, nil
	return o
}

// startCapture starts an engine listening on listen whose UDP writes are
// captured.
func startCapture(t *testing.T, listen ...string) (*Engine, *captureWrites) {
	return startCaptureWith(t, Config{Listen: listen, Modules: []string{"core", "kx", "sl", "maxfwd"}})
}

// startCaptureWith is startCapture for cfg: one worker, an empty request
// route, no log unless cfg has a Logger.
func startCaptureWith(t *testing.T, cfg Config) (*Engine, *captureWrites) {
	cfg.Script, cfg.Workers, cfg.DBURL = []byte("function ksr_request_route() end"), 1, "memory"
	if cfg.Logger == nil {
		cfg.Logger, cfg.LogLevel = slog.New(slog.DiscardHandler), slog.LevelError
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cw := &captureWrites{}
	e.tp.wrapUDP = func(s udpSocket) udpSocket { cw.udpSocket = s; return cw }
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e, cw
}

// lazyAndSipgo returns raw received twice, as the worker makes it: one
// message left lazy, one turned into sipgo's form; set changes both.
func lazyAndSipgo(t *testing.T, e *Engine, raw string, proto string, src netip.AddrPort, set func(m *kemi.Msg)) (lazy, sipgo *kemi.Msg) {
	for i := 0; i < 2; i++ {
		lm, err := parseWire([]byte(raw), proto != "udp", 65535)
		if err != nil {
			t.Log(err)
			return nil, nil
		}
		m := &kemi.Msg{Raw: []byte(raw), Proto: proto, Src: src, Rcv: e.tp.listeners[0].sock, Host: e, Proc: kemi.NewProc(1)}
		m.SetLazy(lm, nil)
		m.OrigURI = string(lm.OrigRURI())
		m.NoteMaxForwards()
		if i == 1 {
			_ = m.SIP()
		}
		if set != nil {
			set(m)
		}
		if i == 0 {
			lazy = m
		} else {
			sipgo = m
		}
	}
	return
}

// viaLines returns the Via and Max-Forwards lines of a message.
func viaLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "via:") || strings.HasPrefix(strings.ToLower(l), "v:") || strings.HasPrefix(strings.ToLower(l), "max-forwards") {
			out = append(out, l)
		}
	}
	return out
}

// TestForwardSameOnBothForms forwards each request statelessly twice,
// once still lazy (forwardLazy) and once in sipgo's form (the path a
// message some module materialized takes), and compares what each put on
// the wire: our Via with its branch (a CANCEL must get its INVITE's,
// whichever path each took), the sender's Via as stamped, Max-Forwards.
// sipgo's own rewrites (a compact name written in full, a Via header
// holding two values split in two) are left out of the table.
func TestForwardSameOnBothForms(t *testing.T) {
	e, cw := startCapture(t, "udp:127.0.0.1:0", "udp:[::1]:0")
	inv := func(via string, extra string) string {
		return "INVITE sip:b@127.0.0.1:5070 SIP/2.0\r\n" + via +
			"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n" + extra + "Content-Length: 0\r\n\r\n"
	}
	src4 := netip.MustParseAddrPort("10.0.0.1:5999")
	src6 := netip.MustParseAddrPort("[2001:db8::1]:5999")
	cases := []struct {
		name  string
		raw   string
		proto string
		src   netip.AddrPort
		uri   string
		set   func(m *kemi.Msg)
	}{
		{"plain", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", "Max-Forwards: 70\r\n"), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"rport", inv("Via: SIP/2.0/UDP 10.0.0.9;rport;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"rport mid", inv("Via: SIP/2.0/UDP 10.0.0.9;rport;branch=z9hG4bK1;received=1.2.3.4\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"tcp", inv("Via: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\n", ""), "tcp", src4, "sip:127.0.0.1:5070", nil},
		{"ipv6 src", inv("Via: SIP/2.0/UDP [2001:db8::1]:5999;rport;branch=z9hG4bK1\r\n", ""), "udp", src6, "sip:127.0.0.1:5070", nil},
		{"ipv6 dst", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:[::1]:5070", nil},
		{"adv", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", func(m *kemi.Msg) { m.AdvHost = "2001:db8::5"; m.AdvPort = 7000; m.LocalRport = true }},
		{"adv bracketed", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", func(m *kemi.Msg) { m.AdvHost = "[2001:db8::5]" }},
		{"force rport", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", func(m *kemi.Msg) { m.ForceRport = true }},
		{"rport upper", inv("Via: SIP/2.0/UDP 10.0.0.9;RPORT;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"received same", inv("Via: SIP/2.0/UDP 10.0.0.9;received=10.0.0.1;rport;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"adv name", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", func(m *kemi.Msg) { m.AdvHost = "proxy.example.com" }},
		{"no branch", inv("Via: SIP/2.0/UDP 10.0.0.1:5999\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"upper branch", inv("Via: SIP/2.0/UDP 10.0.0.1;BRANCH=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"mf 0", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", "Max-Forwards: 1\r\n"), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"mf two", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", "Max-Forwards: 5\r\nMax-Forwards: 9\r\n"), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"mf 300", inv("Via: SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1\r\n", "Max-Forwards: 300\r\n"), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"via host case", inv("Via: SIP/2.0/udp Host.Example.COM;branch=z9hG4bK1\r\n", ""), "udp", src4, "sip:127.0.0.1:5070", nil},
		{"via ipv6 noport", inv("Via: SIP/2.0/UDP [2001:DB8::1];branch=z9hG4bK1\r\n", ""), "udp", src6, "sip:127.0.0.1:5070", nil},
	}
	for _, tc := range cases {
		lz, sg := lazyAndSipgo(t, e, tc.raw, tc.proto, tc.src, tc.set)
		if lz == nil {
			t.Errorf("%s: refused", tc.name)
			continue
		}
		if lz.Lazy() == nil || sg.Lazy() != nil {
			t.Fatalf("%s: not one message in each form", tc.name)
		}
		errL := e.Forward(lz, tc.uri)
		toL := cw.addrs()
		outL := cw.take()
		errS := e.Forward(sg, tc.uri)
		toS := cw.addrs()
		outS := cw.take()
		if !slices.Equal(toL, toS) {
			t.Errorf("%s: lazy sent to %v, sipgo to %v", tc.name, toL, toS)
		}
		if errL != nil || len(outL) != 1 {
			t.Errorf("%s: lazy forward: %v, %d sent", tc.name, errL, len(outL))
			continue
		}
		if (errL == nil) != (errS == nil) || len(outL) != len(outS) {
			t.Errorf("%s: lazy %v %d, sipgo %v %d", tc.name, errL, len(outL), errS, len(outS))
			continue
		}
		for i := range outL {
			a, b := viaLines(outL[i]), viaLines(outS[i])
			if strings.Join(a, "|") != strings.Join(b, "|") {
				t.Errorf("%s:\n lazy  %q\n sipgo %q", tc.name, a, b)
			}
		}
	}
}

// TestCancelGetsInviteBranchEitherPath: the stateless branch of a CANCEL
// is its INVITE's (RFC 3261 §16.11) when one is forwarded lazily and the
// other in sipgo's form, for the sent-by and branch shapes where sipgo
// and sipmsg read the Via differently (IPv6 brackets, a parameter name in
// capitals).
func TestCancelGetsInviteBranchEitherPath(t *testing.T) {
	e, cw := startCapture(t, "udp:127.0.0.1:0")
	req := func(method, via string) string {
		return method + " sip:b@127.0.0.1:5070 SIP/2.0\r\nVia: " + via + "\r\n" +
			"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c1\r\nCSeq: 1 " + method + "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	}
	src := netip.MustParseAddrPort("[2001:db8::1]:5999")
	for _, via := range []string{
		"SIP/2.0/UDP [2001:db8::1]:5999;branch=z9hG4bK1",
		"SIP/2.0/UDP [2001:db8::1];rport;branch=z9hG4bK1",
		"SIP/2.0/UDP 10.0.0.1:5060;BRANCH=z9hG4bK1",
		"SIP/2.0/UDP 10.0.0.1:5060;Branch=z9hG4bK1;rport",
	} {
		branch := func(method string, lazy bool) string {
			lz, sg := lazyAndSipgo(t, e, req(method, via), "udp", src, nil)
			if lz == nil {
				t.Fatalf("%s %s refused", method, via)
			}
			m := sg
			if lazy {
				m = lz
			}
			if err := e.Forward(m, "sip:127.0.0.1:5070"); err != nil {
				t.Fatalf("%s %s: %v", method, via, err)
			}
			out := cw.take()
			if len(out) != 1 {
				t.Fatalf("%s %s: %d sent", method, via, len(out))
			}
			top := viaLines(out[0])[0]
			_, b, _ := strings.Cut(top, "branch=")
			return b
		}
		for _, invLazy := range []bool{true, false} {
			inv, cancel := branch("INVITE", invLazy), branch("CANCEL", !invLazy)
			if inv != cancel {
				t.Errorf("Via %s, INVITE lazy %v: INVITE branch %s, CANCEL branch %s", via, invLazy, inv, cancel)
			}
		}
	}
}

// TestSipgoUnreadableReplyIsMalformed: a reply that sipmsg takes and
// sipgo cannot read (white space before a Via's ';', which sipgo reads as
// a Via without its sent-by) reaching a module that wants sipgo's form
// outside a KSR call (tm's reply hook, for a branch id of its own, which
// any peer can write) is a malformed message, counted and logged as one:
// not a panic of the worker with an ERROR and a stack per datagram.
func TestSipgoUnreadableReplyIsMalformed(t *testing.T) {
	var logs kemitest.LogBuffer
	e, _ := startCaptureWith(t, Config{
		Listen:   []string{"udp:127.0.0.1:0"},
		Modules:  []string{"core", "kx", "sl", "tm"},
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LogLevel: slog.LevelDebug,
	})
	us := e.tp.listeners[0].sock
	reply := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP " + us.Addr.String() + ";branch=z9hG4bKkmu-1-2\r\n" +
		"Via: SIP/2.0/UDP 10.2.2.2:5060 ;branch=z9hG4bK1\r\n" +
		"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c-sipgo\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := parseWire([]byte(reply), false, 65535); err != nil {
		t.Fatalf("parseWire refuses it: %v", err)
	}
	malformed := e.met.dropped(dropMalformed).Get()
	w := e.workers[0]
	w.handle(job{raw: []byte(reply), src: netip.MustParseAddrPort("10.2.2.2:5060"), sock: us, proto: "udp", at: time.Now()})
	if n := e.met.panics[siteWorker].Get(); n != 0 {
		t.Errorf("worker panics = %d, want 0", n)
	}
	if n := e.met.dropped(dropMalformed).Get(); n != malformed+1 {
		t.Errorf("malformed drops = %d, want %d", n, malformed+1)
	}
	if out := logs.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "stack=") {
		t.Errorf("logged as a bug:\n%s", out)
	}
}

// TestDatagramWithoutLengthToStream: a UDP request or reply without
// Content-Length whose body is a whole SIP message, forwarded statelessly
// in its lazy form to a TCP peer, reaches it as one message with a
// Content-Length, as sipgo's form writes it: written as received, the
// peer would read the body as a second request on the connection.
func TestDatagramWithoutLengthToStream(t *testing.T) {
	e, _ := startCapture(t, "udp:127.0.0.1:0", "tcp:127.0.0.1:0")
	// one peer a message: each connection is read until it is idle
	peerReq, gotReq := streamPeer(t)
	peerRpl, gotRpl := streamPeer(t)
	smuggled := "OPTIONS sip:victim@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 6.6.6.6;branch=z9hG4bKevil\r\n" +
		"From: <sip:evil@h>;tag=6\r\nTo: <sip:victim@h>\r\nCall-ID: smuggled\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	us := e.tp.listeners[0].sock.Addr
	tests := []struct {
		name, raw, uri string
		got            chan []byte
	}{
		{"request", "MESSAGE sip:b@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" +
			"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n\r\n" + smuggled,
			"sip:" + peerReq.String() + ";transport=tcp", gotReq},
		{"reply", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + us.String() + ";branch=z9hG4bKsl1\r\n" +
			"Via: SIP/2.0/TCP " + peerRpl.String() + ";branch=z9hG4bK1\r\n" +
			"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\r\n" + smuggled, "", gotRpl},
	}
	for _, tc := range tests {
		lz, _ := lazyAndSipgo(t, e, tc.raw, "udp", netip.MustParseAddrPort("10.0.0.1:5060"), nil)
		if lz == nil {
			t.Fatalf("%s refused", tc.name)
		}
		if err := e.Forward(lz, tc.uri); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var stream []byte
		select {
		case stream = <-tc.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing reached the peer", tc.name)
		}
		n, ferr := messageLength(stream, 65535)
		if ferr != nil || n != len(stream) {
			t.Errorf("%s: the peer frames %d of %d bytes as the first message (%v):\n%s", tc.name, n, len(stream), ferr, stream)
		}
		if lz.Lazy() == nil {
			t.Errorf("%s: sent in sipgo's form", tc.name)
		}
	}
}

// streamPeer is a TCP peer: every connection's bytes, read until it has
// been idle a while, are sent on the channel.
func streamPeer(t *testing.T) (netip.AddrPort, chan []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 8192)
				var all []byte
				for {
					_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					n, err := c.Read(buf)
					all = append(all, buf[:n]...)
					if err != nil {
						got <- all
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), got
}

// TestReplyForwardSameOnBothForms routes each reply on its second Via
// twice, lazy (forwardReplyLazy) and in sipgo's form, and compares where
// it went and the Vias it went with.
func TestReplyForwardSameOnBothForms(t *testing.T) {
	e, cw := startCapture(t, "udp:127.0.0.1:0", "udp:[::1]:0")
	us4, us6 := e.tp.listeners[0].sock.Addr, e.tp.listeners[1].sock.Addr
	rep := func(top, second string) string {
		return "SIP/2.0 180 Ringing\r\nVia: " + top + "\r\nVia: " + second + "\r\n" +
			"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	}
	ours4, ours6 := "SIP/2.0/UDP "+us4.String()+";branch=z9hG4bKsl1", "SIP/2.0/UDP "+us6.String()+";branch=z9hG4bKsl1"
	for _, tc := range []struct{ name, top, second string }{
		{"received and rport", ours4, "SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1;received=10.0.0.2;rport=6000"},
		{"upper-case received and rport", ours4, "SIP/2.0/UDP 10.0.0.1:5999;branch=z9hG4bK1;RECEIVED=10.0.0.2;RPORT=6000"},
		{"IPv6 sent-by", ours6, "SIP/2.0/UDP [2001:db8::1]:5999;branch=z9hG4bK1"},
		{"IPv6 received", ours6, "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;received=2001:db8::2"},
		{"lower-case transport", "SIP/2.0/udp " + us4.String() + ";branch=z9hG4bKsl1", "SIP/2.0/udp 10.0.0.1;branch=z9hG4bK1;rport"},
		{"not ours", "SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKsl1", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1"},
	} {
		lz, sg := lazyAndSipgo(t, e, rep(tc.top, tc.second), "udp", netip.MustParseAddrPort("10.9.9.9:5060"), nil)
		if lz == nil {
			t.Fatalf("%s: refused", tc.name)
		}
		errL := e.Forward(lz, "")
		toL, outL := cw.addrs(), cw.take()
		errS := e.Forward(sg, "")
		toS, outS := cw.addrs(), cw.take()
		if (errL == nil) != (errS == nil) || !slices.Equal(toL, toS) {
			t.Errorf("%s: lazy %v to %v, sipgo %v to %v", tc.name, errL, toL, errS, toS)
			continue
		}
		for i := range outL {
			if a, b := viaLines(outL[i]), viaLines(outS[i]); !slices.Equal(a, b) {
				t.Errorf("%s:\n lazy  %q\n sipgo %q", tc.name, a, b)
			}
		}
	}
}
