package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

// modsScript saves REGISTERs; other requests are answered after a
// location lookup (200 Found, or 404 Gone) with the item t=>k in the
// reason phrase.
const modsScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		return
	end
	local v = tostring(KSR.htable.sht_get("t", "k"))
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.sl_send_reply(404, "Gone " .. v)
		return
	end
	KSR.sl.sl_send_reply(200, "Found " .. v)
end
`

// registerKemi registers sip:kemi@127.0.0.1 (the AOR options asks for)
// at addr.
func registerKemi(t *testing.T, addr string) {
	t.Helper()
	id := time.Now().UnixNano()
	res := enginetest.Exchange(t, addr, func(local string) string {
		return fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\nFrom: <sip:kemi@127.0.0.1>;tag=1\r\nTo: <sip:kemi@127.0.0.1>\r\nCall-ID: reg-%d\r\nCSeq: 1 REGISTER\r\nContact: <sip:kemi@127.0.0.1:5999>;expires=300\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			local, id, id)
	}, 2*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Fatalf("REGISTER: %q", res)
	}
}

// TestCtlModuleMethods runs the modules' methods through kemi ctl against
// a live engine: their effects are what the script sees next, and bad
// parameters or names are errors (exit status 1, the code on stderr).
func TestCtlModuleMethods(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	permDB := filepath.Join(dir, "perm.db")
	f := db.NewSQLite(permDB, db.Address, db.Trusted)
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	s := enginetest.Start(t, modsScript, enginetest.WithConfig(func(c *engine.Config) {
		c.Modules = []string{"core", "sl", "tm", "usrloc", "registrar", "htable", "permissions"}
		c.CtlSocket = sock
		c.ModParams = map[string]map[string]any{
			"htable":      {"htable": "t=>size=4"},
			"permissions": {"db_url": "sqlite://" + permDB},
		}
	}))
	url := "http://" + s.MetricsAddr() + engine.RPCPath
	ctl := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append([]string{"ctl", "--url", url}, args...)...)
	}
	ok := func(want string, args ...string) {
		t.Helper()
		if code, out, errOut := ctl(args...); code != 0 || !strings.Contains(out, want) {
			t.Errorf("kemi ctl %s = %d %q %q, want %q in the output", strings.Join(args, " "), code, out, errOut, want)
		}
	}
	fails := func(want string, args ...string) {
		t.Helper()
		if code, out, errOut := ctl(args...); code != 1 || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("kemi ctl %s = %d %q %q, want exit 1 and %q on stderr", strings.Join(args, " "), code, out, errOut, want)
		}
	}
	sip := func(want string) {
		t.Helper()
		if got := options(s.UDP(), t.Name(), 2*time.Second); got != want {
			t.Errorf("the script answers %q, want %q", got, want)
		}
	}

	ok(`"Ok. Key set to new value."`, "htable.sets", "t", "k", "hello")
	sip("SIP/2.0 404 Gone hello")
	registerKemi(t, s.UDP())
	sip("SIP/2.0 200 Found hello")
	ok(`"Address": "sip:kemi@127.0.0.1:5999"`, "ul.lookup", "location", "kemi")
	ok(`"AoR": "kemi"`, "ul.dump", "brief")
	ok(`"Contacts"`, "ul.dump")
	ok("{}", "ul.rm", "location", "kemi")
	sip("SIP/2.0 404 Gone hello")
	fails("rpc error 500: AOR not found in location table", "ul.lookup", "location", "kemi")
	fails("rpc error 500: Domain table not found", "ul.lookup", "nosuch", "kemi")
	fails("rpc error 404: AOR not found", "ul.rm_contact", "location", "kemi", "sip:kemi@127.0.0.1:5999")

	ok(`"Ok. Key set to new value."`, "htable.seti", "t", "n", "7")
	ok(`"value": 7`, "htable.get", "t", "n")
	ok(`"name": "n"`, "htable.dump", "t")
	ok(`"name": "t"`, "htable.listTables")
	ok(`"all": 2`, "htable.stats")
	ok(`"Ok. Key deleted."`, "htable.delete", "t", "k")
	sip("SIP/2.0 404 Gone nil")
	fails("-32602", "htable.seti", "t", "n", "x")
	fails("rpc error 404: Key not found in htable.", "htable.delete", "t", "k")
	fails("rpc error 500: No such htable", "htable.get", "nosuch", "k")
	fails("rpc error 500: No htable db_url", "htable.reload", "t")

	ok(`"total": `, "tm.stats")
	ok(`"sl:sent_replies = 4"`, "stats.get_statistics", "sl:")
	ok(`"core:rcv_requests_register = 1"`, "stats.get_statistics", "rcv_requests_register", "usrloc:")
	ok("{}", "stats.reset_statistics", "all")
	ok(`"sl:sent_replies = 0"`, "stats.clear_statistics", "sent_replies")
	fails("rpc error 400: Please provide which stats to retrieve", "stats.get_statistics")

	if _, err := d.Exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '192.0.2.7', 32, 0, 'gw')`); err != nil {
		t.Fatal(err)
	}
	ok(`[]`, "permissions.addressDump")
	ok(`"Reload OK"`, "permissions.addressReload")
	ok(`"ip": "192.0.2.7"`, "permissions.addressDump")
	ok(`[]`, "permissions.subnetDump")
	ok(`[]`, "permissions.domainDump")
	fails("-32601", "permissions.trustedReload") // Kamailio's, not offered yet

	// over the control socket too
	if code, out, errOut := runCLI(t, "ctl", "--socket", sock, "tm.stats"); code != 0 || !strings.Contains(out, `"current": 0`) {
		t.Errorf("kemi ctl --socket tm.stats = %d %q %q", code, out, errOut)
	}
	fails("-32601", "ul.nosuch")
}
