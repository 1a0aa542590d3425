package nathelper

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"

	_ "github.com/kemisip/kemi/core/usrloc"
)

// keepaliveParams are the basic example's keepalive settings.
func keepaliveParams() map[string]map[string]any {
	return map[string]map[string]any{
		"usrloc": {"db_url": "memory", "nat_bflag": 6},
		"nathelper": {
			"natping_interval":      30,
			"ping_nated_only":       1,
			"sipping_bflag":         7,
			"natping_disable_bflag": 3,
			"sipping_from":          "sip:pinger@kamailio.org",
			"keepalive_timeout":     60,
		},
	}
}

func loadPinger(t *testing.T) (*kemitest.Env, *pinger) {
	t.Helper()
	env := kemitest.Load(t, keepaliveParams(), "core", "usrloc", "nathelper")
	t.Cleanup(env.Destroy)
	pg := env.Mods["nathelper"].(*Module).pinger
	if pg == nil {
		t.Fatal("natping_interval 30 started no pinger")
	}
	return env, pg
}

const (
	natB  = 1 << 6
	sipB  = 1 << 7
	offB  = 1 << 3
	udp5  = "udp:127.0.0.1:5060"
	alice = "sip:alice@192.168.1.10:5060"
)

// TestPingerHandle checks where each kind of contact is pinged, with
// what, and which are not.
func TestPingerHandle(t *testing.T) {
	env, pg := loadPinger(t)
	now := time.Now()
	tests := []struct {
		name    string
		b       kemi.Binding
		dst     string // "" when nothing is sent
		prefix  string // start of what is sent
		contain string
	}{
		{"received", kemi.Binding{Contact: alice, Received: "sip:127.0.0.1:40000", CFlags: natB | sipB, Socket: udp5},
			"udp:127.0.0.1:40000", "OPTIONS " + alice + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK", "\r\nTo: " + alice + "\r\n"},
		{"contact without port", kemi.Binding{Contact: "sip:bob@127.0.0.2", CFlags: natB | sipB, Socket: udp5},
			"udp:127.0.0.2:5060", "OPTIONS sip:bob@127.0.0.2 SIP/2.0\r\n", "CSeq: 1 OPTIONS\r\n"},
		{"no SIP ping flag: four zero bytes", kemi.Binding{Contact: alice, Received: "sip:127.0.0.1:40001", CFlags: natB, Socket: udp5},
			"udp:127.0.0.1:40001", "\x00\x00\x00\x00", ""},
		{"path", kemi.Binding{Contact: alice, Received: "sip:127.0.0.1:40002", Path: "<sip:127.0.0.3:5070;lr>,<sip:127.0.0.4;lr>", CFlags: natB | sipB, Socket: udp5},
			"udp:127.0.0.3:5070", "OPTIONS " + alice, "\r\nRoute: <sip:127.0.0.3:5070;lr>,<sip:127.0.0.4;lr>\r\nFrom: "},
		{"disabled", kemi.Binding{Contact: alice, Received: "sip:127.0.0.1:40003", CFlags: natB | sipB | offB, Socket: udp5}, "", "", ""},
		{"tcp contact", kemi.Binding{Contact: "sip:alice@192.168.1.10:5060;transport=tcp", CFlags: natB | sipB, Socket: "tcp:127.0.0.1:5060"}, "", "", ""},
		{"sips contact", kemi.Binding{Contact: "sips:alice@192.168.1.10", CFlags: natB | sipB, Socket: udp5}, "", "", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.Host.Reset()
			tc.b.AOR, tc.b.RUID, tc.b.LastModified = "alice", "uloc-"+string(rune('a'+i)), now
			pg.handle(context.Background(), &kemi.TableBinding{Table: "location", Binding: tc.b}, now)
			sent := env.Host.Sent()
			if tc.dst == "" {
				if len(sent) != 0 {
					t.Fatalf("sent %q to %s, want nothing", sent[0].Msg, sent[0].Dest)
				}
				return
			}
			if len(sent) != 1 {
				t.Fatalf("sent %d messages, want 1", len(sent))
			}
			s := sent[0]
			if s.Kind != "raw" || s.Dest.String() != tc.dst || s.Dest.Sock == nil || s.Dest.Sock.String() != udp5 {
				t.Errorf("sent %s to %s from %v, want raw to %s from %s", s.Kind, s.Dest, s.Dest.Sock, tc.dst, udp5)
			}
			if !strings.HasPrefix(s.Msg, tc.prefix) || !strings.Contains(s.Msg, tc.contain) {
				t.Errorf("sent\n%q\nwant it to start with %q and hold %q", s.Msg, tc.prefix, tc.contain)
			}
			if tc.prefix != "\x00\x00\x00\x00" && !strings.Contains(s.Msg, ";tag="+tc.b.RUID+"-") {
				t.Errorf("the From tag does not start with the RUID %s:\n%s", tc.b.RUID, s.Msg)
			}
		})
	}
}

// TestPingerKeepaliveTimeout checks that a UDP contact silent for longer
// than keepalive_timeout gets 10 s to live and no ping, and that a reply
// to a ping keeps it.
func TestPingerKeepaliveTimeout(t *testing.T) {
	env, pg := loadPinger(t)
	ul := env.Services.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	ctx := context.Background()
	now := time.Now()
	pg.start = now.Add(-2 * time.Hour) // the contacts are older than the engine
	old := now.Add(-time.Hour)
	put := func(ruid, socket string, expires time.Time) kemi.TableBinding {
		b := kemi.Binding{AOR: "alice", RUID: ruid, Contact: alice, Received: "sip:127.0.0.1:40000", CFlags: natB | sipB,
			Socket: socket, LastModified: old, Expires: expires}
		err := ul.Update(ctx, "location", "alice", func([]kemi.Binding) (kemi.BindingChange, error) {
			return kemi.BindingChange{Put: []kemi.Binding{b}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return kemi.TableBinding{Table: "location", Binding: b}
	}
	silent := put("uloc-silent", udp5, now.Add(time.Hour))
	answered := put("uloc-answered", udp5, now.Add(time.Hour))
	tcp := put("uloc-tcp", "tcp:127.0.0.1:5060", now.Add(time.Hour))
	permanent := put("uloc-permanent", udp5, time.Time{})

	// a reply to a ping of "answered"
	reply := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1234567\r\n" +
		"From: sip:pinger@kamailio.org;tag=uloc-answered-" + reverseHex(aorHash("alice")) + "-1\r\n" +
		"To: " + alice + ";tag=x\r\nCall-ID: " + pg.callIDPrefix + "-1-0@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	m := kemitest.ParseMsg(t, reply)
	if !env.Mods["nathelper"].(*Module).OnReply(m) || !m.Handled {
		t.Fatal("the reply to a ping was not taken")
	}

	env.Host.Reset()
	for _, tb := range []kemi.TableBinding{silent, answered, tcp, permanent} {
		pg.handle(ctx, &tb, now)
	}
	var pinged []string
	for _, s := range env.Host.Sent() {
		tag := s.Msg[strings.Index(s.Msg, ";tag=")+5:]
		pinged = append(pinged, tag[:strings.Index(tag, "-"+reverseHex(aorHash("alice")))])
	}
	if strings.Join(pinged, " ") != "uloc-answered uloc-tcp" {
		t.Errorf("pinged %v, want uloc-answered (it answered) and uloc-tcp (no timeout on TCP)", pinged)
	}
	bs, err := ul.Lookup(ctx, "location", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		left := time.Until(b.Expires)
		switch b.RUID {
		case "uloc-silent":
			if left > keepaliveGrace || left < keepaliveGrace-5*time.Second {
				t.Errorf("the silent contact expires in %v, want %v", left, keepaliveGrace)
			}
		case "uloc-permanent":
			if !b.Expires.IsZero() {
				t.Errorf("the permanent contact got an expiry: %v", b.Expires)
			}
		default:
			if left < 59*time.Minute {
				t.Errorf("%s expires in %v, want its hour", b.RUID, left)
			}
		}
	}
	if n := pg.removed.Get(); n != 1 {
		t.Errorf("kemi_nathelper_keepalive_removed_total %d, want 1", n)
	}
}

// TestPingReplyFilter checks which replies nathelper takes as replies to
// its pings, as Kamailio's filter: one Via, the ping method, the Call-ID
// prefix.
func TestPingReplyFilter(t *testing.T) {
	env, pg := loadPinger(t)
	mod := env.Mods["nathelper"].(*Module)
	ok := pg.callIDPrefix + "-5-0@127.0.0.1"
	tests := []struct {
		name, via, from, callID, cseq string
		taken                         bool
		refreshed                     string
	}{
		{"ours", "", "sip:pinger@kamailio.org", ok, "1 OPTIONS", true, "uloc-1-2"},
		{"another From", "", "sip:other@kamailio.org", ok, "1 OPTIONS", true, ""},
		{"two Vias", "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\r\n", "sip:pinger@kamailio.org", ok, "1 OPTIONS", false, ""},
		{"another method", "", "sip:pinger@kamailio.org", ok, "1 INFO", false, ""},
		{"another Call-ID", "", "sip:pinger@kamailio.org", "x" + ok, "1 OPTIONS", false, ""},
		{"the prefix alone", "", "sip:pinger@kamailio.org", pg.callIDPrefix + "-", "1 OPTIONS", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pg.replied = map[string]time.Time{}
			text := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1234567\r\n" + tc.via +
				"From: " + tc.from + ";tag=uloc-1-2-" + reverseHex(0xabc) + "-7\r\nTo: <sip:a@b>;tag=x\r\n" +
				"Call-ID: " + tc.callID + "\r\nCSeq: " + tc.cseq + "\r\nContent-Length: 0\r\n\r\n"
			m := kemitest.ParseMsg(t, text)
			if got := mod.OnReply(m); got != tc.taken || m.Handled != tc.taken {
				t.Errorf("taken %v (handled %v), want %v", got, m.Handled, tc.taken)
			}
			_, refreshed := pg.replied[tc.refreshed]
			if tc.refreshed != "" && !refreshed || tc.refreshed == "" && len(pg.replied) != 0 {
				t.Errorf("refreshed %v, want %q", pg.replied, tc.refreshed)
			}
		})
	}
}

// TestPingerParams checks the settings Kamailio refuses, and those kemi
// cannot honour.
func TestPingerParams(t *testing.T) {
	tests := []struct {
		name   string
		change map[string]any
		usrloc map[string]any
		want   string
	}{
		{"no sipping_from", map[string]any{"sipping_from": ""}, nil, "sipping_from is empty"},
		{"ping_nated_only without nat_bflag", nil, map[string]any{"db_url": "memory"}, "no nat_bflag"},
		{"raw socket", map[string]any{"natping_socket": "127.0.0.1:5060"}, nil, "raw sockets"},
		{"udpping_from_path", map[string]any{"udpping_from_path": 1}, nil, "raw sockets"},
		{"bad flag", map[string]any{"sipping_bflag": 32}, nil, "sipping_bflag 32"},
		{"negative processes", map[string]any{"natping_processes": -1}, nil, "natping_processes -1"},
		{"bad from", map[string]any{"sipping_from": "pinger"}, nil, "sipping_from"},
		{"bad method", map[string]any{"sipping_method": "OPT IONS"}, nil, "sipping_method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := keepaliveParams()
			for k, v := range tc.change {
				params["nathelper"][k] = v
			}
			if tc.usrloc != nil {
				params["usrloc"] = tc.usrloc
			}
			env, err := kemitest.LoadErr(params, "core", "usrloc", "nathelper")
			if err == nil {
				env.Destroy()
				t.Fatalf("loaded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q in it", err, tc.want)
			}
		})
	}
	params := keepaliveParams()
	delete(params, "usrloc")
	if _, err := kemitest.LoadErr(params, "core", "nathelper"); err == nil || !strings.Contains(err.Error(), "needs the usrloc module") {
		t.Errorf("without usrloc: %v, want needs the usrloc module", err)
	}
}

func TestReverseHex(t *testing.T) {
	for _, tc := range []struct {
		n    uint32
		want string
	}{{0, "0"}, {1, "1"}, {0x1a2b, "b2a1"}, {0xffffffff, "ffffffff"}, {0x10, "01"}} {
		got := reverseHex(tc.n)
		if got != tc.want {
			t.Errorf("reverseHex(%#x) = %q, want %q", tc.n, got, tc.want)
		}
		if back, ok := parseReverseHex(got); !ok || back != tc.n {
			t.Errorf("parseReverseHex(%q) = %#x %v", got, back, ok)
		}
	}
	for _, bad := range []string{"", "g", "123456789"} {
		if _, ok := parseReverseHex(bad); ok {
			t.Errorf("parseReverseHex(%q) accepted", bad)
		}
	}
}

// TestSchedule checks how an interval is cut into ticks.
func TestSchedule(t *testing.T) {
	for _, tc := range []struct {
		interval, tick time.Duration
		ticks          int
	}{{30 * time.Second, time.Second, 30}, {time.Second, time.Second, 1}, {300 * time.Millisecond, 300 * time.Millisecond, 1}, {2500 * time.Millisecond, 1250 * time.Millisecond, 2}} {
		pg := &pinger{interval: tc.interval}
		if tick, ticks := pg.schedule(); tick != tc.tick || ticks != tc.ticks {
			t.Errorf("schedule(%v) = %v x %d, want %v x %d", tc.interval, tick, ticks, tc.tick, tc.ticks)
		}
	}
}

// TestPingerShare checks that natping_processes share the contacts: each
// is pinged by one process, at one tick of the interval.
func TestPingerShare(t *testing.T) {
	env, pg := loadPinger(t)
	ul := env.Services.Lookup(kemi.ServiceUsrloc).(kemi.Location)
	ctx := context.Background()
	const n = 60
	for i := range n {
		aor := "user" + strconv.Itoa(i)
		b := kemi.Binding{AOR: aor, RUID: "r" + aor, Contact: alice, CFlags: natB | sipB, Socket: udp5, Expires: time.Now().Add(time.Hour)}
		if err := ul.Update(ctx, "location", aor, func([]kemi.Binding) (kemi.BindingChange, error) {
			return kemi.BindingChange{Put: []kemi.Binding{b}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	pg.procs, pg.interval = 2, 3*time.Second
	_, ticks := pg.schedule()
	slots := uint32(pg.procs * ticks)
	seen := map[string]int{}
	perTick := make([]int, slots)
	for idx := range pg.procs {
		for it, tbs := range pg.share(ctx, idx, ticks, slots) {
			for _, tb := range tbs {
				seen[tb.AOR]++
				s := aorSlot(tb.AOR, slots)
				if int(s) != idx*ticks+it {
					t.Errorf("%s (slot %d) given to process %d at tick %d", tb.AOR, s, idx, it)
				}
				perTick[s]++
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d AORs shared out", len(seen), n)
	}
	for aor, c := range seen {
		if c != 1 {
			t.Errorf("%s shared %d times", aor, c)
		}
	}
	for s, c := range perTick {
		if c == 0 {
			t.Errorf("slot %d of %d has no AOR of %d: the spread is poor (%v)", s, slots, n, perTick)
		}
	}
}
