package scripts_test

// End-to-end tests of the registrar service on the real modules
// (registrar, usrloc, auth, auth_db): scripts/registrar.lua, or a short
// script where a test needs an event callback, on a real engine with UDP
// phones (ua_test.go), a real SQLite file and a real redis-server.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/redistest"
)

// registrarNode runs scripts/registrar.lua with its registrations in
// locURL and its subscribers in the SQLite file subs ([auth_db] db_url
// overriding the core db_url).
func registrarNode(t *testing.T, locURL, subs string) *enginetest.Server {
	t.Helper()
	src, err := os.ReadFile("registrar.lua")
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Start(t, string(src), enginetest.WithConfig(func(c *engine.Config) {
		c.ScriptPath = "registrar.lua"
		c.DBURL = locURL
		c.Aliases = []string{realm}
	}), enginetest.WithParams("auth_db", map[string]any{"db_url": "sqlite://" + subs}))
}

// callReaches sends an INVITE for alice from a foreign caller (which
// registrar.lua does not challenge) through proxy, checks that dev gets
// it with its Contact as R-URI, answers 486 and checks that the caller
// gets the 486.
func callReaches(t *testing.T, proxy string, dev *ua, callID string) {
	t.Helper()
	caller := newUA(t, "caller-"+callID)
	branch := caller.invite(proxy, "carol", "foreign.net", "alice", callID, 1, "")
	inv := dev.request(sip.INVITE)
	if got, want := inv.Recipient.String(), dev.contact("alice"); got != want {
		t.Errorf("device got R-URI %s, want %s", got, want)
	}
	dev.reply(proxy, inv, 486, "Busy Here")
	res := caller.final()
	if res.StatusCode != 486 {
		t.Fatalf("caller got %d %s, want the device's 486", res.StatusCode, res.Reason)
	}
	caller.ackFailure(proxy, res, "alice", branch)
	dev.request(sip.ACK)
}

// callStatus sends an INVITE for alice from a foreign caller and returns
// the status of its final response (acknowledged).
func callStatus(t *testing.T, proxy, callID string) int {
	t.Helper()
	caller := newUA(t, "caller-"+callID)
	branch := caller.invite(proxy, "carol", "foreign.net", "alice", callID, 1, "")
	res := caller.final()
	caller.ackFailure(proxy, res, "alice", branch)
	return res.StatusCode
}

// TestRegistrarParallelForkCancel: two phones of alice register with
// digest auth; bob, a local user, calls alice and authenticates to the
// proxy (407); both phones ring at once; one answers, the other gets
// CANCEL (and the ACK of its 487); bob gets the 200, and his ACK and BYE
// reach the phone that answered through the Record-Route.
func TestRegistrarParallelForkCancel(t *testing.T) {
	needRegistrarModules(t)
	path := filepath.Join(t.TempDir(), "kemi.db")
	userAdd(t, path, map[string]string{"alice": "pw-alice", "bob": "pw-bob"})
	s := startRegistrar(t, path)
	proxy := s.UDP()

	desk, mobile := newUA(t, "desk"), newUA(t, "mobile")
	desk.mustRegister(proxy, "alice", "pw-alice", 600)
	mobile.mustRegister(proxy, "alice", "pw-alice", 600)

	bob := newUA(t, "bob")
	const callID = "fork-cancel@test"
	branch := bob.invite(proxy, "bob", realm, "alice", callID, 1, "")
	res := bob.final()
	if res.StatusCode != 407 {
		t.Fatalf("bob's first INVITE: %d %s, want 407", res.StatusCode, res.Reason)
	}
	bob.ackFailure(proxy, res, "alice", branch)
	auth := credentials(res.GetHeader("Proxy-Authenticate").Value(), "INVITE", "sip:alice@"+realm, "bob", "pw-bob")
	bob.invite(proxy, "bob", realm, "alice", callID, 2, auth)

	invDesk, invMobile := desk.request(sip.INVITE), mobile.request(sip.INVITE)
	for _, c := range []struct {
		dev *ua
		req *sip.Request
	}{{desk, invDesk}, {mobile, invMobile}} {
		if got, want := c.req.Recipient.String(), c.dev.contact("alice"); got != want {
			t.Errorf("%s got R-URI %s, want %s", c.dev.name, got, want)
		}
		if c.req.GetHeader("Proxy-Authorization") != nil {
			t.Errorf("%s got bob's credentials: registrar.lua consumes them", c.dev.name)
		}
		c.dev.reply(proxy, c.req, 180, "Ringing")
	}
	mobile.reply(proxy, invMobile, 200, "OK")
	ok := bob.final()
	if ok.StatusCode != 200 || ok.CallID().Value() != callID {
		t.Fatalf("bob got %d %s, want the 200 of the mobile", ok.StatusCode, ok.Reason)
	}

	// the desk phone is cancelled: 200 to the CANCEL, 487 to its INVITE,
	// and the proxy acknowledges the 487
	cancel := desk.request(sip.CANCEL)
	if cb, ib := cancel.Via().Params.GetOr("branch", ""), invDesk.Via().Params.GetOr("branch", ""); cb != ib {
		t.Errorf("CANCEL branch %s, INVITE branch %s", cb, ib)
	}
	desk.reply(proxy, cancel, 200, "OK")
	desk.reply(proxy, invDesk, 487, "Request Terminated")
	desk.request(sip.ACK)

	bob.inDialog(proxy, ok, "ACK", 2)
	mobile.request(sip.ACK)
	bob.inDialog(proxy, ok, "BYE", 3)
	bye := mobile.request(sip.BYE)
	mobile.reply(proxy, bye, 200, "OK")
	if res := bob.final(); res.StatusCode != 200 || res.CSeq().MethodName != sip.BYE {
		t.Fatalf("bob's BYE: %d %s", res.StatusCode, res.CSeq().MethodName)
	}
	desk.silent(300 * time.Millisecond)
}

// TestRegistrarSharedRedis: two kemi processes (the binary, each with
// its supervisor and worker process) on different ports share one real
// redis-server: alice's phone registers through A and a call through B
// reaches it; her desk phone registers through B and a call through A
// rings both.
func TestRegistrarSharedRedis(t *testing.T) {
	needRegistrarModules(t)
	r := redistest.New(t)
	subs := filepath.Join(t.TempDir(), "subscribers.db")
	userAdd(t, subs, map[string]string{"alice": "pw-alice"})
	// two kemi processes (the binary, in fork mode) on their own ports
	a, b := runRegistrarDB(t, r.URL, subs), runRegistrarDB(t, r.URL, subs)
	if a.addr == b.addr {
		t.Fatal("the two nodes share a port")
	}

	phone := newUA(t, "phone")
	phone.mustRegister(a.addr, "alice", "pw-alice", 600)
	callReaches(t, b.addr, phone, "via-b@test")

	// a second phone registered through B is found by A, both ring
	desk := newUA(t, "desk")
	desk.mustRegister(b.addr, "alice", "pw-alice", 600)
	caller := newUA(t, "caller")
	caller.invite(a.addr, "carol", "foreign.net", "alice", "via-a@test", 1, "")
	for _, dev := range []*ua{phone, desk} {
		inv := dev.request(sip.INVITE)
		dev.reply(a.addr, inv, 486, "Busy Here")
		dev.request(sip.ACK)
	}
	if res := caller.final(); res.StatusCode != 486 {
		t.Fatalf("caller got %d, want 486", res.StatusCode)
	}
}

// TestRegistrarRedisGoesAway: with Redis stopped, a REGISTER (whose
// credentials are checked on SQLite) gets 500 from sl_reply_error and
// kemi_usrloc_db_errors_total grows; with Redis back on the same port, a
// REGISTER gets 200 again within 3 s (go-redis's dial probe runs every
// second) and calls reach the phone, with no restart of kemi.
func TestRegistrarRedisGoesAway(t *testing.T) {
	needRegistrarModules(t)
	r := redistest.New(t)
	subs := filepath.Join(t.TempDir(), "subscribers.db")
	userAdd(t, subs, map[string]string{"alice": "pw-alice"})
	s := registrarNode(t, r.URL, subs)
	phone := newUA(t, "phone")
	phone.mustRegister(s.UDP(), "alice", "pw-alice", 600)
	before := s.Metric("kemi_usrloc_db_errors_total")

	r.Stop()
	if res := phone.register(s.UDP(), "alice", "pw-alice", 600); res.StatusCode != 500 {
		t.Fatalf("REGISTER with Redis stopped: %d %s, want 500", res.StatusCode, res.Reason)
	}
	if got := s.Metric("kemi_usrloc_db_errors_total"); got <= before {
		t.Errorf("kemi_usrloc_db_errors_total %v, was %v before Redis stopped", got, before)
	}
	// lookup fails (-3): registrar.lua answers 404 for it, as Kamailio's
	// example script does
	if st := callStatus(t, s.UDP(), "redis-down@test"); st != 404 {
		t.Errorf("INVITE with Redis stopped: %d, want registrar.lua's 404 for lookup's -3", st)
	}

	// Redis back, empty (it kept nothing: --save ""). go-redis fails fast
	// after PoolSize failed dials and probes the server again once a
	// second, so the first REGISTER may still get 500 for up to ~1 s.
	r.Restart()
	back := time.Now()
	for {
		res := phone.register(s.UDP(), "alice", "pw-alice", 600)
		if res.StatusCode == 200 {
			break
		}
		if res.StatusCode != 500 || time.Since(back) > 3*time.Second {
			t.Fatalf("REGISTER %v after Redis came back: %d %s", time.Since(back), res.StatusCode, res.Reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("first 200 for a REGISTER %v after Redis answered PING again", time.Since(back).Round(10*time.Millisecond))
	callReaches(t, s.UDP(), phone, "redis-back@test")
}

// expiryScript saves and looks up without authentication, and logs the
// bindings the usrloc timer expires.
const expiryScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.registrar.save("location", 0) < 0 then
			KSR.sl.sl_reply_error()
		end
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.tm.t_relay()
end

function ksr_usrloc_event(evname)
	KSR.info("usrloc event " .. evname .. ": " .. KSR.pv.get("$ulc(exp=>aor)") ..
		" " .. KSR.pv.get("$ulc(exp=>addr)") .. "\n")
end
`

// TestRegistrarExpiry: a binding of 2 s (min_expires lowered to 1) is
// found, then after it expired lookup gives 404, the usrloc timer removed
// it from the SQLite file and ran the usrloc:contact-expired callback
// with the binding readable.
func TestRegistrarExpiry(t *testing.T) {
	needRegistrarModules(t)
	path := filepath.Join(t.TempDir(), "kemi.db")
	s := enginetest.Start(t, expiryScript, enginetest.WithConfig(func(c *engine.Config) {
		c.DBURL = "sqlite://" + path
		c.Aliases = []string{realm}
	}),
		enginetest.WithParams("registrar", map[string]any{"min_expires": 1}),
		enginetest.WithParams("usrloc", map[string]any{"timer_interval": 1, "event_callback": "ksr_usrloc_event"}))
	phone := newUA(t, "phone")
	res := phone.register(s.UDP(), "alice", "", 2)
	if res.StatusCode != 200 || !strings.Contains(res.GetHeader("Contact").Value(), "expires=2") {
		t.Fatalf("REGISTER: %d %s, Contact %v", res.StatusCode, res.Reason, res.GetHeader("Contact"))
	}
	callReaches(t, s.UDP(), phone, "before-expiry@test")

	if got := s.WaitMetric("kemi_usrloc_expired_total", 1, 5*time.Second); got != 1 {
		t.Fatalf("kemi_usrloc_expired_total %v after 5 s, want 1", got)
	}
	if st := callStatus(t, s.UDP(), "after-expiry@test"); st != 404 {
		t.Errorf("INVITE after expiry: %d, want 404", st)
	}
	want := fmt.Sprintf("usrloc event usrloc:contact-expired: alice %s", phone.contact("alice"))
	if !strings.Contains(s.Logs(), want) {
		t.Errorf("no %q in the log", want)
	}
	if out := kemiCmdStatus(t, "ul", "show", "--db-url", "sqlite://"+path); strings.Contains(out, phone.contact("alice")) {
		t.Errorf("kemi ul show still lists the expired binding:\n%s", out)
	}
}
