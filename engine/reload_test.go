package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/engine/enginetest"
)

func TestReloadScriptRereadsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routing.lua")
	if err := os.WriteFile(path, []byte(answerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	s := enginetest.Start(t, "", enginetest.WithConfig(func(c *engine.Config) {
		c.Script, c.ScriptPath = nil, path
	}))
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(answerScript, "Alive", "Reloaded")), 0o644); err != nil {
		t.Fatal(err)
	}
	gen, err := s.ReloadScript()
	if err != nil || gen != 2 {
		t.Fatalf("ReloadScript = %d, %v; want 2, nil", gen, err)
	}
	if !strings.Contains(string(s.Script().Source), "Reloaded") {
		t.Fatalf("the engine runs the old text")
	}
	p := newPeer(t)
	p.send(s.UDP(), options(p, "sip:kemi@127.0.0.1", "reload-file"))
	if res := p.recv(2 * time.Second); !strings.HasPrefix(res, "SIP/2.0 200 Reloaded") {
		t.Fatalf("reply = %q", res)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if gen, err := s.ReloadScript(); err == nil || gen != 2 {
		t.Fatalf("ReloadScript of a missing file = %d, %v; want 2 and an error", gen, err)
	}
	if v := s.Metric("kemi_engine_reload_failures_total"); v != 1 {
		t.Errorf("reload failures = %v, want 1", v)
	}
}

func TestReloadScriptEmbedded(t *testing.T) {
	// ScriptPath only names an embedded script: there is no such file
	s := enginetest.Start(t, answerScript, enginetest.WithConfig(func(c *engine.Config) {
		c.ScriptPath, c.ScriptEmbedded = "default.lua (embedded)", true
	}))
	gen, err := s.ReloadScript()
	if err != nil || gen != 2 {
		t.Fatalf("ReloadScript = %d, %v; want 2, nil", gen, err)
	}
	if s.Script().Name != "default.lua (embedded)" {
		t.Errorf("script name = %q", s.Script().Name)
	}
}
