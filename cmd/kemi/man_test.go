package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestManPage: docs/kemi.1 is what the CLI makes now (make man writes it),
// so it cannot go stale, and it has a section for every command and
// subcommand, every flag and every environment variable.
func TestManPage(t *testing.T) {
	page, err := manPage()
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../docs/kemi.1")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != page {
		t.Errorf("docs/kemi.1 is stale: run make man")
	}
	if !strings.HasPrefix(page, ".nh\n.TH kemi 1") {
		t.Errorf("not a section 1 page: %q", page[:min(len(page), 40)])
	}
	var walk func(heading string, cmds []*cli.Command)
	walk = func(heading string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				if strings.Contains(page, "\n"+heading+" "+c.Name+"\n") {
					t.Errorf("the hidden command %s has a section", c.Name)
				}
				continue
			}
			if !strings.Contains(page, "\n"+heading+" "+c.Name+"\n") {
				t.Errorf("no %s section for the command %s", heading, c.Name)
			}
			for _, f := range c.Flags {
				if !strings.Contains(page, `\fB--`+f.Names()[0]) {
					t.Errorf("kemi %s: --%s is not in the page", c.Name, f.Names()[0])
				}
				if ef, ok := f.(cli.DocGenerationFlag); ok {
					for _, env := range ef.GetEnvVars() {
						if !strings.Contains(page, ".B "+strings.ReplaceAll(env, "-", `\-`)+"\n") {
							t.Errorf("kemi %s: %s is not in ENVIRONMENT", c.Name, env)
						}
					}
				}
			}
			walk(".SS", c.Subcommands)
		}
	}
	walk(".SH", newApp().Commands)
	// each command's description is in, after markdown
	for _, want := range []string{"SIGHUP reload the script", `t_on_*`, "Exit status: 0 done, 1 no such row"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestManPageRenders has man(1) format docs/kemi.1 and fails on groff's
// warnings.
func TestManPageRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man is not installed: docs/kemi.1 is not rendered")
	}
	cmd := exec.Command("man", "--warnings", "-l", "../../docs/kemi.1")
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=80")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l docs/kemi.1: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man's warnings:\n%s", stderr.String())
	}
	for _, want := range []string{"NAME", "kemi - SIP routing engine", "COMMANDS", "ENVIRONMENT", "KEMI_PID_FILE", "SEE ALSO"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
}

// TestHelpHasNoManCommand: the man command that makes the page from the
// help stays out of the help.
func TestHelpHasNoManCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"kemi", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("kemi --help: %d %s", code, stderr.String())
	}
	if strings.Contains(stdout.String(), "man page") || strings.Contains(stdout.String(), "   man ") {
		t.Errorf("kemi --help lists the man command:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"kemi", "man"}, &stdout, &stderr); code != 0 || stdout.String() != mustManPage(t) {
		t.Errorf("kemi man: status %d, %d bytes", code, stdout.Len())
	}
}

func mustManPage(t *testing.T) string {
	t.Helper()
	page, err := manPage()
	if err != nil {
		t.Fatal(err)
	}
	return page
}
