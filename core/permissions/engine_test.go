package permissions_test

import (
	"database/sql"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
)

const gateScript = `
function ksr_request_route()
	if KSR.permissions and KSR.permissions.allow_source_address(1) > 0 then
		KSR.hdr.append_to_reply("X-Tag: " .. (KSR.pv.get("$avp(peer)") or "none") .. "\r\n")
		KSR.sl.sl_send_reply(200, "Allowed")
		return
	end
	KSR.sl.sl_send_reply(403, "Forbidden")
end
`

// options sends an OPTIONS from a UDP socket on 127.0.0.1 and returns the
// status line and the X-Tag header of the reply.
func options(t *testing.T, server string) (string, string) {
	t.Helper()
	c, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nFrom: <sip:probe@example.com>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: perm-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		server, local, time.Now().UnixNano(), server, time.Now().UnixNano())
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	status, tag := "", ""
	for i, line := range strings.Split(string(buf[:n]), "\r\n") {
		if i == 0 {
			status = line
		}
		if v, ok := strings.CutPrefix(line, "X-Tag: "); ok {
			tag = v
		}
	}
	return status, tag
}

// TestEngineGate runs a script that answers 200 to sources in group 1 of
// the address table and 403 to the others, on a real engine: 127.0.0.0/8
// in group 1 is let in with its tag; in group 2 only, it is refused.
func TestEngineGate(t *testing.T) {
	for _, tc := range []struct {
		row, status, tag string
	}{
		{`(1, '127.0.0.0', 8, 0, 'loopback')`, "SIP/2.0 200 Allowed", "loopback"},
		{`(2, '127.0.0.1', 32, 0, 'other')`, "SIP/2.0 403 Forbidden", ""},
	} {
		path := newFile(t, []string{tc.row}, nil)
		s := enginetest.Start(t, gateScript, enginetest.WithParams("permissions", map[string]any{
			"db_url": "sqlite://" + path, "peer_tag_avp": "$avp(peer)",
		}))
		if status, tag := options(t, s.UDP()); status != tc.status || tag != tc.tag {
			t.Errorf("row %s: %q X-Tag %q, want %q %q; logs:\n%s", tc.row, status, tag, tc.status, tc.tag, s.Logs())
		}
		if v := s.Metric("kemi_permissions_address_rows"); v != 1 {
			t.Errorf("kemi_permissions_address_rows = %v, want 1", v)
		}
	}
}

// TestEngineReloadWithScript: a row added to the address table with
// Kamailio's SQL takes effect when the script is reloaded (SIGHUP runs
// ReloadScript); a bad row refuses the reload, script included, and the
// tables and script in use stay.
func TestEngineReloadWithScript(t *testing.T) {
	path := newFile(t, []string{`(2, '192.0.2.1', 32, 0, NULL)`}, nil)
	s := enginetest.Start(t, gateScript, enginetest.WithParams("permissions", map[string]any{
		"db_url": "sqlite://" + path, "peer_tag_avp": "$avp(peer)",
	}))
	if status, _ := options(t, s.UDP()); status != "SIP/2.0 403 Forbidden" {
		t.Fatalf("before the row: %q, want 403", status)
	}
	d, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := d.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	newScript := []byte(strings.ReplaceAll(gateScript, `"Allowed"`, `"Reloaded"`))

	// a bad row: neither the row, nor the script, nor the new row count
	exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '127.0.0.1', 32, 0, 'lo')`)
	exec(`INSERT INTO address (grp, ip_addr, mask, port, tag) VALUES (1, '192.0.2.9', 40, 0, NULL)`)
	if gen, err := s.Reload("test.lua", newScript); err == nil || gen != 1 || !strings.Contains(err.Error(), "mask 40") {
		t.Fatalf("reload with a bad row = %d, %v; want 1 and the row's error", gen, err)
	}
	if status, _ := options(t, s.UDP()); status != "SIP/2.0 403 Forbidden" {
		t.Errorf("after a refused reload: %q, want 403 (the old table)", status)
	}
	if v := s.Metric("kemi_permissions_address_rows"); v != 1 {
		t.Errorf("kemi_permissions_address_rows = %v, want 1", v)
	}
	if v := s.Metric("kemi_engine_reload_failures_total"); v != 1 {
		t.Errorf("kemi_engine_reload_failures_total = %v, want 1", v)
	}

	// the bad row fixed: the new row and the new script take effect together
	exec(`DELETE FROM address WHERE mask = 40`)
	if gen, err := s.Reload("test.lua", newScript); err != nil || gen != 2 {
		t.Fatalf("reload = %d, %v; want 2, nil", gen, err)
	}
	if status, tag := options(t, s.UDP()); status != "SIP/2.0 200 Reloaded" || tag != "lo" {
		t.Errorf("after the reload: %q X-Tag %q, want 200 Reloaded, lo", status, tag)
	}
	if v := s.Metric("kemi_permissions_address_rows"); v != 2 {
		t.Errorf("kemi_permissions_address_rows = %v, want 2", v)
	}
}
