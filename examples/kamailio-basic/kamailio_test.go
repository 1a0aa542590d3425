package kamailiobasic_test

import (
	"database/sql"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kemisip/kemi/internal/kamailiotest"
	_ "modernc.org/sqlite"
)

// kamailioSchema are Kamailio's table definitions for db_sqlite, as the
// Debian packages install them.
var kamailioSchema = []string{"standard", "auth_db", "usrloc", "permissions"}

// TestBasicExampleOnKamailio runs the scenarios of TestBasicExample on
// Kamailio 5.6 with testdata/kamailio.cfg (the .cfg's module parameters)
// and the same script: the replies kemi is held to are Kamailio's.
func TestBasicExampleOnKamailio(t *testing.T) {
	dir := "/usr/share/kamailio/db_sqlite"
	path := filepath.Join(t.TempDir(), "kamailio.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range kamailioSchema {
		text, err := os.ReadFile(filepath.Join(dir, s+"-create.sql"))
		if err != nil {
			t.Skipf("Kamailio's SQLite schema not installed (kamailio-sqlite-modules): %v", err)
		}
		if _, err := db.Exec(string(text)); err != nil {
			t.Fatalf("%s-create.sql: %v", s, err)
		}
	}
	db.Close()
	provision(t, "sqlite://"+path)
	script, _ := filepath.Abs("testdata/basic.lua")
	proxy := kamailiotest.Start(t, "testdata/kamailio.cfg",
		[]string{"app_lua.so", "db_sqlite.so", "htable.so", "pike.so", "permissions.so", "nathelper.so"},
		"kamailio, kamailio-sqlite-modules and kamailio-lua-modules", keepalive,
		`DBURL="sqlite://`+path+`"`, `SCRIPT="`+script+`"`)
	runBasic(t, proxy, nil)
}

// keepalive reports whether the proxy at addr answers an OPTIONS
// keepalive.
func keepalive(addr string) bool {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	local := c.LocalAddr().String()
	_, err = c.Write([]byte("OPTIONS sip:" + domain + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-ready;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:ready@" + domain + ">;tag=r\r\nTo: <sip:" + domain + ">\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		return false
	}
	// a second: probes that queue while a loaded machine starts Kamailio
	// must stay under pike's 16 a unit, or 127.0.0.1 is banned before
	// the test begins
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 4096)
	_, err = c.Read(buf)
	return err == nil
}
