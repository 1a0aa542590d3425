package permissions_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/kemisip/kemi/kemi"
	_ "modernc.org/sqlite"
)

// newModule starts permissions on the database url, for tests of its
// reload, and returns it with allow_source_address_group for a source.
func newModule(t *testing.T, url string) (*permissions.Module, func(src string) int64) {
	t.Helper()
	env := kemi.NewEnv("permissions", nil, kemi.NewPVTable(), kemi.NewServices(), nil, kemi.NewParams("permissions", map[string]any{"db_url": url}), nil)
	mod := &permissions.Module{}
	if err := mod.ModInit(env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mod.Destroy)
	var group kemi.Func
	for _, x := range mod.Exports() {
		if x.Name == "allow_source_address_group" {
			group = x.Func
		}
	}
	return mod, func(src string) int64 { return group(msgFrom(t, src, "udp"), kemi.MakeArgs()).Int }
}

// TestReloadKeepsOldOnError: PrepareReload reads the tables again and
// only its commit switches to them; a row that does not parse is an
// error and leaves the tables in use as they were.
func TestReloadKeepsOldOnError(t *testing.T) {
	path := newFile(t, []string{`(1, '192.0.2.10', 32, 0, NULL)`}, nil)
	mod, from := newModule(t, "sqlite://"+path)
	d, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`INSERT INTO address (grp, ip_addr, mask, port) VALUES (2, '192.0.2.11', 40, 0)`); err != nil {
		t.Fatal(err)
	}
	if commit, err := mod.PrepareReload(); err == nil || commit != nil || !strings.Contains(err.Error(), "mask 40") {
		t.Errorf("reload with a bad row: %v", err)
	}
	if g := from("192.0.2.10:5060"); g != 1 {
		t.Errorf("after a refused reload: group %d, want 1 (the old table)", g)
	}
	if _, err := d.Exec(`UPDATE address SET mask=32 WHERE grp=2`); err != nil {
		t.Fatal(err)
	}
	commit, err := mod.PrepareReload()
	if err != nil {
		t.Fatal(err)
	}
	if g := from("192.0.2.11:5060"); g != -1 {
		t.Errorf("prepared, not committed: group %d, want -1 (the old table)", g)
	}
	commit()
	if g := from("192.0.2.11:5060"); g != 2 {
		t.Errorf("after the reload: group %d, want 2", g)
	}
}
