package dispatcher

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// dbFile creates a SQLite file with Kamailio's dispatcher table and rows.
func dbFile(t *testing.T, rows ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kemi.db")
	f := db.NewSQLite(path, (&dbSource{table: "dispatcher", cols: [5]string{"setid", "destination", "flags", "priority", "attrs"}}).schema())
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := d.Exec(`INSERT INTO dispatcher (setid, destination, flags, priority, attrs, description) VALUES ` + r); err != nil {
			t.Fatalf("insert %s: %v", r, err)
		}
	}
	return path
}

// TestDBTable loads the sets from the dispatcher table of a real SQLite
// file, reloads them after a row is added, and refuses a bad row.
func TestDBTable(t *testing.T) {
	path := dbFile(t,
		`(1, 'sip:127.0.0.1:5071', 0, 0, 'duid=a', 'first')`,
		`(1, 'sip:127.0.0.1:5072', 0, 5, '', '')`,
		`(2, 'sip:127.0.0.1:5073', 1, 0, 'weight=100', '')`)
	env := load(t, "", map[string]any{"db_url": "sqlite://" + path, "reload_delta": 0})
	mod := env.Mods["dispatcher"].(*Module)
	m := invite(t, "db1")
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", m, 1, 8).AsInt(); got != 1 || m.DstURI != "sip:127.0.0.1:5072" {
		t.Errorf("ds_select_dst(1, 8) = %d, $du %s; want the priority 5 row", got, m.DstURI)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_select_dst", invite(t, "db2"), 2, 4).AsInt(); got != -1 {
		t.Errorf("set 2 has only an inactive row, ds_select_dst = %d, want -1", got)
	}
	if d := mod.sets.Load().find(1, "sip:127.0.0.1:5071"); d == nil || d.duid != "a" {
		t.Errorf("row attrs not read: %+v", d)
	}

	f := db.NewSQLite(path)
	sqlDB, err := f.DB(false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := sqlDB.Exec(`INSERT INTO dispatcher (setid, destination) VALUES (3, 'sip:127.0.0.1:5074')`); err != nil {
		t.Fatal(err)
	}
	if got := env.Call(t, "KSR.dispatcher.ds_reload", invite(t, "db3")).AsInt(); got != 1 || mod.sets.Load().find(3, "sip:127.0.0.1:5074") == nil {
		t.Errorf("ds_reload = %d; the new row is not in the sets", got)
	}
	res, err := sqlDB.Exec(`INSERT INTO dispatcher (setid, destination) VALUES (4, 'not a uri')`)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	_, err = mod.PrepareReload()
	if err == nil || !strings.Contains(err.Error(), "row id="+itoa(int(id))) {
		t.Errorf("reload with a bad row: %v, want an error naming row id=%d", err, id)
	}
	if mod.sets.Load().find(3, "sip:127.0.0.1:5074") == nil {
		t.Error("a refused reload changed the sets")
	}
}

// TestDBURLChoices: a Redis db_url is refused at start with a clear
// message; with list_file and db_url both set the table wins, as in
// Kamailio; a bad row stops the start.
func TestDBURLChoices(t *testing.T) {
	_, err := kemitest.LoadErr(map[string]map[string]any{"dispatcher": {"db_url": "redis://127.0.0.1:6379/0"}}, "core", "dispatcher")
	if err == nil || !strings.Contains(err.Error(), "SQLite database only") {
		t.Errorf("redis db_url: %v, want a refusal naming SQLite", err)
	}
	path := dbFile(t, `(7, 'sip:127.0.0.1:5079', 0, 0, '', '')`)
	env := load(t, "1 sip:127.0.0.1:5071\n", map[string]any{"db_url": "sqlite://" + path})
	l := env.Mods["dispatcher"].(*Module).sets.Load()
	if l.find(7, "sip:127.0.0.1:5079") == nil || l.find(1, "sip:127.0.0.1:5071") != nil {
		t.Errorf("with list_file and db_url the sets are %v, want the table's", l.ids)
	}
	bad := dbFile(t, `(-1, 'sip:127.0.0.1:5079', 0, 0, '', '')`)
	if _, err := kemitest.LoadErr(map[string]map[string]any{"dispatcher": {"db_url": "sqlite://" + bad}}, "core", "dispatcher"); err == nil || !strings.Contains(err.Error(), "row id=1") {
		t.Errorf("bad row at start: %v, want an error naming row id=1", err)
	}
}
