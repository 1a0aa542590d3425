package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/core/usrloc"
	"github.com/kemisip/kemi/internal/redistest"
	"github.com/kemisip/kemi/kemi"
)

// saveBindings writes bindings as registrar would, through a store of
// its own on the same database.
func saveBindings(t *testing.T, url string, o usrloc.Options, aor string, bs ...kemi.Binding) {
	t.Helper()
	s, err := usrloc.Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Update(context.Background(), usrloc.DefaultTable, aor, func([]kemi.Binding) (kemi.BindingChange, error) {
		return kemi.BindingChange{Put: bs}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testBinding(ruid, contact string, expires time.Duration) kemi.Binding {
	b := kemi.Binding{RUID: ruid, Contact: contact, Q: 500, CallID: "cid-" + ruid, CSeq: 3,
		UserAgent: "phone/2", Received: "sip:203.0.113.7:5062", Path: "<sip:edge.example.net;lr>",
		Socket: "udp:127.0.0.1:5060", Instance: "<urn:uuid:1>", RegID: 1, Methods: -1}
	if expires > 0 {
		b.Expires = time.Now().Add(expires)
	}
	return b
}

// TestULShowRm round-trips kemi ul on SQLite and Redis: bindings saved
// are shown (all AORs, one AOR), rm removes them and says how many, and
// rm or show of an AOR without bindings exits 1.
func TestULShowRm(t *testing.T) {
	backends := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "kemi.db") }},
		{"redis", func(t *testing.T) string { url, _ := redistest.Start(t); return url }},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			url := be.url(t)
			saveBindings(t, url, usrloc.Options{}, "alice", testBinding("a1", "sip:alice@192.0.2.1:5062", time.Hour), testBinding("a2", "sip:alice@192.0.2.2", 0))
			saveBindings(t, url, usrloc.Options{}, "bob", testBinding("b1", "sip:bob@192.0.2.3", time.Hour))

			code, out, errOut := runCLI(t, "ul", "show", "--db-url", url)
			if code != 0 || !strings.Contains(out, "AOR: alice\n") || !strings.Contains(out, "AOR: bob\n") {
				t.Fatalf("show: %d\n%s%s", code, out, errOut)
			}
			code, out, _ = runCLI(t, "ul", "show", "--db-url", url, "alice")
			for _, want := range []string{"Contact: sip:alice@192.0.2.1:5062", "Contact: sip:alice@192.0.2.2", "Expires: permanent", "Expires: 3", "Q: 0.5",
				"Call-ID: cid-a1", "CSeq: 3", "User-Agent: phone/2", "Received: sip:203.0.113.7:5062", "Path: <sip:edge.example.net;lr>",
				"Socket: udp:127.0.0.1:5060", "Instance: <urn:uuid:1>", "Reg-Id: 1", "Ruid: a1"} {
				if !strings.Contains(out, want) {
					t.Errorf("show alice lacks %q:\n%s", want, out)
				}
			}
			// about an hour: seconds pass between the save and the show on a
			// busy machine
			var secs int
			if m := regexp.MustCompile(`Expires: (\d+)\n`).FindStringSubmatch(out); m != nil {
				secs, _ = strconv.Atoi(m[1])
			}
			if secs < 3570 || secs > 3600 {
				t.Errorf("expires not about 3600 s:\n%s", out)
			}
			if code != 0 || strings.Contains(out, "bob") {
				t.Errorf("show alice: %d\n%s", code, out)
			}
			if code, out, _ = runCLI(t, "ul", "rm", "--db-url", url, "alice"); code != 0 || !strings.Contains(out, "removed 2 binding(s) of alice") {
				t.Errorf("rm alice: %d %s", code, out)
			}
			if code, _, errOut = runCLI(t, "ul", "rm", "--db-url", url, "alice"); code != 1 || !strings.Contains(errOut, "alice: no bindings") {
				t.Errorf("rm alice again: %d %s", code, errOut)
			}
			if code, _, _ = runCLI(t, "ul", "show", "--db-url", url, "alice"); code != 1 {
				t.Errorf("show removed alice: exit %d, want 1", code)
			}
			if code, out, _ = runCLI(t, "ul", "show", "--db-url", url); code != 0 || strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
				t.Errorf("show after rm: %d\n%s", code, out)
			}
		})
	}
}

// TestULConfig: kemi ul reads the database kemi run would: [usrloc]
// db_url (relative to the config file) wins over --db-url and
// KEMI_DB_URL, and [usrloc] use_domain makes AORs user@domain.
func TestULConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ul.db")
	saveBindings(t, "sqlite://"+file, usrloc.Options{UseDomain: true}, "alice@example.com", testBinding("a1", "sip:alice@192.0.2.1", time.Hour))
	conf := filepath.Join(dir, "kemi.toml")
	if err := os.WriteFile(conf, []byte("[usrloc]\ndb_url = \"sqlite://ul.db\"\nuse_domain = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := "sqlite://" + filepath.Join(t.TempDir(), "other.db")
	t.Setenv("KEMI_DB_URL", elsewhere)
	code, out, errOut := runCLI(t, "ul", "show", "--config", conf, "--db-url", elsewhere)
	if code != 0 || !strings.Contains(out, "AOR: alice@example.com") {
		t.Errorf("show with the config: %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "ul", "show", "alice@example.com"); code != 1 {
		t.Errorf("show via KEMI_DB_URL (another file): exit %d, want 1", code)
	}
	if code, _, errOut := runCLI(t, "ul", "rm"); code != 2 {
		t.Errorf("rm without AOR: exit %d, want 2: %s", code, errOut)
	}
	// a bad URL is a usage error (2), as for kemi run and kemi user
	if code, _, errOut := runCLI(t, "ul", "show", "--db-url", "mysql://x"); code != exitUsage || !strings.Contains(errOut, "mysql") {
		t.Errorf("bad URL: %d %s", code, errOut)
	}
	if _, err := os.Stat(strings.TrimPrefix(elsewhere, "sqlite://")); err == nil {
		t.Error("kemi ul show created a database file")
	}
}
