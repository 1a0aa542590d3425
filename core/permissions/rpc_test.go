package permissions_test

import (
	"strings"
	"testing"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine/enginetest"
)

// TestRPCAddressReload: permissions.addressReload makes a row added with
// Kamailio's SQL take effect in the script; a bad row is refused with its
// error and the table in use stays. The dumps show the table as loaded.
func TestRPCAddressReload(t *testing.T) {
	path := newFile(t, []string{`(2, '192.0.2.1', 32, 0, NULL)`, `(3, '10.0.0.0', 8, 5060, NULL)`, `(4, 'gw.example.com', 0, 0, 'gw')`}, nil)
	f := db.NewSQLite(path, db.Address, db.Trusted)
	t.Cleanup(func() { f.Close() })
	exec := func(q string) {
		t.Helper()
		d, err := f.DB(false)
		if err == nil {
			_, err = d.Exec(q)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s := enginetest.Start(t, gateScript, enginetest.WithParams("permissions", map[string]any{"db_url": "sqlite://" + path, "peer_tag_avp": "$avp(peer)"}))
	exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '127.0.0.1', 32, 0, 'lo')`)
	exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '192.0.2.9', 40, 0, NULL)`)
	res, rerr := s.RPC("permissions.addressReload")
	if rerr == nil || rerr.Code != 500 || !strings.HasPrefix(rerr.Message, "Reload failed. ") || !strings.Contains(rerr.Message, "mask 40") {
		t.Fatalf("addressReload with a bad row = %s %+v, want 500 Reload failed. naming the row", res, rerr)
	}
	if status, _ := options(t, s.UDP()); status != "SIP/2.0 403 Forbidden" {
		t.Errorf("after a refused reload: %q, want 403 (the old table)", status)
	}

	exec(`DELETE FROM address WHERE mask = 40`)
	if got := s.RPCResult("permissions.addressReload"); got != `"Reload OK"` {
		t.Fatalf("addressReload = %s", got)
	}
	if status, tag := options(t, s.UDP()); status != "SIP/2.0 200 Allowed" || tag != "lo" {
		t.Errorf("after the reload: %q X-Tag %q, want 200 Allowed, lo", status, tag)
	}
	if v := s.Metric("kemi_permissions_address_rows"); v != 4 {
		t.Errorf("kemi_permissions_address_rows = %v, want 4", v)
	}
	for method, want := range map[string]string{
		"permissions.addressDump": `[{"group":1,"item":{"ip":"127.0.0.1","port":0,"tag":"lo"}},{"group":2,"item":{"ip":"192.0.2.1","port":0,"tag":"NULL"}}]`,
		"permissions.subnetDump":  `[{"group":3,"item":{"ip":"10.0.0.0","mask":8,"port":5060,"tag":""}}]`,
		"permissions.domainDump":  `[{"group":4,"item":{"domain_name":"gw.example.com","port":0,"tag":"gw"}}]`,
	} {
		if got := s.RPCResult(method); got != want {
			t.Errorf("%s = %s\nwant %s", method, got, want)
		}
	}
}

// TestRPCAddressReloadWithoutDB: with nothing to read from, the reload
// fails and the (empty) table stays.
func TestRPCAddressReloadWithoutDB(t *testing.T) {
	s := enginetest.Start(t, gateScript, enginetest.WithParams("permissions", map[string]any{"db_url": "memory"}))
	res, rerr := s.RPC("permissions.addressReload")
	if rerr == nil || rerr.Code != 500 || !strings.HasPrefix(rerr.Message, "Reload failed.") {
		t.Errorf("addressReload without a database = %s %+v", res, rerr)
	}
	if got := s.RPCResult("permissions.addressDump"); got != `[]` {
		t.Errorf("addressDump = %s", got)
	}
}
