package engine_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/core/usrloc"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// registerOver is a REGISTER of aor over proto from from (host:port),
// with Contact contact and Call-ID id.
func registerOver(proto, from, aor, contact, id string) string {
	reg := strings.Replace(sipOptions(proto, id), "OPTIONS sip:kemi@127.0.0.1", "REGISTER sip:127.0.0.1", 1)
	reg = strings.Replace(reg, "127.0.0.1:5999", from, 1)
	reg = strings.Replace(reg, "CSeq: 1 OPTIONS", "CSeq: 1 REGISTER", 1)
	reg = strings.Replace(reg, "To: <sip:kemi@127.0.0.1>", "To: <sip:"+aor+"@127.0.0.1>", 1)
	return strings.Replace(reg, "Content-Length", "Contact: <"+contact+">;expires=600\r\nContent-Length", 1)
}

// TestConnClosedRemovesRegistration: a contact registered over a
// WebSocket connection (and over TCP, with usrloc's handle_lost_tcp) is
// found by lookup while the connection lives and removed once it closes,
// in memory and in SQLite; a contact of the same AOR registered over UDP
// stays.
func TestConnClosedRemovesRegistration(t *testing.T) {
	for _, be := range []string{"memory", "sqlite"} {
		t.Run(be, func(t *testing.T) {
			dbURL := "memory"
			if be == "sqlite" {
				dbURL = "sqlite://" + filepath.Join(t.TempDir(), "kemi.db")
			}
			s := enginetest.Start(t, registerScript, enginetest.WithConfig(func(c *engine.Config) {
				c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0", "ws:127.0.0.1:0"}
			}), enginetest.WithParams("usrloc", map[string]any{"db_url": dbURL, "handle_lost_tcp": 1}))

			// bob over ws and over udp, carol over ws, dave over tcp
			w, err := dialWS(t, s.Addr("ws").String(), nil, "sip")
			if err != nil {
				t.Fatal(err)
			}
			wsFrom := w.nc.LocalAddr().String()
			for _, aor := range []string{"bob", "carol"} {
				w.send(registerOver("WS", wsFrom, aor, "sip:"+aor+"@df7jal23ls0d.invalid;transport=ws", "reg-ws-"+aor))
				if msg, err := w.read("SIP/2.0 "); err != nil || !strings.HasPrefix(msg, "SIP/2.0 200") {
					t.Fatalf("REGISTER %s over ws: %v\n%s\n%s", aor, err, msg, s.Logs())
				}
			}
			peer, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			peerAddr := peer.LocalAddr().String()
			if _, err := peer.WriteTo([]byte(registerOver("UDP", peerAddr, "bob", "sip:bob@"+peerAddr, "reg-udp-bob")), net.UDPAddrFromAddrPort(s.Addr("udp"))); err != nil {
				t.Fatal(err)
			}
			if msg, _ := recvUDP(t, s, peer, "the reply to bob's REGISTER"); !strings.HasPrefix(msg, "SIP/2.0 200") {
				t.Fatalf("REGISTER bob over udp:\n%s", msg)
			}
			tc, err := net.DialTimeout("tcp", s.TCP(), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer tc.Close()
			if _, err := tc.Write([]byte(registerOver("TCP", tc.LocalAddr().String(), "dave", "sip:dave@"+tc.LocalAddr().String()+";transport=tcp", "reg-tcp-dave"))); err != nil {
				t.Fatal(err)
			}
			_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if msg, err := readSIP(t, tc, bufio.NewReader(tc)); err != nil || !strings.HasPrefix(msg, "SIP/2.0 200") {
				t.Fatalf("REGISTER dave over tcp: %v\n%s\n%s", err, msg, s.Logs())
			}

			caller, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()
			// call sends an INVITE to aor from caller
			call := func(aor, id string) {
				t.Helper()
				inv := strings.Replace(inviteWith("UDP", id, ""), "INVITE sip:kemi@127.0.0.1", "INVITE sip:"+aor+"@127.0.0.1", 1)
				inv = strings.Replace(inv, "127.0.0.1:5999", caller.LocalAddr().String(), 1)
				if _, err := caller.WriteTo([]byte(inv), net.UDPAddrFromAddrPort(s.Addr("udp"))); err != nil {
					t.Fatal(err)
				}
			}
			// final returns the status line of the final reply to id
			final := func(id string) string {
				t.Helper()
				for {
					msg, _ := recvUDP(t, s, caller, "the final reply to "+id)
					if strings.Contains(msg, "Call-ID: "+id+"\r\n") && !strings.HasPrefix(msg, "SIP/2.0 1") {
						return strings.SplitN(msg, "\r\n", 2)[0]
					}
				}
			}

			// while the connection lives, carol is reached over it
			call("carol", "carol-1")
			got, err := w.read("INVITE ")
			if err != nil {
				t.Fatalf("the call did not reach carol's WebSocket: %v\n%s", err, s.Logs())
			}
			w.send(reply(got, 486, "Busy Here"))
			if st := final("carol-1"); !strings.HasPrefix(st, "SIP/2.0 486") {
				t.Errorf("call to carol: %s, want 486 from her client", st)
			}

			w.nc.Close()
			tc.Close()
			wantMetric(t, s, "kemi_usrloc_conn_closed_removed_total", 3)

			// bob's udp contact only: one INVITE, to it
			call("bob", "bob-1")
			inv, _ := recvUDP(t, s, peer, "the INVITE to bob's udp contact")
			if !strings.HasPrefix(inv, "INVITE sip:bob@"+peerAddr+" SIP/2.0\r\n") {
				t.Errorf("INVITE to bob, want his udp contact:\n%s", inv)
			}
			if _, err := peer.WriteTo([]byte(reply(inv, 486, "Busy Here")), net.UDPAddrFromAddrPort(s.Addr("udp"))); err != nil {
				t.Fatal(err)
			}
			if st := final("bob-1"); !strings.HasPrefix(st, "SIP/2.0 486") {
				t.Errorf("call to bob: %s, want 486 from his udp contact", st)
			}
			for _, aor := range []string{"carol", "dave"} {
				call(aor, aor+"-2")
				if st := final(aor + "-2"); !strings.HasPrefix(st, "SIP/2.0 404") {
					t.Errorf("call to %s after the close: %s, want 404", aor, st)
				}
			}

			if be == "sqlite" {
				// the file, read by another store, holds bob's udp contact only
				st, err := usrloc.Open(context.Background(), dbURL, usrloc.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				for aor, want := range map[string]int{"bob": 1, "carol": 0, "dave": 0} {
					bs, err := st.Lookup(context.Background(), usrloc.DefaultTable, aor)
					if err != nil || len(bs) != want {
						t.Errorf("%s in the file: %d bindings (%v), want %d", aor, len(bs), err, want)
					}
				}
			}
		})
	}
}
