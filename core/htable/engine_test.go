package htable_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/kamailiotest"
)

// tableDef is the table of testdata/kamailio.cfg.
const tableDef = "t=>size=4;autoexpire=300;dbtable=htable;dbmode=1"

// seed creates the SQLite file at path with Kamailio's htable table and
// rows as Kamailio keeps them: a string, an integer, an array.
func seed(t *testing.T, path string) {
	t.Helper()
	f := db.NewSQLite(path, db.HTable)
	defer f.Close()
	d, err := f.DB(true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Exec(`INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES
		('s', 0, 0, 'str'), ('i', 0, 1, '-3'), ('n', 0, 1, '5'), ('gw', 1, 0, 'a'), ('gw', 1, 0, 'b')`)
	if err != nil {
		t.Fatal(err)
	}
}

// sqlite runs one statement on the file at path.
func sqlite(t *testing.T, path, stmt string) {
	t.Helper()
	f := db.NewSQLite(path, db.HTable)
	defer f.Close()
	d, err := f.DB(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(stmt); err != nil {
		t.Fatal(err)
	}
}

// rowValues returns the key_value of the named keys in the file at path,
// joined with "|".
func rowValues(t *testing.T, path string, keys ...string) string {
	t.Helper()
	f := db.NewSQLite(path, db.HTable)
	defer f.Close()
	d, err := f.DB(false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		var v string
		if err := d.QueryRow(`SELECT key_value FROM htable WHERE key_name = ?`, k).Scan(&v); err != nil {
			t.Fatalf("key %s: %v", k, err)
		}
		out = append(out, v)
	}
	return strings.Join(out, "|")
}

// startKemi runs testdata/roundtrip.lua on an engine whose table t lives
// in the file at path.
func startKemi(t *testing.T, path string) *enginetest.Server {
	t.Helper()
	return startKemiOn(t, "sqlite://"+path)
}

// startKemiOn runs testdata/roundtrip.lua on an engine whose table t has
// its dbtable in the database url.
func startKemiOn(t *testing.T, url string) *enginetest.Server {
	t.Helper()
	script, err := os.ReadFile("testdata/roundtrip.lua")
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Start(t, string(script), enginetest.WithParams("htable", map[string]any{
		"db_url": url, "db_expires": 1, "htable": tableDef,
	}))
}

// stop stops the engine now (the write back), not at the end of the test.
func stop(t *testing.T, s *enginetest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// vals sends an OPTIONS to addr and returns the X-Vals header of the
// reply: the items roundtrip.lua shows.
func vals(addr string, wait time.Duration) (string, error) {
	return valsOf(addr, "", wait)
}

// valsOf is vals with user in the Request-URI (what shared.lua does).
func valsOf(addr, user string, wait time.Duration) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	id := time.Now().UnixNano()
	ruri := addr
	if user != "" {
		ruri = user + "@" + addr
	}
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\nFrom: <sip:probe@example.com>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: ht-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		ruri, local, id, addr, id)
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(buf[:n]), "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-Vals: "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no X-Vals in %q", buf[:n])
}

func mustVals(t *testing.T, addr string) string {
	t.Helper()
	v, err := vals(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDBTableSurvivesEngineRestart runs two engines in sequence on one
// SQLite file: the first loads Kamailio-format rows (an array among
// them), changes the table and writes it back when it stops; the second
// finds the changes.
func TestDBTableSurvivesEngineRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	seed(t, path)
	const want = "str|-3|6|a|b|2|yes"

	s := startKemi(t, path)
	if got := mustVals(t, s.UDP()); got != want {
		t.Errorf("first engine: X-Vals %q, want %q", got, want)
	}
	stop(t, s)

	s2 := startKemi(t, path)
	if got := mustVals(t, s2.UDP()); got != want {
		t.Errorf("second engine: X-Vals %q, want %q (n incremented once, kept)", got, want)
	}
}

// TestDBTableSameFileAsKamailio passes one file from kemi to Kamailio 5.6
// and back: each reads what the other wrote back at shutdown.
func TestDBTableSameFileAsKamailio(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kemi.db")
	seed(t, path)
	s := startKemi(t, path)
	if got, want := mustVals(t, s.UDP()), "str|-3|6|a|b|2|yes"; got != want {
		t.Fatalf("kemi: X-Vals %q, want %q", got, want)
	}
	stop(t, s)

	sqlite(t, path, `DELETE FROM htable WHERE key_name = 'done'`) // Kamailio increments n once more
	got := runKamailio(t, "testdata/kamailio.cfg", "db_sqlite.so", "kamailio-sqlite-modules", "sqlite://"+path)
	if want := "str|-3|7|a|b|2|yes"; got != "" && got != want {
		t.Errorf("Kamailio on kemi's file: X-Vals %q, want %q", got, want)
	}
	if got == "" {
		t.Skip("Kamailio did not run")
	}
	// Kamailio wrote back: done is there again, so kemi does not
	// increment n, and the 7 it reads is Kamailio's
	if n := rowValues(t, path, "n", "done"); n != "7|yes" {
		t.Fatalf("after Kamailio the file holds n|done = %q, want 7|yes", n)
	}

	s3 := startKemi(t, path)
	if got, want := mustVals(t, s3.UDP()), "str|-3|7|a|b|2|yes"; got != want {
		t.Errorf("kemi on Kamailio's file: X-Vals %q, want %q", got, want)
	}
}

// runKamailio runs Kamailio 5.6 with cfg (roundtrip.lua, its table's
// dbtable in the database dbURL, through the module dbModule of package
// pkg) until it has answered one request, and returns that answer's
// X-Vals; "" when Kamailio is not installed. It runs in a subtest:
// Kamailio stops (and writes back) when it ends.
func runKamailio(t *testing.T, cfg, dbModule, pkg, dbURL string) string {
	t.Helper()
	script, _ := filepath.Abs("testdata/roundtrip.lua")
	var got string
	t.Run("kamailio", func(t *testing.T) {
		kamailiotest.Start(t, cfg, []string{"app_lua.so", dbModule, "htable.so"},
			"kamailio, "+pkg+" and kamailio-lua-modules",
			func(addr string) bool {
				v, err := vals(addr, 300*time.Millisecond)
				got = v
				return err == nil
			}, `DBURL="`+dbURL+`"`, `SCRIPT="`+script+`"`)
		// Kamailio sometimes hangs on a SIGTERM that comes while its
		// processes are still starting (and is killed without writing
		// back): give them time to settle
		time.Sleep(time.Second)
	})
	return got
}
