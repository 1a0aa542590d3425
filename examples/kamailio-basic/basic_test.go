// Package kamailiobasic_test runs Kamailio's basic KEMI example on kemi:
// kemi.toml of this folder, with testdata/basic.lua (kemi's own script
// making the example's KSR calls in the example's order) on a real engine,
// a real SQLite file, phones on loopback and sipp.
package kamailiobasic_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// kemiBin is the kemi binary TestMain builds, for `kemi check`, `kemi
// user` and `kemi address`.
var kemiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kemi-basic-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kemiBin = filepath.Join(dir, "kemi")
	if out, err := exec.Command("go", "build", "-o", kemiBin, "../../cmd/kemi").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ../../cmd/kemi: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kemiCmd runs the kemi binary and returns its output and exit status.
func kemiCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(kemiBin, args...).CombinedOutput()
	if err == nil {
		return string(out), 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	t.Fatalf("kemi %s: %v", strings.Join(args, " "), err)
	return "", 0
}

// mustKemi runs the kemi binary and fails the test unless it exits 0.
func mustKemi(t *testing.T, args ...string) {
	t.Helper()
	if out, code := kemiCmd(t, args...); code != 0 {
		t.Fatalf("kemi %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
}

var users = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}

// provision adds the subscribers (`kemi user add`) and 127.0.0.3 in
// group 1 of the address table (`kemi address add`) to the database.
func provision(t *testing.T, db string) {
	t.Helper()
	for u, pw := range users {
		mustKemi(t, "user", "add", "--db-url", db, u+"@"+domain, pw)
	}
	mustKemi(t, "address", "add", "--db-url", db, "1", "127.0.0.3")
}

// startBasic provisions a new SQLite file and starts the engine with
// kemi.toml and the script at path on 127.0.0.1:0, example.com being one
// of its names; opts change the configuration after that.
func startBasic(t *testing.T, path string, opts ...func(*engine.Config)) *enginetest.Server {
	t.Helper()
	db := "sqlite://" + filepath.Join(t.TempDir(), "kemi.db")
	provision(t, db)
	fc, err := engine.LoadFile("kemi.toml")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, string(script), enginetest.WithConfig(func(c *engine.Config) {
		if err := fc.Apply(c); err != nil {
			t.Fatal(err)
		}
		c.ScriptPath = path
		c.DBURL = db
		c.Aliases = append(c.Aliases, domain)
		for _, o := range opts {
			o(c)
		}
	}))
	return s
}

func aor(user string) string { return "<sip:" + user + "@" + domain + ">" }

// TestBasicExample runs the example's scenarios on kemi with kemi's
// script; then with Kamailio's when it was fetched into this folder, as
// README.md says (it is never committed).
func TestBasicExample(t *testing.T) {
	for _, path := range []string{"testdata/basic.lua", "kamailio-basic-kemi-lua.lua"} {
		t.Run(path, func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not fetched (README.md says how): %v", path, err)
			}
			s := startBasic(t, path)
			runBasic(t, s.UDP(), func() float64 { return s.Metric("kemi_pike_blocked_total") })
		})
	}
}

// TestNATKeepalive: with natping_interval (shortened from 30 s), the
// contact of a client that registered from behind a NAT gets SIP pings
// at the address its packets come from; a client not behind a NAT gets
// none (ping_nated_only, usrloc nat_bflag, nathelper sipping_bflag).
func TestNATKeepalive(t *testing.T) {
	s := startBasic(t, "testdata/basic.lua", func(c *engine.Config) {
		c.ModParams["nathelper"]["natping_interval"] = "200ms"
	})
	alice := newPhone(t, "alice", "127.0.0.1", s.UDP())
	carol := newPhone(t, "carol", "127.0.0.1", s.UDP())
	carol.behindNAT("192.168.1.10:5060")
	for _, p := range []*phone{alice, carol} {
		if r := p.register(p.name, users[p.name]); r.StatusCode != 200 {
			t.Fatalf("REGISTER %s: %d %s", p.name, r.StatusCode, r.Reason)
		}
	}
	ping := carol.incoming(sip.OPTIONS)
	if ping.Recipient.String() != "sip:carol@192.168.1.10:5060" || !strings.Contains(ping.From().Value(), "sip:pinger@kamailio.org") {
		t.Errorf("carol's ping: R-URI %s, From %s; want her contact and sipping_from", ping.Recipient.String(), ping.From().Value())
	}
	alice.quiet(time.Second)
}

// runBasic runs the example's scenarios one after the other on the proxy
// at proxy: what the basic example does for each kind of request. blocked
// reads the count of sources pike blocked (nil: not known).
func runBasic(t *testing.T, proxy string, blocked func() float64) {
	alice := newPhone(t, "alice", "127.0.0.1", proxy)
	bob := newPhone(t, "bob", "127.0.0.1", proxy)

	t.Run("OPTIONS keepalive", func(t *testing.T) {
		br := alice.do(msg{method: "OPTIONS", ruri: "sip:" + domain, from: aor("alice") + ";tag=k", to: "<sip:" + domain + ">", callID: "keepalive"})
		if r := alice.final(br); r.StatusCode != 200 || r.Reason != "Keepalive" {
			t.Fatalf("OPTIONS: %d %s, want 200 Keepalive", r.StatusCode, r.Reason)
		}
	})

	t.Run("483 on Max-Forwards 0", func(t *testing.T) {
		br := alice.do(msg{method: "OPTIONS", ruri: "sip:" + domain, from: aor("alice") + ";tag=m", to: "<sip:" + domain + ">", callID: "maxfwd", maxForwards: "0"})
		if r := alice.final(br); r.StatusCode != 483 || r.Reason != "Too Many Hops" {
			t.Fatalf("OPTIONS with Max-Forwards 0: %d %s, want 483 Too Many Hops", r.StatusCode, r.Reason)
		}
	})

	t.Run("scanner User-Agent", func(t *testing.T) {
		// an INVITE that would be challenged gets 200 and goes nowhere
		br := alice.do(msg{method: "INVITE", ruri: "sip:bob@" + domain, from: aor("alice") + ";tag=s", to: aor("bob"), callID: "scanner",
			headers: []string{"User-Agent: friendly-scanner"}})
		if r := alice.final(br); r.StatusCode != 200 || r.Reason != "OK" {
			t.Fatalf("INVITE from friendly-scanner: %d %s, want 200 OK", r.StatusCode, r.Reason)
		}
		bob.quiet(300 * time.Millisecond)
	})

	t.Run("REGISTER with digest auth", func(t *testing.T) {
		br := alice.do(msg{method: "REGISTER", ruri: "sip:" + domain, from: aor("alice") + ";tag=r", to: aor("alice"), callID: "noauth"})
		if r := alice.final(br); r.StatusCode != 401 || r.GetHeader("WWW-Authenticate") == nil {
			t.Fatalf("REGISTER without credentials: %d %s, want 401 with a challenge", r.StatusCode, r.Reason)
		}
		if r := alice.register("alice", "wrong"); r.StatusCode != 401 {
			t.Fatalf("REGISTER with a wrong password: %d %s, want 401", r.StatusCode, r.Reason)
		}
		for _, p := range []*phone{alice, bob} {
			r := p.register(p.name, users[p.name])
			if r.StatusCode != 200 || r.Contact() == nil || !strings.Contains(r.Contact().Address.String(), p.addr()) {
				t.Fatalf("REGISTER %s: %d %s, want 200 with its contact\n%s", p.name, r.StatusCode, r.Reason, r)
			}
		}
	})

	t.Run("call with proxy auth, record-route, ACK and BYE", func(t *testing.T) {
		br, inv := bob.authed(msg{method: "INVITE", ruri: "sip:alice@" + domain, from: aor("bob") + ";tag=bob-call", to: aor("alice"), callID: "call-1"}, "bob", users["bob"])
		got := alice.incoming(sip.INVITE)
		if want := "sip:alice@" + alice.addr(); got.Recipient.String() != want {
			t.Errorf("alice got R-URI %s, want her contact %s", got.Recipient.String(), want)
		}
		if got.GetHeader("Proxy-Authorization") != nil {
			t.Error("the credentials reached alice: consume_credentials removes them")
		}
		rr := got.GetHeader("Record-Route")
		if rr == nil || !strings.Contains(rr.Value(), "lr=on") || strings.Contains(rr.Value(), "ftag") {
			t.Errorf("Record-Route %v: want the proxy's with lr=on (enable_full_lr) and no ftag (append_fromtag 0)", rr)
		}
		alice.answer(got, 180, "Ringing")
		alice.answer(got, 200, "OK")
		ok := bob.final(br)
		if ok.StatusCode != 200 {
			t.Fatalf("bob got %d %s, want alice's 200", ok.StatusCode, ok.Reason)
		}
		bob.inDialog(ok, "ACK", inv.cseq)
		if ack := alice.incoming(sip.ACK); ack.CallID().Value() != "call-1" {
			t.Errorf("ACK of another call: %s", ack.CallID().Value())
		}
		bye := bob.inDialog(ok, "BYE", inv.cseq+1)
		alice.answer(alice.incoming(sip.BYE), 200, "OK")
		if r := bob.final(bye); r.StatusCode != 200 {
			t.Fatalf("BYE: %d %s, want 200", r.StatusCode, r.Reason)
		}
	})

	t.Run("404 unknown user", func(t *testing.T) {
		r := bob.challenged(msg{method: "INVITE", ruri: "sip:nobody@" + domain, from: aor("bob") + ";tag=b404", to: aor("nobody"), callID: "call-404"}, "bob", users["bob"])
		if r.StatusCode != 404 || r.Reason != "Not Found" {
			t.Fatalf("INVITE to nobody: %d %s, want 404 Not Found", r.StatusCode, r.Reason)
		}
	})

	t.Run("403 relaying", func(t *testing.T) {
		r := alice.final(alice.do(msg{method: "INVITE", ruri: "sip:someone@elsewhere.net", from: "<sip:mallory@foreign.net>;tag=x", to: "<sip:someone@elsewhere.net>", callID: "relay"}))
		if r.StatusCode != 403 || r.Reason != "Not relaying" {
			t.Fatalf("INVITE from and to foreign domains: %d %s, want 403 Not relaying", r.StatusCode, r.Reason)
		}
	})

	t.Run("NATed client", func(t *testing.T) {
		carol := newPhone(t, "carol", "127.0.0.1", proxy)
		carol.behindNAT("192.168.1.10:5060")
		if r := carol.register("carol", users["carol"]); r.StatusCode != 200 {
			t.Fatalf("REGISTER carol: %d %s", r.StatusCode, r.Reason)
		}
		// fix_nated_register: calls to carol go where her packets come from
		br, _ := alice.authed(msg{method: "INVITE", ruri: "sip:carol@" + domain, from: aor("alice") + ";tag=a2c", to: aor("carol"), callID: "to-carol"}, "alice", users["alice"])
		in := carol.incoming(sip.INVITE)
		if in.Recipient.Host != "192.168.1.10" {
			t.Errorf("carol got R-URI %s, want her registered contact", in.Recipient.String())
		}
		carol.answer(in, 486, "Busy Here")
		carol.incoming(sip.ACK)
		if r := alice.final(br); r.StatusCode != 486 {
			t.Fatalf("alice got %d %s, want carol's 486", r.StatusCode, r.Reason)
		}

		// set_contact_alias on her INVITE, handle_ruri_alias on the BYE to her
		br, inv := carol.authed(msg{method: "INVITE", ruri: "sip:alice@" + domain, from: aor("carol") + ";tag=c2a", to: aor("alice"), callID: "from-carol"}, "carol", users["carol"])
		got := alice.incoming(sip.INVITE)
		want := "alias=" + strings.ReplaceAll(carol.addr(), ":", "~") + "~1"
		if c := got.Contact().Address.String(); !strings.Contains(c, "192.168.1.10:5060") || !strings.Contains(c, want) {
			t.Fatalf("alice got Contact %s, want carol's with %s", c, want)
		}
		alice.answer(got, 200, "OK")
		ok := carol.final(br)
		if ok.StatusCode != 200 {
			t.Fatalf("carol got %d %s, want 200", ok.StatusCode, ok.Reason)
		}
		carol.inDialog(ok, "ACK", inv.cseq)
		alice.incoming(sip.ACK)
		bye := alice.inDialogAsCallee(got, "BYE", 1)
		b := carol.incoming(sip.BYE)
		if b.Recipient.Host != "192.168.1.10" || b.Recipient.UriParams.Has("alias") {
			t.Errorf("carol got BYE for %s, want her contact without the alias", b.Recipient.String())
		}
		carol.answer(b, 200, "OK")
		if r := alice.final(bye); r.StatusCode != 200 {
			t.Fatalf("BYE to carol: %d %s", r.StatusCode, r.Reason)
		}
	})

	t.Run("IP authorization with sipp", func(t *testing.T) {
		uas := enginetest.FreeUDPPort(t)
		enginetest.StartSipp(t, "-sf", "../sipp/uas_rr.xml", "-i", "127.0.0.1", "-p", strconv.Itoa(uas))
		time.Sleep(200 * time.Millisecond) // sipp has no readiness signal
		// 127.0.0.3 is in group 1 of the address table: its call to a
		// foreign address is relayed without a challenge
		if code, out := sippCall(t, proxy, "127.0.0.3", uas); code != 0 {
			t.Errorf("sipp uac from 127.0.0.3 (address table): exit %d, want its call to succeed\n%s", code, out)
		}
		// 127.0.0.4 is not: the same call is an open relay attempt
		code, out := sippCall(t, proxy, "127.0.0.4", uas)
		if code == 0 || !strings.Contains(out, "403 Not relaying") {
			t.Errorf("sipp uac from 127.0.0.4 (not in the address table): exit %d, want a failed call with 403 Not relaying\n%s", code, out)
		}
	})

	t.Run("pike bans a flooding source through ipban", func(t *testing.T) {
		flood := newPhone(t, "flood", "127.0.0.2", proxy)
		const sent = 40
		for i := range sent {
			flood.do(msg{method: "OPTIONS", ruri: "sip:" + domain, from: "<sip:flood@flood.net>;tag=f", to: "<sip:" + domain + ">", callID: fmt.Sprintf("flood-%d", i)})
		}
		answered := 0
		for flood.next(500*time.Millisecond) != nil {
			answered++
		}
		// reqs_density_per_unit 16: kemi refuses the 16th request of a
		// unit; Kamailio a few requests later (README.md of core/pike)
		t.Logf("%d of %d OPTIONS answered", answered, sent)
		if answered < 15 || answered >= sent {
			t.Fatalf("%d of %d OPTIONS answered, want the first 15 (or more across two sampling units) and not all", answered, sent)
		}
		if blocked != nil {
			if got := blocked(); got != 1 {
				t.Errorf("kemi_pike_blocked_total = %v, want 1", got)
			}
		}
		// pike forgets a source after two quiet units (2 s each); ipban
		// (autoexpire 300) still holds it
		time.Sleep(4500 * time.Millisecond)
		flood.do(msg{method: "OPTIONS", ruri: "sip:" + domain, from: "<sip:flood@flood.net>;tag=f", to: "<sip:" + domain + ">", callID: "flood-after"})
		flood.quiet(500 * time.Millisecond)
		other := newPhone(t, "other", "127.0.0.5", proxy)
		br := other.do(msg{method: "OPTIONS", ruri: "sip:" + domain, from: "<sip:other@other.net>;tag=o", to: "<sip:" + domain + ">", callID: "other"})
		if r := other.final(br); r.StatusCode != 200 {
			t.Fatalf("OPTIONS from another source: %d %s, want 200", r.StatusCode, r.Reason)
		}
	})
}

// sippCall runs one call of ../sipp/uac_rr.xml (route set honoured)
// from ip to the sipp uas of ../sipp/uas_rr.xml on uasPort, through proxy, and returns sipp's exit code (0: the call succeeded).
func sippCall(t *testing.T, proxy, ip string, uasPort int) (int, string) {
	t.Helper()
	return enginetest.RunSipp(t, 30*time.Second, "127.0.0.1:"+strconv.Itoa(uasPort), "-rsa", proxy,
		"-sf", "../sipp/uac_rr.xml", "-i", ip, "-p", strconv.Itoa(enginetest.FreeUDPPort(t)), "-m", "1", "-timeout", "20s")
}
