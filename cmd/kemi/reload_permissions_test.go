package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
)

const permissionsScript = `
function ksr_request_route()
	if KSR.permissions.allow_source_address(1) > 0 then
		KSR.sl.sl_send_reply(200, "Allowed")
		return
	end
	KSR.sl.sl_send_reply(403, "Forbidden")
end
`

// TestSIGHUPReloadsPermissions: in fork and no-fork mode, SIGHUP reloads
// the address table with the script; a bad row refuses both and the old
// ones keep serving.
func TestSIGHUPReloadsPermissions(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"fork", nil}, {"no-fork", []string{"--no-fork"}}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "perm.db")
			f := db.NewSQLite(path, db.Address, db.Trusted)
			d, err := f.DB(true)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			exec := func(q string) {
				t.Helper()
				if _, err := d.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			p := startKemi(t, procOpts{script: permissionsScript, args: mode.args,
				config: "[permissions]\ndb_url = \"sqlite://" + path + "\"\n"})
			if r := options(p.sip, "before", 2*time.Second); r != "SIP/2.0 403 Forbidden" {
				t.Fatalf("before the row: %q", r)
			}

			exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '127.0.0.1', 32, 0, NULL)`)
			exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '192.0.2.9', 40, 0, NULL)`)
			p.hup("kemi_engine_reload_failures_total", 1)
			if r := options(p.sip, "bad-row", 2*time.Second); r != "SIP/2.0 403 Forbidden" {
				t.Errorf("after a refused reload: %q, want the old table", r)
			}
			if !strings.Contains(p.log.String(), "mask 40") {
				t.Errorf("the refused reload does not name the row")
			}

			exec(`DELETE FROM address WHERE mask = 40`)
			p.hup("kemi_engine_reloads_total", 1)
			if r := options(p.sip, "good", 2*time.Second); r != "SIP/2.0 200 Allowed" {
				t.Errorf("after the reload: %q, want 200", r)
			}
			if v := p.metric("kemi_permissions_address_rows"); v != 1 {
				t.Errorf("kemi_permissions_address_rows = %v, want 1", v)
			}
		})
	}
}
