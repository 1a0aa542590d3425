package htable

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
	"github.com/kemisip/kemi/kemi/kemitest"
)

// loadDB loads htable on the SQLite file path with the given parameters
// and table definitions; the caller destroys it (the write back).
func loadDB(t *testing.T, path string, params map[string]any, defs ...string) *kemitest.Env {
	t.Helper()
	e, err := loadDBErr(path, params, defs...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return e
}

func loadDBErr(path string, params map[string]any, defs ...string) (*kemitest.Env, error) {
	return loadURLErr("sqlite://"+path, params, defs...)
}

// loadURLErr loads htable on the database url.
func loadURLErr(url string, params map[string]any, defs ...string) (*kemitest.Env, error) {
	p := map[string]any{"db_url": url}
	for k, v := range params {
		p[k] = v
	}
	list := make([]any, len(defs))
	for i, d := range defs {
		list[i] = d
	}
	p["htable"] = list
	return kemitest.LoadErr(map[string]map[string]any{"htable": p}, "htable")
}

// sqlExec runs statements on the SQLite file at path, creating it with
// Kamailio's htable table.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	f := db.NewSQLite(path, db.HTable)
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := d.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// dbRows returns the rows of table in the file, "key_name|key_type|value_type|key_value|expires", sorted.
func dbRows(t *testing.T, path, table string) []string {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT key_name || '|' || key_type || '|' || value_type || '|' || key_value || '|' || expires FROM ` + table + ` ORDER BY key_name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestDBTableSurvivesRestart runs two engines in sequence on one SQLite
// file: what the first stores in tables with dbtable and dbmode=1 is
// written back at shutdown in Kamailio's format and is there in the
// second; a table without dbmode is loaded but not written back.
func TestDBTableSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	defs := []string{
		"ipban=>size=4;autoexpire=300;initval=0;dbtable=htable;dbmode=1",
		"cache=>dbtable=items;dbmode=1",
		"ro=>dbtable=ro_items",
		"mem=>",
	}
	e := loadDB(t, path, nil, defs...)
	m := e.Prepare(kemitest.ParseMsg(t, invite))
	for i := 0; i < 3; i++ {
		e.Call(t, "KSR.htable.sht_inc", m, "ipban", "192.0.2.1")
	}
	e.Call(t, "KSR.htable.sht_sets", m, "cache", "alice", "sip:alice@192.0.2.10")
	e.Call(t, "KSR.htable.sht_seti", m, "cache", "neg", -7)
	e.Call(t, "KSR.htable.sht_sets", m, "ro", "x", "lost")
	e.Call(t, "KSR.htable.sht_sets", m, "mem", "x", "lost")
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists before the write back", path)
	}
	e.Destroy()

	if got, want := strings.Join(dbRows(t, path, "items"), ";"), "alice|0|0|sip:alice@192.0.2.10|0;neg|0|1|-7|0"; got != want {
		t.Errorf("items rows = %s, want %s", got, want)
	}
	if got, want := strings.Join(dbRows(t, path, "htable"), ";"), "192.0.2.1|0|1|3|0"; got != want {
		t.Errorf("htable rows = %s, want %s", got, want)
	}
	if got := dbRows(t, path, "ro_items"); len(got) != 0 {
		t.Errorf("ro_items rows = %v, want none (no dbmode)", got)
	}

	e2 := loadDB(t, path, nil, defs...)
	defer e2.Destroy()
	m2 := e2.Prepare(kemitest.ParseMsg(t, invite))
	checkItems(t, e2, m2, []item{
		{"ipban", "192.0.2.1", kemi.Int(3)},
		{"cache", "alice", kemi.Str("sip:alice@192.0.2.10")},
		{"cache", "neg", kemi.Int(-7)},
		{"ro", "x", kemi.Null},
		{"mem", "x", kemi.Null},
	})
	if got := e2.Call(t, "KSR.htable.sht_inc", m2, "ipban", "192.0.2.1"); got != kemi.Int(4) {
		t.Errorf("after restart sht_inc = %#v, want 4", got)
	}
}

// TestDBTableReadsKamailioRows loads rows written with SQL as Kamailio
// keeps them: string and integer values, an array (key_type 1) with its
// ::size item, and, with db_expires, expiry times (a row already past
// its time is skipped).
func TestDBTableReadsKamailioRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kamailio.db")
	now := time.Now().Unix()
	sqlExec(t, path,
		`INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('greeting', 0, 0, 'hello', 0)`,
		`INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('count', 0, 1, '42', 0)`,
		`INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('gw', 1, 0, '192.0.2.1')`,
		`INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('gw', 1, 0, '192.0.2.2')`,
		`INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('old', 0, 0, 'gone', `+itoa(int(now-10))+`)`,
		`INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('soon', 0, 0, 'v', `+itoa(int(now+100))+`)`,
	)
	e := loadDB(t, path, map[string]any{"db_expires": 1}, "k=>dbtable=htable", "x=>autoexpire=300;dbtable=htable")
	defer e.Destroy()
	m := e.Prepare(kemitest.ParseMsg(t, invite))
	checkItems(t, e, m, append(kamailioItems,
		item{"k", "old", kemi.Str("gone")}, // no autoexpire: expires is not read
		item{"x", "old", kemi.Null},
		item{"x", "soon", kemi.Str("v")},
		item{"x", "count", kemi.Int(42)},
	))
	// the row's time, not autoexpire from now (the clock may tick since)
	x := e.Mods["htable"].(*Module).tables["x"]
	if left := x.expiresIn(nil, "soon"); left < 95 || left > 100 {
		t.Errorf("soon expires in %d s, want 100 (its expires column)", left)
	}
	if left := x.expiresIn(nil, "count"); left < 295 || left > 300 {
		t.Errorf("count expires in %d s, want 300 (autoexpire)", left)
	}
}

// TestDBTableMissingFileIsEmpty loads a table whose file does not exist:
// the table is empty and, without dbmode, no file is made.
func TestDBTableMissingFileIsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	e := loadDB(t, path, nil, "t=>dbtable=htable")
	m := e.Prepare(kemitest.ParseMsg(t, invite))
	if got := e.Call(t, "KSR.htable.sht_get", m, "t", "a"); got != kemi.Null {
		t.Errorf("sht_get = %#v, want nil", got)
	}
	e.Destroy()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s was created by a table without dbmode", path)
	}
}

// TestDBTableRefusesBadRows stops the start on a row kemi cannot read,
// naming the table, the file and the key, and leaves the database as it
// was (dbmode=1 does not write the half-loaded table back).
func TestDBTableRefusesBadRows(t *testing.T) {
	tests := []struct{ row, want string }{
		{`INSERT INTO htable (key_name, value_type, key_value) VALUES ('n', 1, 'abc')`, `key "n": value_type 1 but key_value "abc" is not an integer`},
		{`INSERT INTO htable (key_name, value_type, key_value) VALUES ('v', 2, 'x')`, `key "v": value_type 2`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "bad.db")
		sqlExec(t, path, tt.row)
		_, err := loadDBErr(path, nil, "t=>dbtable=htable;dbmode=1")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("row %s: error %v; want one naming %s and %q", tt.row, err, path, tt.want)
		}
		// the failed start wrote nothing back over the row
		if got := dbRows(t, path, "htable"); len(got) != 1 {
			t.Errorf("row %s: after the refused start the table holds %v", tt.row, got)
		}
	}
}
