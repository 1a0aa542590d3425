package dispatcher_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine/enginetest"
)

// TestReloadWithScript reloads the list with the script (what SIGHUP
// does): the destination marked down stays down, the new one takes
// calls; a malformed list refuses the whole reload with file:line and
// the old sets keep serving.
func TestReloadWithScript(t *testing.T) {
	a, b, c := startUAS(t, 503), startUAS(t, 200), startUAS(t, 200)
	path := filepath.Join(t.TempDir(), "dispatcher.list")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("1 sip:%s\n1 sip:%s\n", a.addr, b.addr))
	s := enginetest.Start(t, lbScript, enginetest.WithParams("dispatcher", map[string]any{"list_file": path, "flags": 2}))
	send(t, s, 2) // a answers 503 once and is marked down
	if got := a.count(); got != 1 {
		t.Fatalf("the failing UAS got %d requests, want 1", got)
	}

	write(fmt.Sprintf("1 sip:%s\n1 sip:%s\n1 sip:%s\n", a.addr, b.addr, c.addr))
	if _, err := s.Reload("test.lua", []byte(lbScript)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	for i, code := range send(t, s, 6) {
		if code != 200 {
			t.Errorf("call %d after the reload answered %d", i, code)
		}
	}
	if got := a.count(); got != 1 {
		t.Errorf("the UAS marked down got %d requests after the reload, want none more", got-1)
	}
	if c.count() < 2 || b.count()+c.count() != 8 {
		t.Errorf("the new UAS got %d of 6 calls (want 2 or more), the two good ones %d in all (want 8: 2 before the reload, 6 after)", c.count(), b.count()+c.count())
	}
	beforeBad := c.count()

	write(fmt.Sprintf("1 sip:%s\n1 sip:%s bad\n", b.addr, c.addr))
	_, err := s.Reload("test.lua", []byte(lbScript))
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("reload of a bad list: %v, want an error naming %s:2", err, path)
	}
	send(t, s, 3)
	if c.count() == beforeBad || a.count() != 1 {
		t.Errorf("after a refused reload the new UAS got no call, or the UAS down one (%d): the old sets must serve", a.count()-1)
	}
	if got := s.Metric(`kemi_dispatcher_reloads_total{result="failed"}`); got != 1 {
		t.Errorf("failed reloads counted: %v, want 1", got)
	}
	if got := s.Metric(`kemi_dispatcher_reloads_total{result="ok"}`); got != 1 {
		t.Errorf("reloads counted: %v, want 1", got)
	}
}
